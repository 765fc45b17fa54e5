import type { FastifyReply, FastifyRequest } from 'fastify';
import { randomToken } from '../lib/crypto.ts';
import { CSRF_COOKIE, WEBAUTHN_COOKIE } from '../lib/cookie-names.ts';
import { noStore } from './oauth-reply.ts';
import type { PageKit } from './page-kit.ts';

/**
 * What every WebAuthn JSON endpoint shares (the account's passkeys, passkey sign-in, an
 * invitation accepted with a passkey): the JSON body, the error shape the page script shows,
 * and the ceremony handle that binds a challenge to one browser (`tessera_webauthn`, five
 * minutes; the challenge is stored under the handle's hash and taken when answered).
 */
export function jsonError(reply: FastifyReply, status: number, error: string, description: string): FastifyReply {
  return noStore(reply).code(status).send({ error, error_description: description });
}

/** The JSON body as an object, or undefined (anything else is a 400). */
export function jsonBody(request: FastifyRequest): Record<string, unknown> | undefined {
  const b = request.body;
  return typeof b === 'object' && b !== null && !Array.isArray(b) && !(b instanceof Map) ? (b as Record<string, unknown>) : undefined;
}

/** A new ceremony for this browser: a fresh random handle in its cookie. */
export function newCeremonyHandle(reply: FastifyReply, kit: PageKit): string {
  const handle = randomToken();
  reply.setCookie(WEBAUTHN_COOKIE, handle, { ...kit.cookieOptions(), maxAge: 300 });
  return handle;
}

/** The browser's ceremony handle, cleared (a handle answers one ceremony); '' when there is none. */
export function takeCeremonyHandle(request: FastifyRequest, reply: FastifyReply): string {
  reply.clearCookie(WEBAUTHN_COOKIE, { path: '/' });
  const handle = request.cookies[WEBAUTHN_COOKIE];
  return handle && handle.length <= 100 ? handle : '';
}

/** The page's CSRF token, carried in the JSON body (`csrf`), for `binding` (a session id, or a page's own name). */
export function ceremonyCsrfOk(kit: PageKit, request: FastifyRequest, b: Record<string, unknown>, binding: string): boolean {
  return kit.csrf.verify(request.cookies[CSRF_COOKIE], binding, typeof b.csrf === 'string' ? b.csrf : undefined);
}
