import { describe, expect, test } from 'vitest';
import { mintRefreshToken, newFamilyKey, parseRefreshToken } from '../../src/oauth/refresh-token-format.ts';
import { fillRandom, randomToken } from '../../src/lib/crypto.ts';

describe('refresh tokens that name their family and generation', () => {
  test('a minted token says its family key and generation, and carries a fresh 256-bit secret', () => {
    const key = newFamilyKey();
    expect(key).toMatch(/^[0-9a-f]{32}$/);
    const a = mintRefreshToken(key, 0);
    const b = mintRefreshToken(key, 0);
    expect(a).toMatch(/^[A-Za-z0-9_-]{76}$/);
    expect(a).not.toBe(b);
    expect(parseRefreshToken(a)).toEqual({ key, generation: 0 });
    expect(parseRefreshToken(mintRefreshToken(key, 41))).toEqual({ key, generation: 41 });
    expect(parseRefreshToken(mintRefreshToken(key, Number.MAX_SAFE_INTEGER))).toEqual({ key, generation: Number.MAX_SAFE_INTEGER });
    // The secret is the last 32 bytes: two tokens of one generation share only their first 25.
    const [ba, bb] = [Buffer.from(a, 'base64url'), Buffer.from(b, 'base64url')];
    expect(ba.subarray(0, 25).equals(bb.subarray(0, 25))).toBe(true);
    expect(ba.subarray(25).equals(bb.subarray(25))).toBe(false);
    expect(ba.length).toBe(57);
  });

  test('family keys sort by creation time and differ within one millisecond', () => {
    const earlier = newFamilyKey(1_700_000_000_000);
    const later = newFamilyKey(1_700_000_000_001);
    expect(earlier < later).toBe(true);
    expect(newFamilyKey(1_700_000_000_000)).not.toBe(earlier);
    expect(earlier.slice(0, 12)).toBe((1_700_000_000_000).toString(16).padStart(12, '0'));
  });

  test('anything else is not such a token: tokens of the earlier form, JWTs, wrong length, alphabet or version, a generation past 2^53', () => {
    const key = newFamilyKey();
    const token = mintRefreshToken(key, 3);
    const bytes = Buffer.from(token, 'base64url');
    const withVersion = (v: number) => Buffer.concat([Buffer.from([v]), bytes.subarray(1)]).toString('base64url');
    const withGeneration = (g: bigint) => {
      const copy = Buffer.from(bytes);
      copy.writeBigUInt64BE(g, 17);
      return copy.toString('base64url');
    };
    expect(parseRefreshToken(randomToken())).toBeUndefined();
    expect(parseRefreshToken('eyJhbGciOiJFUzI1NiJ9.eyJzdWIiOiJ4In0.c2ln')).toBeUndefined();
    expect(parseRefreshToken(token.slice(0, 75))).toBeUndefined();
    expect(parseRefreshToken(`${token}A`)).toBeUndefined();
    expect(parseRefreshToken(`${token.slice(0, 75)}=`)).toBeUndefined();
    expect(parseRefreshToken(`${token.slice(0, 40)}.${token.slice(41)}`)).toBeUndefined();
    expect(parseRefreshToken(withVersion(2))).toBeUndefined();
    expect(parseRefreshToken(withVersion(1))).toEqual({ key, generation: 3 });
    expect(parseRefreshToken(withGeneration(BigInt(Number.MAX_SAFE_INTEGER) + 1n))).toBeUndefined();
    expect(parseRefreshToken('')).toBeUndefined();
  });

  test('the random pool fills exactly the asked range, never the same bytes twice, across refills', () => {
    const seen = new Set<string>();
    // 57-byte tokens and 10-byte key parts drawn in turn run through the 4096-byte pool many times.
    for (let i = 0; i < 500; i++) {
      const target = Buffer.alloc(40, 0xee);
      fillRandom(target, 4, i % 2 ? 32 : 10);
      const length = i % 2 ? 32 : 10;
      expect(target.subarray(0, 4).every((b) => b === 0xee)).toBe(true);
      expect(target.subarray(4 + length).every((b) => b === 0xee)).toBe(true);
      const drawn = target.subarray(4, 4 + length).toString('hex');
      expect(seen.has(drawn)).toBe(false);
      seen.add(drawn);
      seen.add(randomToken());
    }
    expect(seen.size).toBe(1000);
  });
});
