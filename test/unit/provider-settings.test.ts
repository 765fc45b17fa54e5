import { describe, expect, test } from 'vitest';
import { ServiceError } from '../../src/errors.ts';
import { checkSettings, type ProviderSettings } from '../../src/federation/provider-input.ts';

const oidc: ProviderSettings = {
  slug: 'acme',
  name: 'Acme SSO',
  kind: 'oidc',
  issuer: 'https://sso.acme.example',
  authorizationUrl: null,
  tokenUrl: null,
  userinfoUrl: null,
  tokenEndpointAuthMethod: 'client_secret_basic',
  claimMapping: null,
  clientId: 'tessera',
  scopes: ['openid', 'email', 'profile'],
  trustEmail: false,
  enabled: true,
};
const oauth2: ProviderSettings = {
  ...oidc,
  slug: 'github',
  kind: 'oauth2',
  issuer: null,
  authorizationUrl: 'https://github.com/login/oauth/authorize',
  tokenUrl: 'https://github.com/login/oauth/access_token',
  userinfoUrl: 'https://api.github.com/user',
  claimMapping: { subject: 'id', email: 'email', name: 'name', preferredUsername: 'login' },
  scopes: ['read:user', 'user:email'],
};

function refusal(s: ProviderSettings): { field: string | undefined; message: string } | undefined {
  try {
    checkSettings(s);
    return undefined;
  } catch (error) {
    if (!(error instanceof ServiceError)) throw error;
    expect(error.code).toBe('validation_failed');
    return { field: error.field, message: error.message };
  }
}

describe('provider settings', () => {
  test('valid settings pass, trimmed, scopes de-duplicated; OAuth 2.0 without mapping gets the OIDC claim names', () => {
    expect(checkSettings({ ...oidc, name: '  Acme SSO ', scopes: ['openid', 'openid', 'email'] })).toMatchObject({ name: 'Acme SSO', scopes: ['openid', 'email'], claimMapping: null });
    expect(checkSettings(oauth2).claimMapping).toEqual(oauth2.claimMapping);
    expect(checkSettings({ ...oauth2, claimMapping: null }).claimMapping).toMatchObject({ subject: 'sub', email: 'email' });
  });

  test.each([
    ['an upper-case slug', { ...oidc, slug: 'Acme' }, 'slug'],
    ['a slug with a slash', { ...oidc, slug: 'a/b' }, 'slug'],
    ['a slug ending in a hyphen', { ...oidc, slug: 'acme-' }, 'slug'],
    ['a 41-character slug', { ...oidc, slug: 'a'.repeat(41) }, 'slug'],
    ['an empty name', { ...oidc, name: ' ' }, 'name'],
    ['a name with a control character', { ...oidc, name: 'A\u0007' }, 'name'],
    ['an empty client id', { ...oidc, clientId: '' }, 'client_id'],
    ['OIDC without openid', { ...oidc, scopes: ['email'] }, 'scopes'],
    ['OIDC without issuer', { ...oidc, issuer: null }, 'issuer'],
    ['a scope with a space', { ...oidc, scopes: ['openid', 'a b'] }, 'scopes'],
    ['a scope with a quote', { ...oidc, scopes: ['openid', 'a"b'] }, 'scopes'],
    ['31 scopes', { ...oidc, scopes: ['openid', ...Array.from({ length: 30 }, (_, i) => `s${i}`)] }, 'scopes'],
    ['OAuth 2.0 without token URL', { ...oauth2, tokenUrl: null }, 'token_url'],
    ['OAuth 2.0 without userinfo URL', { ...oauth2, userinfoUrl: null }, 'userinfo_url'],
    ['a claim path with brackets', { ...oauth2, claimMapping: { subject: 'ids[0]' } }, 'claim_mapping'],
    ['a claim path too deep', { ...oauth2, claimMapping: { subject: 'a.b.c.d.e.f' } }, 'claim_mapping'],
  ])('%s is refused', (_name, settings, field) => {
    expect(refusal(settings)?.field).toBe(field);
  });
});
