import { fillRandom } from '../lib/crypto.ts';

/**
 * Refresh tokens as generations of their family (migration 0026, issue 16).
 *
 * A token is 57 bytes, base64url (76 characters, no padding, no dot — revocation and
 * introspection tell it from a JWT by that):
 *
 *   version (1) · family key (16) · generation (8, big-endian) · secret (32 random bytes)
 *
 * The family's row keeps only its current token: the SHA-256 hash of the whole token, its
 * generation, scope and expiry. A rotation replaces them with one conditional UPDATE (the
 * generation and hash it read), so of two uses of one token exactly one wins, as before.
 *
 * Reuse detection is unchanged: a token of an earlier generation of a live family is a spent
 * token, and presenting it revokes the family (RFC 9700 §4.14.2), however many rotations ago
 * it was spent — the family no longer keeps a row per spent token to recognise it by. Its
 * secret cannot be checked (only the current hash is kept), but the family key (its creation
 * time and 80 random bits) appears nowhere but in the family's own tokens (the family's `id`, which audit entries
 * name, is another value), so whoever can present one has held a token of the family — and
 * could revoke it with that token alone today. A current-generation token with the wrong
 * secret, or a later generation, is simply invalid and changes nothing.
 *
 * Tokens issued before (43 characters, 32 random bytes) are not of this form and are looked
 * up by hash in `refresh_tokens` as they always were, until their families expire.
 */
export interface RefreshTokenGeneration {
  /** The family's `token_key` (hex). */
  key: string;
  generation: number;
}

const VERSION = 1;
const KEY_BYTES = 16;
const SECRET_BYTES = 32;
const TOKEN_BYTES = 1 + KEY_BYTES + 8 + SECRET_BYTES;
const TOKEN_LENGTH = (TOKEN_BYTES / 3) * 4;
const BASE64URL = /^[A-Za-z0-9_-]+$/;

/**
 * A new family's key: the time in milliseconds (6 bytes, so a new family's index entry lands
 * at the right edge of `refresh_token_families_token_key`, as its time-ordered id does) and
 * 80 random bits. Hex, so the stored text sorts as the bytes do.
 */
export function newFamilyKey(ms: number = Date.now()): string {
  const key = Buffer.allocUnsafe(KEY_BYTES);
  key.writeUIntBE(ms, 0, 6);
  fillRandom(key, 6, KEY_BYTES - 6);
  return key.toString('hex');
}

/** The token of `generation` of the family with `key`, with a fresh 256-bit secret. */
export function mintRefreshToken(key: string, generation: number): string {
  const token = Buffer.allocUnsafe(TOKEN_BYTES);
  token[0] = VERSION;
  token.write(key, 1, KEY_BYTES, 'hex');
  token.writeBigUInt64BE(BigInt(generation), 1 + KEY_BYTES);
  fillRandom(token, 1 + KEY_BYTES + 8, SECRET_BYTES);
  const text = token.toString('base64url');
  token.fill(0);
  return text;
}

/** The family key and generation a token names; undefined for anything else (a token of the earlier form included). */
export function parseRefreshToken(token: string): RefreshTokenGeneration | undefined {
  if (token.length !== TOKEN_LENGTH || !BASE64URL.test(token)) return undefined;
  const bytes = Buffer.from(token, 'base64url');
  if (bytes.length !== TOKEN_BYTES || bytes[0] !== VERSION) return undefined;
  const generation = bytes.readBigUInt64BE(1 + KEY_BYTES);
  if (generation > BigInt(Number.MAX_SAFE_INTEGER)) return undefined;
  return { key: bytes.toString('hex', 1, 1 + KEY_BYTES), generation: Number(generation) };
}
