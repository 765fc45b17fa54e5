import type { Clock } from '../clock.ts';
import { epochSeconds } from '../clock.ts';
import { hashesEqual, randomToken, sha256 } from '../lib/crypto.ts';
import { exchangeCode } from './code-exchange.ts';
import { failure, type FederationFailure } from './failures.ts';
import type { JwksCache } from './jwks-cache.ts';
import type { OutboundHttp } from './outbound.ts';
import type { PendingSignIn, PendingSignInStore } from './pending-sign-in-store.ts';
import { OIDC_CLAIMS, profileFromClaims, type UpstreamProfile } from './profile.ts';
import type { IdentityProvider } from './provider.ts';
import { verifyUpstreamIdToken } from './upstream-id-token.ts';
import { fetchUserinfo } from './userinfo.ts';

/** How long the user may take at the provider. */
export const PENDING_SIGN_IN_TTL_S = 10 * 60;
/** Longest browser-binding cookie value accepted back (ours are 43 characters). */
const MAX_BROWSER_VALUE = 100;
const MAX_STATE = 512;
const MAX_CODE = 4096;

export interface UpstreamSignInDeps {
  pending: PendingSignInStore;
  http: OutboundHttp;
  jwks: JwksCache;
  /** Opens the sealed client secret (the key-encryption key; src/keys/encryption.ts). */
  secrets: { decrypt(sealed: string): string };
  clock: Clock;
}

export interface StartInput {
  provider: IdentityProvider;
  /** `{issuer}/login/providers/{slug}/callback`. */
  redirectUri: string;
  /** The /connect/authorize request to resume afterwards, if any. */
  returnTo: string | null;
  /** The browser's existing binding value (cookie), so parallel sign-ins in two tabs both work. */
  browserValue: string | undefined;
}

export type StartResult =
  | {
      ok: true;
      /** Where to send the browser. */
      authorizationUrl: string;
      /** The caller stores this in an HttpOnly cookie; the callback must present it. */
      browserValue: string;
      expiresAt: number;
    }
  | { ok: false; failure: FederationFailure };

export interface CallbackInput {
  /** The provider named by the callback path; undefined when the slug is unknown. */
  provider: IdentityProvider | undefined;
  /** The callback's query parameters (first value of each). */
  params: URLSearchParams;
  /** The binding cookie the browser sent, if any. */
  browserValue: string | undefined;
}

export type CallbackResult =
  | { ok: true; profile: UpstreamProfile; returnTo: string | null }
  /** `returnTo` is set once the state proved the callback belongs to this browser's sign-in. */
  | { ok: false; failure: FederationFailure; returnTo: string | null };

/**
 * The protocol core of signing in through an upstream provider, framework-free: `start`
 * builds the authorization request (state, nonce, PKCE S256, bound to the browser) and
 * `finish` checks the callback step by step and ends with a typed profile or a typed failure.
 */
export class UpstreamSignIn {
  readonly #deps: UpstreamSignInDeps;
  constructor(deps: UpstreamSignInDeps) {
    this.#deps = deps;
  }

