import { availableParallelism } from 'node:os';
import { hash, verify, type Algorithm } from '@node-rs/argon2';
import { ConcurrencyLimit } from '../lib/concurrency-limit.ts';

// Algorithm is a const enum in the typings; its value for argon2id is 2.
const ARGON2ID = 2 as Algorithm;

/**
 * argon2id with OWASP's minimum profile (19 MiB, 2 passes, 1 lane): tens of ms per hash.
 * Only user passwords use it; client secrets are high-entropy and use SHA-256.
 */
const OPTIONS = { algorithm: ARGON2ID, memoryCost: 19456, timeCost: 2, parallelism: 1 } as const;

/**
 * @node-rs/argon2 hashes on libuv's threadpool (4 threads), so four sign-ins at once would
 * take four cores' worth of threads and starve the event loop, and with it every token
 * request (issue 16: client-credentials p99 rose 3–5× beside sign-ins at full rate on two
 * cores). One core is left to the event loop; extra sign-ins queue for a slot.
 */
const hashing = new ConcurrencyLimit(Math.max(1, availableParallelism() - 1));

export const MIN_PASSWORD_LENGTH = 8;
export const MAX_PASSWORD_LENGTH = 1024;

export function hashPassword(password: string): Promise<string> {
  return hashing.run(() => hash(password, OPTIONS));
}

export async function verifyPassword(stored: string, password: string): Promise<boolean> {
  try {
    return await hashing.run(() => verify(stored, password));
  } catch {
    return false;
  }
}
