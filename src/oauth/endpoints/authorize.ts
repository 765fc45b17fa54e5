import { visitor } from '../../audit/actor.ts';
import type { AuditLog } from '../../audit/audit-log.ts';
import { decideGrant, type GrantDenial } from '../../clients/grant-policy.ts';
import type { ConsentStore } from '../../identity/consent-store.ts';
import type { MfaNeed } from '../../identity/mfa/mfa-policy.ts';
import type { SignedIn } from '../../identity/session-service.ts';
import type { Principal } from '../../identity/user.ts';
import { randomToken, sha256 } from '../../lib/crypto.ts';
import { ADMIN_SCOPE } from '../../lib/scope-names.ts';
import { PAR_STARTED_LIFETIME } from '../../config/limits.ts';
import { validateAuthorizationRequest, redirectWith, type AuthorizationRequest, type PushedRequestOptions } from '../authorization-request.ts';
import type { PushedRequestStore } from '../pushed-request-store.ts';
import type { ClientLookup } from '../client-auth.ts';
import type { CodeStore } from '../code-store.ts';
import { OAuthError } from '../errors.ts';
import type { RawParams } from '../params.ts';
import type { ResourceDirectory } from '../resource-indicators.ts';

export type AuthorizeOutcome =
  /** Client or redirect URI not trusted: show an error page, never redirect (RFC 6749 §4.1.2.1). */
  | { kind: 'error_page'; error: OAuthError }
  /** Back to the app with a code or an error. */
  | { kind: 'redirect'; location: string }
  /** Send the user to the login page; it returns to `returnTo` afterwards. */
  | { kind: 'login'; returnTo: string; loginHint: string | undefined; clientName: string }
  /** Ask the user to approve `newScopes` (or all with prompt=consent). */
  | { kind: 'consent'; request: AuthorizationRequest; signedIn: SignedIn; newScopes: string[] }
  /** The policy requires a verified email address and the user's is not: say so, offer to resend the link. */
  | { kind: 'verify_email'; request: AuthorizationRequest; signedIn: SignedIn };

export interface AuthorizeDeps {
  lookupClient: ClientLookup;
  consents: ConsentStore;
  codes: CodeStore;
  issuer: () => string;
  codeTtl: number;
  /** The gateway's APIs as RFC 8707 resources (`resource` on the request). */
  resources?: ResourceDirectory;
  /** Answers at the consent page are recorded here (`consent.grant`, `consent.deny`). */
  audit: AuditLog;
  /** Whether the user must (still) pass a second factor for this request (src/identity/mfa/). */
  mfaNeed?: (principal: Principal, request: { appRequiresMfa: boolean; acrValues: string | undefined }) => Promise<MfaNeed>;
  /** The `require_verified_email` setting, read per request (docs/email.md). */
  requireVerifiedEmail?: () => boolean;
  /** Pushed authorization requests (RFC 9126); without them a request_uri is refused. */
  pushed?: {
    store: PushedRequestStore;
    /** The `require_pushed_authorization_requests` setting. */
    requiredForAll: () => boolean;
    /** Epoch seconds. */
    now: () => number;
  };
}

/**
 * /connect/authorize and the consent decision. Given the request and who is signed in,
 * decide: error page, redirect to the app, login, or consent. The HTTP layer renders it.
 */
