import { sign, verify, type KeyObject } from 'node:crypto';

/**
 * Compact JWS for Tessera's own tokens with node:crypto and KeyObjects imported once:
 * on this machine that signs ES256 ~2.5× faster than going through WebCrypto (see
 * DESIGN.md, performance facts). jose is used for everything else JOSE.
 */
export type SigningAlg = 'ES256' | 'RS256';
export const SUPPORTED_ALGS: ReadonlySet<string> = new Set<SigningAlg>(['ES256', 'RS256']);

export interface SigningKey {
  kid: string;
  alg: SigningAlg;
  privateKey: KeyObject;
}

/**
 * The encoded header per key object and `typ`. Keyed by the key object (the key ring hands out
 * the same one until it rotates), not by a string built from alg, kid and typ: a new string per
 * token is hashed anew for the lookup, ~0.6 µs a token (issue 16).
 */
const headerCache = new WeakMap<SigningKey, Map<string, string>>();

function encodedHeader(key: SigningKey, typ: string): string {
  let byTyp = headerCache.get(key);
  if (byTyp === undefined) headerCache.set(key, (byTyp = new Map()));
  let header = byTyp.get(typ);
  if (header === undefined) {
    header = Buffer.from(JSON.stringify({ alg: key.alg, typ, kid: key.kid })).toString('base64url');
    byTyp.set(typ, header);
  }
  return header;
}

function signingInput(payload: object, key: SigningKey, typ: string): string {
  return `${encodedHeader(key, typ)}.${Buffer.from(JSON.stringify(payload)).toString('base64url')}`;
}

/** The options object node:crypto reads for an ES256 key, made once per key rather than per token. */
const es256Options = new WeakMap<KeyObject, { key: KeyObject; dsaEncoding: 'ieee-p1363' }>();

function es256(privateKey: KeyObject): { key: KeyObject; dsaEncoding: 'ieee-p1363' } {
  let options = es256Options.get(privateKey);
  if (options === undefined) {
    options = { key: privateKey, dsaEncoding: 'ieee-p1363' };
    es256Options.set(privateKey, options);
  }
  return options;
}

export function signJwt(payload: object, key: SigningKey, typ: string): string {
  const input = signingInput(payload, key, typ);
  // The signing input is base64url and dots, ASCII: latin1 gives its bytes without a UTF-8 pass.
  const bytes = Buffer.from(input, 'latin1');
  const signature = key.alg === 'ES256' ? sign('sha256', bytes, es256(key.privateKey)) : sign('sha256', bytes, key.privateKey);
  return `${input}.${signature.toString('base64url')}`;
}

/**
 * The same JWS as signJwt, but an RS256 signature is computed on libuv's threadpool
 * (`crypto.sign` with a callback) instead of the event loop: a 2048-bit RSA signature costs
 * ~0.3–0.4 ms of CPU, ten times an ES256 one, and blocking the loop for it held back every
 * other request (issue 16). RSASSA-PKCS1-v1_5 is deterministic, so the bytes are exactly
 * those signJwt produces. ES256 stays inline: at ~30 µs the hop to a thread costs about as
 * much as it saves.
 */
export function signJwtOffThread(payload: object, key: SigningKey, typ: string): Promise<string> {
  if (key.alg !== 'RS256') return Promise.resolve(signJwt(payload, key, typ));
  const input = signingInput(payload, key, typ);
  return new Promise((resolve, reject) => {
    // Handed to the threadpool at the end of the event-loop turn, not at once: started while
    // the loop still parses the other requests of its turn, the signing thread takes one of the
    // two cores from it, and a code exchange cost 1.13–1.18× the CPU (main thread +25 %) when
    // its signature started before its write was queued (issue 16, docs/performance.md).
    setImmediate(() => {
      try {
        sign('sha256', Buffer.from(input), key.privateKey, (error, signature) => {
          if (error) reject(error);
          else resolve(`${input}.${signature.toString('base64url')}`);
        });
      } catch (error) {
        reject(error as Error);
      }
    });
  });
}

export interface DecodedJwt {
  header: { alg?: unknown; kid?: unknown; typ?: unknown };
  payload: Record<string, unknown>;
  signingInput: string;
  signature: Buffer;
}

/** Splits and parses a compact JWS; undefined when it is not one. Verifies nothing. */
export function decodeJwt(token: string): DecodedJwt | undefined {
  if (token.length > 8192) return undefined;
  const first = token.indexOf('.');
  const second = token.indexOf('.', first + 1);
  if (first <= 0 || second <= first + 1 || token.indexOf('.', second + 1) !== -1) return undefined;
  try {
    const header = JSON.parse(Buffer.from(token.slice(0, first), 'base64url').toString('utf8'));
    const payload = JSON.parse(Buffer.from(token.slice(first + 1, second), 'base64url').toString('utf8'));
    if (!isObject(header) || !isObject(payload)) return undefined;
    return { header, payload, signingInput: token.slice(0, second), signature: Buffer.from(token.slice(second + 1), 'base64url') };
  } catch {
    return undefined;
  }
}

export function verifySignature(decoded: DecodedJwt, alg: SigningAlg, publicKey: KeyObject): boolean {
  try {
    return alg === 'ES256'
      ? verify('sha256', Buffer.from(decoded.signingInput), { key: publicKey, dsaEncoding: 'ieee-p1363' }, decoded.signature)
      : verify('sha256', Buffer.from(decoded.signingInput), publicKey, decoded.signature);
  } catch {
    return false;
  }
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
