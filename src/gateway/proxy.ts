import http, { type IncomingHttpHeaders, type IncomingMessage, type ServerResponse } from 'node:http';
import https from 'node:https';

/** RFC 9110 §7.6.1: connection-specific headers are not forwarded. */
const HOP_BY_HOP = new Set(['connection', 'keep-alive', 'proxy-authenticate', 'proxy-authorization', 'proxy-connection', 'te', 'trailer', 'transfer-encoding', 'upgrade']);

const agents = {
  'http:': new http.Agent({ keepAlive: true, maxSockets: 256 }),
  'https:': new https.Agent({ keepAlive: true, maxSockets: 256 }),
};

export interface ForwardOptions {
  upstreamUrl: string;
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
export function downstreamHeaders(incoming: IncomingHttpHeaders): Record<string, string | string[]> {
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
 * nothing has been sent yet).
 */
export function forward(req: IncomingMessage, res: ServerResponse, o: ForwardOptions): Promise<void> {
  return new Promise((resolve) => {
    const target = new URL(o.upstreamUrl);
    const lib = target.protocol === 'https:' ? https : http;
    let settled = false;
    const done = () => {
      if (!settled) {
        settled = true;
        resolve();
      }
    };
    const fail = (status: number, error: string, description: string) => {
      if (!res.headersSent) {
        const body = JSON.stringify({ error, error_description: description });
        res.writeHead(status, { 'content-type': 'application/json; charset=utf-8', 'content-length': Buffer.byteLength(body), 'cache-control': 'no-store' });
        res.end(body);
      } else {
        res.destroy();
      }
      done();
    };

    const upstream = lib.request(
      {
        protocol: target.protocol,
        hostname: target.hostname,
        port: target.port || undefined,
        method: req.method,
        path: `${target.pathname}${target.search}`,
        headers: upstreamHeaders(req.headers, o),
        agent: agents[target.protocol as 'http:' | 'https:'],
      },
      (answer) => {
        clearTimeout(timer);
        res.writeHead(answer.statusCode ?? 502, downstreamHeaders(answer.headers));
        answer.pipe(res);
        answer.on('end', done);
        answer.on('error', () => {
          res.destroy();
          done();
        });
      },
    );
    const timer = setTimeout(() => {
      upstream.destroy(new Error('timeout'));
      fail(504, 'gateway_timeout', `the upstream did not answer within ${o.timeoutMs} ms`);
    }, o.timeoutMs);
    upstream.on('error', () => {
      clearTimeout(timer);
      if (!settled) fail(502, 'bad_gateway', 'the upstream could not be reached');
    });
    // The client went away: stop the upstream request too.
    res.on('close', () => {
      if (!res.writableFinished) upstream.destroy();
      clearTimeout(timer);
      done();
    });
    req.pipe(upstream);
  });
}
