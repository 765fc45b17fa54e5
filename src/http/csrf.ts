import { createHmac, timingSafeEqual } from 'node:crypto';
import { randomToken } from '../lib/crypto.ts';

/**
 * CSRF tokens for the pages: an HMAC of a random per-browser cookie (and, once signed in,
 * the session id). A cross-site form cannot read the cookie, so it cannot forge the token;
 * SameSite=Lax on the cookies is a second wall.
 */
export class Csrf {
  readonly #secret: Buffer;
  constructor(secret: Buffer) {
    this.#secret = secret;
  }

  newBrowserValue(): string {
    return randomToken();
  }

  token(browserValue: string, binding = ''): string {
    return createHmac('sha256', this.#secret).update(`${browserValue}|${binding}`).digest('base64url');
  }

  verify(browserValue: string | undefined, binding: string, presented: string | undefined): boolean {
    if (!browserValue || !presented || presented.length > 100) return false;
    const expected = Buffer.from(this.token(browserValue, binding));
    const given = Buffer.from(presented);
    return expected.length === given.length && timingSafeEqual(expected, given);
  }
}
