import { randomToken, sha256 } from '../../lib/crypto.ts';
import { mintRefreshToken, parseRefreshToken } from '../refresh-token-format.ts';
import { invalidGrant, invalidRequest, invalidScope } from '../errors.ts';
import { resolveResource, resourceForGrant } from '../resource-indicators.ts';
import { parseScope } from '../scopes.ts';
import type { GrantDeps, GrantHandler, GrantRequest, TokenResponse } from './grant-handler.ts';
import { recordReplay } from './replay-audit.ts';
import { activePrincipal, checkBoundKey, issueUserTokens } from './user-tokens.ts';
import type { RefreshFamily } from '../refresh-store.ts';

/**
 * RFC 6749 §6 with rotation (RFC 9700 §4.14.2): every use returns a new refresh token;
 * presenting one that was already rotated — a replay, or two uses racing — revokes the
 * whole family, so a stolen token dies as soon as either party uses it again.
 */
export const refreshTokenGrant = {
  grantType: 'refresh_token',
  allowPublicClients: true,

  async handle(req: GrantRequest, deps: GrantDeps): Promise<TokenResponse> {
    const presented = req.params.get('refresh_token');
    if (presented === undefined) throw invalidRequest('refresh_token is required');
    const hash = sha256(presented);
    const found = await deps.refresh.find(hash, parseRefreshToken(presented));
    if (!found) throw invalidGrant('the refresh token is invalid');
    const { family } = found;
    if (family.clientId !== req.client.id) throw invalidGrant('the refresh token was issued to another client');
    if (family.revokedAt !== null) throw invalidGrant('the refresh token has been revoked');
    if (found.usedAt !== null) {
      await revokeReplayed(req, deps, family);
      throw invalidGrant('the refresh token was already used; the grant is revoked');
    }
    // RFC 9449 §5: a public client's refresh token is bound to its DPoP key.
    if (family.dpopJkt) checkBoundKey(family.dpopJkt, req.dpopJkt, 'the refresh token');
    // The family's lifetime is absolute from its first issue; rotation never extends it.
    if (found.expiresAt <= req.now || family.expiresAt <= req.now) throw invalidGrant('the refresh token has expired');
    // A regenerated secret ends every grant issued to the app before it.
    if (family.createdAt < req.client.tokensValidAfter) throw invalidGrant('the refresh token predates the app’s current credentials');
    const principal = await activePrincipal(deps, family.userId, req.client);
    if (family.createdAt < principal.user.tokensValidAfter) throw invalidGrant('the refresh token predates a change to the user');

    // RFC 6749 §6: the scope may narrow, never widen.
    const current = found.scope.split(' ').filter(Boolean);
    const asked = parseScope(req.params.get('scope'));
    const wider = asked.filter((s) => !current.includes(s));
    if (wider.length) throw invalidScope(`scope exceeds what was granted: ${wider.join(' ')}`);
    const scopes = asked.length ? asked : current;
    // RFC 8707 §2.2: the resource may narrow the new access token, never widen the grant.
    const resource = resourceForGrant(resolveResource(req.params.get('resource'), deps.resources), family.resource ?? null, scopes, deps.resources);

    // The rotation commits while the access token is issued and the ID token signed (RS256 on
    // libuv's threadpool): the answer still waits for both, so it is sent only after the
    // rotation committed. A token already spent (a replay, or a concurrent use that won)
    // revokes the family and the tokens signed meanwhile are discarded, never sent. The
    // rotation starts only once issuing was allowed, so a refused issue spends nothing.
    // A family issued before migration 0026 keeps tokens of the earlier form in refresh_tokens.
    const next = family.tokenKey && found.generation !== undefined ? mintRefreshToken(family.tokenKey, found.generation + 1) : randomToken();
    const issued = await issueUserTokens(
      deps,
      { client: req.client, principal, scopes, nonce: null, authTime: family.authTime, amr: family.amr, sid: family.sessionId, resource, dpopJkt: req.dpopJkt, now: req.now },
      { familyId: family.id, token: next },
      async () => {
        const rotated = await deps.refresh.rotate(hash, sha256(next), family.id, scopes.join(' '), req.now, family.expiresAt, found.generation);
        if (rotated.status === 'revoked') throw invalidGrant('the refresh token has been revoked');
        if (rotated.status === 'already_used') {
          await revokeReplayed(req, deps, family);
          throw invalidGrant('the refresh token was already used; the grant is revoked');
        }
      },
    );
    return issued.response;
  },
} satisfies GrantHandler;

/** A spent refresh token presented again (a replay, or two uses racing): its whole family is revoked, and recorded. */
async function revokeReplayed(req: GrantRequest, deps: GrantDeps, family: RefreshFamily): Promise<void> {
  await deps.refresh.revokeFamily(family.id, req.now);
  await recordReplay(deps, req, { clientId: family.clientId, tokenType: 'refresh_token', sub: family.userId ?? family.clientId, refreshFamilyId: family.id, accessTokenJti: null });
}
