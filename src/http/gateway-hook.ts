import type { FastifyReply, FastifyRequest } from 'fastify';
import type { Tessera } from '../app/tessera.ts';
import { epochSeconds } from '../clock.ts';
import type { GatewayMatch } from '../gateway/gateway.ts';
import { forward } from '../gateway/proxy.ts';
import type { TesseraMetrics } from '../observability/metrics.ts';

/**
 * The gateway sits in front of routing: a request under an API's base path is decided in
 * the edge hook (`onRequest`, app.ts), before Fastify reads the body, so the body streams
 * to the upstream untouched (no content-type parser, no buffering). The hook asks
 * `gateway.match(url)` first; only a match comes here.
 */
export async function handleGatewayRequest(tessera: Tessera, match: GatewayMatch, request: FastifyRequest, reply: FastifyReply, metrics?: TesseraMetrics): Promise<void> {
  const dpop = request.headers.dpop;
  const decision = await tessera.gateway.decide(
    request.method,
    match,
    { authorization: request.headers.authorization, dpop: dpop === undefined ? undefined : Array.isArray(dpop) ? dpop : [dpop] },
    epochSeconds(tessera.clock),
  );
  if (decision.kind === 'error') {
    metrics?.gatewayRequest(match.api.def.name, 'rejected', undefined);
    reply.code(decision.status).headers(decision.headers).header('cache-control', 'no-store').send(decision.body);
    return;
  }
  reply.hijack();
  // Headers set on the Fastify reply do not reach a hijacked one.
  reply.raw.setHeader('x-request-id', request.id);
  const outcome = await forward(request.raw, reply.raw, {
    origin: decision.origin,
    path: decision.path,
    timeoutMs: decision.api.timeoutMs,
    identity: decision.identity,
    // Fastify's `ips` (only with a trust setting) runs from the peer to the client and stops
    // at the first address it does not trust; without trust only the peer counts.
    forwardedFor: request.ips ? [...request.ips].reverse() : [request.ip],
    protocol: request.protocol,
    forwardAuthorization: decision.api.upstreamToken === 'forward',
    upstreamAuthorization: decision.upstreamAuthorization,
    maxBodyBytes: decision.api.maxBodyBytes,
    bodyTimeoutMs: tessera.config.gateway.bodyTimeoutMs,
    idleTimeoutMs: tessera.config.gateway.idleTimeoutMs,
    requestId: request.id,
    responseHeaders: decision.responseHeaders,
  });
  metrics?.gatewayRequest(decision.api.name, outcome.upstreamStatus, outcome.upstreamSeconds);
}
