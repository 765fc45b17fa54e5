import { decideGrant, type GrantDenial } from '../clients/grant-policy.ts';
import { ADMIN_SCOPE } from '../lib/scope-names.ts';
import { bearerError, bearerMissing, bearerToken } from '../oauth/bearer.ts';
import type { OAuthError } from '../oauth/errors.ts';
import type { TokenService } from '../oauth/token-service.ts';

/** Who is calling the admin API: recorded as the actor of every change. */
export interface AdminActor {
  userId: string;
  username: string;
  clientId: string;
  /** `user:<username>`, or `app:<client_id> for user:<username>` for a machine acting for an admin. */
  label: string;
}

/**
 * The admin API accepts Tessera's own access tokens carrying `tessera.admin` whose subject
 * holds the `admin` role *now* (a role removed after issue stops the token at once).
 * Answers follow RFC 6750: 401 invalid_token, 403 insufficient_scope.
 */
export async function authenticateAdmin(tokens: TokenService, authorization: string | undefined, now: number): Promise<AdminActor> {
  const token = bearerToken(authorization, new Map());
  if (token === undefined) throw bearerMissing();
  const check = await tokens.checkAccessToken(token, now);
  if (!check.active) throw bearerError('invalid_token', 'the access token is invalid, expired or revoked');
  // RFC 9449 §7.2: the admin API takes bearer tokens only, and a DPoP-bound token is not one.
  if (check.claims.cnf !== undefined) throw bearerError('invalid_token', 'the access token is DPoP-bound; the admin API takes bearer tokens only');
  const scopes = (check.claims.scope ?? '').split(' ');
  if (!scopes.includes(ADMIN_SCOPE)) throw bearerError('insufficient_scope', `the access token lacks the ${ADMIN_SCOPE} scope`, ADMIN_SCOPE);
  // A token issued to the app itself (no user) has no principal.
  const decision = decideGrant(check.client, check.principal ?? null, scopes);
  if (!decision.allowed) throw refused(decision);
  const principal = check.principal!; // set: decideGrant refuses tessera.admin without a user
  const user = `user:${principal.user.username}`;
  // An interactive sign-in has the user as subject and the console (or another app) as client;
  // a machine acting on behalf of an admin is named as such in the audit trail.
  const label = check.client.onBehalfOfUserId === principal.user.id ? `app:${check.client.id} for ${user}` : user;
  return { userId: principal.user.id, username: principal.user.username, clientId: check.claims.client_id, label };
}

/** RFC 6750 §3.1. The admin API needs the `admin` role, which holds every permission an app can require. */
function refused(denial: GrantDenial): OAuthError {
  switch (denial.reason) {
    case 'user_missing':
    case 'user_disabled':
      // checkAccessToken finds such tokens inactive first; answered the same way for completeness.
      return bearerError('invalid_token', 'the access token is invalid, expired or revoked');
    case 'permission_missing':
    case 'admin_role_required':
      return bearerError('insufficient_scope', "the token's user does not hold the admin role", ADMIN_SCOPE);
  }
}