  async start(input: StartInput): Promise<StartResult> {
    const { provider } = input;
    if (!provider.enabled) return { ok: false, failure: failure('provider_unavailable', `provider ${provider.slug} is disabled`) };
    const now = epochSeconds(this.#deps.clock);
    const state = randomToken();
    const nonce = randomToken();
    const codeVerifier = randomToken();
    const browserValue = usableBrowserValue(input.browserValue) ?? randomToken();
    const signIn: PendingSignIn = {
      stateHash: sha256(state),
      providerId: provider.id,
      nonce,
      codeVerifier,
      browserHash: sha256(browserValue),
      redirectUri: input.redirectUri,
      returnTo: input.returnTo,
      createdAt: now,
      expiresAt: now + PENDING_SIGN_IN_TTL_S,
    };
    await this.#deps.pending.insert(signIn);
    const url = new URL(provider.endpoints.authorizationEndpoint);
    const q = url.searchParams;
    q.set('response_type', 'code');
    q.set('client_id', provider.clientId);
    q.set('redirect_uri', input.redirectUri);
    q.set('scope', provider.scopes.join(' '));
    q.set('state', state);
    // RFC 7636 §4.2: S256, the challenge is BASE64URL(SHA256(verifier)).
    q.set('code_challenge', sha256(codeVerifier));
    q.set('code_challenge_method', 'S256');
    if (provider.kind === 'oidc') q.set('nonce', nonce);
    return { ok: true, authorizationUrl: url.toString(), browserValue, expiresAt: signIn.expiresAt };
  }

  async finish(input: CallbackInput): Promise<CallbackResult> {
    const pending = await this.#checkState(input);
    if (!pending.ok) return { ok: false, failure: pending.failure, returnTo: null };
    const { signIn, provider } = pending;
    const fail = (f: FederationFailure): CallbackResult => ({ ok: false, failure: f, returnTo: signIn.returnTo });

    const issuer = checkIssParameter(provider, input.params.get('iss'));
    if (issuer) return fail(issuer);
    const upstreamError = checkErrorResponse(input.params);
    if (upstreamError) return fail(upstreamError);
    const code = input.params.get('code');
    if (!code || code.length > MAX_CODE) return fail(failure('bad_response', 'the callback has no usable code'));

    let secret: string | null = null;
    try {
      secret = provider.clientSecretSealed === null ? null : this.#deps.secrets.decrypt(provider.clientSecretSealed);
    } catch {
      return fail(failure('provider_unavailable', `the client secret of provider ${provider.slug} cannot be decrypted with this key-encryption key`));
    }
    const exchanged = await exchangeCode(this.#deps.http, provider, secret, { code, redirectUri: signIn.redirectUri, codeVerifier: signIn.codeVerifier });
    if (!exchanged.ok) return fail(exchanged.failure);

    const claims = await this.#claims(provider, signIn, exchanged.tokens);
    if (!claims.ok) return fail(claims.failure);
    const profile = profileFromClaims(claims.claims, provider.kind === 'oidc' ? OIDC_CLAIMS : (provider.claimMapping ?? OIDC_CLAIMS), provider);
    if (!profile) return fail(failure('bad_response', 'the provider did not name the account (no usable subject)'));
    return { ok: true, profile, returnTo: signIn.returnTo };
  }

  /**
   * The state: present, known, not used before (single use even when the rest fails),
   * issued for this provider (the callback path is per provider: a mix-up defence,
   * RFC 9700 §4.4.2), from this browser (login CSRF, RFC 9700 §4.7), and not expired.
   */
  async #checkState(input: CallbackInput): Promise<{ ok: true; signIn: PendingSignIn; provider: IdentityProvider } | { ok: false; failure: FederationFailure }> {
    const state = input.params.get('state');
    if (!state || state.length > MAX_STATE) return { ok: false, failure: failure('bad_state', 'the callback has no state') };
    const now = epochSeconds(this.#deps.clock);
    const consumed = await this.#deps.pending.consume(sha256(state), now);
    if (consumed.status === 'unknown') return { ok: false, failure: failure('bad_state', 'unknown state (forged, or purged after expiry)') };
    if (consumed.status === 'replayed') return { ok: false, failure: failure('bad_state', 'state already used (replayed callback)') };
    const { signIn } = consumed;
    const { provider } = input;
    if (!provider || provider.id !== signIn.providerId) {
      return { ok: false, failure: failure('bad_state', 'state was issued for another provider') };
    }
    const browser = usableBrowserValue(input.browserValue);
    if (browser === undefined || !hashesEqual(sha256(browser), signIn.browserHash)) {
      return { ok: false, failure: failure('bad_state', 'state was issued to another browser') };
    }
    if (now >= signIn.expiresAt) return { ok: false, failure: failure('expired', `sign-in expired ${now - signIn.expiresAt} s ago`) };
    if (!provider.enabled) return { ok: false, failure: failure('provider_unavailable', `provider ${provider.slug} is disabled`) };
    return { ok: true, signIn, provider };
  }

  /** OIDC: the verified ID token, with userinfo for the same subject on top; OAuth 2.0: userinfo. */
  async #claims(
    provider: IdentityProvider,
    signIn: PendingSignIn,
    tokens: { accessToken: string; idToken: string | undefined },
  ): Promise<{ ok: true; claims: Record<string, unknown> } | { ok: false; failure: FederationFailure }> {
    const userinfoUrl = provider.endpoints.userinfoEndpoint;
    if (provider.kind === 'oauth2') {
      if (userinfoUrl === null) return { ok: false, failure: failure('provider_unavailable', 'the provider has no userinfo URL') };
      const info = await fetchUserinfo(this.#deps.http, userinfoUrl, tokens.accessToken);
      if (!info.ok) return info;
      if (info.claims === null) return { ok: false, failure: failure('bad_response', 'userinfo answered a JWT') };
      return { ok: true, claims: info.claims };
    }
    // OIDC Core §3.1.3.3: the token response of an OpenID request carries an ID token.
    if (tokens.idToken === undefined) return { ok: false, failure: failure('bad_response', 'token response has no id_token') };
    const verified = await verifyUpstreamIdToken(tokens.idToken, provider, signIn.nonce, this.#deps.jwks, this.#deps.clock);
    if (!verified.ok) return verified;
    if (userinfoUrl === null) return { ok: true, claims: verified.claims };
    const info = await fetchUserinfo(this.#deps.http, userinfoUrl, tokens.accessToken);
    if (!info.ok) return info;
    if (info.claims === null) return { ok: true, claims: verified.claims };
    // OIDC Core §5.3.4: userinfo for another subject must not be used (token substitution).
    if (info.claims.sub !== verified.claims.sub) return { ok: false, failure: failure('bad_token', 'userinfo names another subject than the ID token') };
    return { ok: true, claims: { ...verified.claims, ...info.claims } };
  }
}

/**
 * RFC 9207 §2.4: when the response carries `iss`, it must be the provider's issuer; when the
 * provider announced it always sends one, a response without it is refused too.
 */
function checkIssParameter(provider: IdentityProvider, iss: string | null): FederationFailure | undefined {
  if (provider.issuer === null) return undefined;
  if (iss === null) {
    return provider.endpoints.issParameterSupported ? failure('issuer_mismatch', 'the response has no iss although the provider always sends one') : undefined;
  }
  if (iss !== provider.issuer) return failure('issuer_mismatch', `the response names the issuer ${JSON.stringify(iss.slice(0, 200))}, not ${provider.issuer}`);
  return undefined;
}

/** RFC 6749 §4.1.2.1: the provider's error response; access_denied is the user saying no. */
function checkErrorResponse(params: URLSearchParams): FederationFailure | undefined {
  const error = params.get('error');
  if (error === null) return undefined;
  const code = error.slice(0, 100);
  const description = params.get('error_description')?.slice(0, 200);
  const reason = `the provider answered ${code}${description ? `: ${description}` : ''}`;
  return failure(code === 'access_denied' ? 'cancelled' : 'upstream_error', reason, code);
}

function usableBrowserValue(value: string | undefined): string | undefined {
  return value !== undefined && value.length >= 16 && value.length <= MAX_BROWSER_VALUE ? value : undefined;
}
