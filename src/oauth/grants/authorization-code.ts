import { sha256 } from '../../lib/crypto.ts';
import type { AuthorizationCode } from '../code-store.ts';
import { invalidGrant, invalidRequest } from '../errors.ts';
import { verifierMatches } from '../pkce.ts';
import { resolveResource, resourceForGrant } from '../resource-indicators.ts';
import type { GrantDeps, GrantHandler, GrantRequest, TokenResponse } from './grant-handler.ts';
import { activePrincipal, checkBoundKey, issueUserTokens, type UserTokenRequest } from './user-tokens.ts';

/** RFC 6749 §4.1.3 with PKCE (RFC 7636 §4.5–4.6). Codes are single-use; a replay revokes what the code gave. */
export const authorizationCodeGrant = {
  grantType: 'authorization_code',
  allowPublicClients: true,

  async handle(req: GrantRequest, deps: GrantDeps): Promise<TokenResponse> {
    const code = req.params.get('code');
    if (code === undefined) throw invalidRequest('code is required');
    const codeHash = sha256(code);
    // On PostgreSQL the common case, a fresh code that passes every check, is one commit (issue
    // 16): the code is read, checked and its user's grant decided first, then consuming it,
    // recording what it gave and the new refresh family are one write. Everything else —
    // unknown, already used, a failed check, or consumed by a concurrent exchange meanwhile —
    // takes the stepwise path, which consumes the code first and answers exactly as it always
    // has. SQLite always goes stepwise: a commit there has no round trip to save, and the read
    // before the write cost more than the second group-commit batch (measured in
    // docs/performance.md).
    if (deps.codes.exchangeInOneWrite) {
      const found = await deps.codes.find(codeHash);
      if (found !== undefined && !found.consumed) {
        const response = await exchangeInOneCommit(req, deps, found.code);
        if (response !== undefined) return response;
      }
    }
    return exchangeStepwise(req, deps, codeHash);
  },
} satisfies GrantHandler;

/**
 * The tokens for a code not consumed when read, written with its consumption in one commit.
 * Undefined, with nothing written, when a check refuses the code or another exchange consumed it
 * first: the caller then goes the stepwise way, which gives the same answer it always gave.
 */
async function exchangeInOneCommit(req: GrantRequest, deps: GrantDeps, stored: AuthorizationCode): Promise<TokenResponse | undefined> {
  let grant: UserTokenRequest;
  try {
    grant = await checkedGrant(req, deps, stored);
  } catch {
    return undefined;
  }
  let writing = false;
  let consumed = false;
  try {
    const issued = await issueUserTokens(deps, grant, 'new', async (ids, family) => {
      writing = true;
      consumed = await deps.codes.exchange(stored.codeHash, req.now, { accessTokenJti: ids.jti, accessTokenExpiresAt: ids.exp, refreshFamilyId: ids.familyId }, family);
    });
    // Not consumed: another exchange got there first; nothing of ours was stored or answered.
    return consumed ? issued.response : undefined;
  } catch (error) {
    // Refused before anything was written (the user's grant for these scopes): stepwise.
    if (!writing) return undefined;
    throw error;
  }
}

/** The code consumed first, then checked, then the tokens (two commits). */
async function exchangeStepwise(req: GrantRequest, deps: GrantDeps, codeHash: string): Promise<TokenResponse> {
  const result = await deps.codes.consume(codeHash, req.now);
  if (result.status === 'unknown') throw invalidGrant('the authorization code is invalid');
  if (result.status === 'replayed') {
    // RFC 6749 §4.1.2: a code used twice SHOULD revoke the tokens issued from it. If the
    // first exchange has not recorded them yet, it will see the replay mark and revoke them.
    await revokeIssued(deps, result.code.clientId, { accessTokenJti: result.accessTokenJti, accessTokenExpiresAt: result.accessTokenExpiresAt, refreshFamilyId: result.refreshFamilyId }, req.now);
    throw invalidGrant('the authorization code was already used; tokens issued from it are revoked');
  }
  const stored = result.code;
  const grant = await checkedGrant(req, deps, stored);
  // What the code gave is recorded in the same group-commit batch as the new refresh family
  // (one commit fewer), while the ID token is signed.
  let record = { accessTokenJti: '', accessTokenExpiresAt: 0, refreshFamilyId: null as string | null };
  let replayed = false;
  const issued = await issueUserTokens(deps, grant, 'new', async (ids, family) => {
    record = { accessTokenJti: ids.jti, accessTokenExpiresAt: ids.exp, refreshFamilyId: ids.familyId };
    const [recorded] = await Promise.all([deps.codes.recordIssued(stored.codeHash, record), family && deps.refresh.createFamily(family.family, family.firstTokenHash, family.tokenExpiresAt)]);
    ({ replayed } = recorded);
  });
  if (replayed) {
    // The code was replayed while we were issuing: the grant is compromised.
    await revokeIssued(deps, req.client.id, record, req.now);
    throw invalidGrant('the authorization code was used twice; tokens issued from it are revoked');
  }
  return issued.response;
}

/** The code's checks against the request, then its user's: what the tokens are issued for. */
async function checkedGrant(req: GrantRequest, deps: GrantDeps, stored: AuthorizationCode): Promise<UserTokenRequest> {
  if (stored.clientId !== req.client.id) throw invalidGrant('the authorization code was issued to another client');
  if (stored.expiresAt <= req.now) throw invalidGrant('the authorization code has expired');
  const redirectUri = req.params.get('redirect_uri');
  if (stored.redirectUriInRequest ? redirectUri !== stored.redirectUri : redirectUri !== undefined && redirectUri !== stored.redirectUri) {
    throw invalidGrant('redirect_uri does not match the authorization request');
  }
  const verifier = req.params.get('code_verifier');
  if (stored.codeChallenge !== null) {
    if (verifier === undefined) throw invalidGrant('code_verifier is required');
    if (!verifierMatches(verifier, stored.codeChallenge)) throw invalidGrant('code_verifier does not match the code_challenge');
  } else if (verifier !== undefined) {
    // RFC 9700 §4.8.2: a verifier without a challenge is a PKCE downgrade attempt.
    throw invalidGrant('code_verifier sent but the authorization request had no code_challenge');
  }
  if (req.client.public && stored.codeChallenge === null) throw invalidGrant('public clients must use PKCE');
  // RFC 9449 §10: a code requested with dpop_jkt is only exchanged with a proof by that key.
  if (stored.dpopJkt) checkBoundKey(stored.dpopJkt, req.dpopJkt, 'the authorization code');
  const principal = await activePrincipal(deps, stored.userId, req.client);
  const scopes = stored.scope.split(' ').filter(Boolean);
  const resource = resourceForGrant(resolveResource(req.params.get('resource'), deps.resources), stored.resource ?? null, scopes, deps.resources);
  return { client: req.client, principal, scopes, nonce: stored.nonce, authTime: stored.authTime, amr: stored.amr, sid: stored.sessionId, resource, dpopJkt: req.dpopJkt, now: req.now };
}

async function revokeIssued(
  deps: GrantDeps,
  clientId: string,
  issued: { accessTokenJti: string | null; accessTokenExpiresAt: number | null; refreshFamilyId: string | null },
  now: number,
): Promise<void> {
  if (issued.accessTokenJti) {
    const exp = issued.accessTokenExpiresAt ?? now + 86_400;
    await deps.revocations.revoke(issued.accessTokenJti, clientId, exp, now);
    deps.cache.markRevoked(issued.accessTokenJti, exp);
  }
  if (issued.refreshFamilyId) await deps.refresh.revokeFamily(issued.refreshFamilyId, now);
}
