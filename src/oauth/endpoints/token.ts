import { DEVICE_CODE_GRANT, type Client } from '../../clients/client.ts';
import type { Logger } from '../../lib/logger.ts';
import type { MetricsRecorder } from '../../lib/metrics.ts';
import { authenticateClient, presentedCredentials, type AuthenticatedClient, type ClientLookup } from '../client-auth.ts';
import { OAuthError, invalidRequest, unauthorizedClient } from '../errors.ts';
import type { GrantDeps, GrantHandler, TokenResponse } from '../grants/grant-handler.ts';
import { singleValued, truncate, type RawParams } from '../params.ts';
import { rejectSeveralResources } from '../resource-indicators.ts';

export interface TokenRequest {
  params: RawParams;
  authorization: string | undefined;
  /** Epoch seconds. */
  now: number;
  /** The request's own logger (its request id): an issued token is logged here at info, never the token. */
  log?: Logger;
}

export interface TokenEndpointDeps extends GrantDeps {
  grants: ReadonlyMap<string, GrantHandler>;
  lookupClient: ClientLookup;
  /** Counts issued tokens by grant type; none when absent. */
  metrics?: MetricsRecorder;
}

/**
 * POST /connect/token (RFC 6749 §3.2). Steps, in order: one value per parameter →
 * grant_type present → client authenticated → grant type known → app registered for it
 * → the grant's own handler. Returns synchronously when nothing needed the database.
 */
export function tokenEndpoint(deps: TokenEndpointDeps) {
  return function handleTokenRequest(req: TokenRequest): TokenResponse | Promise<TokenResponse> {
    rejectSeveralResources(req.params);
    const params = singleValued(req.params);
    const grantType = params.get('grant_type');
    if (grantType === undefined) throw invalidRequest('grant_type is required');
    const authenticated = authenticateClient(presentedCredentials(req.authorization, params), deps.lookupClient, req.now);
    return authenticated instanceof Promise
      ? authenticated.then((auth) => dispatch(deps, grantType, params, auth, req))
      : dispatch(deps, grantType, params, authenticated, req);
  };
}

function dispatch(
  deps: TokenEndpointDeps,
  grantType: string,
  params: Map<string, string>,
  auth: AuthenticatedClient,
  req: TokenRequest,
): TokenResponse | Promise<TokenResponse> {
  const handler = deps.grants.get(grantType);
  if (!handler) throw new OAuthError('unsupported_grant_type', `grant_type "${truncate(grantType)}" is not supported`);
  if (auth.method === 'none' && !handler.allowPublicClients) {
    throw unauthorizedClient(`public clients cannot use the ${grantType} grant`);
  }
  if (!isRegisteredFor(auth.client, grantType)) {
    throw unauthorizedClient(`this app is not registered for the ${grantType} grant`);
  }
  const response = handler.handle({ params, client: auth.client, authMethod: auth.method, now: req.now }, deps);
  if (response instanceof Promise) {
    return response.then((body) => {
      issued(deps, req, handler.grantType, auth.client.id);
      return body;
    });
  }
  issued(deps, req, handler.grantType, auth.client.id);
  return response;
}

/** Who got a token, for what grant: counted, and logged at info (no token, no secret). */
function issued(deps: TokenEndpointDeps, req: TokenRequest, grantType: string, clientId: string): void {
  deps.metrics?.tokenIssued(grantType);
  req.log?.info({ grant_type: grantType, client_id: clientId }, 'token issued');
}

/** refresh_token comes with authorization_code and the device grant (offline access is granted per user). */
function isRegisteredFor(client: Client, grantType: string): boolean {
  if (grantType === 'refresh_token') return client.grantTypes.includes('authorization_code') || client.grantTypes.includes(DEVICE_CODE_GRANT);
  return (client.grantTypes as string[]).includes(grantType);
}
