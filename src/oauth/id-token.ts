import { hash } from 'node:crypto';
import type { Client } from '../clients/client.ts';
import { acrOf } from '../identity/authentication-methods.ts';
import type { User } from '../identity/user.ts';
import { signJwtOffThread } from '../keys/jwt.ts';
import type { KeyRing } from '../keys/key-ring.ts';

export interface IdTokenInput {
  client: Client;
  user: User;
  scopes: readonly string[];
  nonce: string | null | undefined;
  authTime: number | null;
  /** RFC 8176 methods of the sign-in; empty when unknown (a session older than second factors). */
  amr: readonly string[];
  sid: string | null;
  accessToken: string;
  now: number;
}

/**
 * OpenID Connect ID tokens (OIDC Core §2, §3.1.3.6). RS256 unless the app asks for ES256:
 * RS256 is the algorithm every relying party must support.
 */
export class IdTokenService {
  readonly #keys: KeyRing;
  readonly #issuer: () => string;
  readonly #ttl: () => number;

  /** `ttl` is read per token: an operator may change it while Tessera runs. */
  constructor(keys: KeyRing, issuer: () => string, ttl: () => number) {
    this.#keys = keys;
    this.#issuer = issuer;
    this.#ttl = ttl;
  }

  /** Signed off the event loop when RS256 (see signJwtOffThread): other requests keep flowing meanwhile. */
  issue(input: IdTokenInput): Promise<string> {
    const alg = input.client.idTokenSignedResponseAlg ?? 'RS256';
    const claims: Record<string, unknown> = {
      iss: this.#issuer(),
      sub: input.user.id,
      aud: input.client.id,
      azp: input.client.id,
      iat: input.now,
      exp: input.now + this.#ttl(),
      at_hash: atHash(input.accessToken),
    };
    if (input.authTime !== null) claims.auth_time = input.authTime;
    // OIDC Core §2: amr and acr say how the user authenticated (src/identity/authentication-methods.ts).
    if (input.amr.length) claims.amr = [...input.amr];
    claims.acr = acrOf(input.amr);
    if (input.nonce) claims.nonce = input.nonce;
    if (input.sid) claims.sid = input.sid;
    Object.assign(claims, profileClaims(input.user, input.scopes));
    return signJwtOffThread(claims, this.#keys.signingKey(alg), 'JWT');
  }
}

/** OIDC Core §3.1.3.6: base64url of the left half of SHA-256 of the access token (RS256/ES256). */
export function atHash(accessToken: string): string {
  // One-shot (no Hash object); a JWS is ASCII, so its UTF-8 bytes are its ASCII ones.
  return hash('sha256', accessToken, 'buffer').subarray(0, 16).toString('base64url');
}

/** OIDC Core §5.4: the claims the `profile` and `email` scopes release. */
export function profileClaims(user: User, scopes: readonly string[]): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  if (scopes.includes('profile')) {
    out.preferred_username = user.username;
    if (user.name) out.name = user.name;
    if (user.givenName) out.given_name = user.givenName;
    if (user.familyName) out.family_name = user.familyName;
    out.updated_at = user.updatedAt;
  }
  if (scopes.includes('email') && user.email) {
    out.email = user.email;
    out.email_verified = user.emailVerified;
  }
  return out;
}
