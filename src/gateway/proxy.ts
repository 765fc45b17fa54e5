import type { IncomingHttpHeaders, IncomingMessage, ServerResponse } from 'node:http';
import { Agent, errors, type Dispatcher } from 'undici';

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
  clientIp: string;
  /** http or https, as the client reached Tessera. */
  protocol: string;
}

/** Request headers for the upstream: hop-by-hop and client-sent X-Tessera-* removed, identity and X-Forwarded-* set. */
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
    if (HOP_BY_HOP.has(lower) || connectionListed.has(lower) || lower === 'host' || lower.startsWith('x-tessera-')) continue;
    if (lower === 'x-forwarded-for' || lower === 'x-forwarded-proto' || lower === 'x-forwarded-host') continue;
    out[lower] = value;
  }
  const priorFor = incoming['x-forwarded-for'];
  out['x-forwarded-for'] = priorFor ? `${Array.isArray(priorFor) ? priorFor.join(', ') : priorFor}, ${o.clientIp}` : o.clientIp;
  out['x-forwarded-proto'] = o.protocol;
  if (incoming.host) out['x-forwarded-host'] = incoming.host;
  out['x-tessera-subject'] = o.identity.subject;
  out['x-tessera-client-id'] = o.identity.clientId;
  out['x-tessera-scope'] = o.identity.scope;
  return out;
}

/** Response headers for the client: hop-by-hop removed. */
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
    out[name] = value;
  }
  return out;
}

/**
 * Streams the request to the upstream and its answer back, never buffering a body. No answer
 * within the API's timeout → 504; connection refused or reset → 502 (JSON either way, when
 * nothing has been sent yet). The client going away aborts the upstream request.
 */
export async function forward(req: IncomingMessage, res: ServerResponse, o: ForwardOptions): Promise<void> {
  const abort = new AbortController();
  const onClose = () => {
    if (!res.writableFinished) abort.abort();
  };
  res.once('close', onClose);
  // A body only when the client announced one: GET and HEAD usually have none.
  const hasBody = req.headers['content-length'] !== undefined ? req.headers['content-length'] !== '0' : req.headers['transfer-encoding'] !== undefined;
  const options: Dispatcher.RequestOptions = {
    origin: o.origin,
    path: o.path,
    method: req.method as Dispatcher.HttpMethod,
    headers: upstreamHeaders(req.headers, o),
    body: hasBody ? req : null,
    signal: abort.signal,
    // No answer (status line and headers) within the API's timeout → 504. Once the answer
    // streams, a slow body is the upstream's business (server-sent events, large downloads).
    headersTimeout: o.timeoutMs,
    bodyTimeout: 0,
  };
  try {
    await dispatcher.stream(options, ({ statusCode, headers }) => {
      res.writeHead(statusCode, downstreamHeaders(headers));
      return res;
    });
  } catch (error) {
    if (abort.signal.aborted) return;
    if (error instanceof errors.HeadersTimeoutError) fail(res, 504, 'gateway_timeout', `the upstream did not answer within ${o.timeoutMs} ms`);
    else fail(res, 502, 'bad_gateway', 'the upstream could not be reached');
  } finally {
    res.off('close', onClose);
  }
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
