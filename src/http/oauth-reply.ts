import type { FastifyReply } from 'fastify';

/** RFC 6749 §5.1: responses with tokens or credentials must not be cached. */
export const NO_STORE: ReadonlyArray<[string, string]> = [
  ['cache-control', 'no-store'],
  ['pragma', 'no-cache'],
];

/** The media type of every JSON answer of the protocol endpoints. */
export const JSON_TYPE = 'application/json; charset=utf-8';

/** Sets NO_STORE on the reply. */
export function noStore(reply: FastifyReply): FastifyReply {
  for (const [name, value] of NO_STORE) reply.header(name, value);
  return reply;
}
