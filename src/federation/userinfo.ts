import { failure, type FederationFailure } from './failures.ts';
import { isObject } from './discovery.ts';
import type { OutboundHttp } from './outbound.ts';

/**
 * The userinfo request (OIDC Core §5.3; GitHub's /user): the access token as a bearer token (RFC 6750 §2.1).
 * `claims` is null when the provider answers a JWT, which Tessera does not read.
 */
export async function fetchUserinfo(
  http: OutboundHttp,
  url: string,
  accessToken: string,
): Promise<{ ok: true; claims: Record<string, unknown> | null } | { ok: false; failure: FederationFailure }> {
  const response = await http(url, { headers: { authorization: `Bearer ${accessToken}` } });
  if (!response.ok) return { ok: false, failure: failure(response.failure, `userinfo: ${response.reason}`) };
  if (response.status !== 200) {
    return { ok: false, failure: failure(response.status >= 500 ? 'unreachable' : 'bad_response', `userinfo answered HTTP ${response.status}`) };
  }
  // OIDC Core §5.3.2: a signed (or encrypted) userinfo answer; the ID token's claims are used instead.
  if (response.contentType === 'application/jwt') return { ok: true, claims: null };
  if (!isObject(response.json)) return { ok: false, failure: failure('bad_response', 'userinfo did not answer a JSON object') };
  return { ok: true, claims: response.json };
}
