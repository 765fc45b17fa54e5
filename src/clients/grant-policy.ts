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
const ALLOWED: GrantOutcome = Object.freeze({ allowed: true });
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
