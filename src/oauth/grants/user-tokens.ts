import type { Client } from '../../clients/client.ts';
import { ANY_SCOPES, decideGrant, type GrantDenial } from '../../clients/grant-policy.ts';
import type { Principal } from '../../identity/user.ts';
import { hashesEqual, sha256, timeOrderedUuid } from '../../lib/crypto.ts';
import { ADMIN_SCOPE } from '../../lib/scope-names.ts';
import { invalidGrant, OAuthError } from '../errors.ts';
import type { NewFamily } from '../refresh-store.ts';
import { mintRefreshToken, newFamilyKey } from '../refresh-token-format.ts';
import { narrowScopes, type ProtectedResource } from '../resource-indicators.ts';
import type { GrantDeps, TokenResponse } from './grant-handler.ts';

export interface UserTokenRequest {
  client: Client;
  principal: Principal;
  scopes: string[];
  nonce: string | null;
  authTime: number | null;
  /** How the user signed in (RFC 8176): the ID token's `amr` and `acr`. */
  amr: string[];
  sid: string | null;
  /** RFC 8707: the resource the access token is bound to (its scopes narrowed to it); the grant keeps all. */
  resource: ProtectedResource | undefined;
  /** RFC 9449: the DPoP key the access token is bound to; a new refresh family of a public client is bound to it too (§5). */
  dpopJkt: string | undefined;
  now: number;
}

/** The token set for a signed-in user: access token, ID token with `openid`, refresh token with `offline_access`. */
export async function issueUserTokens(
  deps: GrantDeps,
  req: UserTokenRequest,
  refresh: { familyId: string; token: string } | 'new',
  /**
   * A write that must commit before the tokens are answered, started once issuing is allowed
   * and while the ID token is signed (refresh: the rotation; code exchange: consuming the code
   * and recording what it gave). It gets the new refresh family, if any, and writes it itself
   * instead of `deps.refresh.createFamily`, so that all is one commit. Awaited with the ID
   * token: if it throws, nothing issued is answered.
   */
  write?: (issued: IssuedIds, family: NewFamily | undefined) => Promise<void>,
): Promise<{ response: TokenResponse } & IssuedIds> {
  const prepared = prepareUserTokens(deps, req, refresh);
  // The ID token is signed on libuv's threadpool (RS256) while `write` (or else the new
  // refresh family) is written: all are awaited together, so none can fail unobserved.
  const idToken = signIdToken(deps, req, prepared);
  const { family } = prepared;
  const stored = write ? write(prepared, family) : family && deps.refresh.createFamily(family.family, family.firstTokenHash, family.tokenExpiresAt);
  const [idTokenValue] = await Promise.all([idToken, stored]);
  return answer(prepared, idTokenValue);
}

/**
 * The tokens of `prepareUserTokens` once what they need is written: the ID token signed and
 * added. For a write that already committed (SQLite's code exchange, which writes the family
 * in the same work that consumed the code).
 */
export async function completeUserTokens(deps: GrantDeps, req: UserTokenRequest, prepared: PreparedTokens): Promise<{ response: TokenResponse } & IssuedIds> {
  return answer(prepared, await signIdToken(deps, req, prepared));
}

/** What `prepareUserTokens` decided: the answer so far (no ID token yet) and what must be written. */
export interface PreparedTokens extends IssuedIds {
  response: TokenResponse;
  /** The new refresh family and its first token, to be written before the answer. */
  family: NewFamily | undefined;
}

/**
 * The synchronous part of an issue: checks the user may have these scopes (throws the
 * `invalid_grant` otherwise), signs the access token (ES256, on the event loop) and makes the
 * new refresh family. Nothing is written and nothing is started: calling it again, or
 * dropping what it returned, has no effect (group commit may run a write's work twice).
 */
