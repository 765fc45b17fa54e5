import type { Algorithm } from '@node-rs/argon2';

// Algorithm is a const enum in the typings; its value for argon2id is 2.
const ARGON2ID = 2 as Algorithm;

/**
 * argon2id with OWASP's minimum profile (19 MiB, 2 passes, 1 lane): tens of ms per hash.
 * Only user passwords use it; client secrets are high-entropy and use SHA-256. The hashing
 * itself runs on low-priority threads of their own (password-hasher.ts).
 */
export const ARGON2_OPTIONS = { algorithm: ARGON2ID, memoryCost: 19456, timeCost: 2, parallelism: 1 } as const;

export const MIN_PASSWORD_LENGTH = 8;
export const MAX_PASSWORD_LENGTH = 1024;

/** What the services need of password hashing (PasswordHasher; a test may hand in its own). */
export interface Passwords {
  /** A PHC string (`$argon2id$v=19$m=19456,t=2,p=1$…`). */
  hash(password: string): Promise<string>;
  /** false for a wrong password and for a stored value that is no argon2 hash. */
  verify(stored: string, password: string): Promise<boolean>;
}
