import { CacheStats } from '../lib/metrics.ts';
import { exchangeLineage, type AccessTokenClaims, type ActClaim, type TokenCheck, type TokenService } from '../oauth/token-service.ts';

/** How long a token minted for an upstream lives at most, seconds (never past the caller's token). */
export const UPSTREAM_TOKEN_TTL = 300;
/** A cached upstream token is minted again when less than this is left of it (unless the caller's ends sooner). */
const REMINT_BELOW = 30;
const MAX_ENTRIES = 10_000;

interface Minted {
  authorization: string;
  exp: number;
}

/**
 * The gateway's side of RFC 8693 for an API whose `upstream_token` is `exchange`: after the
 * caller's token passed every check, a token for the upstream's audience — the same subject,
 * the calling app in `act`, only the scopes this API declares, at most 5 minutes and never
 * past the caller's token — is sent instead, so the upstream never holds a token it could
 * replay at another API. One is minted per caller token and API and reused while it lives,
 * so the path stays one map lookup (an ES256 signature, ~30 µs, on a miss).
 */
export class UpstreamTokens {
  readonly #tokens: TokenService;
  readonly #cache = new Map<string, Minted>();
  readonly stats = new CacheStats();

  constructor(tokens: TokenService) {
    this.#tokens = tokens;
  }

  /** The `Authorization` value for the upstream. `check` is the caller's active token. */
  authorization(check: Extract<TokenCheck, { active: true }>, api: { id: string; scopes: readonly string[] }, audience: string, now: number): string {
    const { claims } = check;
    const key = `${claims.jti}\0${api.id}\0${audience}`;
    const cached = this.#cache.get(key);
    if (cached !== undefined && cached.exp - now >= Math.min(REMINT_BELOW, claims.exp - now)) {
      this.stats.hits++;
      return cached.authorization;
    }
    this.stats.misses++;
    const held = claims.scope ? claims.scope.split(' ') : [];
    const issued = this.#tokens.issueAccessToken({
      client: check.client,
      principal: check.principal,
      scopes: held.filter((s) => api.scopes.includes(s)),
      resource: audience,
      act: actOf(claims),
      ttl: UPSTREAM_TOKEN_TTL,
      notAfter: claims.exp,
      exchangedFrom: exchangeLineage(claims),
      now,
    });
    const minted = { authorization: `Bearer ${issued.token}`, exp: issued.exp };
    this.#remember(key, minted, now);
    return minted.authorization;
  }

  /** API definitions changed: scopes or audiences may differ, so nothing minted before is reused. */
  clear(): void {
    this.#cache.clear();
  }

  get size(): number {
    return this.#cache.size;
  }

  #remember(key: string, minted: Minted, now: number): void {
    if (this.#cache.size >= MAX_ENTRIES) {
      for (const [k, v] of this.#cache) if (v.exp <= now) this.#cache.delete(k);
      // Still full: the oldest entries go (a Map iterates in insertion order).
      for (const k of this.#cache.keys()) {
        if (this.#cache.size < MAX_ENTRIES) break;
        this.#cache.delete(k);
      }
    }
    this.#cache.set(key, minted);
  }
}

/**
 * RFC 8693 §4.1: the calling app acts for the token's user (nesting any actor before it). An
 * app calling as itself is the subject already, so it gets no `act`.
 */
function actOf(claims: AccessTokenClaims): ActClaim | undefined {
  if (claims.sub === claims.client_id) return claims.act as ActClaim | undefined;
  const act: ActClaim = { sub: claims.client_id };
  if (claims.act) act.act = claims.act as ActClaim;
  return act;
}
