import { DEVICE_CODE_GRANT } from '../../clients/client.ts';
import { sha256 } from '../../lib/crypto.ts';
import { OAuthError, invalidGrant, invalidRequest } from '../errors.ts';
import { resolveResource, resourceForGrant } from '../resource-indicators.ts';
import type { GrantDeps, GrantHandler, GrantRequest, TokenResponse } from './grant-handler.ts';
import { activePrincipal, issueUserTokens } from './user-tokens.ts';

/**
 * RFC 8628 §3.4–3.5: the device polls with its device code. Pending → authorization_pending;
 * faster than its interval → slow_down (the interval grows by 5 s); denied → access_denied;
 * expired → expired_token; approved → the tokens the code grant would give, exactly once.
 * All are 400 (RFC 6749 §5.2), access_denied included.
 */
export const deviceCodeGrant = {
  grantType: DEVICE_CODE_GRANT,
  allowPublicClients: true,

  async handle(req: GrantRequest, deps: GrantDeps): Promise<TokenResponse> {
    if (!deps.devices) throw new OAuthError('unsupported_grant_type', 'the device authorization grant is not enabled');
    const deviceCode = req.params.get('device_code');
    if (deviceCode === undefined) throw invalidRequest('device_code is required');
    const result = await deps.devices.poll(sha256(deviceCode), req.now);
    if (result.kind === 'unknown') throw invalidGrant('the device code is invalid');
    // A device code is bound to the client it was issued to (RFC 8628 §3.4).
    if (result.auth.clientId !== req.client.id) throw invalidGrant('the device code was issued to another client');
    switch (result.kind) {
      case 'expired':
        throw new OAuthError('expired_token', 'the device code has expired; start again');
      case 'slow_down':
        throw new OAuthError('slow_down', `polling too fast; wait ${result.auth.interval} seconds between requests`);
      case 'pending':
        throw new OAuthError('authorization_pending', 'the user has not yet approved the request');
      case 'denied':
        throw new OAuthError('access_denied', 'the user denied the request', { status: 400 });
      case 'used':
        throw invalidGrant('the device code was already used');
      case 'approved':
        break;
    }
    const auth = result.auth;
    const principal = await activePrincipal(deps, auth.userId, req.client);
    const scopes = auth.scope.split(' ').filter(Boolean);
    const resource = resourceForGrant(resolveResource(req.params.get('resource'), deps.resources), auth.resource, scopes, deps.resources);
    const issued = await issueUserTokens(
      deps,
      { client: req.client, principal, scopes, nonce: null, authTime: auth.authTime, amr: auth.amr, sid: auth.sessionId, resource, dpopJkt: req.dpopJkt, now: req.now },
      'new',
    );
    return issued.response;
  },
} satisfies GrantHandler;
