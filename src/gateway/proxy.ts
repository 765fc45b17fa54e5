import type { IncomingHttpHeaders, IncomingMessage, ServerResponse } from 'node:http';
import { Readable } from 'node:stream';
import { Agent, errors, type Dispatcher } from 'undici';
import { isTesseraCookie } from '../lib/cookie-names.ts';
import { answerJson } from './json-answer.ts';

/** RFC 9110 §7.6.1: connection-specific headers are not forwarded. */
const HOP_BY_HOP = new Set(['connection', 'keep-alive', 'proxy-authenticate', 'proxy-authorization', 'proxy-connection', 'te', 'trailer', 'transfer-encoding', 'upgrade']);
/**
 * Request headers never forwarded: hop-by-hop, Host (the upstream's own), `Expect` (Node has
 * already answered `100 Continue` to the client; undici refuses the header), and the
 * X-Forwarded-* Tessera writes itself.
 */
const NOT_FORWARDED = new Set([...HOP_BY_HOP, 'host', 'expect', 'x-forwarded-for', 'x-forwarded-proto', 'x-forwarded-host']);

/**
 * undici rather than node:http's client: on this kind of machine a proxy hop through it
 * costs about a quarter less CPU (measured with bench/servers/floor-proxy.ts), and every
 * gateway request pays for one. Keep-alive connections per upstream origin, reused.
 */
const dispatcher = new Agent({ connections: 256, keepAliveTimeout: 30_000 });

export interface ForwardOptions {
  /** The upstream's origin, e.g. `http://accounts.internal:9000`. */
  origin: string;
  /** Path and query on the upstream, e.g. `/odata/Account(1)?$select=Name`. */
  path: string;
  timeoutMs: number;
  identity: { subject: string; clientId: string; scope: string };
  /**
   * X-Forwarded-For for the upstream: the client's address as Tessera decided it, then the
   * proxies it trusts (TESSERA_TRUST_PROXY), the connection's peer last. Entries the client
   * wrote itself beyond the trusted hops are not passed on, so an upstream reading the
   * leftmost entry sees the address Tessera recorded, not one the client chose.
   */
  forwardedFor: readonly string[];
  /** http or https, as the client reached Tessera. */
  protocol: string;
  /**
   * Forward the client's `Authorization` header — and with it its `DPoP` proof, which is
   * worthless without the token — (the API's `upstream_token` is `forward`).
   */
  forwardAuthorization: boolean;
  /** Send this `Authorization` instead of the client's (`exchange`: a token minted for the upstream). */
  upstreamAuthorization?: string | undefined;
  /** The API's largest request body in bytes (413 above it), or null for no limit. */
  maxBodyBytes: number | null;
  /** The whole request body must arrive within this time (TESSERA_GATEWAY_BODY_TIMEOUT_MS), else 408. */
  bodyTimeoutMs: number;
  /** Nothing arriving on the client connection for this long while the body is expected → 408 (TESSERA_GATEWAY_IDLE_TIMEOUT_MS). */
  idleTimeoutMs: number;
  /** The request's id (X-Request-Id), passed to the upstream for log correlation. */
  requestId?: string;
  /** Added to the upstream's answer (a fresh DPoP-Nonce); they replace an upstream header of the same name. */
  responseHeaders?: Record<string, string>;
}

/**
 * What became of a forwarded request, for the metrics: the upstream's status and how long it
 * took to answer (status line and headers), or why there was no answer.
 */
export interface ForwardOutcome {
  upstreamStatus: number | 'timeout' | 'unreachable' | 'rejected' | 'cancelled';
  upstreamSeconds: number | undefined;
}

const KEEP_ALIVE: ReadonlySet<string> = new Set(['keep-alive']);
const CLOSE: ReadonlySet<string> = new Set(['close']);

/**
 * The header names a `Connection` header lists (hop-by-hop too, RFC 9110 §7.6.1), lower-case.
 * `keep-alive` and `close`, what nearly every request and answer says, need no new set.
 */
function connectionListed(value: string | string[] | undefined): ReadonlySet<string> | undefined {
  if (value === undefined) return undefined;
  const text = String(value);
  const lower = text.toLowerCase();
  if (lower === 'keep-alive') return KEEP_ALIVE;
  if (lower === 'close') return CLOSE;
  return new Set(
    text
      .split(',')
      .map((s) => s.trim().toLowerCase())
      .filter(Boolean),
  );
}

