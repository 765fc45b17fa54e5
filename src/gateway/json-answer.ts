import type { ServerResponse } from 'node:http';

/**
 * Tessera's own JSON answer at the gateway — a refusal (401/403/429…) or an upstream failure
 * (502/504/413) — written straight on node:http's response, as Fastify's `reply.send` would:
 * nosniff like every answer of Tessera's, `no-store` unless told otherwise, and the request
 * id when the caller passes it (the gateway hook has already set it on `res` before
 * forwarding). The one writer for both, so a refusal and an upstream failure look alike. A
 * HEAD request gets the headers only (node:http drops the body).
 */
export function answerJson(res: ServerResponse, status: number, body: object, headers: Record<string, string> = NO_HEADERS, noStore = true): void {
  const text = JSON.stringify(body);
  const out: Record<string, string | number> = { 'x-content-type-options': 'nosniff', ...headers };
  if (noStore) out['cache-control'] = 'no-store';
  out['content-type'] = 'application/json; charset=utf-8';
  out['content-length'] = Buffer.byteLength(text);
  res.writeHead(status, out);
  res.end(text);
}

const NO_HEADERS: Record<string, string> = {};
