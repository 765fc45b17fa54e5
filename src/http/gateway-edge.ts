import type { IncomingMessage, ServerResponse } from 'node:http';
import proxyAddr from '@fastify/proxy-addr';
import type { FastifyBaseLogger, FastifyInstance } from 'fastify';
import type { Tessera } from '../app/tessera.ts';
import type { GatewayMatch } from '../gateway/gateway.ts';
import type { TesseraMetrics } from '../observability/metrics.ts';
import { epochSeconds } from '../clock.ts';
import type { Logger } from '../lib/logger.ts';
import type { TokenResponse } from '../oauth/grants/grant-handler.ts';
import { parseForm } from '../oauth/params.ts';
import { corsMethods } from './cors.ts';
import { errorAnswer } from './error-reply.ts';
import { NO_STORE } from './oauth-reply.ts';
import { serveGateway, type GatewayCall } from './gateway-hook.ts';
import { requestIdOf } from './request-id.ts';
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
 * no DPoP proof, no Origin) are answered here too, for the same reason (`#token`); the Fastify
 * route stays for every other one and for `inject()`.
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
      if (req.method === 'POST' && req.url === TOKEN_PATH && plainTokenRequest(req, bodyLimit)) return this.#token(req, res);
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
      res.on('finish', done);
      res.on('error', done);
    }
    return log;
  }

  /**
   * POST /connect/token in front of Fastify (issue 16): the same endpoint, the same answer
   * bytes and headers as the Fastify route (protocol-routes.ts) and its error handler
   * (`errorAnswer`), without Fastify's per-request router, request and reply objects, hook
   * runner, child logger and reply pipeline, which cost about as much CPU as the token's
   * ES256 signature outside it. Only a plain request comes here (`plainTokenRequest`): a form
   * body of known length within the body limit, no DPoP proof, no Origin (CORS); any other
   * goes to Fastify as before.
   */
  #token(req: IncomingMessage, res: ServerResponse): void {
    const id = requestIdOf(req);
    const log = this.#observe(req, res, id, TOKEN_PATH);
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('error', () => res.destroy());
    req.on('end', () => {
      const body = chunks.length === 1 ? chunks[0]!.toString('utf8') : Buffer.concat(chunks).toString('utf8');
      const requestLog = new RequestLog(this.#log!, log);
      const failed = (error: unknown) => {
        const answer = errorAnswer(error, requestLog, { tokenEndpoint: true, adminApi: false });
        send(res, id, answer.status, answer.headers, JSON.stringify(answer.body));
      };
      let result: TokenResponse | Promise<TokenResponse>;
      try {
        result = this.#tessera.endpoints.token({ params: parseForm(body), authorization: req.headers.authorization, now: epochSeconds(this.#tessera.clock), log: requestLog });
      } catch (error) {
        return failed(error);
      }
      if (result instanceof Promise) result.then((answer) => sent(res, id, answer), failed);
      else sent(res, id, result);
    });
  }
}

/** The core's Logger on a request's own logger, which is made only when a line is written at a level the root writes. */
class RequestLog implements Logger {
  readonly #root: FastifyBaseLogger;
  readonly #log: () => FastifyBaseLogger;

  constructor(root: FastifyBaseLogger, log: () => FastifyBaseLogger) {
    this.#root = root;
    this.#log = log;
  }

  info(context: Record<string, unknown>, message: string): void {
    if (enabled(this.#root, 'info')) this.#log().info(context, message);
  }

  warn(context: Record<string, unknown>, message: string): void {
    if (enabled(this.#root, 'warn')) this.#log().warn(context, message);
  }

  error(context: Record<string, unknown>, message: string): void {
    if (enabled(this.#root, 'error')) this.#log().error(context, message);
  }
}

const TOKEN_PATH = '/connect/token';
const FORM = 'application/x-www-form-urlencoded';
const JSON_TYPE = 'application/json; charset=utf-8';
const TOKEN_HEADERS: ReadonlyArray<[string, string]> = [...NO_STORE, ['content-type', JSON_TYPE]];

/** A token request the edge answers itself: a form body with a length within the limit, nothing that needs Fastify's other paths. */
function plainTokenRequest(req: IncomingMessage, bodyLimit: number): boolean {
  const headers = req.headers;
  if (headers['content-type'] !== FORM || headers.dpop !== undefined || headers.origin !== undefined || headers['transfer-encoding'] !== undefined) return false;
  const length = headers['content-length'];
  return length !== undefined && /^\d{1,9}$/.test(length) && Number(length) <= bodyLimit;
}

function sent(res: ServerResponse, id: string, body: TokenResponse): void {
  send(res, id, 200, TOKEN_HEADERS, JSON.stringify(body));
}

/** The headers in the order Fastify writes them: the edge hook's (app.ts), the route's, then the length. */
function send(res: ServerResponse, id: string, status: number, headers: ReadonlyArray<readonly [string, string]>, payload: string): void {
  const all: Record<string, string> = { 'x-content-type-options': 'nosniff', 'x-request-id': id };
  for (const [name, value] of headers) all[name] = value;
  all['content-length'] = String(Buffer.byteLength(payload));
  res.writeHead(status, all);
  res.end(payload);
}

/** Whether `log` writes at `level` (pino); Fastify's logger without `logger` writes nothing. */
function enabled(log: FastifyBaseLogger, level: string): boolean {
  const pino = log as FastifyBaseLogger & { isLevelEnabled?: (level: string) => boolean };
  return typeof pino.isLevelEnabled === 'function' && pino.isLevelEnabled(level);
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
