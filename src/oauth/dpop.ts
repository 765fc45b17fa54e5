import { createHash, createHmac } from 'node:crypto';
import { calculateJwkThumbprint, decodeProtectedHeader, EmbeddedJWK, jwtVerify, type JWK } from 'jose';
import { hashesEqual, sha256 } from '../lib/crypto.ts';
import type { DerivedSecrets } from '../keys/encryption.ts';
import type { DpopReplayStore } from './dpop-replay-store.ts';

/**
 * DPoP proofs (RFC 9449 §4): validation of the `DPoP` request header, the key thumbprint a
 * token is bound to (`cnf.jkt`), and the server's nonces (§8, §9). Framework-free: the token
 * endpoint, userinfo and the gateway pass what they received and map a `DpopError` to their
 * own protocol's answer (a 400 at the token endpoint, a 401 with a `DPoP` challenge at a
 * resource).
 */

/**
 * Asymmetric JWS algorithms accepted for proofs (§4.2: never `none`, never a MAC). `EdDSA` and
 * its fully specified name `Ed25519` are the same signature.
 */
export const DPOP_SIGNING_ALGS: readonly string[] = ['ES256', 'ES384', 'ES512', 'PS256', 'PS384', 'PS512', 'RS256', 'RS384', 'RS512', 'EdDSA', 'Ed25519'];
const ALGS: ReadonlySet<string> = new Set(DPOP_SIGNING_ALGS);

/** A longer header is refused before any parsing: long enough for any proof (an RSA-4096 key and signature), short enough to refuse junk cheaply. */
const MAX_PROOF_LENGTH = 8192;
/** How far in the future (seconds) a proof's `iat` may be: the client's clock may run a little ahead. */
export const DPOP_FUTURE_SKEW_SECONDS = 10;
/** Server nonces are valid for the bucket they were issued in and the next one (§8): 5 to 10 minutes. */
export const DPOP_NONCE_BUCKET_SECONDS = 300;
/** JWK members that only a private (or symmetric) key has (RFC 7517, RFC 7518 §6). */
const PRIVATE_MEMBERS = ['d', 'p', 'q', 'dp', 'dq', 'qi', 'oth', 'k'];

/** `invalid_dpop_proof`: the proof is not acceptable; `use_dpop_nonce`: it lacks the server's current nonce (§8). */
export type DpopErrorCode = 'invalid_dpop_proof' | 'use_dpop_nonce';

export class DpopError extends Error {
  readonly code: DpopErrorCode;
  constructor(code: DpopErrorCode, description: string) {
    super(description);
    this.name = 'DpopError';
    this.code = code;
  }
}

export interface DpopProofInput {
  /** Every `DPoP` header of the request, as received (exactly one is allowed, §4.3). */
  headers: readonly string[];
  /** The request's method (`htm`). */
  method: string;
  /**
   * The URL the client addressed, as the server's public URL says (the issuer's origin and
   * path, behind any reverse proxy); query and fragment are ignored (§4.3, `htu`).
   */
  url: string;
  /** At a resource: the access token presented with the proof (its hash is `ath`, §4.2). */
  accessToken?: string;
  /** Epoch seconds. */
  now: number;
}

export interface VerifiedProof {
  /** The JWK SHA-256 thumbprint of the proof's key (RFC 7638): what a token is bound to. */
  jkt: string;
}

export interface DpopSettings {
  /** How old (seconds) a proof may be (TESSERA_DPOP_PROOF_MAX_AGE). */
  readonly proofMaxAge: number;
  /** Whether proofs must carry a server nonce (TESSERA_DPOP_NONCE=required). */
  readonly requireNonce: boolean;
}

/** Validates proofs; one per server, shared by the token endpoint and the resources. */
export class DpopVerifier {
  readonly #replay: DpopReplayStore;
  readonly #nonces: DpopNonces;
  readonly #settings: DpopSettings;

  constructor(replay: DpopReplayStore, nonces: DpopNonces, settings: DpopSettings) {
    this.#replay = replay;
    this.#nonces = nonces;
    this.#settings = settings;
  }

  get requireNonce(): boolean {
    return this.#settings.requireNonce;
  }

  /** The `DPoP-Nonce` response header to send, when nonces are required (§8.1: a fresh one may come with any answer). */
  nonceHeader(now: number): Record<string, string> {
    return this.#settings.requireNonce ? { 'dpop-nonce': this.#nonces.issue(now) } : {};
  }

