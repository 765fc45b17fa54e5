import { randomUUID } from 'node:crypto';
import type { Client } from '../clients/client.ts';
import type { Principal } from '../identity/user.ts';
import { decodeJwt, signJwt, SUPPORTED_ALGS, verifySignature, type SigningAlg } from '../keys/jwt.ts';
import type { KeyRing } from '../keys/key-ring.ts';
import type { RegistryCache } from './registry-cache.ts';
import { VerifiedTokenCache } from './verified-token-cache.ts';

export interface TokenSettings {
  issuer: string;
  accessTokenTtl: number;
  /** Audiences of the APIs whose scopes a token carries (gateway APIs with an audience); added to `aud`. */
  audiencesFor?: (scopes: readonly string[]) => readonly string[];
}

export interface AccessTokenRequest {
  client: Client;
  /** The user the token acts for; absent for an app acting as itself. */
  principal: Principal | undefined;
  scopes: readonly string[];
  /** RFC 8707: the resource identifier the token is bound to; then `aud` is that alone. */
  resource?: string | readonly string[] | undefined;
  /** RFC 9449 §6.1: the DPoP key thumbprint the token is bound to (`cnf.jkt`); absent: a bearer token. */
  jkt?: string | undefined;
  /** RFC 8693 §4.1: the acting party (and, nested, the actors before it) of a delegated token. */
  act?: ActClaim | undefined;
  /** Lifetime in seconds instead of the app's (token exchange at the gateway). */
  ttl?: number | undefined;
  /** The token expires no later than this (epoch s): an exchanged token never outlives its subject token. */
  notAfter?: number | undefined;
  /** An exchanged token: the jti of the token it was exchanged from, and that token's own lineage (`exchangeLineage`). */
  exchangedFrom?: readonly string[] | undefined;
  now: number;
}

/**
 * How many ancestors an exchanged token names in `exchanged_from`: a chain of exchanges
 * longer than this (none is made in practice) stops following the oldest.
 */
export const MAX_EXCHANGE_LINEAGE = 8;

/**
 * The `exchanged_from` of a token exchanged from `subject`: its jti first, then the tokens it
 * was itself exchanged from. Revoking any of them makes the new token inactive too.
 */
export function exchangeLineage(subject: AccessTokenClaims): string[] {
  return [subject.jti, ...(subject.exchanged_from ?? [])].slice(0, MAX_EXCHANGE_LINEAGE);
}

/** RFC 8693 §4.1 `act`: who acts; a nested `act` is the actor before it. */
export interface ActClaim {
  sub: string;
  client_id?: string;
  act?: ActClaim;
}

export interface IssuedAccessToken {
  token: string;
  /** The token's `scope` claim (the scopes joined), for the token response; absent without scopes. */
  scope: string | undefined;
  jti: string;
  iat: number;
  exp: number;
  expiresIn: number;
}

/** RFC 9068 access token claims as Tessera issues them. */
export interface AccessTokenClaims {
  iss: string;
  sub: string;
  aud: string | string[];
  client_id: string;
  /** Absent when the token carries no scope (RFC 9068 §2.2.3 makes it conditional, not empty). */
  scope?: string;
  iat: number;
  exp: number;
  jti: string;
  roles?: string[];
  permissions?: string[];
  /** RFC 9449 §6.1 / RFC 7800: a DPoP-bound token names its key's thumbprint. */
  cnf?: { jkt?: string };
  /** Tessera's: the jtis of the tokens this one was exchanged from (RFC 8693, the gateway's upstream tokens), nearest first. */
  exchanged_from?: string[];
  [claim: string]: unknown;
}

export type TokenCheck =
  | { active: true; claims: AccessTokenClaims; client: Client; principal: Principal | undefined }
  | { active: false; reason: string };

/** Issues and validates access tokens (RFC 9068 JWTs signed with the ring's active ES256 key). */
export class TokenService {
  readonly #keys: KeyRing;
  readonly #cache: RegistryCache;
  readonly settings: TokenSettings;
  readonly #verified = new VerifiedTokenCache<AccessTokenClaims>();
  /** Hits and misses of the verified-token cache, read by the metrics. */
  readonly verifiedCacheStats = this.#verified.stats;

  constructor(keys: KeyRing, cache: RegistryCache, settings: TokenSettings) {
    this.#keys = keys;
    this.#cache = cache;
    this.settings = settings;
  }

  accessTokenTtl(client: Client): number {
    return client.accessTokenTtl ?? this.settings.accessTokenTtl;
  }

