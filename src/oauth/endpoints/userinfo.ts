import type { UserStore } from '../../identity/user-store.ts';
import { bearerToken } from '../bearer.ts';
import { OAuthError } from '../errors.ts';
import { profileClaims } from '../id-token.ts';
import { singleValued, type RawParams } from '../params.ts';
import type { ResourceGuard, ResourceRefusal } from '../resource-access.ts';
import type { TokenService } from '../token-service.ts';

export interface UserinfoRequest {
  authorization: string | undefined;
  /** The request's `DPoP` headers (RFC 9449), undefined when there are none. */
  dpop?: readonly string[] | undefined;
  /** GET or POST (the DPoP proof's `htm`). */
  method?: string;
  /** Form body of a POST (RFC 6750 §2.2 allows access_token there); empty for GET. */
  params: RawParams;
  now: number;
}

export interface UserinfoResponse {
  body: Record<string, unknown>;
  /** A fresh DPoP nonce when nonces are required. */
  headers: Record<string, string>;
}

/**
 * OIDC Core §5.3 /connect/userinfo, for bearer tokens (RFC 6750: header or form body) and
 * DPoP-bound tokens (RFC 9449 §7: the `DPoP` scheme with a proof whose htu is this endpoint's
 * public URL). A DPoP-bound token sent as a bearer token is refused.
 */
export function userinfoEndpoint(deps: { tokens: TokenService; users: UserStore; guard: ResourceGuard; issuer: () => string }) {
  return async function userinfo(req: UserinfoRequest): Promise<UserinfoResponse> {
    let params: Map<string, string>;
    try {
      params = singleValued(req.params);
    } catch {
      throw refused(deps.guard.refusal(req, 400, undefined, 'invalid_request', 'malformed request'));
    }
    let authorization = req.authorization;
    // RFC 6750 §2.2: a bearer token in the form body is read as if it were in the header.
    if (params.has('access_token')) {
      let token: string | undefined;
      try {
        token = bearerToken(req.authorization, params);
      } catch {
        throw refused(deps.guard.refusal(req, 400, undefined, 'invalid_request', 'send the access token in one place only'));
      }
      authorization = `Bearer ${token}`;
    }
    const access = await deps.guard.check({ authorization, dpop: req.dpop, method: req.method ?? 'GET', url: () => `${deps.issuer()}/connect/userinfo`, now: req.now });
    if (!access.ok) throw refused(access.refusal);
    const { check } = access;
    const scopes = (check.claims.scope ?? '').split(' ');
    if (!scopes.includes('openid') || !check.principal) {
      throw refused(deps.guard.refusal(req, 403, access.scheme, 'insufficient_scope', 'the access token lacks the openid scope', 'openid'));
    }
    return { body: { sub: check.principal.user.id, ...profileClaims(check.principal.user, scopes) }, headers: access.headers };
  };
}

function refused(r: ResourceRefusal): OAuthError {
  return new OAuthError(r.error, r.description, { status: r.status, headers: r.headers });
}
