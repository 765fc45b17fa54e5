import type { Client } from '../clients/client.ts';
import { sha256 } from '../lib/crypto.ts';
import type { ClientLookup } from './client-auth.ts';
import { OAuthError, invalidRequest, invalidScope, invalidTarget } from './errors.ts';
import { singleValued, truncate, type RawParams } from './params.ts';
import { isValidChallenge } from './pkce.ts';
import { checkResourceAllowed, NO_RESOURCES, resolveResource, type ProtectedResource, type ResourceDirectory } from './resource-indicators.ts';
import { parseScope } from './scopes.ts';

export type Prompt = 'none' | 'login' | 'consent' | 'select_account';

/** A validated authorization request (RFC 6749 §4.1.1, RFC 7636 §4.3, OIDC Core §3.1.2.1). */
export interface AuthorizationRequest {
  client: Client;
  redirectUri: string;
  /** Whether redirect_uri was sent (then the token request must repeat it, RFC 6749 §4.1.3). */
  redirectUriInRequest: boolean;
  scopes: string[];
  state: string | undefined;
  nonce: string | undefined;
  codeChallenge: string | undefined;
  prompt: ReadonlySet<Prompt>;
  maxAge: number | undefined;
  loginHint: string | undefined;
  /** OIDC Core §3.1.2.1 `acr_values`: the authentication context classes the app asks for, in order. */
  acrValues: string | undefined;
  /** RFC 8707: the API the tokens are meant for; the code remembers it. */
  resource: ProtectedResource | undefined;
  /** RFC 9449 §10 `dpop_jkt`: the DPoP key the code is bound to (the token request must prove it). */
  dpopJkt: string | undefined;
  /**
   * The parameters as received, to re-submit from the login and consent pages. For a pushed
   * request, only `client_id` and `request_uri` (the rest stays on the server).
   */
  params: Map<string, string>;
  /** A pushed request (RFC 9126): the SHA-256 of its request_uri, deleted when the request is answered. */
  pushedRequestUriHash?: string;
  /**
   * When the browser first brought the pushed request (epoch s). A sign-in since then answers
   * its prompt=login: the request cannot drop the prompt on the way back from the login page,
   * as a plain one does, since its parameters stay on the server.
   */
  pushedStartedAt?: number;
}

/** RFC 9126 §2.2: the form of a request_uri Tessera hands out. */
export const REQUEST_URI_PREFIX = 'urn:ietf:params:oauth:request_uri:';

/** How the authorization endpoint finds pushed requests and whether it must insist on them. */
export interface PushedRequestOptions {
  /** The pushed request by the SHA-256 of its request_uri, if it lives (and marks it started). */
  load: (requestUriHash: string) => Promise<{ clientId: string; params: Record<string, string>; startedAt: number } | undefined>;
  /** The `require_pushed_authorization_requests` setting, for every app. */
  requiredForAll: () => boolean;
}

/**
 * Until client and redirect URI are trusted, errors are shown to the user and never
 * redirected (RFC 6749 §4.1.2.1: no redirect to an unverified URI — an open redirector).
 * After that, errors go back to the app.
 */
export type AuthorizationValidation =
  | { ok: true; request: AuthorizationRequest }
  | { ok: false; redirectTo: undefined; error: OAuthError }
  | { ok: false; redirectTo: { uri: string; state: string | undefined }; error: OAuthError };

const MAX_STATE_LENGTH = 2048;
const PROMPTS: ReadonlySet<string> = new Set(['none', 'login', 'consent', 'select_account']);

/**
 * `pushed`: the authorization endpoint's view of pushed requests (RFC 9126 §4): a
 * `request_uri` stands for the parameters pushed, and an app (or a server) that requires PAR
 * gets nothing without one. `fromPar`: the request being validated is itself being pushed
 * (RFC 9126 §2.1: the same checks, but a request_uri inside it is refused).
 */