  #audience(scopes: readonly string[]): string | string[] {
    const extra = this.settings.audiencesFor?.(scopes);
    return extra && extra.length ? [this.settings.issuer, ...extra] : this.settings.issuer;
  }

  issueAccessToken(req: AccessTokenRequest): IssuedAccessToken {
    const { client, principal } = req;
    // A token must never predate a "valid after" epoch set in this same second (secret
    // regenerated, user changed), or it would be refused as soon as it is issued.
    let iat = req.now;
    if (client.tokensValidAfter > iat) iat = client.tokensValidAfter;
    if (principal && principal.user.tokensValidAfter > iat) iat = principal.user.tokensValidAfter;
    let exp = iat + (req.ttl ?? this.accessTokenTtl(client));
    if (req.notAfter !== undefined && req.notAfter < exp) exp = req.notAfter;
    const jti = randomUUID();
    const claims: AccessTokenClaims = {
      iss: this.settings.issuer,
      sub: principal ? principal.user.id : client.id,
      aud: req.resource === undefined ? this.#audience(req.scopes) : typeof req.resource === 'string' ? req.resource : [...req.resource],
      client_id: client.id,
      iat,
      exp,
      jti,
    };
    const scope = req.scopes.length ? req.scopes.join(' ') : undefined;
    if (scope !== undefined) claims.scope = scope;
    if (req.act) claims.act = req.act;
    if (principal) {
      claims.roles = principal.roles;
      claims.permissions = principal.permissions;
    }
    if (req.jkt !== undefined) claims.cnf = { jkt: req.jkt };
    if (req.exchangedFrom?.length) claims.exchanged_from = [...req.exchangedFrom];
    const token = signJwt(claims, this.#keys.signingKey('ES256'), 'at+jwt');
    return { token, scope, jti, iat, exp, expiresIn: exp - req.now };
  }

  /**
   * Everything a resource server must check (RFC 9068 §4) plus Tessera's own revocation
   * state: denylisted jti, per-app and per-user "valid after" epochs, disabled users.
   */
  /**
   * Synchronous when the app and user are in the registry cache (every request after the
   * first, on the gateway's path), a promise only when one must be read: callers `await` it.
   */
  checkAccessToken(token: string, now: number): TokenCheck | Promise<TokenCheck> {
    const verified = this.#verifiedClaims(token, now);
    if (!verified.ok) return { active: false, reason: verified.reason };
    const { claims } = verified;
    if (this.#cache.isRevoked(claims.jti)) return { active: false, reason: 'revoked' };
    // Revoking a token revokes what was exchanged from it (RFC 8693 leaves it to the server).
    if (claims.exchanged_from !== undefined && claims.exchanged_from.some((jti) => this.#cache.isRevoked(jti))) {
      return { active: false, reason: 'the token it was exchanged from was revoked' };
    }
    const client = this.#cache.client(claims.client_id);
    return client instanceof Promise ? client.then((c) => this.#checkClient(claims, c)) : this.#checkClient(claims, client);
  }

  #checkClient(claims: AccessTokenClaims, client: Client | undefined): TokenCheck | Promise<TokenCheck> {
    if (!client) return { active: false, reason: 'app no longer exists' };
    if (claims.iat < client.tokensValidAfter) return { active: false, reason: 'app credentials changed after issue' };
    if (claims.sub === client.id) return { active: true, claims, client, principal: undefined };
    const principal = this.#cache.principal(String(claims.sub));
    return principal instanceof Promise ? principal.then((p) => checkPrincipal(claims, client, p)) : checkPrincipal(claims, client, principal);
  }

  /**
   * Signature, algorithm, type, issuer, expiry and claim shape: what cannot change once a
   * token is issued, except that its key may be retired or the issuer reconfigured — both
   * re-checked on a cache hit.
   */
  #verifiedClaims(token: string, now: number): { ok: true; claims: AccessTokenClaims } | { ok: false; reason: string } {
    if (token.length > 8192) return { ok: false, reason: 'not a JWT' };
    const cacheKey = VerifiedTokenCache.keyOf(token);
    const hit = this.#verified.get(cacheKey, now);
    if (hit !== undefined && this.#keys.publicKey(hit.kid) !== undefined && hit.claims.iss === this.settings.issuer) {
      return { ok: true, claims: hit.claims };
    }
    const decoded = decodeJwt(token);
    if (!decoded) return { ok: false, reason: 'not a JWT' };
    const { header, payload } = decoded;
    if (typeof header.alg !== 'string' || !SUPPORTED_ALGS.has(header.alg)) return { ok: false, reason: 'algorithm not allowed' };
    if (typeof header.typ !== 'string' || !/^(application\/)?at\+jwt$/i.test(header.typ)) return { ok: false, reason: 'not an access token' };
    const key = typeof header.kid === 'string' ? this.#keys.publicKey(header.kid) : undefined;
    if (!key || key.alg !== header.alg) return { ok: false, reason: 'unknown signing key' };
    if (!verifySignature(decoded, header.alg as SigningAlg, key.publicKey)) return { ok: false, reason: 'bad signature' };
    const claims = payload as AccessTokenClaims;
    if (claims.iss !== this.settings.issuer) return { ok: false, reason: 'wrong issuer' };
    if (typeof claims.exp !== 'number' || claims.exp <= now) return { ok: false, reason: 'expired' };
    if (typeof claims.iat !== 'number' || typeof claims.jti !== 'string' || typeof claims.client_id !== 'string') {
      return { ok: false, reason: 'missing claims' };
    }
    if (claims.cnf !== undefined && (typeof claims.cnf !== 'object' || claims.cnf === null || typeof claims.cnf.jkt !== 'string')) {
      return { ok: false, reason: 'unknown confirmation method' };
    }
    if (claims.exchanged_from !== undefined && (!Array.isArray(claims.exchanged_from) || claims.exchanged_from.some((j) => typeof j !== 'string'))) {
      return { ok: false, reason: 'missing claims' };
    }
    // Frozen: callers share the cached object.
    this.#verified.set(cacheKey, Object.freeze(claims), header.kid as string, claims.exp, now);
    return { ok: true, claims };
  }
}

function checkPrincipal(claims: AccessTokenClaims, client: Client, principal: Principal | undefined): TokenCheck {
  if (!principal) return { active: false, reason: 'user no longer exists' };
  if (principal.user.disabled) return { active: false, reason: 'user disabled' };
  if (claims.iat < principal.user.tokensValidAfter) return { active: false, reason: 'user changed after issue' };
  return { active: true, claims, client, principal };
}
