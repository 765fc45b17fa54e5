import { importJWK, type JWK } from 'jose';
import { validationError } from '../errors.ts';
import type { JwkSet } from './client.ts';

/**
 * The algorithms a client assertion may be signed with (RFC 7523 §3, OIDC Core §9). Only
 * asymmetric ones: HS* would make the app's secret a signing key the server also holds, and
 * `none` is no signature at all.
 */
export const CLIENT_ASSERTION_ALGS = ['RS256', 'PS256', 'ES256', 'EdDSA'] as const;

/** The auth methods an operator may set on an app (RFC 7591 §2 names). */
export const CLIENT_AUTH_METHODS = ['client_secret_basic', 'client_secret_post', 'private_key_jwt'] as const;

/** Most keys an inline set may hold, and its largest JSON size: enough for a rollover of a few keys. */
const MAX_KEYS = 10;
const MAX_JWKS_BYTES = 16 * 1024;
const PRIVATE_MEMBERS = ['d', 'p', 'q', 'dp', 'dq', 'qi', 'oth', 'k'];
const KEY_TYPES = new Set(['RSA', 'EC', 'OKP']);

/**
 * Checks an app's inline JWK set: public signing keys of RSA, EC or OKP type, each importable
 * (a typo in a coordinate is refused now, not at the first token request). A private key is
 * refused outright: an operator who pastes one has leaked it and should know.
 */
export async function checkJwkSet(value: unknown, field = 'jwks'): Promise<JwkSet> {
  const set = typeof value === 'string' ? parseJson(value, field) : value;
  if (typeof set !== 'object' || set === null || Array.isArray(set) || !Array.isArray((set as JwkSet).keys)) {
    throw validationError('jwks must be a JWK set: an object with a "keys" array', field);
  }
  if (JSON.stringify(set).length > MAX_JWKS_BYTES) throw validationError(`jwks must be at most ${MAX_JWKS_BYTES} bytes`, field);
  const keys = (set as JwkSet).keys;
  if (keys.length === 0 || keys.length > MAX_KEYS) throw validationError(`jwks must hold 1 to ${MAX_KEYS} keys`, field);
  const out: Array<Record<string, unknown>> = [];
  for (const [i, key] of keys.entries()) {
    if (typeof key !== 'object' || key === null || Array.isArray(key)) throw validationError(`jwks key ${i + 1} is not a JSON object`, field);
    if (typeof key.kty !== 'string' || !KEY_TYPES.has(key.kty)) throw validationError(`jwks key ${i + 1}: kty must be RSA, EC or OKP`, field);
    if (PRIVATE_MEMBERS.some((m) => m in key)) throw validationError(`jwks key ${i + 1} is a private key: register the public key only`, field);
    if (key.use !== undefined && key.use !== 'sig') throw validationError(`jwks key ${i + 1}: use must be "sig"`, field);
    if (key.alg !== undefined && !(CLIENT_ASSERTION_ALGS as readonly unknown[]).includes(key.alg)) {
      throw validationError(`jwks key ${i + 1}: alg must be one of ${CLIENT_ASSERTION_ALGS.join(', ')}`, field);
    }
    try {
      await importJWK(key as JWK, (key.alg as string | undefined) ?? defaultAlg(key));
    } catch {
      throw validationError(`jwks key ${i + 1} is not a valid ${key.kty} public key`, field);
    }
    out.push(key);
  }
  return { keys: out };
}

/** An algorithm to test-import a key without `alg` with. */
function defaultAlg(key: Record<string, unknown>): string {
  if (key.kty === 'RSA') return 'RS256';
  if (key.kty === 'OKP') return 'EdDSA';
  return key.crv === 'P-256' ? 'ES256' : key.crv === 'P-384' ? 'ES384' : 'ES512';
}

function parseJson(text: string, field: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    throw validationError('jwks is not valid JSON', field);
  }
}
