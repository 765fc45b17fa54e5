import type { UserStore } from '../../identity/user-store.ts';
import { bearerError, bearerMissing, bearerToken } from '../bearer.ts';
import { profileClaims } from '../id-token.ts';
import { singleValued, type RawParams } from '../params.ts';
import type { TokenService } from '../token-service.ts';

export interface UserinfoRequest {
  authorization: string | undefined;
  /** Form body of a POST (RFC 6750 §2.2 allows access_token there); empty for GET. */
  params: RawParams;
  now: number;
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
    const scopes = (check.claims.scope ?? '').split(' ');
    if (!scopes.includes('openid') || !check.principal) {
      throw bearerError('insufficient_scope', 'the access token lacks the openid scope', 'openid');
    }
    return { sub: check.principal.user.id, ...profileClaims(check.principal.user, scopes) };
  };
}
