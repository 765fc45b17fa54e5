/**
 * Client ID Metadata Documents (draft-ietf-oauth-client-id-metadata-document; the MCP
 * authorization specification's preferred registration): a `client_id` that is an https URL
 * names a JSON document, served there, describing the client. These are the pure rules; the
 * fetching (SSRF policy, size, time, caching) is in src/federation/client-metadata-documents.ts.
 */

/** Longest client_id URL accepted (it is stored as the app's id). */
export const MAX_CLIENT_ID_URL_LENGTH = 500;

/**
 * Whether `clientId` has the shape of a metadata-document client ID: an http(s) URL. Whether
 * it is acceptable (https, a path, no dot segments …) is `clientIdUrlProblem`.
 */
export function looksLikeMetadataDocumentClientId(clientId: string): boolean {
  return /^https?:\/\//i.test(clientId);
}

/** The host an app registered by metadata document comes from ("from example.com"), else undefined. */
export function metadataDocumentHost(clientId: string): string | undefined {
  if (!looksLikeMetadataDocumentClientId(clientId)) return undefined;
  try {
    return new URL(clientId).host;
  } catch {
    return undefined;
  }
}

/**
 * The draft §3: the client_id URL MUST use https, MUST contain a path component, MUST NOT
 * contain single- or double-dot segments, a fragment, or a username or password; it SHOULD
 * NOT contain a query (refused here: one document per client). http is left to the caller's
 * address policy (loopback in development mode only).
 */
export function clientIdUrlProblem(clientId: string): string | undefined {
  if (clientId.length > MAX_CLIENT_ID_URL_LENGTH) return `the client_id URL is longer than ${MAX_CLIENT_ID_URL_LENGTH} characters`;
  let url: URL;
  try {
    url = new URL(clientId);
  } catch {
    return 'the client_id is not a URL';
  }
  if (url.protocol !== 'https:' && url.protocol !== 'http:') return 'the client_id URL must use https';
  if (clientId.includes('#')) return 'the client_id URL must not contain a fragment';
  if (url.username || url.password || /^https?:\/\/[^/]*@/i.test(clientId)) return 'the client_id URL must not contain a username or password';
  if (url.search || clientId.includes('?')) return 'the client_id URL must not contain a query';
  const path = /^https?:\/\/[^/]+(\/.*)?$/i.exec(clientId)?.[1] ?? '';
  if (path === '' || path === '/') return 'the client_id URL must contain a path';
  if (path.split('/').some((s) => s === '.' || s === '..' || /^(%2e|\.){1,2}$/i.test(s))) return 'the client_id URL must not contain . or .. segments';
  // The string must be what the WHATWG parser keeps, or the document's client_id could not equal it.
  if (url.href !== clientId) return 'the client_id URL must be in normal form';
  return undefined;
}

/** What Tessera keeps of a valid document. */
export interface ClientMetadata {
  clientId: string;
  name: string;
  redirectUris: string[];
  postLogoutRedirectUris: string[];
  /** The `scope` the document limits itself to; undefined: no limit of its own. */
  scope: string[] | undefined;
  /** `none` (a public client, PKCE) or `private_key_jwt` with the document's keys (`jwks` or `jwks_uri`). */
  authMethod: 'none' | 'private_key_jwt';
  /** The document's JWK set (checked by ClientService), with private_key_jwt. */
  jwks?: unknown;
  jwksUri?: string;
}

const SUPPORTED_GRANTS = new Set(['authorization_code', 'refresh_token']);

/**
 * The document's rules (draft §4.1): a JSON object whose `client_id` equals the URL it was
 * fetched from; `redirect_uris` required; no shared secret (`client_secret`, a
 * `client_secret_*` auth method): a document is public, so such a client is either public
 * (`none`, the default: it proves itself with PKCE alone) or signs assertions with keys whose
 * public part the document names (`private_key_jwt` with `jwks_uri` or `jwks`, one of them).
 * Returns the metadata or a reason the document is refused.
 */
