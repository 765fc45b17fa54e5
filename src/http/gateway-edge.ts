import type { IncomingMessage, ServerResponse } from 'node:http';
import proxyAddr from '@fastify/proxy-addr';
import type { FastifyBaseLogger, FastifyInstance } from 'fastify';
import type { Tessera } from '../app/tessera.ts';
import type { GatewayMatch } from '../gateway/gateway.ts';
import type { TesseraMetrics } from '../observability/metrics.ts';
import { corsMethods } from './cors.ts';
import { enabled } from './edge-log.ts';
import { serveGateway, type GatewayCall } from './gateway-hook.ts';
import { requestIdOf } from './request-id.ts';
import { plainTokenRequest, serveTokenAtEdge, TOKEN_PATH } from './token-edge.ts';
import type { TrustFn } from './trust-proxy.ts';

type RequestListener = (req: IncomingMessage, res: ServerResponse) => void;

/**
 * The gateway in front of Fastify: node:http's request listener takes the requests under an
 * API's base path itself and hands every other one to Fastify (`app.routing`). A gateway
 * request streams to its upstream untouched, so Fastify's request and reply objects, its
 * router, child logger and hook runner were pure cost on it — about a fifth of a gateway
 * request's CPU time (docs/performance.md, issue 16).
 *
 * What Fastify gave those requests is kept here, the same: the request id (`requestIdOf`),
 * nosniff and X-Request-Id on Tessera's own answers (serveGateway), the client address through
 * trusted proxies (the same proxy-addr rules as Fastify's `trustProxy`), the request log lines
 * (`incoming request`, `request completed`, `request errored`, bound to `reqId`), the HTTP
 * metrics under the route label "gateway", and Fastify's 503 while closing (such requests go
 * to Fastify). Requests whose path Fastify might refuse or treat specially — any `%` in the
 * path (Fastify answers 400 to a malformed escape), a CORS endpoint with an Origin — also go
 * to Fastify, where the `onRequest` hook (app.ts) serves them through the same serveGateway.
 *
 * Fastify's `inject()` (tests) calls Fastify's handler directly and so takes the hook's way too.
 *
 * The token endpoint's plain requests (POST /connect/token with a form body of known length,
 * no DPoP proof, no Origin) are taken here too, for the same reason, and answered by
 * token-edge.ts with the same observation (`#observe`); the Fastify route stays for every
 * other one and for `inject()`.
 */
export class GatewayEdge {
  readonly #tessera: Tessera;
  readonly #metrics: TesseraMetrics | undefined;
  readonly #trust: TrustFn | undefined;
  #log: FastifyBaseLogger | undefined;
  /** Set when Fastify starts closing: from then on Fastify answers (503, Connection: close). */
  #closing = false;

  /** `trust`: what `fastifyTrustProxy` gives Fastify, so both see the same client. */
  constructor(tessera: Tessera, metrics: TesseraMetrics | undefined, trust: false | TrustFn | string[]) {
    this.#tessera = tessera;
    this.#metrics = metrics;
    // As Fastify compiles its `trustProxy` (a function as is, addresses through proxy-addr).
    this.#trust = trust === false ? undefined : typeof trust === 'function' ? trust : proxyAddr.compile(trust);
  }

