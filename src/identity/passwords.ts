import { hash, verify, type Algorithm } from '@node-rs/argon2';

// Algorithm is a const enum in the typings; its value for argon2id is 2.
const ARGON2ID = 2 as Algorithm;

/**
 * argon2id with OWASP's minimum profile (19 MiB, 2 passes, 1 lane): tens of ms per hash.
 * Only user passwords use it; client secrets are high-entropy and use SHA-256.
 */
const OPTIONS = { algorithm: ARGON2ID, memoryCost: 19456, timeCost: 2, parallelism: 1 } as const;

export const MIN_PASSWORD_LENGTH = 8;
export const MAX_PASSWORD_LENGTH = 1024;

export function hashPassword(password: string): Promise<string> {
  return hash(password, OPTIONS);
}

export async function verifyPassword(stored: string, password: string): Promise<boolean> {
  try {
    return await verify(stored, password);
  } catch {
    return false;
  }
}