export async function validateAuthorizationRequest(
  raw: RawParams,
  lookupClient: ClientLookup,
  resources: ResourceDirectory = NO_RESOURCES,
  options: { pushed?: PushedRequestOptions; fromPar?: boolean } = {},
): Promise<AuthorizationValidation> {
  let params: Map<string, string>;
  // Several resources are invalid_target (RFC 8707 §2), reported to the app once it is trusted.
  const severalResources = (raw.get('resource')?.length ?? 0) > 1;
  try {
    params = singleValued(severalResources ? new Map([...raw].filter(([k]) => k !== 'resource')) : raw);
  } catch (error) {
    return { ok: false, redirectTo: undefined, error: error as OAuthError };
  }
  const clientId = params.get('client_id');
  if (clientId === undefined) return page(invalidRequest('client_id is required'));
  let client: Client | undefined;
  try {
    client = await lookupClient(clientId);
  } catch (error) {
    // A client metadata document that could not be fetched or is invalid says why.
    if (error instanceof OAuthError) return page(error);
    throw error;
  }
  if (!client) return page(invalidRequest('unknown client_id'));
  if (!client.grantTypes.includes('authorization_code')) {
    return page(new OAuthError('unauthorized_client', 'this app is not registered for the authorization code flow'));
  }
  let pushedRequestUriHash: string | undefined;
  let resubmit: Map<string, string> | undefined;
  let pushedStartedAt: number | undefined;
  const requestUri = params.get('request_uri');
  if (options.pushed && requestUri !== undefined) {
    // RFC 9126 §4: the request is what was pushed; other parameters sent alongside are ignored.
    // Unknown, expired, used or another app's: shown on the page (the redirect URI is the
    // pushed request's, so it cannot be trusted for this one).
    const hash = requestUri.startsWith(REQUEST_URI_PREFIX) && requestUri.length < 200 ? sha256(requestUri) : undefined;
    const found = hash === undefined ? undefined : await options.pushed.load(hash);
    if (!found || found.clientId !== client.id) {
      return page(new OAuthError('invalid_request_uri', 'the request_uri is unknown, has expired or was already used; the app must push the request again'));
    }
    pushedRequestUriHash = hash;
    resubmit = new Map([['client_id', clientId], ['request_uri', requestUri]]);
    params = new Map(Object.entries(found.params));
    params.set('client_id', clientId);
    pushedStartedAt = found.startedAt;
  }
  const given = params.get('redirect_uri');
  let redirectUri: string;
  if (given === undefined) {
    // RFC 6749 §3.1.2.3: may be omitted only when exactly one is registered, and never in an
    // OpenID request (OIDC Core §3.1.2.1: REQUIRED), including one made so by default scopes.
    if (client.redirectUris.length !== 1) return page(invalidRequest('redirect_uri is required'));
    if (asksOpenId(params.get('scope')) || client.defaultScopes.includes('openid')) {
      return page(invalidRequest('redirect_uri is required in an OpenID Connect request (scope openid)'));
    }
    redirectUri = client.redirectUris[0]!;
  } else {
    // RFC 9700 §4.1.3: exact string matching, no normalisation, no wildcards.
    if (!client.redirectUris.includes(given)) return page(invalidRequest('redirect_uri is not registered for this app'));
    redirectUri = given;
  }
  const state = params.get('state');
  // A state too long to accept is not echoed, whichever error is reported.
  const echoedState = state !== undefined && state.length > MAX_STATE_LENGTH ? undefined : state;
  const back = (error: OAuthError): AuthorizationValidation => ({ ok: false, redirectTo: { uri: redirectUri, state: echoedState }, error });

  // OIDC Core §6.1, §6.2: the registered codes for a server without request-object support.
  if (params.has('request')) return back(new OAuthError('request_not_supported', 'request objects are not supported'));
  if (options.fromPar && params.has('request_uri')) return back(invalidRequest('request_uri cannot be pushed (RFC 9126 §2.1)'));
  if (pushedRequestUriHash === undefined && params.has('request_uri')) return back(new OAuthError('request_uri_not_supported', 'request_uri is not supported'));
  // RFC 9126 §6: an app (or a server) requiring PAR accepts authorization requests only by request_uri.
  if (options.pushed && pushedRequestUriHash === undefined && (client.requirePushedAuthorizationRequests || options.pushed.requiredForAll())) {
    return back(invalidRequest('this app must push its authorization requests to the pushed authorization request endpoint (RFC 9126) and send only client_id and request_uri here'));
  }
  const responseType = params.get('response_type');
  if (responseType === undefined) return back(invalidRequest('response_type is required'));
  if (responseType !== 'code') {
    return back(new OAuthError('unsupported_response_type', `response_type "${truncate(responseType)}" is not supported; use "code"`));
  }
  const responseMode = params.get('response_mode');
  if (responseMode !== undefined && responseMode !== 'query') return back(invalidRequest('only response_mode=query is supported'));

  let scopes: string[];
  try {
    scopes = parseScope(params.get('scope'));
  } catch (error) {
    return back(error as OAuthError);
  }
  const notAllowed = scopes.filter((s) => !client.scopes.includes(s) && !client.defaultScopes.includes(s));
  if (notAllowed.length) return back(invalidScope(`scope not allowed for this app: ${notAllowed.join(' ')}`));
  for (const s of client.defaultScopes) if (!scopes.includes(s)) scopes.push(s);

  if (severalResources) return back(invalidTarget('send one resource per request: a token is bound to one API'));
  let resource: ProtectedResource | undefined;
  try {
    resource = resolveResource(params.get('resource'), resources);
    if (resource) checkResourceAllowed(resource, [...client.scopes, ...client.defaultScopes]);
  } catch (error) {
    return back(error as OAuthError);
  }

  const challenge = params.get('code_challenge');
  const method = params.get('code_challenge_method');
  if (challenge === undefined) {
    if (method !== undefined) return back(invalidRequest('code_challenge_method without code_challenge'));
    if (client.public) return back(invalidRequest('PKCE is required: send code_challenge with code_challenge_method=S256'));
  } else {
    // RFC 7636 §4.3 defaults the method to "plain", which RFC 9700 §2.1.1 rules out.
    if (method !== 'S256') return back(invalidRequest('code_challenge_method must be S256'));
    if (!isValidChallenge(challenge)) return back(invalidRequest('code_challenge is malformed'));
  }

  const prompt = new Set<Prompt>();
  for (const p of (params.get('prompt') ?? '').split(' ').filter(Boolean)) {
    if (!PROMPTS.has(p)) return back(invalidRequest(`prompt value "${truncate(p)}" is not supported`));
    prompt.add(p as Prompt);
  }
  // OIDC Core §3.1.2.1: "none" with any other value is an error.
  if (prompt.has('none') && prompt.size > 1) return back(invalidRequest('prompt=none cannot be combined with other values'));

  const maxAgeRaw = params.get('max_age');
  let maxAge: number | undefined;
  if (maxAgeRaw !== undefined) {
    if (!/^\d{1,9}$/.test(maxAgeRaw)) return back(invalidRequest('max_age must be a non-negative whole number of seconds'));
    maxAge = Number(maxAgeRaw);
  }
  const nonce = params.get('nonce');
  if (nonce !== undefined && nonce.length > 512) return back(invalidRequest('nonce is too long'));
  // The nonce is stored with the code and echoed in the ID token: printable text only.
  if (nonce !== undefined && /[\x00-\x1f\x7f]/.test(nonce)) return back(invalidRequest('nonce contains control characters'));
  if (state !== undefined && state.length > MAX_STATE_LENGTH) return back(invalidRequest('state is too long'));
  const acrValues = params.get('acr_values');
  if (acrValues !== undefined && acrValues.length > 1000) return back(invalidRequest('acr_values is too long'));
  // A JWK SHA-256 thumbprint (RFC 7638): 32 bytes, base64url.
  const dpopJkt = params.get('dpop_jkt');
  if (dpopJkt !== undefined && !/^[A-Za-z0-9_-]{43}$/.test(dpopJkt)) return back(invalidRequest('dpop_jkt must be a JWK SHA-256 thumbprint (base64url)'));

  return {
    ok: true,
    request: {
      client,
      redirectUri,
      redirectUriInRequest: given !== undefined,
      scopes,
      state,
      nonce,
      codeChallenge: challenge,
      prompt,
      maxAge,
      loginHint: params.get('login_hint'),
      acrValues,
      resource,
      dpopJkt,
      params: resubmit ?? params,
      ...(pushedRequestUriHash ? { pushedRequestUriHash, pushedStartedAt } : {}),
    },
  };
}

/** Whether a raw scope parameter names `openid` (before it is validated: only to pick the error). */
function asksOpenId(scope: string | undefined): boolean {
  return scope !== undefined && scope.split(' ').includes('openid');
}

function page(error: OAuthError): AuthorizationValidation {
  return { ok: false, redirectTo: undefined, error };
}

/** redirect_uri with the response parameters added (existing query kept, RFC 6749 §3.1.2). */
export function redirectWith(uri: string, values: Record<string, string | undefined>): string {
  const url = new URL(uri);
  for (const [k, v] of Object.entries(values)) if (v !== undefined) url.searchParams.append(k, v);
  return url.toString();
}
