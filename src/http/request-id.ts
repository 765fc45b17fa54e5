import { randomUUID } from 'node:crypto';
import type { IncomingMessage } from 'node:http';

/** Letters, digits and `. _ : = + / @ -`, at most 128: what proxies and tracers send, nothing that breaks a log line or a header. */
const REQUEST_ID = /^[\w.:=+/@-]{1,128}$/;

/**
 * The request's id: the caller's `X-Request-Id` when it is a sane one (a reverse proxy's or a
 * client's, so logs line up across hops), else a new UUID. Returned in the reply's
 * `X-Request-Id` and passed to gateway upstreams.
 */
export function requestIdOf(req: IncomingMessage): string {
  const given = req.headers['x-request-id'];
  return typeof given === 'string' && REQUEST_ID.test(given) ? given : randomUUID();
}
