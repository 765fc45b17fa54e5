import { failure, type FederationFailure } from './failures.ts';
import { isObject } from './discovery.ts';
import type { OutboundHttp } from './outbound.ts';
import type { IdentityProvider } from './provider.ts';

export interface UpstreamTokens {
  accessToken: string;
  idToken: string | undefined;
}

const MAX_ERROR_TEXT = 200;

/**
 * The token request (RFC 6749 §4.1.3, RFC 7636 §4.5): the code, the redirect_uri sent with the
 * authorization request, the PKCE verifier; the client authenticates as the provider allows
 * (RFC 6749 §2.3.1: Basic with form-encoded id and secret, or the two as form fields).
 */
export async function exchangeCode(
  http: OutboundHttp,
  provider: IdentityProvider,
  clientSecret: string | null,
  grant: { code: string; redirectUri: string; codeVerifier: string },
): Promise<{ ok: true; tokens: UpstreamTokens } | { ok: false; failure: FederationFailure }> {
  const form = new URLSearchParams({
    grant_type: 'authorization_code',
    code: grant.code,
    redirect_uri: grant.redirectUri,
    code_verifier: grant.codeVerifier,
  });
  const headers: Record<string, string> = {};
  if (clientSecret !== null && provider.endpoints.tokenEndpointAuthMethod === 'client_secret_basic') {
    const credentials = `${formEncode(provider.clientId)}:${formEncode(clientSecret)}`;
    headers.authorization = `Basic ${Buffer.from(credentials).toString('base64')}`;
  } else {
    form.set('client_id', provider.clientId);
    if (clientSecret !== null) form.set('client_secret', clientSecret);
  }
  const response = await http(provider.endpoints.tokenEndpoint, { method: 'POST', headers, form });
  if (!response.ok) return { ok: false, failure: failure(response.failure, `token request: ${response.reason}`) };
  const body = response.json;
  if (response.status !== 200) {
    // RFC 6749 §5.2: a 4xx with an error code is the provider refusing; anything else is it failing.
    if (response.status < 500 && isObject(body) && typeof body.error === 'string') {
      const code = body.error.slice(0, MAX_ERROR_TEXT);
      const description = typeof body.error_description === 'string' ? `: ${body.error_description.slice(0, MAX_ERROR_TEXT)}` : '';
      return { ok: false, failure: failure('upstream_error', `token request refused (${code}${description})`, code) };
    }
    return { ok: false, failure: failure(response.status >= 500 ? 'unreachable' : 'bad_response', `token request answered HTTP ${response.status}`) };
  }
  if (!isObject(body)) return { ok: false, failure: failure('bad_response', 'token response is not a JSON object') };
  // GitHub answers 200 with an error object when the code is bad.
  if (typeof body.error === 'string') {
    const code = body.error.slice(0, MAX_ERROR_TEXT);
    return { ok: false, failure: failure('upstream_error', `token request refused (${code})`, code) };
  }
  if (typeof body.access_token !== 'string' || body.access_token === '') {
    return { ok: false, failure: failure('bad_response', 'token response has no access_token') };
  }
  // RFC 6749 §5.1: token_type is case-insensitive; only bearer tokens are usable at userinfo.
  if (typeof body.token_type !== 'string' || body.token_type.toLowerCase() !== 'bearer') {
    return { ok: false, failure: failure('bad_response', `token response has token_type ${JSON.stringify(body.token_type ?? null).slice(0, 50)}, not Bearer`) };
  }
  if (body.id_token !== undefined && typeof body.id_token !== 'string') {
    return { ok: false, failure: failure('bad_response', 'token response has an id_token that is not a string') };
  }
  return { ok: true, tokens: { accessToken: body.access_token, idToken: body.id_token } };
}

/** RFC 6749 §2.3.1: client id and secret are form-urlencoded before Basic encoding. */
function formEncode(value: string): string {
  return encodeURIComponent(value).replace(/%20/g, '+');
}
