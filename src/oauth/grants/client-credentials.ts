import type { Client } from '../../clients/client.ts';
import type { Principal } from '../../identity/user.ts';
import { invalidScope, unauthorizedClient } from '../errors.ts';
import { ADMIN_SCOPE, isAdmin, parseScope } from '../scopes.ts';
import type { GrantDeps, GrantHandler, GrantRequest, TokenResponse } from './grant-handler.ts';

/** Scopes that mean nothing without a signed-in user (no ID token, no refresh: RFC 6749 §4.4.3). */
const USER_ONLY_SCOPES = new Set(['openid', 'offline_access', 'profile', 'email']);

/**
 * RFC 6749 §4.4. The app authenticates as itself; when registered to act on behalf of a
 * user, the token's subject is that user and carries the user's roles and permissions.
 */
export const clientCredentialsGrant = {
  grantType: 'client_credentials',
  allowPublicClients: false,

  handle(req: GrantRequest, deps: GrantDeps): TokenResponse | Promise<TokenResponse> {
    const scopes = grantedScopes(req.client, req.params.get('scope'));
    const userId = req.client.onBehalfOfUserId;
    if (userId === null) return issue(req, deps, scopes, undefined);
    const principal = deps.cache.principal(userId);
    return principal instanceof Promise
      ? principal.then((p) => issue(req, deps, scopes, checkPrincipal(req.client, p)))
      : issue(req, deps, scopes, checkPrincipal(req.client, principal));
  },
} satisfies GrantHandler;

function grantedScopes(client: Client, requested: string | undefined): string[] {
  const asked = parseScope(requested);
  const notAllowed = asked.filter((s) => USER_ONLY_SCOPES.has(s) || !(client.scopes.includes(s) || client.defaultScopes.includes(s)));
  if (notAllowed.length) {
    throw invalidScope(`scope not allowed for this app with client_credentials: ${notAllowed.join(' ')}`);
  }
  const granted = [...asked];
  for (const s of client.defaultScopes) if (!USER_ONLY_SCOPES.has(s) && !granted.includes(s)) granted.push(s);
  return granted;
}

function checkPrincipal(client: Client, principal: Principal | undefined): Principal {
  if (!principal) throw unauthorizedClient('the user this app acts on behalf of no longer exists');
  if (principal.user.disabled) throw unauthorizedClient('the user this app acts on behalf of is disabled');
  if (!principal.permissions.includes(client.requirePermission)) {
    throw unauthorizedClient(`the user this app acts on behalf of lacks the "${client.requirePermission}" permission`);
  }
  return principal;
}

function issue(req: GrantRequest, deps: GrantDeps, scopes: string[], principal: Principal | undefined): TokenResponse {
  if (scopes.includes(ADMIN_SCOPE) && !isAdmin(principal)) {
    throw invalidScope(`${ADMIN_SCOPE} is only for apps acting on behalf of a user with the admin role`);
  }
  const issued = deps.tokens.issueAccessToken({ client: req.client, principal, scopes, now: req.now });
  const response: TokenResponse = { access_token: issued.token, token_type: 'Bearer', expires_in: issued.expiresIn };
  if (scopes.length) response.scope = scopes.join(' ');
  return response;
}
