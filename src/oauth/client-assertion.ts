import { createLocalJWKSet, errors, jwtVerify, type JSONWebKeySet, type JWTVerifyGetKey } from 'jose';
import type { Client } from '../clients/client.ts';
import { CLIENT_ASSERTION_ALGS } from '../clients/client-keys.ts';
import { LIMITS } from '../config/limits.ts';
import { sha256 } from '../lib/crypto.ts';
import type { ClientAssertionJtiStore } from './client-assertion-store.ts';
import { invalidClient, OAuthError } from './errors.ts';

/** RFC 7523 §2.2: the client_assertion_type of a JWT client assertion. */
export const JWT_BEARER_ASSERTION_TYPE = 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer';

/** Clock skew allowed on `exp`, `nbf` and `iat` between the app and Tessera, seconds. */
const CLOCK_TOLERANCE = 30;
const MAX_JTI_LENGTH = 256;

export interface ClientAssertionDeps {
  /** Tessera's issuer URL, read per request (it may be set once the server listens). */
  issuer: () => string;
  jtis: ClientAssertionJtiStore;
  /**
   * The keys served at an app's jwks_uri: fetched through the SSRF-checked outbound HTTP,
   * cached, and fetched again (rate-limited) when an assertion names an unknown `kid`.
   */
  remoteKeys: (jwksUri: string) => JWTVerifyGetKey;
}

/** Verifies one app's assertion at one endpoint; rejects with an `invalid_client` OAuthError. */
export type AssertionCheck = (client: Client, assertion: string, now: number) => Promise<void>;

/**
 * private_key_jwt (RFC 7523 §2.2 and §3, OIDC Core §9): the app signs a short-lived JWT with
 * its private key; Tessera checks it with the public keys registered for the app. What is
 * checked: the signature with an allowed asymmetric algorithm, iss = sub = the client id, an
 * audience naming Tessera (the issuer, the token endpoint URL, or the URL of the endpoint
 * the assertion was sent to — RFC 7523 §3, OIDC Core §9 and RFC 9126 §2 each name one), an
 * `exp` no further ahead than LIMITS.clientAssertionLifetime, and a `jti` never seen before
 * (kept until the assertion expires). Every failure is `invalid_client` (RFC 6749 §5.2).
 */
export class ClientAssertions {
  readonly #d: ClientAssertionDeps;
  /** Each app's inline key set, imported once per app record (a changed app is a new object). */
  readonly #inline = new WeakMap<Client, JWTVerifyGetKey>();

  constructor(deps: ClientAssertionDeps) {
    this.#d = deps;
  }

  /** The check for assertions sent to the endpoint at `path` (e.g. `/connect/token`). */
  forEndpoint(path: string): AssertionCheck {
    return (client, assertion, now) => this.verify(client, assertion, path, now);
  }

  async verify(client: Client, assertion: string, endpointPath: string, now: number): Promise<void> {
    const keys = this.#keys(client);
    const issuer = this.#d.issuer();
    let payload;
    try {
      ({ payload } = await jwtVerify(assertion, keys, {
        algorithms: [...CLIENT_ASSERTION_ALGS],
        issuer: client.id,
        subject: client.id,
        audience: [issuer, `${issuer}/connect/token`, `${issuer}${endpointPath}`],
        requiredClaims: ['exp', 'jti'],
        currentDate: new Date(now * 1000),
        clockTolerance: CLOCK_TOLERANCE,
      }));
    } catch (error) {
      // The jwks_uri's keys could not be fetched: already an invalid_client saying why.
      if (error instanceof OAuthError) throw error;
      throw invalidClient(`client assertion refused: ${reason(error)}`, false);
    }
    const exp = payload.exp!;
    if (exp - now > LIMITS.clientAssertionLifetime.max) {
      throw invalidClient(`client assertion refused: exp is more than ${LIMITS.clientAssertionLifetime.max} seconds ahead`, false);
    }
    const jti = payload.jti!;
    if (typeof jti !== 'string' || jti.length === 0 || jti.length > MAX_JTI_LENGTH) {
      throw invalidClient('client assertion refused: jti must be a non-empty string of at most 256 characters', false);
    }
    // Per app: two apps may pick the same jti without refusing each other.
    const fresh = await this.#d.jtis.remember(sha256(`${client.id}\n${jti}`), exp + CLOCK_TOLERANCE, now);
    if (!fresh) throw invalidClient('client assertion refused: its jti was used before (replay)', false);
  }

  #keys(client: Client): JWTVerifyGetKey {
    if (client.jwksUri) return this.#d.remoteKeys(client.jwksUri);
    if (!client.jwks) throw invalidClient('client assertion refused: the app has no keys registered', false);
    let keys = this.#inline.get(client);
    if (!keys) {
      keys = createLocalJWKSet(client.jwks as unknown as JSONWebKeySet);
      this.#inline.set(client, keys);
    }
    return keys;
  }
}

/** Why jose refused the assertion, in words an app developer can act on (no key material). */
function reason(error: unknown): string {
  if (error instanceof errors.JWTExpired) return 'it has expired';
  if (error instanceof errors.JWTClaimValidationFailed) {
    if (error.claim === 'aud') return 'aud must be the issuer or the token endpoint URL';
    if (error.claim === 'iss' || error.claim === 'sub') return 'iss and sub must both be the client_id';
    return `claim ${error.claim}: ${error.reason === 'missing' ? 'missing' : 'invalid'}`;
  }
  if (error instanceof errors.JOSEAlgNotAllowed) return `alg must be one of ${CLIENT_ASSERTION_ALGS.join(', ')}`;
  if (error instanceof errors.JWKSNoMatchingKey) return 'no registered key matches its kid and alg';
  if (error instanceof errors.JWKSMultipleMatchingKeys) return 'several registered keys match; give the JWT a kid';
  if (error instanceof errors.JWSSignatureVerificationFailed) return 'the signature does not verify';
  if (error instanceof errors.JOSEError) return `not a valid signed JWT (${error.code})`;
  throw error;
}