  /**
   * Every check of §4.3, in its order, then the replay check (§11.1): the proof's `jti` is
   * recorded only once everything else holds, so a proof refused for its nonce can be retried
   * with a new one. Throws a DpopError.
   */
  async verify(input: DpopProofInput): Promise<VerifiedProof> {
    const { headers, now } = input;
    if (headers.length !== 1) throw invalid('send exactly one DPoP header');
    const proof = headers[0]!;
    // Several headers folded into one are separated by commas, which a JWS never contains.
    if (proof.length === 0 || proof.length > MAX_PROOF_LENGTH || proof.includes(',')) throw invalid('the DPoP header is not a single DPoP proof');
    let header: ReturnType<typeof decodeProtectedHeader>;
    try {
      header = decodeProtectedHeader(proof);
    } catch {
      throw invalid('the DPoP proof is not a JWT');
    }
    if (typeof header.typ !== 'string' || header.typ.toLowerCase() !== 'dpop+jwt') throw invalid('the DPoP proof must have typ "dpop+jwt"');
    if (typeof header.alg !== 'string' || !ALGS.has(header.alg)) {
      throw invalid(`the DPoP proof's alg must be one of ${DPOP_SIGNING_ALGS.join(', ')}`);
    }
    const jwk = header.jwk as JWK | undefined;
    if (typeof jwk !== 'object' || jwk === null || Array.isArray(jwk)) throw invalid('the DPoP proof must carry its public key in jwk');
    if (PRIVATE_MEMBERS.some((m) => m in jwk)) throw invalid('the DPoP proof’s jwk must be a public key (it carries private key material)');
    if (jwk.kty !== 'EC' && jwk.kty !== 'RSA' && jwk.kty !== 'OKP') throw invalid('the DPoP proof’s jwk must be an EC, RSA or OKP public key');

    let payload: Record<string, unknown>;
    try {
      // EmbeddedJWK verifies with the header's own key and refuses one that is not public.
      ({ payload } = await jwtVerify(proof, EmbeddedJWK, { algorithms: [...DPOP_SIGNING_ALGS], typ: 'dpop+jwt' }));
    } catch {
      throw invalid('the DPoP proof’s signature does not verify with its jwk');
    }

    const { jti, htm, htu, iat } = payload;
    if (typeof jti !== 'string' || jti.length === 0 || jti.length > 512) throw invalid('the DPoP proof needs a jti');
    if (typeof htm !== 'string' || typeof htu !== 'string' || typeof iat !== 'number') throw invalid('the DPoP proof needs htm, htu and iat');
    if (htm !== input.method) throw invalid(`the DPoP proof’s htm does not match the request method ${input.method}`);
    const expected = normalizeHtu(input.url);
    const presented = normalizeHtu(htu);
    if (presented === undefined || presented !== expected) throw invalid('the DPoP proof’s htu does not match the request URL');

    if (this.#settings.requireNonce) {
      const nonce = payload.nonce;
      if (typeof nonce !== 'string' || !this.#nonces.valid(nonce, now)) throw new DpopError('use_dpop_nonce', 'the DPoP proof must carry the server’s current nonce (DPoP-Nonce)');
    }
    // §4.3 step 11 and §11.1: recent enough (with the nonce it is recent by construction; the window still holds).
    if (iat < now - this.#settings.proofMaxAge || iat > now + DPOP_FUTURE_SKEW_SECONDS) throw invalid('the DPoP proof’s iat is outside the accepted window');

    if (input.accessToken !== undefined) {
      if (typeof payload.ath !== 'string' || !hashesEqual(payload.ath, accessTokenHash(input.accessToken))) {
        throw invalid('the DPoP proof’s ath does not match the access token');
      }
    }

    const jkt = await calculateJwkThumbprint(jwk, 'sha256');
    // In the context of the target URI (§11.1) and the key: nobody else's jti can collide with it.
    const key = sha256(`${jkt} ${expected} ${jti}`);
    const fresh = await this.#replay.remember(key, Math.max(iat, now) + this.#settings.proofMaxAge + DPOP_FUTURE_SKEW_SECONDS);
    if (!fresh) throw invalid('the DPoP proof was already used');
    return { jkt };
  }
}

function invalid(description: string): DpopError {
  return new DpopError('invalid_dpop_proof', description);
}

/** `ath` (§4.2): base64url of the SHA-256 of the access token's ASCII. */
export function accessTokenHash(accessToken: string): string {
  return createHash('sha256').update(accessToken, 'ascii').digest('base64url');
}


const UNRESERVED = /[A-Za-z0-9\-._~]/;

/**
 * `htu` as compared (§4.3): without query and fragment, after RFC 3986 §6.2.2 syntax-based
 * normalization (case of scheme and host, dot segments, percent-encoding of unreserved
 * characters decoded and the others in upper case) and §6.2.3 scheme-based normalization
 * (default port, empty path as `/`). undefined: not an http(s) URL.
 */
export function normalizeHtu(value: string): string | undefined {
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    return undefined;
  }
  if (url.protocol !== 'https:' && url.protocol !== 'http:') return undefined;
  // WHATWG URL parsing has done the case, the default port, the dot segments and the empty path.
  const path = url.pathname.replace(/%[0-9a-fA-F]{2}/g, (m) => {
    const c = String.fromCharCode(parseInt(m.slice(1), 16));
    return UNRESERVED.test(c) ? c : m.toUpperCase();
  });
  return `${url.protocol}//${url.host}${path}`;
}

/**
 * Stateless server nonces (§8, §9): the time bucket and an HMAC of it under a secret every node
 * derives from the key-encryption key. Any node accepts any node's nonce, and nothing is stored.
 * A nonce is valid in the bucket it was issued in and the next one.
 */
export class DpopNonces {
  /** Issued under the first; accepted under any (the previous key's while the key is replaced). */
  readonly #secrets: DerivedSecrets;
  constructor(secrets: DerivedSecrets) {
    this.#secrets = secrets;
  }

  issue(now: number): string {
    return this.#forBucket(Math.floor(now / DPOP_NONCE_BUCKET_SECONDS), this.#secrets[0]);
  }

  valid(nonce: string, now: number): boolean {
    const bucket = Math.floor(now / DPOP_NONCE_BUCKET_SECONDS);
    return this.#secrets.some((secret) => hashesEqual(nonce, this.#forBucket(bucket, secret)) || hashesEqual(nonce, this.#forBucket(bucket - 1, secret)));
  }

  #forBucket(bucket: number, secret: Buffer): string {
    const b = Buffer.alloc(8);
    b.writeBigInt64BE(BigInt(bucket));
    return Buffer.concat([b.subarray(4), createHmac('sha256', secret).update('dpop nonce ').update(b).digest().subarray(0, 18)]).toString('base64url');
  }
}
