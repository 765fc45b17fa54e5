import { randomInt } from 'node:crypto';
import { sha256 } from '../lib/crypto.ts';

/**
 * Device flow user codes (RFC 8628 §6.1): 8 characters from 20 consonants (no vowels, so no
 * words; no look-alikes), shown as BCDF-GHJK. 20^8 ≈ 2.56·10^10 codes, and a guess at /device is
 * throttled, so guessing a live code within its 10 minutes is hopeless. Stored hashed like
 * every other code; typed case- and dash-insensitively.
 */
export const USER_CODE_ALPHABET = 'BCDFGHJKLMNPQRSTVWXZ';
export const USER_CODE_LENGTH = 8;

export function newUserCode(): string {
  let out = '';
  for (let i = 0; i < USER_CODE_LENGTH; i++) out += USER_CODE_ALPHABET[randomInt(USER_CODE_ALPHABET.length)];
  return `${out.slice(0, 4)}-${out.slice(4)}`;
}

/** What the user typed, as stored: upper case, without dashes or spaces; undefined if it cannot be a user code. */
export function normalizeUserCode(typed: string): string | undefined {
  const code = typed.replace(/[\s-]/g, '').toUpperCase();
  if (code.length !== USER_CODE_LENGTH) return undefined;
  for (const ch of code) if (!USER_CODE_ALPHABET.includes(ch)) return undefined;
  return code;
}

export function userCodeHash(normalized: string): string {
  return sha256(`user-code:${normalized}`);
}

/** For display: BCDF-GHJK. */
export function formatUserCode(normalized: string): string {
  return `${normalized.slice(0, 4)}-${normalized.slice(4)}`;
}
