import { createHmac, timingSafeEqual } from 'node:crypto';
import type { DerivedSecrets } from '../keys/encryption.ts';
import { randomToken } from '../lib/crypto.ts';

/**
 * CSRF tokens for the pages: an HMAC of a random per-browser cookie (and, once signed in,
 * the session id). A cross-site form cannot read the cookie, so it cannot forge the token;
 * SameSite=Lax on the cookies is a second wall.
 */
export class Csrf {
  /** Made under the first; accepted under any (the previous key's while the key is replaced). */
  readonly #secrets: DerivedSecrets;
  constructor(secrets: DerivedSecrets) {
    this.#secrets = secrets;
  }

  newBrowserValue(): string {
    return randomToken();
  }

  token(browserValue: string, binding = ''): string {
    return mac(this.#secrets[0], browserValue, binding);
  }

  verify(browserValue: string | undefined, binding: string, presented: string | undefined): boolean {
    if (!browserValue || !presented || presented.length > 100) return false;
    const given = Buffer.from(presented);
    return this.#secrets.some((secret) => {
      const expected = Buffer.from(mac(secret, browserValue, binding));
      return expected.length === given.length && timingSafeEqual(expected, given);
    });
  }
}

function mac(secret: Buffer, browserValue: string, binding: string): string {
  return createHmac('sha256', secret).update(`${browserValue}|${binding}`).digest('base64url');
}