/**
 * Request headers for the upstream: hop-by-hop, `Expect`, client-sent X-Tessera-* and
 * X-Forwarded-*, and Tessera's own cookies removed, `Authorization` only when the API forwards
 * it (or the token minted for the upstream instead, when it exchanges), identity and
 * X-Forwarded-* set.
 */
export function upstreamHeaders(incoming: IncomingHttpHeaders, o: ForwardOptions): Record<string, string | string[]> {
  const out: Record<string, string | string[]> = {};
  const listed = connectionListed(incoming.connection);
  for (const name in incoming) {
    const value = incoming[name];
    if (value === undefined) continue;
    const lower = name.toLowerCase();
    if (NOT_FORWARDED.has(lower) || listed?.has(lower) || lower.startsWith('x-tessera-')) continue;
    if ((lower === 'authorization' || lower === 'dpop') && !o.forwardAuthorization) continue;
    if (lower === 'authorization' && o.upstreamAuthorization !== undefined) continue;
    if (lower === 'cookie') {
      const kept = withoutTesseraCookies(value);
      if (kept) out.cookie = kept;
      continue;
    }
    out[lower] = value;
  }
  if (o.upstreamAuthorization !== undefined) out.authorization = o.upstreamAuthorization;
  out['x-forwarded-for'] = o.forwardedFor.join(', ');
  out['x-forwarded-proto'] = o.protocol;
  if (incoming.host) out['x-forwarded-host'] = incoming.host;
  out['x-tessera-subject'] = o.identity.subject;
  out['x-tessera-client-id'] = o.identity.clientId;
  out['x-tessera-scope'] = o.identity.scope;
  if (o.requestId !== undefined) out['x-request-id'] = o.requestId;
  return out;
}

/** The `Cookie` header without Tessera's own cookies; '' when nothing is left. */
function withoutTesseraCookies(value: string | string[]): string {
  return (Array.isArray(value) ? value.join('; ') : value)
    .split(';')
    .map((pair) => pair.trim())
    .filter((pair) => pair && !isTesseraCookie(pair.slice(0, pair.indexOf('=') >>> 0)))
    .join('; ');
}

/** Response headers for the client: hop-by-hop removed, and any `Set-Cookie` for one of Tessera's own cookies. */
export function downstreamHeaders(incoming: IncomingHttpHeaders | Record<string, string | string[] | undefined>): Record<string, string | string[]> {
  const out: Record<string, string | string[]> = {};
  const listed = connectionListed(incoming.connection);
  for (const name in incoming) {
    const value = incoming[name];
    if (value === undefined || HOP_BY_HOP.has(name) || listed?.has(name)) continue;
    if (name === 'set-cookie') {
      const kept = (Array.isArray(value) ? value : [value]).filter((c) => !isTesseraCookie(c.slice(0, c.indexOf('=') >>> 0)));
      if (kept.length) out[name] = kept;
      continue;
    }
    out[name] = value;
  }
  return out;
}

/**
 * Streams the request to the upstream and its answer back, never buffering a body. No answer
 * within the API's timeout → 504; connection refused or reset → 502 (JSON either way, when
 * nothing has been sent yet). A body over the API's limit → 413, a body that does not arrive
 * within the body timeout or stalls for the idle timeout → 408, and the connection is closed
 * (the rest of the body is never read). The client going away aborts the upstream request.
 * Settles (never rejects) once the exchange is over.
 */
