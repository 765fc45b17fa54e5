import { appActor } from '../../audit/actor.ts';
import type { AuditLog } from '../../audit/audit-log.ts';
import { sha256 } from '../../lib/crypto.ts';
import { authenticateClient, presentedCredentials, type ClientLookup } from '../client-auth.ts';
import type { ClientAssertions } from '../client-assertion.ts';
import { invalidRequest, OAuthError } from '../errors.ts';
import { singleValued, type RawParams } from '../params.ts';
import type { RefreshStore } from '../refresh-store.ts';
import { parseRefreshToken } from '../refresh-token-format.ts';
import type { RegistryCache } from '../registry-cache.ts';
import type { RevocationStore } from '../revocation-store.ts';
import type { TokenService } from '../token-service.ts';

export interface RevocationRequest {
  params: RawParams;
  authorization: string | undefined;
  now: number;
  /** The caller's address, for the audit entry. */
  ip: string | null;
}

export interface RevocationDeps {
  /** private_key_jwt (docs/client-authentication.md); without it client assertions are refused. */
  clientAssertions?: ClientAssertions;
  tokens: TokenService;
  lookupClient: ClientLookup;
  revocations: RevocationStore;
  cache: RegistryCache;
  refresh: RefreshStore;
  /** Each revocation is recorded (`token.revoke`, the app as the actor). */
  audit: AuditLog;
}

/**
 * POST /connect/revocation (RFC 7009). Answers 200 for revoked and for unknown, expired
 * or malformed tokens alike (§2.2: "invalid tokens do not cause an error response").
 * A client may revoke only tokens issued to it (§2.1). What it revokes is audited as
 * `token.revoke` with the app as the actor and the token's id (never the token) as the target.
 */
export function revocationEndpoint(deps: RevocationDeps) {
  const assertions = deps.clientAssertions?.forEndpoint('/connect/revocation');
  return async function revoke(req: RevocationRequest): Promise<void> {
    const params = singleValued(req.params);
    const auth = await authenticateClient(presentedCredentials(req.authorization, params), deps.lookupClient, req.now, assertions);
    const token = params.get('token');
    if (token === undefined) throw invalidRequest('token is required');
    // Refresh tokens are opaque and looked up by hash; revoking one revokes its family.
    if (params.get('token_type_hint') === 'refresh_token' || token.indexOf('.') < 0) {
      const found = await deps.refresh.find(sha256(token), parseRefreshToken(token));
      if (found) {
        if (found.family.clientId !== auth.client.id) throw new OAuthError('unauthorized_client', 'the token was not issued to this client');
        if (await deps.refresh.revokeFamily(found.family.id, req.now)) {
          await deps.audit.record(
            { action: 'token.revoke', targetId: found.family.id, details: { client_id: auth.client.id, token_type: 'refresh_token', sub: found.family.userId ?? auth.client.id } },
            appActor(auth.client.id, req.ip),
          );
        }
        return;
      }
    }
    const check = await deps.tokens.checkAccessToken(token, req.now);
    if (!check.active) return;
    if (check.claims.client_id !== auth.client.id) {
      throw new OAuthError('unauthorized_client', 'the token was not issued to this client');
    }
    const added = await deps.revocations.revoke(check.claims.jti, check.claims.client_id, check.claims.exp, req.now);
    deps.cache.markRevoked(check.claims.jti, check.claims.exp);
    if (added) {
      await deps.audit.record(
        { action: 'token.revoke', targetId: check.claims.jti, details: { client_id: auth.client.id, token_type: 'access_token', sub: check.claims.sub ?? null } },
        appActor(auth.client.id, req.ip),
      );
    }
  };
}
