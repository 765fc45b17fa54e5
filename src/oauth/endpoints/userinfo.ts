import type { UserStore } from '../../identity/user-store.ts';
import { errorDescriptionText, OAuthError } from '../errors.ts';
import { profileClaims } from '../id-token.ts';
import { singleValued, type RawParams } from '../params.ts';
import type { TokenService } from '../token-service.ts';

export interface UserinfoRequest {
  authorization: string | undefined;
  /** Form body of a POST (RFC 6750 §2.2 allows access_token there); empty for GET. */
  params: RawParams;
  now: number;
}

const REALM = 'realm="tessera"';

/** RFC 6750 §3: the challenge names the error so clients know whether to refresh or re-consent. */
export function bearerError(error: 'invalid_request' | 'invalid_token' | 'insufficient_scope', description: string, scope?: string): OAuthError {
  // Header values must be visible ASCII: the same sanitising as error_description (RFC 6749 §5.2).
  const parts = [REALM, `error="${error}"`, `error_description="${errorDescriptionText(description).replace(/["\\]/g, '')}"`];
  if (scope) parts.push(`scope="${scope}"`);
  return new OAuthError(error, description, { headers: { 'www-authenticate': `Bearer ${parts.join(', ')}` } });
}

export function bearerMissing(): OAuthError {
  // RFC 6750 §3.1: no error code when the request simply lacked credentials.
  return new OAuthError('invalid_token', 'a bearer token is required', { status: 401, headers: { 'www-authenticate': `Bearer ${REALM}` } });
}

/** Reads a bearer token from the Authorization header or (POST) the form body, never both (RFC 6750 §2). */
export function bearerToken(authorization: string | undefined, params: Map<string, string>): string | undefined {
  const inBody = params.get('access_token');
  if (authorization !== undefined) {
    const m = /^Bearer +([A-Za-z0-9\-._~+/]+=*) *$/i.exec(authorization);
    if (!m) throw bearerError('invalid_request', 'the Authorization header must be "Bearer <token>"');
    if (inBody !== undefined) throw bearerError('invalid_request', 'send the access token in one place only');
    return m[1];
  }
  return inBody;
}

/** OIDC Core §5.3 /connect/userinfo. */
export function userinfoEndpoint(deps: { tokens: TokenService; users: UserStore }) {
  return async function userinfo(req: UserinfoRequest): Promise<Record<string, unknown>> {
    let params: Map<string, string>;
    try {
      params = singleValued(req.params);
    } catch {
      throw bearerError('invalid_request', 'malformed request');
    }
    const token = bearerToken(req.authorization, params);
    if (token === undefined) throw bearerMissing();
    const check = await deps.tokens.checkAccessToken(token, req.now);
    if (!check.active) throw bearerError('invalid_token', 'the access token is invalid, expired or revoked');
    const scopes = check.claims.scope.split(' ');
    if (!scopes.includes('openid') || !check.principal) {
      throw bearerError('insufficient_scope', 'the access token lacks the openid scope', 'openid');
    }
    return { sub: check.principal.user.id, ...profileClaims(check.principal.user, scopes) };
  };
}
