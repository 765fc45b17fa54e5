import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { FastifyInstance } from 'fastify';
import { ConfigError } from '../config/config.ts';
import { hashesEqual, sha256 } from '../lib/crypto.ts';
import { parseBearerHeader } from '../oauth/bearer.ts';
import type { TesseraMetrics } from '../observability/metrics.ts';

/**
 * Who may read `/metrics` (docs/observability.md):
 * - `TESSERA_METRICS_LISTEN` set: only its own listener serves it (firewall that address), and
 *   it also asks for the token when `TESSERA_METRICS_TOKEN` is set;
 * - only `TESSERA_METRICS_TOKEN` set: the main port serves it to `Authorization: Bearer <token>`;
 * - neither: it is not served at all (404), and no metrics are collected.
 */
export function metricsAuthorized(authorization: string | undefined, token: string | undefined): boolean {
  if (token === undefined) return true;
  const presented = parseBearerHeader(authorization);
  // Compared as hashes: equal length whatever was sent, and constant time.
  return typeof presented === 'string' && hashesEqual(sha256(presented), sha256(token));
}

const CHALLENGE = 'Bearer realm="tessera-metrics"';

/** GET /metrics on the main port, behind the token. */
export function registerMetricsRoute(app: FastifyInstance, metrics: TesseraMetrics, token: string): void {
  app.get('/metrics', async (request, reply) => {
    if (!metricsAuthorized(request.headers.authorization, token)) {
      return reply.code(401).header('www-authenticate', CHALLENGE).header('cache-control', 'no-store').send({ error: 'invalid_token', error_description: 'the metrics token is required' });
    }
    const body = await metrics.render();
    return reply.header('cache-control', 'no-store').type(metrics.contentType).send(body);
  });
}

/** `/metrics` alone on its own address (TESSERA_METRICS_LISTEN); answers the URL it listens on. */
export async function listenForMetrics(
  render: () => Promise<{ contentType: string; body: string }>,
  address: { host: string; port: number },
  token: string | undefined,
): Promise<{ url: string; server: Server; close(): Promise<void> }> {
  const server = createServer((req: IncomingMessage, res: ServerResponse) => {
    const path = (req.url ?? '/').split('?')[0];
    if (path !== '/metrics') return plain(res, 404, 'not found: the metrics are at /metrics\n');
    if (req.method !== 'GET' && req.method !== 'HEAD') return plain(res, 405, 'method not allowed\n', { allow: 'GET, HEAD' });
    if (!metricsAuthorized(req.headers.authorization, token)) return plain(res, 401, 'the metrics token is required\n', { 'www-authenticate': CHALLENGE });
    render().then(
      ({ contentType, body }) => {
        res.writeHead(200, { 'content-type': contentType, 'cache-control': 'no-store' });
        res.end(req.method === 'HEAD' ? undefined : body);
      },
      () => plain(res, 500, 'the metrics could not be collected\n'),
    );
  });
  await new Promise<void>((resolve, reject) => {
    const failed = (error: NodeJS.ErrnoException) => reject(listenError(error, address));
    server.once('error', failed);
    server.listen({ port: address.port, host: address.host }, () => {
      server.off('error', failed);
      resolve();
    });
  });
  const bound = server.address() as AddressInfo;
  const host = bound.family === 'IPv6' ? `[${bound.address}]` : bound.address;
  return {
    url: `http://${host}:${bound.port}/metrics`,
    server,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}

/** An operator's mistake in TESSERA_METRICS_LISTEN is one clear line, not a stack trace. */
function listenError(error: NodeJS.ErrnoException, address: { host: string; port: number }): Error {
  const where = `TESSERA_METRICS_LISTEN ${address.host}:${address.port}`;
  if (error.code === 'EADDRINUSE') return new ConfigError(`${where}: the address is already in use`);
  if (error.code === 'EACCES') return new ConfigError(`${where}: permission denied (ports below 1024 need privileges)`);
  if (error.code === 'EADDRNOTAVAIL' || error.code === 'ENOTFOUND' || error.code === 'EAI_AGAIN') return new ConfigError(`${where}: no such address on this machine`);
  return error;
}

function plain(res: ServerResponse, status: number, text: string, headers: Record<string, string> = {}): void {
  res.writeHead(status, { 'content-type': 'text/plain; charset=utf-8', 'cache-control': 'no-store', ...headers });
  res.end(text);
}
