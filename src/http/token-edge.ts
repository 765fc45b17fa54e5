import type { IncomingMessage, ServerResponse } from 'node:http';
import type { FastifyBaseLogger } from 'fastify';
import type { Tessera } from '../app/tessera.ts';
import { epochSeconds } from '../clock.ts';
import type { TokenResponse } from '../oauth/grants/grant-handler.ts';
import { parseForm } from '../oauth/params.ts';
import { RequestLog } from './edge-log.ts';
import { errorAnswer } from './error-reply.ts';
import { JSON_TYPE, NO_STORE } from './oauth-reply.ts';

/**
 * POST /connect/token in front of Fastify (issue 16): the same endpoint, the same answer
 * bytes and headers as the Fastify route (protocol-routes.ts) and its error handler
 * (`errorAnswer`), without Fastify's per-request router, request and reply objects, hook
 * runner, child logger and reply pipeline, which cost about as much CPU as the token's
 * ES256 signature outside it. Only a plain request comes here (`plainTokenRequest`): a form
 * body of known length within the body limit, no DPoP proof, no Origin (CORS); any other goes
 * to Fastify as before. The caller (gateway-edge.ts, node:http's request listener) gives the
 * request id, `log`, the request's logger with the request log lines and the HTTP metrics
 * already attached, and `ip`, the client's address as Fastify's `request.ip` gives it.
 */
export function serveTokenAtEdge(
  tessera: Tessera,
  req: IncomingMessage,
  res: ServerResponse,
  id: string,
  root: FastifyBaseLogger,
  log: () => FastifyBaseLogger,
  ip: () => string | null,
): void {
  const chunks: Buffer[] = [];
  req.on('data', (chunk: Buffer) => chunks.push(chunk));
  req.on('error', () => res.destroy());
  req.on('end', () => {
    const body = chunks.length === 1 ? chunks[0]!.toString('utf8') : Buffer.concat(chunks).toString('utf8');
    const requestLog = new RequestLog(root, log);
    const failed = (error: unknown) => {
      const answer = errorAnswer(error, requestLog, { tokenEndpoint: true, adminApi: false });
      send(res, id, answer.status, answer.headers, JSON.stringify(answer.body));
    };
    let result: TokenResponse | Promise<TokenResponse>;
    try {
      result = tessera.endpoints.token({ params: parseForm(body), authorization: req.headers.authorization, now: epochSeconds(tessera.clock), log: requestLog, ip });
    } catch (error) {
      return failed(error);
    }
    if (result instanceof Promise) result.then((answer) => sent(res, id, answer), failed);
    else sent(res, id, result);
  });
}

export const TOKEN_PATH = '/connect/token';
const FORM = 'application/x-www-form-urlencoded';
const TOKEN_HEADERS: ReadonlyArray<[string, string]> = [...NO_STORE, ['content-type', JSON_TYPE]];

/** A token request the edge answers itself: a form body with a length within the limit, nothing that needs Fastify's other paths. */
export function plainTokenRequest(req: IncomingMessage, bodyLimit: number): boolean {
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
