import { sha256 } from '../../lib/crypto.ts';
import { authenticateClient, presentedCredentials, type ClientLookup } from '../client-auth.ts';
import type { ClientAssertions } from '../client-assertion.ts';
import { invalidClient, invalidRequest } from '../errors.ts';
import { singleValued, type RawParams } from '../params.ts';
import type { RefreshStore } from '../refresh-store.ts';
import { parseRefreshToken } from '../refresh-token-format.ts';
import type { TokenService } from '../token-service.ts';

export interface IntrospectionRequest {
  params: RawParams;
  authorization: string | undefined;
  now: number;
}

export type IntrospectionResponse = { active: false } | ({ active: true } & Record<string, unknown>);

export interface IntrospectionDeps {
  /** private_key_jwt (docs/client-authentication.md); without it client assertions are refused. */
  clientAssertions?: ClientAssertions;
  tokens: TokenService;
  lookupClient: ClientLookup;
  refresh: RefreshStore;
}

/**
 * POST /connect/introspect (RFC 7662). Only authenticated confidential clients may ask
 * (§2.1: the endpoint MUST require authorization). Any problem with the token itself is
 * just `{"active": false}` (§2.2) — the caller learns nothing about why.
 *
 * Who may see a token as active (§2.1 leaves it to the server, §4 asks it to limit what
 * leaks): the app it was issued to (`client_id`), or an app the token is meant for — its
 * client_id is in the token's `aud`, which it is when an API's audience is set to that app's
 * client_id (the API's resource server). To anyone else a valid token is `active: false`.
 * A refresh token is only ever shown to the app holding it. Decided from the token alone:
 * no extra query.
 */
export function introspectionEndpoint(deps: IntrospectionDeps) {
  const assertions = deps.clientAssertions?.forEndpoint('/connect/introspect');
  return async function introspect(req: IntrospectionRequest): Promise<IntrospectionResponse> {
    const params = singleValued(req.params);
    const auth = await authenticateClient(presentedCredentials(req.authorization, params), deps.lookupClient, req.now, assertions);
    if (auth.method === 'none') throw invalidClient('public clients cannot introspect tokens', false);
    const token = params.get('token');
    if (token === undefined) throw invalidRequest('token is required');
    // token_type_hint is only an optimisation (§2.1): access tokens are JWTs, refresh tokens are not.
    if (token.indexOf('.') < 0) {
      const found = await deps.refresh.find(sha256(token), parseRefreshToken(token));
      const f = found?.family;
      if (!found || !f || f.revokedAt !== null || found.usedAt !== null || found.expiresAt <= req.now) return { active: false };
      if (f.clientId !== auth.client.id) return { active: false };
      if (f.createdAt < auth.client.tokensValidAfter) return { active: false };
      // No token_type: RFC 7662 §2.2 means an access token type (RFC 6749 §7.1), and a refresh
      // token has none; "refresh_token" is a token_type_hint value, not a token type.
      return { active: true, scope: found.scope, client_id: f.clientId, sub: f.userId, exp: found.expiresAt, iat: f.createdAt };
    }
    const check = await deps.tokens.checkAccessToken(token, req.now);
    if (!check.active) return { active: false };
    const { claims, principal } = check;
    if (!mayIntrospect(auth.client.id, claims.client_id, claims.aud)) return { active: false };
    const out: Record<string, unknown> = {
      active: true,
      scope: claims.scope,
      client_id: claims.client_id,
      // RFC 9449 §6.2: a DPoP-bound token says so, with the thumbprint the resource must match.
      token_type: claims.cnf?.jkt !== undefined ? 'DPoP' : 'Bearer',
      exp: claims.exp,
      iat: claims.iat,
      sub: claims.sub,
      aud: claims.aud,
      iss: claims.iss,
      jti: claims.jti,
    };
    if (claims.cnf?.jkt !== undefined) out.cnf = { jkt: claims.cnf.jkt };
    if (principal) {
      out.username = principal.user.username;
      out.roles = principal.roles;
      out.permissions = principal.permissions;
    }
    return out as IntrospectionResponse;
  };
}

/** The app the token was issued to, or one its audience names (see introspectionEndpoint). */
function mayIntrospect(caller: string, issuedTo: string, aud: string | string[]): boolean {
  return caller === issuedTo || (Array.isArray(aud) ? aud.includes(caller) : aud === caller);
}