export function forward(req: IncomingMessage, res: ServerResponse, o: ForwardOptions): Promise<ForwardOutcome> {
  // A body only when the client announced one: GET and HEAD usually have none.
  const declared = req.headers['content-length'];
  const hasBody = declared !== undefined ? declared !== '0' : req.headers['transfer-encoding'] !== undefined;
  if (hasBody && o.maxBodyBytes !== null && declared !== undefined && Number(declared) > o.maxBodyBytes) {
    refuseBody(req, res, 413, 'payload_too_large', `the request body is larger than this API accepts (${o.maxBodyBytes} bytes)`);
    return Promise.resolve({ upstreamStatus: 'rejected', upstreamSeconds: undefined });
  }
  return new Promise((resolve) => {
    const exchange = new Exchange(req, res, o, resolve);
    let body: Readable | null = null;
    if (hasBody) {
      const limit = o.maxBodyBytes;
      body = limit === null ? req : Readable.from(limited(req, limit, () => exchange.refuse(413, 'payload_too_large', `the request body is larger than this API accepts (${limit} bytes)`)));
      exchange.watchBody(body);
    }
    try {
      dispatcher.dispatch(
        {
          origin: o.origin,
          path: o.path,
          method: req.method as Dispatcher.HttpMethod,
          headers: upstreamHeaders(req.headers, o),
          body,
          // No answer (status line and headers) within the API's timeout → 504. Once the answer
          // streams, a slow body is the upstream's business (server-sent events, large downloads).
          headersTimeout: o.timeoutMs,
          bodyTimeout: 0,
        },
        exchange,
      );
    } catch (error) {
      // Refused before it was sent (undici validates the method, path and headers).
      exchange.onResponseError(undefined, error as Error);
    }
  });
}

/** Why Tessera ended an exchange itself: the upstream request is aborted with it. */
class ExchangeEnded extends Error {}

/**
 * One upstream exchange, as an undici dispatch handler: the answer's status and headers are
 * written to the client, its body chunks follow with backpressure (the upstream is paused
 * while the client's socket is full). A handler of our own rather than undici's `stream()`:
 * that one adds an AbortSignal, an AsyncResource, a promise and stream-lifecycle listeners to
 * every request, all of which this does without.
 */
class Exchange implements Dispatcher.DispatchHandler {
  readonly #req: IncomingMessage;
  readonly #res: ServerResponse;
  readonly #o: ForwardOptions;
  readonly #resolve: (outcome: ForwardOutcome) => void;
  readonly #started = performance.now();
  #controller: Dispatcher.DispatchController | undefined;
  #status: number | undefined;
  #seconds: number | undefined;
  /** Why Tessera ended the exchange before the upstream did: the client left, or its body was refused. */
  #ended: 'cancelled' | 'rejected' | undefined;
  #settled = false;
  #bodyTimer: NodeJS.Timeout | undefined;
  readonly #onClose = () => {
    // The client went away before its answer was complete: stop the upstream request.
    if (!this.#res.writableFinished) this.#end('cancelled');
  };
  readonly #onDrain = () => this.#controller?.resume();

