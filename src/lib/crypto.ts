import { hash, randomBytes, timingSafeEqual } from 'node:crypto';

/** 256-bit random value, base64url: client secrets, codes, refresh tokens, session ids. */
export function randomToken(): string {
  return randomBytes(32).toString('base64url');
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
