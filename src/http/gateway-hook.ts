import type { FastifyReply, FastifyRequest } from 'fastify';
import type { Tessera } from '../app/tessera.ts';
import { epochSeconds } from '../clock.ts';
import { forward } from '../gateway/proxy.ts';

/**
 * The gateway sits in front of routing: a request under an API's base path is decided in
 * the edge hook (`onRequest`, app.ts), before Fastify reads the body, so the body streams
 * to the upstream untouched (no content-type parser, no buffering). The hook asks
 * `gateway.owns(url)` first; only then does this run.
 */
export async function handleGatewayRequest(tessera: Tessera, request: FastifyRequest, reply: FastifyReply, next: () => void): Promise<void> {
  const decision = await tessera.gateway.decide(request.method, request.url, request.headers.authorization, epochSeconds(tessera.clock));
  if (decision.kind === 'not_gateway') return next();
  if (decision.kind === 'error') {
    reply.code(decision.status).headers(decision.headers).header('cache-control', 'no-store').send(decision.body);
    return;
  }
  reply.hijack();
  await forward(request.raw, reply.raw, {
    origin: decision.origin,
    path: decision.path,
    timeoutMs: decision.api.timeoutMs,
    identity: decision.identity,
    clientIp: request.ip,
    protocol: request.protocol,
  });
}
