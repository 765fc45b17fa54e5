import type { JWTVerifyGetKey } from 'jose';
import type { Clock } from '../clock.ts';
import { invalidClient, OAuthError } from '../oauth/errors.ts';
import { checkEndpoint, type EndpointPolicy } from './endpoint-policy.ts';
import { JwksCache, JwksUnavailableError } from './jwks-cache.ts';
import { outboundHttp, type OutboundHttp } from './outbound.ts';

/** An app's key set is small; a slow or huge answer must not hold a token request. */
export const CLIENT_JWKS_LIMITS = { timeoutMs: 5_000, maxBytes: 64 * 1024 } as const;

export interface ClientJwksDeps {
  /** The redirect-URI policy (https to public hosts; loopback in development mode), checked before every fetch. */
  policy: EndpointPolicy;
  clock: Clock;
  /** Default: outboundHttp with the limits above (no redirects followed). */
  http?: OutboundHttp;
}

/**
 * The keys apps serve at their jwks_uri, for private_key_jwt. Fetched like an upstream
 * provider's keys (federation/jwks-cache.ts: kept an hour, fetched again — at most every 30 s
 * per URL — when an assertion names a `kid` not in the set, so a rotation is picked up at
 * once), after the URL passes the address policy at the moment of fetching (DNS may have
 * changed since the app was registered). Failures become `invalid_client` with the reason.
 */
export class ClientJwks {
  readonly #d: ClientJwksDeps;
  readonly #cache: JwksCache;

  constructor(deps: ClientJwksDeps) {
    this.#d = deps;
    this.#cache = new JwksCache(deps.http ?? outboundHttp(CLIENT_JWKS_LIMITS), deps.clock, { maxEntries: 1000 });
  }

  get stats() {
    return this.#cache.stats;
  }

  resolver(jwksUri: string): JWTVerifyGetKey {
    const cached = this.#cache.resolver(jwksUri);
    return async (header, token) => {
      const allowed = await checkEndpoint('jwks_uri', jwksUri, this.#d.policy);
      if (!allowed.ok) throw invalidClient(`client assertion refused: ${allowed.reason}`, false);
      try {
        return await cached(header, token);
      } catch (error) {
        if (error instanceof JwksUnavailableError) throw invalidClient(`client assertion refused: the app's ${error.message}`, false);
        if (error instanceof OAuthError) throw error;
        throw error;
      }
    };
  }
}
