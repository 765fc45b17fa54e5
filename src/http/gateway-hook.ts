import type { FastifyInstance } from 'fastify';
import type { Tessera } from '../app/tessera.ts';
import { epochSeconds } from '../clock.ts';
import { forward } from '../gateway/proxy.ts';

/**
 * The gateway sits in front of routing: a request under an API's base path is decided in
 * `onRequest`, before Fastify reads the body, so the body streams to the upstream untouched
 * (no content-type parser, no buffering). Everything else continues to Tessera's own routes.
 */
export function registerGateway(app: FastifyInstance, tessera: Tessera): void {
  const { gateway, clock } = tessera;
  app.addHook('onRequest', async (request, reply) => {
    if (!gateway.owns(request.url)) return;
    const decision = await gateway.decide(request.method, request.url, request.headers.authorization, epochSeconds(clock));
    if (decision.kind === 'not_gateway') return;
    if (decision.kind === 'error') {
      return reply.code(decision.status).headers(decision.headers).header('cache-control', 'no-store').send(decision.body);
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
  });
}
