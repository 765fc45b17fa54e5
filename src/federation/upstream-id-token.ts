import { errors, jwtVerify, type JWTPayload } from 'jose';
import type { Clock } from '../clock.ts';
import { hashesEqual } from '../lib/crypto.ts';
import { failure, type FederationFailure } from './failures.ts';
import { JwksUnavailableError, type JwksCache } from './jwks-cache.ts';
import type { IdentityProvider } from './provider.ts';

/** Allowed difference between Tessera's clock and the provider's (exp, iat, nbf). */
const CLOCK_TOLERANCE_S = 60;
const MAX_ID_TOKEN_LENGTH = 16 * 1024;

/**
 * ID-token validation, OIDC Core §3.1.3.7: signature against the provider's keys with an
 * algorithm it announced, `iss` equal to the provider's issuer, `aud` containing Tessera's
 * client id, `azp` when there are several audiences, `exp`/`iat`, and the `nonce` this
 * sign-in sent.
 */
export async function verifyUpstreamIdToken(
  idToken: string,
  provider: IdentityProvider,
  expectedNonce: string,
  jwks: JwksCache,
  clock: Clock,
): Promise<{ ok: true; claims: JWTPayload & { sub: string } } | { ok: false; failure: FederationFailure }> {
  if (provider.issuer === null || provider.endpoints.jwksUri === null) {
    return { ok: false, failure: failure('provider_unavailable', 'the provider has no issuer or jwks_uri to validate ID tokens with') };
  }
  if (idToken.length > MAX_ID_TOKEN_LENGTH) return bad('ID token is too large');
  let payload: JWTPayload;
  try {
    ({ payload } = await jwtVerify(idToken, jwks.resolver(provider.endpoints.jwksUri), {
      issuer: provider.issuer,
      audience: provider.clientId,
      algorithms: provider.endpoints.idTokenSigningAlgs,
      requiredClaims: ['iss', 'sub', 'aud', 'exp', 'iat'],
      clockTolerance: CLOCK_TOLERANCE_S,
      currentDate: new Date(clock.now()),
    }));
  } catch (error) {
    if (error instanceof JwksUnavailableError) return { ok: false, failure: failure('unreachable', error.message) };
    return bad(`ID token rejected: ${describeJoseError(error)}`);
  }
  // §3.1.3.7 items 4–5: with several audiences, azp must be present and name this client.
  const audiences = Array.isArray(payload.aud) ? payload.aud : [payload.aud];
  if (audiences.length > 1 && payload.azp === undefined) return bad('ID token has several audiences and no azp');
  if (payload.azp !== undefined && payload.azp !== provider.clientId) return bad('ID token azp names another client');
  // §3.1.3.7 item 11: the nonce must be the one this sign-in sent (replay defence).
  if (typeof payload.nonce !== 'string' || !hashesEqual(payload.nonce, expectedNonce)) return bad('ID token nonce does not match this sign-in');
  if (typeof payload.sub !== 'string' || payload.sub === '' || payload.sub.length > 255) return bad('ID token sub is not a valid subject');
  return { ok: true, claims: { ...payload, sub: payload.sub } };
}

function bad(reason: string): { ok: false; failure: FederationFailure } {
  return { ok: false, failure: failure('bad_token', reason) };
}

function describeJoseError(error: unknown): string {
  if (error instanceof errors.JWTClaimValidationFailed) return `${error.claim}: ${error.reason}`;
  if (error instanceof errors.JWTExpired) return 'expired';
  if (error instanceof errors.JWSSignatureVerificationFailed) return 'signature does not verify';
  if (error instanceof errors.JWKSNoMatchingKey) return 'signed by a key the provider does not publish';
  if (error instanceof errors.JOSEAlgNotAllowed) return 'signed with an algorithm the provider did not announce';
  if (error instanceof errors.JOSEError) return error.code;
  return 'malformed';
}
