import type { FastifyReply } from 'fastify';
import { OAuthError } from '../oauth/errors.ts';

/** RFC 6749 §5.1: responses with tokens or credentials must not be cached. */
export const NO_STORE: ReadonlyArray<[string, string]> = [
  ['cache-control', 'no-store'],
  ['pragma', 'no-cache'],
];

/** Sets NO_STORE on the reply. */
export function noStore(reply: FastifyReply): FastifyReply {
  return reply.header('cache-control', 'no-store').header('pragma', 'no-cache');
}

/** The one place OAuth errors become HTTP (RFC 6749 §5.2 JSON body, status from the table). */
export function sendOAuthError(reply: FastifyReply, error: OAuthError): FastifyReply {
  noStore(reply).code(error.status);
  for (const [name, value] of Object.entries(error.headers)) reply.header(name, value);
  return reply.type('application/json; charset=utf-8').send(error.toJSON());
}
