import { describe, expect, test } from 'vitest';
import { OIDC_CLAIMS, profileFromClaims } from '../../src/federation/profile.ts';

const provider = { id: 'p1', slug: 'acme' };

describe('profileFromClaims: nothing a provider sends is taken on trust', () => {
  test('standard claims', () => {
    expect(profileFromClaims({ sub: 'abc', email: 'a@b.example', email_verified: true, name: ' Ann ', given_name: 'Ann', family_name: 'Lee', preferred_username: 'ann' }, OIDC_CLAIMS, provider)).toEqual({
      providerId: 'p1',
      providerSlug: 'acme',
      subject: 'abc',
      email: 'a@b.example',
      emailVerified: true,
      name: 'Ann',
      givenName: 'Ann',
      familyName: 'Lee',
      preferredUsername: 'ann',
    });
  });

  test.each([
    ['no sub', {}],
    ['an empty sub', { sub: '' }],
    ['a sub that is an object', { sub: { $ne: 1 } }],
    ['a sub over 255 characters', { sub: 'x'.repeat(256) }],
    ['a sub with a control character', { sub: 'a\u0000b' }],
    ['a fractional numeric sub', { sub: 1.5 }],
    ['an unsafe integer sub', { sub: 2 ** 60 }],
  ])('%s: no profile', (_name, claims) => {
    expect(profileFromClaims(claims, OIDC_CLAIMS, provider)).toBeUndefined();
  });

  test.each([
    ['email_verified as the string "true" (Cognito)', { email: 'a@b.example', email_verified: 'true' }, { email: 'a@b.example', emailVerified: true }],
    ['email_verified 1 is not true', { email: 'a@b.example', email_verified: 1 }, { emailVerified: false }],
    ['verified but no email', { email_verified: true }, { email: null, emailVerified: false }],
    ['an email that is not one', { email: 'not an email', email_verified: true }, { email: null, emailVerified: false }],
    ['an email over 320 characters', { email: `${'a'.repeat(320)}@b.example` }, { email: null }],
    ['a name that is a number', { name: 42 }, { name: null }],
    ['a name with a newline', { name: 'Ann\nLee' }, { name: null }],
    ['a name of blanks', { name: '   ' }, { name: null }],
  ])('%s', (_name, claims, expected) => {
    expect(profileFromClaims({ sub: 's', ...claims }, OIDC_CLAIMS, provider)).toMatchObject(expected);
  });

  test('a mapping reads dotted paths and own members only', () => {
    const mapping = { subject: 'data.id', email: 'data.attributes.mail', name: 'constructor.name' };
    expect(profileFromClaims({ data: { id: 7, attributes: { mail: 'x@y.example' } } }, mapping, provider)).toMatchObject({ subject: '7', email: 'x@y.example', name: null });
    expect(profileFromClaims({ data: [{ id: 7 }] }, mapping, provider)).toBeUndefined();
  });
});
