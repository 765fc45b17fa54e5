import { createHmac } from 'node:crypto';
import type { DerivedSecrets } from '../keys/encryption.ts';
import { hashesEqual, randomToken } from '../lib/crypto.ts';

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
    return this.#secrets.some((secret) => hashesEqual(mac(secret, browserValue, binding), presented));
  }
}

function mac(secret: Buffer, browserValue: string, binding: string): string {
  return createHmac('sha256', secret).update(`${browserValue}|${binding}`).digest('base64url');
}