  constructor(req: IncomingMessage, res: ServerResponse, o: ForwardOptions, resolve: (outcome: ForwardOutcome) => void) {
    this.#req = req;
    this.#res = res;
    this.#o = o;
    this.#resolve = resolve;
    res.once('close', this.#onClose);
  }

  /**
   * The request body streams to the upstream: it must arrive within the body timeout and never
   * stall for the idle timeout (408 otherwise). An error of the body (the client aborted it)
   * ends the exchange; undici's own listener on it is gone once the answer is complete.
   */
  watchBody(body: Readable): void {
    const { bodyTimeoutMs, idleTimeoutMs } = this.#o;
    const req = this.#req;
    this.#bodyTimer = setTimeout(() => this.refuse(408, 'request_timeout', `the request body did not arrive within ${bodyTimeoutMs} ms`), bodyTimeoutMs);
    // Emitted (while the request is incomplete) when the socket has seen no bytes for the idle timeout.
    req.setTimeout(idleTimeoutMs, () => this.refuse(408, 'request_timeout', `the request body stalled for ${idleTimeoutMs} ms`));
    const bodyDone = () => {
      clearTimeout(this.#bodyTimer);
      req.socket?.setTimeout(0);
    };
    req.once('end', bodyDone);
    req.once('close', bodyDone);
    body.on('error', (error: Error) => this.#abort(error));
  }

  /** Ends the exchange early, before or while the body streams: answer (when nothing was sent yet), stop the upstream request, close the connection. */
  refuse(status: number, error: string, description: string): void {
    if (this.#ended === 'rejected') return;
    this.#end('rejected');
    refuseBody(this.#req, this.#res, status, error, description);
  }

  #end(why: 'cancelled' | 'rejected'): void {
    this.#ended ??= why;
    this.#abort(new ExchangeEnded(why));
  }

  #abort(reason: Error): void {
    if (this.#settled) return;
    if (this.#controller) this.#controller.abort(reason);
    else this.#pendingAbort ??= reason;
  }

  /** An abort asked for before undici started the request (it gets it at the start). */
  #pendingAbort: Error | undefined;

  onRequestStart(controller: Dispatcher.DispatchController): void {
    this.#controller = controller;
    if (this.#pendingAbort) controller.abort(this.#pendingAbort);
  }

  onResponseStart(controller: Dispatcher.DispatchController, statusCode: number, headers: IncomingHttpHeaders): void {
    // 1xx (interim) answers are not passed on.
    if (statusCode < 200) return;
    this.#status = statusCode;
    this.#seconds = (performance.now() - this.#started) / 1000;
    const out = downstreamHeaders(headers);
    const extra = this.#o.responseHeaders;
    if (extra) for (const name in extra) out[name] = extra[name]!;
    const res = this.#res;
    res.writeHead(statusCode, out);
    if (res.writableNeedDrain) this.#pause(controller);
  }

  onResponseData(controller: Dispatcher.DispatchController, chunk: Buffer): void {
    if (this.#status === undefined) return;
    if (!this.#res.write(chunk)) this.#pause(controller);
  }

  #pause(controller: Dispatcher.DispatchController): void {
    controller.pause();
    this.#res.once('drain', this.#onDrain);
  }

  onResponseEnd(): void {
    if (this.#status === undefined) return;
    this.#res.end();
    this.#settle({ upstreamStatus: this.#status, upstreamSeconds: this.#seconds });
  }

  onResponseError(_controller: Dispatcher.DispatchController | undefined, error: Error): void {
    if (this.#settled) return;
    const res = this.#res;
    if (this.#status !== undefined) {
      // Mid-answer: the only honest signal left is to cut the connection.
      res.destroy(error);
      this.#settle({ upstreamStatus: this.#status, upstreamSeconds: this.#seconds });
      return;
    }
    if (this.#ended === 'rejected') return this.#settle({ upstreamStatus: 'rejected', upstreamSeconds: undefined });
    // The client went away before the upstream answered.
    if (this.#ended === 'cancelled') return this.#settle({ upstreamStatus: 'cancelled', upstreamSeconds: undefined });
    if (error instanceof errors.HeadersTimeoutError) {
      fail(res, 504, 'gateway_timeout', `the upstream did not answer within ${this.#o.timeoutMs} ms`);
      return this.#settle({ upstreamStatus: 'timeout', upstreamSeconds: undefined });
    }
    fail(res, 502, 'bad_gateway', 'the upstream could not be reached');
    this.#settle({ upstreamStatus: 'unreachable', upstreamSeconds: undefined });
  }

  #settle(outcome: ForwardOutcome): void {
    if (this.#settled) return;
    this.#settled = true;
    // A body still arriving after the answer (the upstream answered early) stays bounded by
    // the timers above; they end with the request.
    this.#res.off('close', this.#onClose);
    this.#resolve(outcome);
  }
}

/** The body as it arrives, cut off (and `over` called) past `max` bytes: chunked bodies have no length to check up front. */
async function* limited(body: AsyncIterable<Buffer>, max: number, over: () => void): AsyncGenerator<Buffer> {
  let seen = 0;
  for await (const chunk of body) {
    seen += chunk.length;
    if (seen > max) {
      over();
      return;
    }
    yield chunk;
  }
}

/** Answers a request whose body Tessera will not read to the end, and closes the connection after the answer. */
function refuseBody(req: IncomingMessage, res: ServerResponse, status: number, error: string, description: string): void {
  // Null once Node has let go of the connection (already closing).
  const socket = req.socket as IncomingMessage['socket'] | null;
  if (!res.headersSent) res.setHeader('connection', 'close');
  fail(res, status, error, description);
  if (res.writableFinished) socket?.destroy();
  else res.once('finish', () => socket?.destroy());
}

function fail(res: ServerResponse, status: number, error: string, description: string): void {
  if (res.headersSent) {
    // Mid-answer: the only honest signal left is to cut the connection.
    res.destroy();
    return;
  }
  answerJson(res, status, { error, error_description: description });
}