export function parseClientMetadata(url: string, body: unknown): { ok: true; metadata: ClientMetadata } | { ok: false; reason: string } {
  const fail = (reason: string) => ({ ok: false as const, reason });
  if (typeof body !== 'object' || body === null || Array.isArray(body)) return fail('the document is not a JSON object');
  const doc = body as Record<string, unknown>;
  if (doc.client_id !== url) return fail('the document’s client_id is not the URL it was fetched from');
  if ('client_secret' in doc || 'client_secret_expires_at' in doc) return fail('the document must not contain a client secret');
  const method = doc.token_endpoint_auth_method ?? 'none';
  if (method !== 'none' && method !== 'private_key_jwt') {
    return fail('token_endpoint_auth_method must be "none" (a public client, PKCE) or "private_key_jwt" (keys in jwks_uri or jwks); a document cannot hold a secret');
  }
  const keys: Pick<ClientMetadata, 'jwks' | 'jwksUri'> = {};
  if (method === 'private_key_jwt') {
    if (doc.jwks !== undefined && doc.jwks_uri !== undefined) return fail('give jwks_uri or jwks, not both');
    if (doc.jwks_uri !== undefined) {
      if (typeof doc.jwks_uri !== 'string' || doc.jwks_uri.length > 2000) return fail('jwks_uri must be a URL');
      keys.jwksUri = doc.jwks_uri;
    } else if (doc.jwks !== undefined) {
      if (typeof doc.jwks !== 'object' || doc.jwks === null || Array.isArray(doc.jwks)) return fail('jwks must be a JWK set: a JSON object with a "keys" array');
      keys.jwks = doc.jwks;
    } else return fail('private_key_jwt needs the public keys of the client: jwks_uri or jwks');
  }
  const redirectUris = stringList(doc.redirect_uris);
  if (!redirectUris?.length) return fail('redirect_uris must be a non-empty array of strings');
  if (redirectUris.length > 20) return fail('redirect_uris has more than 20 entries');
  const postLogout = doc.post_logout_redirect_uris === undefined ? [] : stringList(doc.post_logout_redirect_uris);
  if (!postLogout) return fail('post_logout_redirect_uris must be an array of strings');
  if (postLogout.length > 20) return fail('post_logout_redirect_uris has more than 20 entries');
  if (doc.grant_types !== undefined) {
    const grants = stringList(doc.grant_types);
    if (!grants || !grants.includes('authorization_code') || grants.some((g) => !SUPPORTED_GRANTS.has(g))) {
      return fail('grant_types may list only authorization_code and refresh_token, and must list authorization_code');
    }
  }
  if (doc.response_types !== undefined) {
    const types = stringList(doc.response_types);
    if (!types || types.some((t) => t !== 'code')) return fail('response_types may list only "code"');
  }
  let scope: string[] | undefined;
  if (doc.scope !== undefined) {
    if (typeof doc.scope !== 'string' || doc.scope.length > 1000) return fail('scope must be a string');
    scope = doc.scope.split(' ').filter(Boolean);
  }
  const host = new URL(url).host;
  const rawName = typeof doc.client_name === 'string' ? doc.client_name.replace(/[\u0000-\u001f\u007f]/g, '').trim() : '';
  return { ok: true, metadata: { clientId: url, name: rawName ? rawName.slice(0, 100) : host, redirectUris, postLogoutRedirectUris: postLogout, scope, authMethod: method, ...keys } };
}

function stringList(value: unknown): string[] | undefined {
  if (!Array.isArray(value) || value.some((v) => typeof v !== 'string' || v.length > 2000)) return undefined;
  return value as string[];
}

/**
 * How long a fetched document may be reused (RFC 9111 §4.2.1): `no-store` / `no-cache` /
 * `max-age=0` → not at all; else `max-age`, else `Expires` − `Date`, else the default; never
 * longer than `maxSeconds`, so a changed document is seen within a day at worst.
 */
export function freshnessSeconds(headers: { cacheControl: string | null; expires: string | null; date: string | null }, defaults: { defaultSeconds: number; maxSeconds: number }): number {
  const cc = (headers.cacheControl ?? '').toLowerCase();
  if (/(^|[\s,])(no-store|no-cache|private)([\s,=]|$)/.test(cc)) return 0;
  const maxAge = /(^|[\s,])max-age\s*=\s*"?(\d+)"?/.exec(cc);
  if (maxAge) return Math.min(Number(maxAge[2]), defaults.maxSeconds);
  if (headers.expires !== null) {
    const expires = Date.parse(headers.expires);
    const date = headers.date !== null ? Date.parse(headers.date) : Date.now();
    if (Number.isNaN(expires)) return 0; // RFC 9111 §5.3: an invalid Expires means already expired
    return Math.max(0, Math.min(Math.floor((expires - (Number.isNaN(date) ? Date.now() : date)) / 1000), defaults.maxSeconds));
  }
  return defaults.defaultSeconds;
}
