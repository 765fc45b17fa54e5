import type { IncomingHttpHeaders, IncomingMessage, ServerResponse } from 'node:http';
import { Readable } from 'node:stream';
import { Agent, errors, type Dispatcher } from 'undici';
import { isTesseraCookie } from '../lib/cookie-names.ts';

/** RFC 9110 §7.6.1: connection-specific headers are not forwarded. */
const HOP_BY_HOP = new Set(['connection', 'keep-alive', 'proxy-authenticate', 'proxy-authorization', 'proxy-connection', 'te', 'trailer', 'transfer-encoding', 'upgrade']);

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
   * worthless without the token — (the API's `forward_authorization`).
   */
  /** Forward the client's `Authorization` header (the API's `upstream_token` is `forward`). */
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

/**
 * Request headers for the upstream: hop-by-hop, `Expect` (Node has already answered
 * `100 Continue` to the client; undici refuses the header), client-sent X-Tessera-* and
 * Tessera's own cookies removed, `Authorization` only when the API forwards it (or the token
 * minted for the upstream instead, when it exchanges), identity
 * and X-Forwarded-* set.
 */
export function upstreamHeaders(incoming: IncomingHttpHeaders, o: ForwardOptions): Record<string, string | string[]> {
  const out: Record<string, string | string[]> = {};
  const connectionListed = new Set(
    String(incoming.connection ?? '')
      .split(',')
      .map((s) => s.trim().toLowerCase())
      .filter(Boolean),
  );
  for (const [name, value] of Object.entries(incoming)) {
    if (value === undefined) continue;
    const lower = name.toLowerCase();
    if (HOP_BY_HOP.has(lower) || connectionListed.has(lower) || lower === 'host' || lower === 'expect' || lower.startsWith('x-tessera-')) continue;
    if (lower === 'x-forwarded-for' || lower === 'x-forwarded-proto' || lower === 'x-forwarded-host') continue;
    if ((lower === 'authorization' || lower === 'dpop') && !o.forwardAuthorization) continue;
    if (lower === 'authorization' && (!o.forwardAuthorization || o.upstreamAuthorization !== undefined)) continue;
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
  const connectionListed = new Set(
    String(incoming.connection ?? '')
      .split(',')
      .map((s) => s.trim().toLowerCase())
      .filter(Boolean),
  );
  for (const [name, value] of Object.entries(incoming)) {
    if (value === undefined || HOP_BY_HOP.has(name) || connectionListed.has(name)) continue;
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
 */
export async function forward(req: IncomingMessage, res: ServerResponse, o: ForwardOptions): Promise<ForwardOutcome> {
  const abort = new AbortController();
  const onClose = () => {
    if (!res.writableFinished) abort.abort();
  };
  res.once('close', onClose);
  // A body only when the client announced one: GET and HEAD usually have none.
  const declared = req.headers['content-length'];
  const hasBody = declared !== undefined ? declared !== '0' : req.headers['transfer-encoding'] !== undefined;
  if (hasBody && o.maxBodyBytes !== null && declared !== undefined && Number(declared) > o.maxBodyBytes) {
    res.off('close', onClose);
    refuseBody(req, res, 413, 'payload_too_large', `the request body is larger than this API accepts (${o.maxBodyBytes} bytes)`);
    return { upstreamStatus: 'rejected', upstreamSeconds: undefined };
  }
  // Ends the exchange early, before or while the body streams: answer (when nothing was sent
  // yet), stop the upstream request, and close the connection.
  let refused = false;
  const refuse = (status: number, error: string, description: string) => {
    if (refused) return;
    refused = true;
    abort.abort();
    refuseBody(req, res, status, error, description);
  };
  let bodyTimer: NodeJS.Timeout | undefined;
  const bodyDone = () => {
    clearTimeout(bodyTimer);
    req.socket?.setTimeout(0);
  };
  if (hasBody) {
    bodyTimer = setTimeout(() => refuse(408, 'request_timeout', `the request body did not arrive within ${o.bodyTimeoutMs} ms`), o.bodyTimeoutMs);
    // Emitted (while the request is incomplete) when the socket has seen no bytes for the idle timeout.
    req.setTimeout(o.idleTimeoutMs, () => refuse(408, 'request_timeout', `the request body stalled for ${o.idleTimeoutMs} ms`));
    req.once('end', bodyDone);
    req.once('close', bodyDone);
  }
  const options: Dispatcher.RequestOptions = {
    origin: o.origin,
    path: o.path,
    method: req.method as Dispatcher.HttpMethod,
    headers: upstreamHeaders(req.headers, o),
    body: hasBody ? (o.maxBodyBytes === null ? req : Readable.from(limited(req, o.maxBodyBytes, () => refuse(413, 'payload_too_large', `the request body is larger than this API accepts (${o.maxBodyBytes} bytes)`)))) : null,
    signal: abort.signal,
    // No answer (status line and headers) within the API's timeout → 504. Once the answer
    // streams, a slow body is the upstream's business (server-sent events, large downloads).
    headersTimeout: o.timeoutMs,
    bodyTimeout: 0,
  };
  const started = performance.now();
  let upstreamStatus: number | undefined;
  let upstreamSeconds: number | undefined;
  try {
    await dispatcher.stream(options, ({ statusCode, headers }) => {
      upstreamStatus = statusCode;
      upstreamSeconds = (performance.now() - started) / 1000;
      const out = downstreamHeaders(headers);
      if (o.responseHeaders) for (const [name, value] of Object.entries(o.responseHeaders)) out[name] = value;
      res.writeHead(statusCode, out);
      return res;
    });
    return { upstreamStatus: upstreamStatus!, upstreamSeconds };
  } catch (error) {
    if (upstreamStatus !== undefined) return { upstreamStatus, upstreamSeconds };
    if (refused) return { upstreamStatus: 'rejected', upstreamSeconds: undefined };
    // The client went away before the upstream answered.
    if (abort.signal.aborted) return { upstreamStatus: 'cancelled', upstreamSeconds: undefined };
    if (error instanceof errors.HeadersTimeoutError) {
      fail(res, 504, 'gateway_timeout', `the upstream did not answer within ${o.timeoutMs} ms`);
      return { upstreamStatus: 'timeout', upstreamSeconds: undefined };
    }
    fail(res, 502, 'bad_gateway', 'the upstream could not be reached');
    return { upstreamStatus: 'unreachable', upstreamSeconds: undefined };
  } finally {
    // A body still arriving after the answer (the upstream answered early) stays bounded by
    // the timers above; they end with the request.
    res.off('close', onClose);
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
  const body = JSON.stringify({ error, error_description: description });
  res.writeHead(status, { 'content-type': 'application/json; charset=utf-8', 'content-length': Buffer.byteLength(body), 'cache-control': 'no-store' });
  res.end(body);
}
