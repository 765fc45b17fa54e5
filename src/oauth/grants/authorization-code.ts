import { sha256 } from '../crypto-util.ts';
import { invalidGrant, invalidRequest } from '../errors.ts';
import { verifierMatches } from '../pkce.ts';
import type { GrantDeps, GrantHandler, GrantRequest, TokenResponse } from './grant-handler.ts';
import { activePrincipal, issueUserTokens } from './user-tokens.ts';

/** RFC 6749 §4.1.3 with PKCE (RFC 7636 §4.5–4.6). Codes are single-use; a replay revokes what the code gave. */
export const authorizationCodeGrant = {
  grantType: 'authorization_code',
  allowPublicClients: true,

  async handle(req: GrantRequest, deps: GrantDeps): Promise<TokenResponse> {
    const code = req.params.get('code');
    if (code === undefined) throw invalidRequest('code is required');
    const verifier = req.params.get('code_verifier');
    const result = await deps.codes.consume(sha256(code), req.now);
    if (result.status === 'unknown') throw invalidGrant('the authorization code is invalid');
    if (result.status === 'replayed') {
      // RFC 6749 §4.1.2: a code used twice SHOULD revoke the tokens issued from it.
      if (result.accessTokenJti) {
        await deps.revocations.revoke(result.accessTokenJti, result.code.clientId, result.accessTokenExpiresAt ?? req.now + 86_400, req.now);
        deps.cache.markRevoked(result.accessTokenJti, result.accessTokenExpiresAt ?? req.now + 86_400);
      }
      if (result.refreshFamilyId) await deps.refresh.revokeFamily(result.refreshFamilyId, req.now);
      throw invalidGrant('the authorization code was already used; tokens issued from it are revoked');
    }
    const stored = result.code;
    if (stored.clientId !== req.client.id) throw invalidGrant('the authorization code was issued to another client');
    if (stored.expiresAt <= req.now) throw invalidGrant('the authorization code has expired');
    const redirectUri = req.params.get('redirect_uri');
    if (stored.redirectUriInRequest ? redirectUri !== stored.redirectUri : redirectUri !== undefined && redirectUri !== stored.redirectUri) {
      throw invalidGrant('redirect_uri does not match the authorization request');
    }
    if (stored.codeChallenge !== null) {
      if (verifier === undefined) throw invalidGrant('code_verifier is required');
      if (!verifierMatches(verifier, stored.codeChallenge)) throw invalidGrant('code_verifier does not match the code_challenge');
    } else if (verifier !== undefined) {
      // RFC 9700 §4.8.2: a verifier without a challenge is a PKCE downgrade attempt.
      throw invalidGrant('code_verifier sent but the authorization request had no code_challenge');
    }
    if (req.client.public && stored.codeChallenge === null) throw invalidGrant('public clients must use PKCE');
    const principal = await activePrincipal(deps, stored.userId, req.client);
    const scopes = stored.scope.split(' ').filter(Boolean);
    const issued = await issueUserTokens(
      deps,
      { client: req.client, principal, scopes, nonce: stored.nonce, authTime: stored.authTime, sid: stored.sessionId, now: req.now },
      'new',
    );
    await deps.codes.recordIssued(stored.codeHash, { accessTokenJti: issued.jti, accessTokenExpiresAt: issued.exp, refreshFamilyId: issued.familyId });
    return issued.response;
  },
} satisfies GrantHandler;
