import { hash, randomFillSync, randomUUID, timingSafeEqual } from 'node:crypto';

/**
 * Random bytes for 128 tokens, filled at once and handed out a slice at a time, each byte
 * exactly once (as node:crypto's randomUUID does with its own pool): `randomBytes(32)` costs
 * ~5 µs of the event loop per call and `randomFillSync` of 32 bytes ~1.5 µs, a slice of the
 * pool ~0.1 µs (issue 16; a refresh mints a token, a code exchange a family key and a token).
 */
const TOKEN_BYTES = 32;
const pool = Buffer.allocUnsafeSlow(TOKEN_BYTES * 128);
let poolOffset = pool.length;

/** Where `length` unused bytes of the pool start (refilled when fewer are left). The caller zeroes them once used. */
function draw(length: number): number {
  if (poolOffset + length > pool.length) {
    randomFillSync(pool);
    poolOffset = 0;
  }
  const at = poolOffset;
  poolOffset += length;
  return at;
}

/** 256-bit random value, base64url: client secrets, codes, refresh tokens, session ids. */
export function randomToken(): string {
  const at = draw(TOKEN_BYTES);
  const token = pool.toString('base64url', at, at + TOKEN_BYTES);
  // Overwritten, so no copy of a token handed out stays in memory once used.
  pool.fill(0, at, at + TOKEN_BYTES);
  return token;
}

/** `length` (at most 4096) random bytes into `target` at `offset`, from the same pool; none stays in it. */
export function fillRandom(target: Buffer, offset: number, length: number): void {
  const at = draw(length);
  pool.copy(target, offset, at, at + length);
  pool.fill(0, at, at + length);
}

/** Codes, refresh tokens, secrets and session ids are stored only as this hash. */
export function sha256(value: string): string {
  // One-shot: no Hash object per call (client authentication runs this on every token request).
  return hash('sha256', value, 'base64url');
}

/** Constant-time comparison of two hashes or MACs of equal, known length (a different length is simply unequal). */
export function hashesEqual(a: string, b: string): boolean {
  const ab = Buffer.from(a);
  const bb = Buffer.from(b);
  return ab.length === bb.length && timingSafeEqual(ab, bb);
}

/**
 * A UUID of version 7 (RFC 9562 §5.7): the Unix time in milliseconds, then 74 random bits.
 * For primary keys written on the hot paths (refresh families): a new row's key lands at the
 * right edge of its B-tree indexes instead of on a random leaf, so a group-commit batch
 * writes one shared page per index rather than one page per row (issue 16). Not a secret and
 * not for anything that must be unguessable: it tells when it was made.
 */
export function timeOrderedUuid(ms: number = Date.now()): string {
  // node:crypto pools the randomness of randomUUID; its version 4 layout is kept after the
  // version digit (the variant bits included), the time replaces the first 48 bits.
  const random = randomUUID();
  const time = ms.toString(16).padStart(12, '0');
  return `${time.slice(0, 8)}-${time.slice(8, 12)}-7${random.slice(15)}`;
}