export function authorizationFlow(deps: AuthorizeDeps) {
  const errorRedirect = (uri: string, state: string | undefined, error: OAuthError): AuthorizeOutcome => ({
    kind: 'redirect',
    location: redirectWith(uri, { error: error.error, error_description: error.description, state, iss: deps.issuer() }),
  });

  const pushedOptions: PushedRequestOptions | undefined = deps.pushed && {
    requiredForAll: deps.pushed.requiredForAll,
    load: async (hash) => {
      const now = deps.pushed!.now();
      const found = await deps.pushed!.store.start(hash, now, now + PAR_STARTED_LIFETIME);
      return found && { clientId: found.clientId, params: found.params, startedAt: found.startedAt ?? now };
    },
  };

  /** A pushed request gives one answer (RFC 9126 §4): false when another tab or a replay got it first. */
  async function usePushed(request: AuthorizationRequest, now: number): Promise<boolean> {
    if (!request.pushedRequestUriHash || !deps.pushed) return true;
    return deps.pushed.store.consume(request.pushedRequestUriHash, now);
  }

  async function issueCode(request: AuthorizationRequest, signedIn: SignedIn, now: number): Promise<AuthorizeOutcome> {
    if (!(await usePushed(request, now))) {
      return errorRedirect(request.redirectUri, request.state, new OAuthError('invalid_request_uri', 'the request_uri was already used'));
    }
    const code = randomToken();
    await deps.codes.insert({
      codeHash: sha256(code),
      clientId: request.client.id,
      userId: signedIn.principal.user.id,
      sessionId: signedIn.session.sid,
      redirectUri: request.redirectUri,
      redirectUriInRequest: request.redirectUriInRequest,
      scope: request.scopes.join(' '),
      nonce: request.nonce ?? null,
      codeChallenge: request.codeChallenge ?? null,
      codeChallengeMethod: request.codeChallenge ? 'S256' : null,
      authTime: signedIn.session.authTime,
      amr: signedIn.session.amr,
      resource: request.resource?.id ?? null,
      dpopJkt: request.dpopJkt ?? null,
      createdAt: now,
      expiresAt: now + deps.codeTtl,
    });
    return {
      kind: 'redirect',
      location: redirectWith(request.redirectUri, { code, scope: request.scopes.join(' '), state: request.state, iss: deps.issuer() }),
    };
  }

  /** Validation shared by the authorize request and the consent decision. */
  async function validated(
    raw: RawParams,
  ): Promise<{ request: AuthorizationRequest; outcome?: undefined } | { outcome: AuthorizeOutcome; request?: undefined }> {
    const v = await validateAuthorizationRequest(raw, deps.lookupClient, deps.resources, { pushed: pushedOptions });
    if (v.ok) return { request: v.request };
    if (!v.redirectTo) return { outcome: { kind: 'error_page', error: v.error } };
    return { outcome: errorRedirect(v.redirectTo.uri, v.redirectTo.state, v.error) };
  }

  /** The user may authorize only apps the access policy admits them to (clients/grant-policy.ts). */
  function permissionDenied(request: AuthorizationRequest, signedIn: SignedIn): AuthorizeOutcome | undefined {
    const decision = decideGrant(request.client, signedIn.principal, request.scopes);
    if (decision.allowed) return undefined;
    return errorRedirect(request.redirectUri, request.state, new OAuthError('access_denied', deniedDescription(decision)));
  }

  /** To the login page; it comes back without prompt=login, or it would loop. */
  function toLogin(request: AuthorizationRequest): AuthorizeOutcome {
    const back = new URLSearchParams();
    for (const [k, v] of request.params) {
      if (k === 'prompt') {
        const rest = v.split(' ').filter((p) => p && p !== 'login' && p !== 'select_account');
        if (rest.length) back.set(k, rest.join(' '));
      } else back.set(k, v);
    }
    return { kind: 'login', returnTo: `/connect/authorize?${back}`, loginHint: request.loginHint, clientName: request.client.name };
  }

  /**
   * A session without a second factor where one is needed (the policy, a role, the app, or
   * acr_values asking for urn:tessera:acr:mfa) never yields a code: the user signs in again
   * (password, then the factor or its enrolment), or the app gets an error. Never less.
   */
  async function mfaGate(request: AuthorizationRequest, signedIn: SignedIn): Promise<AuthorizeOutcome | undefined> {
    if (!deps.mfaNeed || signedIn.session.amr.includes('mfa')) return undefined;
    const need = await deps.mfaNeed(signedIn.principal, { appRequiresMfa: request.client.requireMfa === true, acrValues: request.acrValues });
    if (need === 'no') return undefined;
    if (need === 'unavailable') {
      return errorRedirect(request.redirectUri, request.state, new OAuthError('unmet_authentication_requirements', 'a second factor is required, and second factors are turned off'));
    }
    if (request.prompt.has('none')) {
      return errorRedirect(request.redirectUri, request.state, new OAuthError('interaction_required', 'the user must pass a second factor'));
    }
    return toLogin(request);
  }

  /** With `require_verified_email` on, no code for a user whose address is not verified. */
  function unverifiedEmail(request: AuthorizationRequest, signedIn: SignedIn): AuthorizeOutcome | undefined {
    if (!deps.requireVerifiedEmail?.() || signedIn.principal.user.emailVerified) return undefined;
    if (request.prompt.has('none')) {
      return errorRedirect(request.redirectUri, request.state, new OAuthError('access_denied', 'the user’s email address is not verified'));
    }
    return { kind: 'verify_email', request, signedIn };
  }

  async function authorize(raw: RawParams, signedIn: SignedIn | undefined, now: number): Promise<AuthorizeOutcome> {
    const { request, outcome } = await validated(raw);
    if (outcome) return outcome;
    const { prompt, maxAge } = request;
    const tooOld = signedIn !== undefined && maxAge !== undefined && now - signedIn.session.authTime > maxAge;
    // A pushed request keeps its prompt=login on the way back from the login page: a sign-in
    // since the browser brought the request is the login it asked for.
    const signedInSince = signedIn !== undefined && request.pushedStartedAt !== undefined && signedIn.session.authTime >= request.pushedStartedAt;
    if (!signedIn || ((prompt.has('login') || prompt.has('select_account')) && !signedInSince) || tooOld) {
      if (prompt.has('none')) {
        return errorRedirect(request.redirectUri, request.state, new OAuthError('login_required', 'the user is not signed in'));
      }
      return toLogin(request);
    }
    const stepUp = await mfaGate(request, signedIn);
    if (stepUp) return stepUp;
    const denied = permissionDenied(request, signedIn);
    if (denied) return denied;
    const unverified = unverifiedEmail(request, signedIn);
    if (unverified) return unverified;
    const granted = await deps.consents.granted(signedIn.principal.user.id, request.client.id);
    const newScopes = request.scopes.filter((s) => !granted.includes(s));
    if (newScopes.length || prompt.has('consent')) {
      if (prompt.has('none')) {
        return errorRedirect(request.redirectUri, request.state, new OAuthError('consent_required', 'the user has not approved this app'));
      }
      return { kind: 'consent', request, signedIn, newScopes: prompt.has('consent') ? request.scopes : newScopes };
    }
    return issueCode(request, signedIn, now);
  }

  /** The user's answer on the consent page ("Yes, Allow" or "Deny"). */
  async function decide(raw: RawParams, signedIn: SignedIn, allow: boolean, now: number, ip: string | null = null): Promise<AuthorizeOutcome> {
    const { request, outcome } = await validated(raw);
    if (outcome) return outcome;
    const stepUp = await mfaGate(request, signedIn);
    if (stepUp) return stepUp;
    const denied = permissionDenied(request, signedIn);
    if (denied) return denied;
    const unverified = unverifiedEmail(request, signedIn);
    if (unverified) return unverified;
    if (!allow) {
      await usePushed(request, now);
      await deps.audit.record(
        { action: 'consent.deny', targetId: signedIn.principal.user.id, details: { client_id: request.client.id, scopes: request.scopes } },
        visitor(signedIn.principal.user.username, ip),
      );
      return errorRedirect(request.redirectUri, request.state, new OAuthError('access_denied', 'the user denied the request'));
    }
    await deps.consents.grant(signedIn.principal.user.id, request.client.id, request.scopes, now);
    await deps.audit.record(
      { action: 'consent.grant', targetId: signedIn.principal.user.id, details: { client_id: request.client.id, scopes: request.scopes } },
      visitor(signedIn.principal.user.username, ip),
    );
    return issueCode(request, signedIn, now);
  }

  /**
   * The request ends without sign-in (the user cancelled at an upstream identity provider):
   * `access_denied` to the app when the request is valid, else the error page.
   */
  async function deny(raw: RawParams, description: string): Promise<AuthorizeOutcome> {
    const { request, outcome } = await validated(raw);
    if (outcome) return outcome;
    return errorRedirect(request.redirectUri, request.state, new OAuthError('access_denied', description));
  }

  return { authorize, decide, deny };
}

/** RFC 6749 §4.1.2.1 `access_denied`, told in words the user can act on. */
function deniedDescription(denial: GrantDenial): string {
  switch (denial.reason) {
    case 'admin_role_required':
      return `the ${ADMIN_SCOPE} scope requires the admin role`;
    case 'permission_missing':
      return `the user lacks the "${denial.permission}" permission this app requires`;
    case 'user_disabled':
    case 'user_missing':
      // A session ends when its user is disabled or deleted, so only a race gets here.
      return 'the user is disabled or no longer exists';
  }
}
