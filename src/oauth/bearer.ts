import { errorDescriptionText, OAuthError } from './errors.ts';

/**
 * Bearer tokens in requests (RFC 6750): reading the Authorization header and the
 * `WWW-Authenticate` challenge of a refusal. Used by userinfo, the admin API's authentication
 * and the gateway.
 */

export type BearerErrorCode = 'invalid_request' | 'invalid_token' | 'insufficient_scope';

const REALM = 'realm="tessera"';

/** undefined: no Authorization header; null: one that is not `Bearer <token>` (RFC 6750 §2.1). */
export function parseBearerHeader(header: string | undefined): string | undefined | null {
  if (header === undefined) return undefined;
  const m = /^Bearer +([A-Za-z0-9\-._~+/]+=*) *$/i.exec(header);
  return m ? m[1]! : null;
}

/**
 * RFC 6750 §3: the `WWW-Authenticate` value; it names the error so clients know whether to refresh
 * or re-consent, and carries no error code when the request simply lacked credentials (§3.1).
 */
export function bearerChallenge(error?: BearerErrorCode, description?: string, scope?: string, resourceMetadata?: string): string {
  const parts = [REALM];
  // Header values must be visible ASCII: the same sanitising as error_description (RFC 6749 §5.2).
  if (error) parts.push(`error="${error}"`, `error_description="${errorDescriptionText(description ?? '').replace(/["\\]/g, '')}"`);
  if (scope) parts.push(`scope="${scope}"`);
  // RFC 9728 §5.1: where a client finds the resource's metadata (and from it, the authorization server).
  if (resourceMetadata) parts.push(`resource_metadata="${resourceMetadata.replace(/["\\]/g, '')}"`);
  return `Bearer ${parts.join(', ')}`;
}

export function bearerError(error: BearerErrorCode, description: string, scope?: string): OAuthError {
  return new OAuthError(error, description, { headers: { 'www-authenticate': bearerChallenge(error, description, scope) } });
}

export function bearerMissing(): OAuthError {
  return new OAuthError('invalid_token', 'a bearer token is required', { status: 401, headers: { 'www-authenticate': bearerChallenge() } });
}

/** Reads a bearer token from the Authorization header or (POST) the form body, never both (RFC 6750 §2). */
export function bearerToken(authorization: string | undefined, params: Map<string, string>): string | undefined {
  const inBody = params.get('access_token');
  const inHeader = parseBearerHeader(authorization);
  if (inHeader === null) throw bearerError('invalid_request', 'the Authorization header must be "Bearer <token>"');
  if (inHeader !== undefined) {
    if (inBody !== undefined) throw bearerError('invalid_request', 'send the access token in one place only');
    return inHeader;
  }
  return inBody;
}