  /** Puts the edge in front of `app`'s handler on its server (before `listen`). */
  install(app: FastifyInstance): void {
    // Not Fastify's `serverFactory`: with it, `app.close()` leaves a server that was listened
    // on directly (as `serve` does) open. The server Fastify made has exactly one request
    // listener, Fastify's handler, which is `app.routing`.
    const server = app.server;
    const listeners = server.listeners('request');
    if (listeners.length !== 1) throw new Error(`gateway edge: expected Fastify's one request listener, found ${listeners.length}`);
    server.removeListener('request', listeners[0] as RequestListener);
    const fastify: RequestListener = app.routing;
    this.#log = app.log;
    app.addHook('preClose', (done) => {
      this.#closing = true;
      done();
    });
    const bodyLimit = this.#tessera.config.server.bodyLimit;
    server.on('request', (req: IncomingMessage, res: ServerResponse) => {
      if (this.#closing) return fastify(req, res);
      if (req.method === 'POST' && req.url === TOKEN_PATH && plainTokenRequest(req, bodyLimit)) {
        const id = requestIdOf(req);
        const trust = this.#trust;
        return serveTokenAtEdge(this.#tessera, req, res, id, this.#log!, this.#observe(req, res, id, TOKEN_PATH), () => clientIp(req, trust) ?? null);
      }
      const match = this.#owned(req);
      if (match === undefined) fastify(req, res);
      else this.#serve(req, res, match);
    });
  }

  /** The gateway match of a request the edge serves itself, else undefined (Fastify's). */
  #owned(req: IncomingMessage): GatewayMatch | undefined {
    const url = req.url!;
    const match = this.#tessera.gateway.match(url);
    if (match === undefined) return undefined;
    const pathEnd = url.length - match.query.length;
    if (url.lastIndexOf('%', pathEnd - 1) !== -1) return undefined;
    if (req.headers.origin !== undefined && corsMethods(url.slice(0, pathEnd)) !== undefined) return undefined;
    return match;
  }

  #serve(req: IncomingMessage, res: ServerResponse, match: GatewayMatch): void {
    const id = requestIdOf(req);
    const log = this.#observe(req, res, id, 'gateway');
    const trust = this.#trust;
    const call: GatewayCall = {
      id,
      // Fastify's `ips` (only with a trust setting) runs from the peer to the client and stops
      // at the first address it does not trust; without trust only the peer counts.
      forwardedFor: () => (trust === undefined ? [req.socket.remoteAddress!] : proxyAddr.all(req, trust).reverse()),
      protocol: () => protocolOf(req, trust),
      log,
    };
    serveGateway(this.#tessera, this.#metrics, match, req, res, call);
  }

  /**
   * Fastify's request log lines and the HTTP metrics' onResponse (under `route`), for the
   * answers that finish; returns the request's logger (bound to its id), made when first used.
   */
  #observe(req: IncomingMessage, res: ServerResponse, id: string, route: string): () => FastifyBaseLogger {
    const root = this.#log!;
    let child: FastifyBaseLogger | undefined;
    const log = () => (child ??= root.child({ reqId: id }));
    const metrics = this.#metrics;
    const info = enabled(root, 'info');
    if (metrics !== undefined || enabled(root, 'error')) {
      const started = performance.now();
      if (info) log().info({ req: { method: req.method, url: req.url, ip: clientIp(req, this.#trust) } }, 'incoming request');
      const done = (error?: Error) => {
        res.removeListener('finish', done);
        res.removeListener('error', done);
        const elapsed = performance.now() - started;
        metrics?.httpRequest(req.method!, route, res.statusCode, elapsed / 1000);
        if (error) log().error({ res: { statusCode: res.statusCode }, err: error, responseTime: elapsed }, 'request errored');
        else if (info) log().info({ res: { statusCode: res.statusCode }, responseTime: elapsed }, 'request completed');
      };
      // Without metrics and info lines a finished answer has nothing to record: only a write
      // error is logged, so one listener and no 'finish' one. Adding and removing a second
      // listener beside node:http's own on every answer measured ~10–15 k instructions per
      // client-credentials token under callgrind (issue 16), about 3 % of it. `on`, not
      // `once`: `done` removes itself, and once's wrapper (a bound function per answer) cost
      // ~7 k instructions per gateway request (bench/instructions.ts --scenario gateway).
      if (metrics === undefined && !info) res.on('error', done);
      else {
        res.on('finish', done);
        res.on('error', done);
      }
    }
    return log;
  }
}

/** Fastify's `request.ip`: the client as the trusted proxies tell it, else the peer. */
function clientIp(req: IncomingMessage, trust: TrustFn | undefined): string | undefined {
  if (trust === undefined) return req.socket.remoteAddress;
  const all = proxyAddr.all(req, trust);
  return all[all.length - 1];
}

/** Fastify's `request.protocol`: the last X-Forwarded-Proto entry when the peer is a trusted proxy. */
function protocolOf(req: IncomingMessage, trust: TrustFn | undefined): string {
  const socket = req.socket;
  const forwarded = req.headers['x-forwarded-proto'] as string | undefined;
  if (trust !== undefined && forwarded && trust(socket.remoteAddress!, 0)) {
    const last = forwarded.lastIndexOf(',');
    return last === -1 ? forwarded.trim() : forwarded.slice(last + 1).trim();
  }
  return (socket as { encrypted?: boolean }).encrypted ? 'https' : 'http';
}
