/**
 * Why an upstream sign-in did not end with a profile. Every outcome a provider (or an
 * attacker) can cause is one of these; none is an exception. `reason` is for logs and the
 * audit trail; the page layer shows the user `FAILURE_MESSAGES[kind]`.
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

export const FAILURE_MESSAGES: Record<FailureKind, string> = {
  cancelled: 'You cancelled the sign-in at the identity provider.',
  upstream_error: 'The identity provider could not sign you in.',
  bad_state: 'This sign-in link is not valid in this browser. Please start again.',
  expired: 'This sign-in took too long. Please start again.',
  issuer_mismatch: 'The answer did not come from the expected identity provider. Please start again.',
  bad_token: 'The identity provider’s answer could not be verified.',
  bad_response: 'The identity provider sent an answer Tessera cannot use.',
  unreachable: 'The identity provider cannot be reached right now. Please try again later.',
  provider_unavailable: 'This identity provider is not available.',
};

export function failure(kind: FailureKind, reason: string, upstreamError?: string): FederationFailure {
  return upstreamError === undefined ? { kind, reason } : { kind, reason, upstreamError };
}
