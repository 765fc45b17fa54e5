import { sha256 } from '../../lib/crypto.ts';
import type { AuthorizationCode, ConsumeDecision, ConsumeResult } from '../code-store.ts';
import { invalidGrant, invalidRequest, OAuthError } from '../errors.ts';
import { verifierMatches } from '../pkce.ts';
import { recordReplay } from './replay-audit.ts';
import { resolveResource, resourceForGrant } from '../resource-indicators.ts';
import type { GrantDeps, GrantHandler, GrantRequest, TokenResponse } from './grant-handler.ts';
import type { Principal } from '../../identity/user.ts';
import {
  activePrincipal,
  cachedActivePrincipal,
  checkBoundKey,
  completeUserTokens,
  issueUserTokens,
  prepareUserTokens,
  type PreparedTokens,
  type UserTokenRequest,
} from './user-tokens.ts';

/** RFC 6749 §4.1.3 with PKCE (RFC 7636 §4.5–4.6). Codes are single-use; a replay revokes what the code gave. */
export const authorizationCodeGrant = {
  grantType: 'authorization_code',
  allowPublicClients: true,

  async handle(req: GrantRequest, deps: GrantDeps): Promise<TokenResponse> {
    const code = req.params.get('code');
    if (code === undefined) throw invalidRequest('code is required');
    const codeHash = sha256(code);
    // SQLite: the whole exchange is one group-commit work (issue 16): the code consumed, checked
    // and its tokens prepared, then what it gave recorded with the new refresh family, in one
    // transaction — one commit to wait for and the code's row written once.
    if (deps.codes.consumeAndDecide) return exchangeInTheConsume(req, deps, codeHash);
    // On PostgreSQL the common case, a fresh code that passes every check, is one commit (issue
    // 16): the code is read, checked and its user's grant decided first, then consuming it,
    // recording what it gave and the new refresh family are one write. Everything else —
    // unknown, already used, a failed check, or consumed by a concurrent exchange meanwhile —
    // takes the stepwise path, which consumes the code first and answers exactly as it always
    // has. On SQLite a commit has no round trip to save, and the read before the write cost
    // more than it saved (measured in docs/performance.md).
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

/** What `decideAtConsume` made of the consumed code, handed back once the consume committed. */
type AtConsume =
  | { kind: 'not consumed'; result: ConsumeResult }
  | { kind: 'refused'; error: OAuthError }
  /** The user is not in the registry cache: read after the commit, then issued stepwise. */
  | { kind: 'later'; code: AuthorizationCode }
  | { kind: 'issued'; grant: UserTokenRequest; prepared: PreparedTokens };

/** SQLite: consume, checks, access token and new family in one group-commit work (`consumeAndDecide`). */
async function exchangeInTheConsume(req: GrantRequest, deps: GrantDeps, codeHash: string): Promise<TokenResponse> {
  const outcome = await deps.codes.consumeAndDecide!(codeHash, req.now, (result) => decideAtConsume(req, deps, result));
  switch (outcome.kind) {
    case 'not consumed':
      return afterConsume(req, deps, outcome.result);
    case 'refused':
      throw outcome.error;
    case 'later': {
      const grant = grantFor(req, deps, outcome.code, await activePrincipal(deps, outcome.code.userId, req.client));
      return recordAfterConsume(req, deps, outcome.code, grant);
    }
    case 'issued':
      // Recorded and committed: the ID token is signed now, and nothing is left to write.
      return (await completeUserTokens(deps, outcome.grant, outcome.prepared)).response;
  }
}

/**
 * Runs inside the consume's write work, synchronously: every check the stepwise path makes,
 * in the same order, then the tokens prepared (no ID token yet: it is signed once this
 * committed). A refusal is returned, not thrown, so the code stays consumed as it does
 * stepwise; only a fault that is not a protocol error throws (and rolls the consume back).
 */
function decideAtConsume(req: GrantRequest, deps: GrantDeps, result: ConsumeResult): ConsumeDecision<AtConsume> {
  if (result.status !== 'consumed') return { value: { kind: 'not consumed', result } };
  const stored = result.code;
  try {
    checkCode(req, stored);
    // Nothing is read inside the work: a user not in the registry cache is read once it committed.
    const principal = cachedActivePrincipal(deps, stored.userId, req.client);
    if (principal === undefined) return { value: { kind: 'later', code: stored } };
    const grant = grantFor(req, deps, stored, principal);
    const prepared = prepareUserTokens(deps, grant, 'new');
    return {
      value: { kind: 'issued', grant, prepared },
      record: { issued: { accessTokenJti: prepared.jti, accessTokenExpiresAt: prepared.exp, refreshFamilyId: prepared.familyId }, family: prepared.family },
    };
  } catch (error) {
    if (error instanceof OAuthError) return { value: { kind: 'refused', error } };
    throw error;
  }
}

/** The code consumed first, then checked, then the tokens (two commits). */
async function exchangeStepwise(req: GrantRequest, deps: GrantDeps, codeHash: string): Promise<TokenResponse> {
  return afterConsume(req, deps, await deps.codes.consume(codeHash, req.now));
}

/** An unknown or replayed code refused (a replay revokes what the code gave); a consumed one checked and issued. */
async function afterConsume(req: GrantRequest, deps: GrantDeps, result: ConsumeResult): Promise<TokenResponse> {
  if (result.status === 'unknown') throw invalidGrant('the authorization code is invalid');
  if (result.status === 'replayed') {
    // RFC 6749 §4.1.2: a code used twice SHOULD revoke the tokens issued from it. If the
    // first exchange has not recorded them yet, it will see the replay mark and revoke them.
    const issued = { accessTokenJti: result.accessTokenJti, accessTokenExpiresAt: result.accessTokenExpiresAt, refreshFamilyId: result.refreshFamilyId };
    await revokeIssued(deps, result.code.clientId, issued, req.now);
    await recordReplay(deps, req, { clientId: result.code.clientId, tokenType: 'authorization_code', sub: result.code.userId, refreshFamilyId: issued.refreshFamilyId, accessTokenJti: issued.accessTokenJti });
    throw invalidGrant('the authorization code was already used; tokens issued from it are revoked');
  }
  const stored = result.code;
  return recordAfterConsume(req, deps, stored, await checkedGrant(req, deps, stored));
}

/** Tokens for a consumed code: what it gave is recorded in a second commit, with the new family. */
async function recordAfterConsume(req: GrantRequest, deps: GrantDeps, stored: AuthorizationCode, grant: UserTokenRequest): Promise<TokenResponse> {
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
    await recordReplay(deps, 'system', { clientId: req.client.id, tokenType: 'authorization_code', sub: stored.userId, refreshFamilyId: record.refreshFamilyId, accessTokenJti: record.accessTokenJti });
    throw invalidGrant('the authorization code was used twice; tokens issued from it are revoked');
  }
  return issued.response;
}

/** The code's checks against the request, then its user's: what the tokens are issued for. */
async function checkedGrant(req: GrantRequest, deps: GrantDeps, stored: AuthorizationCode): Promise<UserTokenRequest> {
  checkCode(req, stored);
  return grantFor(req, deps, stored, await activePrincipal(deps, stored.userId, req.client));
}

/** The code against the request: its client, expiry, redirect URI, PKCE and DPoP binding. Throws `invalid_grant`. */
function checkCode(req: GrantRequest, stored: AuthorizationCode): void {
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
}

/** The token request for a checked code and its (active) user. */
function grantFor(req: GrantRequest, deps: GrantDeps, stored: AuthorizationCode, principal: Principal): UserTokenRequest {
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
