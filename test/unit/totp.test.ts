import { describe, expect, test } from 'vitest';
import { base32Decode, base32Encode, matchTotp, newTotpSecret, otpauthUri, stepAt, totpForStep } from '../../src/identity/mfa/totp.ts';

// RFC 6238 Appendix B: the seeds are ASCII "12345678901234567890" repeated to the key length.
const SEED = {
  sha1: Buffer.from('12345678901234567890'),
  sha256: Buffer.from('12345678901234567890123456789012'),
  sha512: Buffer.from('1234567890123456789012345678901234567890123456789012345678901234'),
};
const VECTORS: Array<[number, string, string, string]> = [
  [59, '94287082', '46119246', '90693936'],
  [1111111109, '07081804', '68084774', '25091201'],
  [1111111111, '14050471', '67062674', '99943326'],
  [1234567890, '89005924', '91819424', '93441116'],
  [2000000000, '69279037', '90698825', '38618901'],
  [20000000000, '65353130', '77737706', '47863826'],
];

describe('TOTP (RFC 6238)', () => {
  test.each(VECTORS)('RFC 6238 Appendix B at T=%i', (time, sha1, sha256, sha512) => {
    expect(totpForStep(SEED.sha1, stepAt(time), 8, 'sha1')).toBe(sha1);
    expect(totpForStep(SEED.sha256, stepAt(time), 8, 'sha256')).toBe(sha256);
    expect(totpForStep(SEED.sha512, stepAt(time), 8, 'sha512')).toBe(sha512);
  });

  test('base32 round-trips (RFC 4648 alphabet) and the secret is 160 bits', () => {
    expect(base32Encode(Buffer.from('12345678901234567890'))).toBe('GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ');
    expect(base32Decode('gezd gnbv gy3t qojq gezd gnbv gy3t qojq').toString()).toBe('12345678901234567890');
    const secret = newTotpSecret();
    expect(secret).toMatch(/^[A-Z2-7]{32}$/);
    expect(base32Decode(secret)).toHaveLength(20);
  });

  const secret = base32Encode(SEED.sha1);
  const now = 1_700_000_000;
  const codeAt = (t: number) => totpForStep(SEED.sha1, stepAt(t));

  test('±1 step accepted, ±2 refused', () => {
    expect(matchTotp(secret, codeAt(now), now, null)).toBe(stepAt(now));
    expect(matchTotp(secret, codeAt(now - 30), now, null)).toBe(stepAt(now) - 1);
    expect(matchTotp(secret, codeAt(now + 30), now, null)).toBe(stepAt(now) + 1);
    expect(matchTotp(secret, codeAt(now - 60), now, null)).toBeUndefined();
    expect(matchTotp(secret, codeAt(now + 60), now, null)).toBeUndefined();
  });

  test('a code of a step already used (or earlier) is refused: no replay', () => {
    const step = matchTotp(secret, codeAt(now), now, null)!;
    expect(matchTotp(secret, codeAt(now), now, step)).toBeUndefined();
    expect(matchTotp(secret, codeAt(now - 30), now, step)).toBeUndefined();
    expect(matchTotp(secret, codeAt(now + 30), now, step)).toBe(step + 1);
  });

  test.each(['', '12345', '1234567', 'abcdef', '12 456', '١٢٣٤٥٦'])('malformed code %j is refused', (code) => {
    expect(matchTotp(secret, code, now, null)).toBeUndefined();
  });

  test('otpauth URI names issuer and account', () => {
    const uri = new URL(otpauthUri('ABCD', 'Tessera', 'alice@example.com'));
    expect(uri.protocol).toBe('otpauth:');
    expect(uri.host).toBe('totp');
    expect(decodeURIComponent(uri.pathname)).toBe('/Tessera:alice@example.com');
    expect(Object.fromEntries(uri.searchParams)).toEqual({ secret: 'ABCD', issuer: 'Tessera', algorithm: 'SHA1', digits: '6', period: '30' });
  });
});
