import type { Client } from '../../clients/client.ts';
import { decideGrant, type GrantDenial } from '../../clients/grant-policy.ts';
import type { Principal } from '../../identity/user.ts';
import { ADMIN_SCOPE, USER_ONLY_SCOPES } from '../../lib/scope-names.ts';
import { invalidScope, type OAuthError, unauthorizedClient } from '../errors.ts';
import { checkResourceAllowed, narrowScopes, resolveResource, type ProtectedResource } from '../resource-indicators.ts';
import { parseScope } from '../scopes.ts';
import type { GrantDeps, GrantHandler, GrantRequest, TokenResponse } from './grant-handler.ts';

/**
 * RFC 6749 §4.4. The app authenticates as itself; when registered to act on behalf of a
 * user, the token's subject is that user and carries the user's roles and permissions.
 */
export const clientCredentialsGrant = {
  grantType: 'client_credentials',
  allowPublicClients: false,

  handle(req: GrantRequest, deps: GrantDeps): TokenResponse | Promise<TokenResponse> {
    const resource = resolveResource(req.params.get('resource'), deps.resources);
    if (resource) checkResourceAllowed(resource, [...req.client.scopes, ...req.client.defaultScopes]);
    const granted = grantedScopes(req.client, req.params.get('scope'));
    const scopes = resource ? narrowScopes(granted, resource, deps.resources) : granted;
    const userId = req.client.onBehalfOfUserId;
    if (userId === null) return issue(req, deps, scopes, resource, null);
    const principal = deps.cache.principal(userId);
    return principal instanceof Promise ? principal.then((p) => issue(req, deps, scopes, resource, p)) : issue(req, deps, scopes, resource, principal);
  },
} satisfies GrantHandler;

/** The scopes asked for (all of them allowed) and the app's defaults; a new array the caller owns. */
function grantedScopes(client: Client, requested: string | undefined): string[] {
  const granted = parseScope(requested);
  const notAllowed = (s: string) => USER_ONLY_SCOPES.has(s) || !(client.scopes.includes(s) || client.defaultScopes.includes(s));
  // `some` first: the accepted request (every token) allocates no list of refused scopes.
  if (granted.some(notAllowed)) {
    throw invalidScope(`scope not allowed for this app with client_credentials: ${granted.filter(notAllowed).join(' ')}`);
  }
  for (const s of client.defaultScopes) if (!USER_ONLY_SCOPES.has(s) && !granted.includes(s)) granted.push(s);
  return granted;
}

/** `user`: the on-behalf-of user as found (undefined: deleted), or null when the app acts as itself. */
function issue(req: GrantRequest, deps: GrantDeps, scopes: string[], resource: ProtectedResource | undefined, user: Principal | null | undefined): TokenResponse {
  const decision = decideGrant(req.client, user, scopes);
  if (!decision.allowed) throw refused(decision);
  const principal = user ?? undefined;
  const issued = deps.tokens.issueAccessToken({ client: req.client, principal, scopes, resource: resource?.audience, jkt: req.dpopJkt, now: req.now });
  const response: TokenResponse = { access_token: issued.token, token_type: req.dpopJkt === undefined ? 'Bearer' : 'DPoP', expires_in: issued.expiresIn };
  if (issued.scope !== undefined) response.scope = issued.scope;
  return response;
}

/**
 * The app may not have tokens for its on-behalf-of user (RFC 6749 §5.2 `unauthorized_client`),
 * or asked for a scope that needs a user it does not act for (`invalid_scope`).
 */
function refused(denial: GrantDenial): OAuthError {
  switch (denial.reason) {
    case 'user_missing':
      return unauthorizedClient('the user this app acts on behalf of no longer exists');
    case 'user_disabled':
      return unauthorizedClient('the user this app acts on behalf of is disabled');
    case 'permission_missing':
      return unauthorizedClient(`the user this app acts on behalf of lacks the "${denial.permission}" permission`);
    case 'admin_role_required':
      return invalidScope(`${ADMIN_SCOPE} is only for apps acting on behalf of a user with the admin role`);
  }
}