export function prepareUserTokens(deps: GrantDeps, req: UserTokenRequest, refresh: { familyId: string; token: string } | 'new'): PreparedTokens {
  // Checked again at every issue: a user who lost the admin role since consenting gets nothing.
  const decision = decideGrant(req.client, req.principal, req.scopes);
  if (!decision.allowed) throw refused(decision);
  const accessScopes = narrowScopes(req.scopes, req.resource, deps.resources);
  const access = deps.tokens.issueAccessToken({ client: req.client, principal: req.principal, scopes: accessScopes, resource: req.resource?.audience, jkt: req.dpopJkt, now: req.now });
  const response: TokenResponse = {
    access_token: access.token,
    token_type: req.dpopJkt === undefined ? 'Bearer' : 'DPoP',
    expires_in: access.expiresIn,
    scope: accessScopes.join(' '),
  };
  let familyId: string | null = null;
  let family: NewFamily | undefined;
  if (refresh === 'new' && req.scopes.includes('offline_access')) {
    familyId = timeOrderedUuid();
    // The family's key and its first token (generation 0): refresh-token-format.ts.
    const tokenKey = newFamilyKey();
    const token = mintRefreshToken(tokenKey, 0);
    const expiresAt = req.now + refreshTtl(deps, req.client);
    family = {
      family: {
        id: familyId,
        clientId: req.client.id,
        userId: req.principal.user.id,
        scope: req.scopes.join(' '),
        sessionId: req.sid,
        authTime: req.authTime,
        amr: req.amr,
        resource: req.resource?.id ?? null,
        // RFC 9449 §5: a confidential client's refresh tokens are bound to its credentials already.
        dpopJkt: req.client.public ? (req.dpopJkt ?? null) : null,
        createdAt: req.now,
        expiresAt,
        revokedAt: null,
        tokenKey,
      },
      firstTokenHash: sha256(token),
      tokenExpiresAt: expiresAt,
    };
    response.refresh_token = token;
  } else if (typeof refresh === 'object') {
    familyId = refresh.familyId;
    response.refresh_token = refresh.token;
  }
  return { response, jti: access.jti, exp: access.exp, familyId, family };
}

/** The ID token with `openid` (signed off the event loop: RS256 on libuv's threadpool). */
function signIdToken(deps: GrantDeps, req: UserTokenRequest, prepared: PreparedTokens): Promise<string> | undefined {
  if (!req.scopes.includes('openid')) return undefined;
  return deps.idTokens.issue({
    client: req.client,
    user: req.principal.user,
    scopes: req.scopes,
    nonce: req.nonce,
    authTime: req.authTime,
    amr: req.amr,
    sid: req.sid,
    accessToken: prepared.response.access_token,
    now: req.now,
  });
}

function answer(prepared: PreparedTokens, idToken: string | undefined): { response: TokenResponse } & IssuedIds {
  const { response, jti, exp, familyId } = prepared;
  if (idToken !== undefined) response.id_token = idToken;
  return { response, jti, exp, familyId };
}

/** What an issue produced that a later replay of its grant must be able to revoke. */
export interface IssuedIds {
  jti: string;
  exp: number;
  familyId: string | null;
}

/**
 * A grant bound to a DPoP key (a code by `dpop_jkt`, a public client's refresh token) is only
 * used with a proof by that key: no proof is `invalid_dpop_proof`, another key `invalid_grant`.
 */
export function checkBoundKey(bound: string, presented: string | undefined, what: string): void {
  if (presented === undefined) throw new OAuthError('invalid_dpop_proof', `${what} is bound to a DPoP key: send a DPoP proof signed with it`);
  if (!hashesEqual(bound, presented)) throw invalidGrant(`${what} is bound to another DPoP key`);
}

export function refreshTtl(deps: GrantDeps, client: Client): number {
  return client.refreshTokenTtl ?? deps.refreshTokenTtl;
}

/** The user a code or refresh token was issued for, if they may still get tokens. */
export async function activePrincipal(deps: GrantDeps, userId: string | null, client: Client): Promise<Principal> {
  if (userId === null) throw invalidGrant('the grant has no user');
  return allowedPrincipal(await deps.cache.principal(userId), client);
}

/**
 * `activePrincipal` without waiting and without reading: the user when the registry cache
 * holds them (every request after the first for a user), undefined when it does not. Throws
 * as `activePrincipal` does for a user who may not have tokens.
 */
export function cachedActivePrincipal(deps: GrantDeps, userId: string, client: Client): Principal | undefined {
  const principal = deps.cache.cachedPrincipal(userId);
  return principal && allowedPrincipal(principal, client);
}

function allowedPrincipal(principal: Principal | undefined, client: Client): Principal {
  const decision = decideGrant(client, principal, ANY_SCOPES);
  if (!decision.allowed) throw refused(decision);
  return principal!; // set: decideGrant refuses a user that does not exist
}

/** RFC 6749 §5.2 `invalid_grant`: the grant was issued, but its user may no longer have tokens. */
function refused(denial: GrantDenial): OAuthError {
  switch (denial.reason) {
    case 'user_missing':
    case 'user_disabled':
      return invalidGrant('the user is disabled or no longer exists');
    case 'permission_missing':
      return invalidGrant(`the user no longer holds the "${denial.permission}" permission`);
    case 'admin_role_required':
      return invalidGrant(`${ADMIN_SCOPE} requires the admin role`);
  }
}
