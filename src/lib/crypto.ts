import { hash, randomFillSync, timingSafeEqual } from 'node:crypto';

/**
 * Random bytes for 128 tokens, filled at once and handed out 32 at a time, each exactly once
 * (as node:crypto's randomUUID does with its own pool): `randomBytes(32)` costs ~5 µs of the
 * event loop per call, a slice of the pool ~0.1 µs (issue 16; a refresh and a code exchange
 * each mint one).
 */
const TOKEN_BYTES = 32;
const pool = Buffer.allocUnsafeSlow(TOKEN_BYTES * 128);
let poolOffset = pool.length;

/** 256-bit random value, base64url: client secrets, codes, refresh tokens, session ids. */
export function randomToken(): string {
  if (poolOffset === pool.length) {
    randomFillSync(pool);
    poolOffset = 0;
  }
  const token = pool.toString('base64url', poolOffset, poolOffset + TOKEN_BYTES);
  // Overwritten, so no copy of a token handed out stays in memory once used.
  pool.fill(0, poolOffset, poolOffset + TOKEN_BYTES);
  poolOffset += TOKEN_BYTES;
  return token;
}

/** Codes, refresh tokens, secrets and session ids are stored only as this hash. */
export function sha256(value: string): string {
  // One-shot: no Hash object per call (client authentication runs this on every token request).
  return hash('sha256', value, 'base64url');
}

/** Constant-time comparison of two hashes of equal, known length. */
export function hashesEqual(a: string, b: string): boolean {
  const ab = Buffer.from(a);
  const bb = Buffer.from(b);
  return ab.length === bb.length && timingSafeEqual(ab, bb);
}
