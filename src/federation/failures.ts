/**
 * Why an upstream sign-in did not end with a profile. Every outcome a provider (or an
 * attacker) can cause is one of these; none is an exception. `reason` is for logs and the
 * audit trail; the page layer shows the user the catalogue message `provider.error.<kind>` (src/http/provider-routes.ts).
 */
export type FailureKind =
  /** The user declined at the provider (error=access_denied). */
  | 'cancelled'
  /** The provider answered with another OAuth error (at the callback or the token endpoint). */
  | 'upstream_error'
  /** No, a forged, a replayed or another browser's state; or a state for another provider. */
  | 'bad_state'
  /** The sign-in took longer than a pending sign-in lives. */
  | 'expired'
  /** RFC 9207: the response names another issuer (or none where the provider promised one). */
  | 'issuer_mismatch'
  /** The ID token failed validation, or userinfo names another subject. */
  | 'bad_token'
  /** The provider answered something malformed (not JSON, no access token, no subject, too large). */
  | 'bad_response'
  /** The provider could not be reached in time. */
  | 'unreachable'
  /** The provider is unknown, disabled or its stored configuration cannot be used. */
  | 'provider_unavailable';

export interface FederationFailure {
  kind: FailureKind;
  reason: string;
  /** The provider's own `error` code, when it sent one. */
  upstreamError?: string;
}

export function failure(kind: FailureKind, reason: string, upstreamError?: string): FederationFailure {
  return upstreamError === undefined ? { kind, reason } : { kind, reason, upstreamError };
}
