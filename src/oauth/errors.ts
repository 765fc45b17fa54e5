/**
 * OAuth 2.0 protocol errors (RFC 6749 §4.1.2.1, §5.2; RFC 7009 §2.2.1; RFC 6750 §3.1).
 * One table gives every code its HTTP status; one place (http/oauth-reply.ts) renders them.
 */
export const OAUTH_ERROR_STATUS = {
  invalid_request: 400,
  invalid_client: 401,
  invalid_grant: 400,
  unauthorized_client: 400,
  unsupported_grant_type: 400,
  invalid_scope: 400,
  unsupported_token_type: 400,
  access_denied: 403,
  unsupported_response_type: 400,
  server_error: 500,
  temporarily_unavailable: 503,
  invalid_token: 401,
  insufficient_scope: 403,
  login_required: 400,
  consent_required: 400,
  interaction_required: 400,
  // OIDC Core §6: request objects (request=, request_uri=) are not supported.
  request_not_supported: 400,
  request_uri_not_supported: 400,
  // RFC 9126 §4 / RFC 9101 §10.2: a pushed request's request_uri that is unknown, expired or used.
  invalid_request_uri: 400,
  // OpenID Connect Core Unmet Authentication Requirements 1.0: the acr asked for cannot be met.
  unmet_authentication_requirements: 400,
  // RFC 8707 §2: the resource indicator is unknown, not allowed, or not one the grant covers.
  invalid_target: 400,
  // RFC 7591 §3.2.2: client registration refused.
  invalid_redirect_uri: 400,
  invalid_client_metadata: 400,
  // RFC 8628 §3.5: the device authorization grant's token endpoint answers.
  authorization_pending: 400,
  slow_down: 400,
  expired_token: 400,
  // RFC 9449 §5, §8: a DPoP proof refused at the token endpoint; a proof without the server's nonce.
  invalid_dpop_proof: 400,
  use_dpop_nonce: 400,
} as const;

export type OAuthErrorCode = keyof typeof OAUTH_ERROR_STATUS;

export class OAuthError extends Error {
  readonly error: OAuthErrorCode;
  readonly status: number;
  readonly description: string;
  /** Extra response headers (e.g. WWW-Authenticate for invalid_client). */
  readonly headers: Record<string, string>;

  constructor(error: OAuthErrorCode, description: string, options: { status?: number; headers?: Record<string, string> } = {}) {
    const text = errorDescriptionText(description);
    super(`${error}: ${text}`);
    this.name = 'OAuthError';
    this.error = error;
    this.description = text;
    this.status = options.status ?? OAUTH_ERROR_STATUS[error];
    this.headers = options.headers ?? {};
  }

  toJSON(): { error: string; error_description: string } {
    return { error: this.error, error_description: this.description };
  }
}

/**
 * RFC 6749 §5.2 and §4.1.2.1: error_description "MUST NOT include characters outside the set
 * %x20-21 / %x23-5B / %x5D-7E" — no quotes, backslashes, control or non-ASCII characters,
 * including in values echoed from the request.
 */
export function errorDescriptionText(text: string): string {
  return text
    .replace(/"/g, "'")
    .replace(/\\/g, '/')
    .replace(/\u2026/g, '...')
    .replace(/\u00a7/g, 'section ')
    .replace(/[^\x20-\x21\x23-\x5b\x5d-\x7e]/g, '?');
}

export const invalidRequest = (description: string) => new OAuthError('invalid_request', description);
export const invalidGrant = (description: string) => new OAuthError('invalid_grant', description);
export const invalidScope = (description: string) => new OAuthError('invalid_scope', description);
export const invalidTarget = (description: string) => new OAuthError('invalid_target', description);
export const unauthorizedClient = (description: string) => new OAuthError('unauthorized_client', description);

/**
 * RFC 6749 §5.2: 401 for invalid_client; when the client authenticated with the
 * Authorization header, the response MUST carry WWW-Authenticate with the same scheme.
 */
export function invalidClient(description: string, usedBasic: boolean): OAuthError {
  return new OAuthError('invalid_client', description, {
    headers: usedBasic ? { 'www-authenticate': 'Basic realm="tessera", charset="UTF-8"' } : {},
  });
}
