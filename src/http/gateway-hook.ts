import type { IncomingMessage, ServerResponse } from 'node:http';
import type { FastifyBaseLogger } from 'fastify';
import type { Tessera } from '../app/tessera.ts';
import { epochSeconds } from '../clock.ts';
import type { GatewayDecision, GatewayMatch } from '../gateway/gateway.ts';
import { answerJson } from '../gateway/json-answer.ts';
import { forward } from '../gateway/proxy.ts';
import type { TesseraMetrics } from '../observability/metrics.ts';

/** What a gateway request needs from the HTTP layer around it: who called, under which id. */
export interface GatewayCall {
  /** The request's id (X-Request-Id; `requestIdOf`). */
  id: string;
  /**
   * X-Forwarded-For for the upstream, from the client to the peer: the client Tessera
   * recorded, then the proxies it trusts (TESSERA_TRUST_PROXY), the connection's peer last.
   */
  forwardedFor: () => string[];
  /** http or https, as the client reached Tessera (X-Forwarded-Proto only from a trusted proxy). */
  protocol: () => string;
  /** The request's logger (bound to its id), made when something is logged. */
  log: () => FastifyBaseLogger;
}

/**
 * One gateway request, on node:http's request and response: decide (route, token), then
 * answer the refusal or stream the exchange with the upstream. Both ways in (the edge
 * listener, src/http/gateway-edge.ts, and the `onRequest` hook for requests that reach
 * Fastify, app.ts) end here, so the answers are the same whichever way a request came.
 * The body is never read here: it streams to the upstream untouched.
 */
export function serveGateway(tessera: Tessera, metrics: TesseraMetrics | undefined, match: GatewayMatch, req: IncomingMessage, res: ServerResponse, call: GatewayCall): void {
  let decided: GatewayDecision | Promise<GatewayDecision>;
  try {
    const dpop = req.headers.dpop;
    decided = tessera.gateway.decide(
      req.method!,
      match,
      { authorization: req.headers.authorization, dpop: dpop === undefined ? undefined : Array.isArray(dpop) ? dpop : [dpop] },
      epochSeconds(tessera.clock),
    );
  } catch (error) {
    failed(res, call, error);
    return;
  }
  // A token already checked (the verified-token and registry caches hit) decides without a
  // promise; only a cache miss or a DPoP proof waits.
  if (decided instanceof Promise) decided.then((d) => act(tessera, metrics, match, req, res, call, d), (error: unknown) => failed(res, call, error));
  else act(tessera, metrics, match, req, res, call, decided);
}

function act(tessera: Tessera, metrics: TesseraMetrics | undefined, match: GatewayMatch, req: IncomingMessage, res: ServerResponse, call: GatewayCall, decision: GatewayDecision): void {
  if (decision.kind === 'error') {
    metrics?.gatewayRequest(match.api.def.name, 'rejected', undefined);
    answerJson(res, decision.status, decision.body, { 'x-request-id': call.id, ...decision.headers });
    return;
  }
  // Tessera's headers on the upstream's answer: only the request id (never nosniff: the
  // upstream owns its content types).
  res.setHeader('x-request-id', call.id);
  const { api } = decision;
  forward(req, res, {
    origin: decision.origin,
    path: decision.path,
    timeoutMs: api.timeoutMs,
    identity: decision.identity,
    forwardedFor: call.forwardedFor(),
    protocol: call.protocol(),
    forwardAuthorization: api.upstreamToken === 'forward',
    upstreamAuthorization: decision.upstreamAuthorization,
    maxBodyBytes: api.maxBodyBytes,
    bodyTimeoutMs: tessera.config.gateway.bodyTimeoutMs,
    idleTimeoutMs: tessera.config.gateway.idleTimeoutMs,
    requestId: call.id,
    responseHeaders: decision.responseHeaders,
  }).then(
    (outcome) => metrics?.gatewayRequest(api.name, outcome.upstreamStatus, outcome.upstreamSeconds),
    (error: unknown) => failed(res, call, error),
  );
}

/** Something threw (a store unreachable on a cache miss): logged, and a 502 when nothing was sent yet — never a 500. */
function failed(res: ServerResponse, call: GatewayCall, error: unknown): void {
  call.log().error({ err: error }, 'gateway failure');
  if (!res.headersSent && !res.writableEnded) answerJson(res, 502, { error: 'bad_gateway', error_description: 'the gateway could not complete the request' }, { 'x-request-id': call.id }, false);
}
