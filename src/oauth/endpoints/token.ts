import { DEVICE_CODE_GRANT, TOKEN_EXCHANGE_GRANT, type Client } from '../../clients/client.ts';
import type { Logger } from '../../lib/logger.ts';
import type { MetricsRecorder } from '../../lib/metrics.ts';
import { authenticateClient, presentedCredentials, type AuthenticatedClient, type ClientLookup } from '../client-auth.ts';
import type { DpopVerifier } from '../dpop.ts';
import type { ClientAssertions } from '../client-assertion.ts';
import { OAuthError, invalidRequest, unauthorizedClient } from '../errors.ts';
import type { GrantDeps, GrantHandler, TokenResponse } from '../grants/grant-handler.ts';
import { singleValued, truncate, type RawParams } from '../params.ts';
import { rejectSeveralResources } from '../resource-indicators.ts';
import { proofKey, type PresentedProof } from './dpop-proof.ts';

export interface TokenRequest {
  params: RawParams;
  authorization: string | undefined;
  /** Epoch seconds. */
  now: number;
  /** The request's own logger (its request id): an issued token is logged here at info, never the token. */
  log?: Logger;
  /** The caller's address, computed when needed (the audit entry of a replayed token). */
  ip?: () => string | null;
  /**
   * RFC 9449: the request's `DPoP` headers and the token endpoint's public URL; absent when the
   * request has no DPoP header (then nothing DPoP costs anything).
   */
  dpop?: PresentedProof | undefined;
}

export interface TokenEndpointDeps extends GrantDeps {
  /** private_key_jwt (docs/client-authentication.md); without it client assertions are refused. */
  clientAssertions?: ClientAssertions;
  grants: ReadonlyMap<string, GrantHandler>;
  lookupClient: ClientLookup;
  /** Counts issued tokens by grant type; none when absent. */
  metrics?: MetricsRecorder;
  /** Validates DPoP proofs (RFC 9449); absent: a DPoP header is refused. */
  dpop?: DpopVerifier;
}

/**
 * POST /connect/token (RFC 6749 §3.2). Steps, in order: one value per parameter →
 * grant_type present → client authenticated → grant type known → app registered for it
 * → the grant's own handler. Returns synchronously when nothing needed the database.
 */
export function tokenEndpoint(deps: TokenEndpointDeps) {
  const assertions = deps.clientAssertions?.forEndpoint('/connect/token');
  return function handleTokenRequest(req: TokenRequest): TokenResponse | Promise<TokenResponse> {
    rejectSeveralResources(req.params);
    const params = singleValued(req.params);
    const grantType = params.get('grant_type');
    if (grantType === undefined) throw invalidRequest('grant_type is required');
    const authenticated = authenticateClient(presentedCredentials(req.authorization, params), deps.lookupClient, req.now, assertions);
    // The hot path (no DPoP header, an app that does not require one) stays synchronous.
    if (req.dpop === undefined) {
      return authenticated instanceof Promise
        ? authenticated.then((auth) => dispatch(deps, grantType, params, withoutProof(auth), req, undefined))
        : dispatch(deps, grantType, params, withoutProof(authenticated), req, undefined);
    }
    return withProof(deps, grantType, params, authenticated, req, req.dpop);
  };
}

/** RFC 9449 §5.2: an app registered with `dpop_bound_access_tokens` never gets a token without a proof. */
function withoutProof(auth: AuthenticatedClient): AuthenticatedClient {
  if (auth.client.dpopBoundAccessTokens) throw invalidRequest('this app must send a DPoP proof (DPoP header) with every token request');
  return auth;
}

/**
 * RFC 9449 §5: the proof is checked once the client is authenticated and before the grant
 * runs, so a refused proof (a missing nonce, say) consumes no code and rotates no refresh token.
 */
async function withProof(
  deps: TokenEndpointDeps,
  grantType: string,
  params: Map<string, string>,
  authenticated: AuthenticatedClient | Promise<AuthenticatedClient>,
  req: TokenRequest,
  dpop: PresentedProof,
): Promise<TokenResponse> {
  const auth = await authenticated;
  const jkt = await proofKey(deps.dpop, dpop, req.now);
  const response = await dispatch(deps, grantType, params, auth, req, jkt);
  // Every grant binds its token to the proof's key; one that did not would hand out a bearer
  // token to a client that asked for (or must have) a bound one.
  if (response.token_type !== 'DPoP') throw new Error(`the ${grantType} grant ignored the DPoP proof`);
  return response;
}

function dispatch(
  deps: TokenEndpointDeps,
  grantType: string,
  params: Map<string, string>,
  auth: AuthenticatedClient,
  req: TokenRequest,
  dpopJkt: string | undefined,
): TokenResponse | Promise<TokenResponse> {
  const handler = deps.grants.get(grantType);
  if (!handler) throw new OAuthError('unsupported_grant_type', `grant_type "${truncate(grantType)}" is not supported`);
  if (auth.method === 'none' && !handler.allowPublicClients) {
    throw unauthorizedClient(`public clients cannot use the ${grantType} grant`);
  }
  if (!isRegisteredFor(auth.client, grantType)) {
    throw unauthorizedClient(`this app is not registered for the ${grantType} grant`);
  }
  const response = handler.handle({ params, client: auth.client, authMethod: auth.method, dpopJkt, now: req.now, ip: req.ip }, deps);
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

/** refresh_token comes with authorization_code and the device grant (offline access is granted per user); token exchange with its policy. */
function isRegisteredFor(client: Client, grantType: string): boolean {
  // Token exchange is not a registered grant type: the app's token-exchange policy turns it on (decideTokenExchange).
  if (grantType === TOKEN_EXCHANGE_GRANT) return true;
  if (grantType === 'refresh_token') return client.grantTypes.includes('authorization_code') || client.grantTypes.includes(DEVICE_CODE_GRANT);
  return (client.grantTypes as string[]).includes(grantType);
}
