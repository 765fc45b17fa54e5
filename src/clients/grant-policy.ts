import type { Principal } from '../identity/user.ts';
import { ADMIN_SCOPE } from '../lib/scope-names.ts';

/**
 * Why tokens for an app may not be issued. Each caller maps a denial to its own protocol's
 * error (`access_denied` on the authorize redirect, `invalid_grant`, `unauthorized_client`,
 * 403 on the admin API, a validation error when an app is registered).
 */
export type GrantDenial =
  /** The user the tokens would be for was deleted. */
  | { readonly allowed: false; readonly reason: 'user_missing' }
  | { readonly allowed: false; readonly reason: 'user_disabled'; readonly principal: Principal }
  /** The user does not hold the permission the app requires (`require_permission`). */
  | { readonly allowed: false; readonly reason: 'permission_missing'; readonly principal: Principal; readonly permission: string }
  /** `tessera.admin` was asked for, and the tokens are not for a user holding the `admin` role. */
  | { readonly allowed: false; readonly reason: 'admin_role_required' };

export type GrantOutcome = { readonly allowed: true } | GrantDenial;

// Constant outcomes: the client-credentials hot path allocates nothing when tokens are allowed.
const ALLOWED = Object.freeze({ allowed: true } as const);
const USER_MISSING: GrantDenial = Object.freeze({ allowed: false, reason: 'user_missing' });
const ADMIN_ROLE_REQUIRED: GrantDenial = Object.freeze({ allowed: false, reason: 'admin_role_required' });

/** No scopes asked for: whether the user may get tokens for the app at all (e.g. at registration). */
export const ANY_SCOPES: readonly string[] = Object.freeze([]);

/**
 * May tokens carrying `scopes` be issued for `app` to `user`? The one place this is decided
 * (DESIGN.md, "Access decisions"); checked again at every issue, so a change to the user
 * applies to the next token. Synchronous and allocation-free when allowed: it runs on every
 * client-credentials request.
 *
 * @param user `null` when the app acts as itself (client credentials without an on-behalf-of
 *   user); `undefined` when the user was looked up and does not exist.
 */
export function decideGrant(
  app: { readonly requirePermission: string },
  user: Principal | null | undefined,
  scopes: readonly string[],
): GrantOutcome {
  if (user === undefined) return USER_MISSING;
  if (user !== null) {
    if (user.user.disabled) return { allowed: false, reason: 'user_disabled', principal: user };
    // An app admits only users holding its permission (the `admin` role holds every permission).
    if (!user.permissions.includes(app.requirePermission)) {
      return { allowed: false, reason: 'permission_missing', principal: user, permission: app.requirePermission };
    }
  }
  // The admin API's scope goes only to users holding the `admin` role, never to an app on its own.
  if (scopes.includes(ADMIN_SCOPE) && (user === null || !user.roles.includes('admin'))) return ADMIN_ROLE_REQUIRED;
  return ALLOWED;
}

/** Why an app may not exchange a token (RFC 8693); each caller maps it to its protocol's error. */
export type TokenExchangeDenial =
  /** The app has no token-exchange policy: the grant is off for it. */
  | { readonly allowed: false; readonly reason: 'exchange_not_allowed' }
  /** The subject token was issued to an app whose tokens this app may not exchange. */
  | { readonly allowed: false; readonly reason: 'subject_client_not_allowed'; readonly clientId: string }
  /** The target (resource or audience) is not one the policy lists. */
  | { readonly allowed: false; readonly reason: 'audience_not_allowed' }
  /** Scopes the policy does not allow the exchanged token to carry. */
  | { readonly allowed: false; readonly reason: 'scope_not_allowed'; readonly scopes: readonly string[] };

export type TokenExchangeOutcome = { readonly allowed: true } | TokenExchangeDenial;

const EXCHANGE_NOT_ALLOWED: TokenExchangeDenial = Object.freeze({ allowed: false, reason: 'exchange_not_allowed' });
const AUDIENCE_NOT_ALLOWED: TokenExchangeDenial = Object.freeze({ allowed: false, reason: 'audience_not_allowed' });

/** A trailing slash does not make another audience (as for resource identifiers). */
function sameAudience(a: string, b: string): boolean {
  return a === b || a === `${b}/` || `${a}/` === b;
}

/**
 * May `app` exchange a token issued to `subjectClientId` for a token naming `targetAudiences`
 * (every identifier of the one target: its resource id and its own audience) with `scopes`?
 * Off unless the app's policy says so. Whether the token's user may still have tokens is
 * `decideGrant`'s question, asked as well.
 */
export function decideTokenExchange(
  app: { readonly tokenExchange?: { readonly audiences: readonly string[]; readonly scopes: readonly string[] | null; readonly subjectClients: readonly string[] | null } | null },
  request: { readonly subjectClientId: string; readonly targetAudiences: readonly string[]; readonly scopes: readonly string[] },
): TokenExchangeOutcome {
  const policy = app.tokenExchange;
  if (!policy) return EXCHANGE_NOT_ALLOWED;
  if (policy.subjectClients !== null && !policy.subjectClients.includes(request.subjectClientId)) {
    return { allowed: false, reason: 'subject_client_not_allowed', clientId: request.subjectClientId };
  }
  if (!request.targetAudiences.some((t) => policy.audiences.some((a) => sameAudience(a, t)))) return AUDIENCE_NOT_ALLOWED;
  if (policy.scopes !== null) {
    const allowed = policy.scopes;
    const extra = request.scopes.filter((s) => !allowed.includes(s));
    if (extra.length) return { allowed: false, reason: 'scope_not_allowed', scopes: extra };
  }
  return ALLOWED;
}
