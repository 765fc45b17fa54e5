import { describe, expect, test } from 'vitest';
import { ACR, acrOf, acrValuesAskMfa, formatAmr, parseAmr, withMethod } from '../../src/identity/authentication-methods.ts';

describe('authentication methods (RFC 8176) and acr', () => {
  test.each([
    [['pwd'], 'otp', ['pwd', 'otp', 'mfa']],
    [['pwd'], 'pwd', ['pwd']],
    [['pwd', 'otp', 'mfa'], 'otp', ['pwd', 'otp', 'mfa']],
    [['pwd', 'otp', 'mfa'], 'hwk', ['pwd', 'otp', 'hwk', 'mfa']],
    [['hwk', 'user'], 'user', ['hwk', 'user']],
    [[], 'pwd', ['pwd']],
  ] as const)('%j + %s → %j', (amr, method, expected) => {
    expect(withMethod(amr, method)).toEqual(expected);
  });

  test('acr follows mfa in amr', () => {
    expect(acrOf(['pwd'])).toBe(ACR.basic);
    expect(acrOf(['fed'])).toBe(ACR.basic);
    expect(acrOf([])).toBe(ACR.basic);
    expect(acrOf(['pwd', 'otp', 'mfa'])).toBe(ACR.mfa);
  });

  test.each([
    [undefined, false],
    ['', false],
    ['urn:tessera:acr:mfa', true],
    ['urn:tessera:acr:mfa  ', true],
    ['urn:tessera:acr:mfa urn:tessera:acr:basic', false],
    ['urn:tessera:acr:basic', false],
    ['something-else', false],
  ])('acr_values %j asks for MFA: %s', (value, expected) => {
    expect(acrValuesAskMfa(value)).toBe(expected);
  });

  test('stored form round-trips; null (older rows) is no methods', () => {
    expect(parseAmr(formatAmr(['pwd', 'otp', 'mfa']))).toEqual(['pwd', 'otp', 'mfa']);
    expect(parseAmr(null)).toEqual([]);
  });
});
