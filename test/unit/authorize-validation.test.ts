import { describe, expect, test } from 'vitest';
import type { Client } from '../../src/clients/client.ts';
import { redirectWith, validateAuthorizationRequest, type AuthorizationValidation } from '../../src/oauth/authorization-request.ts';
import { isValidChallenge, isValidVerifier, s256, verifierMatches } from '../../src/oauth/pkce.ts';

/**
 * Every rule of /connect/authorize request validation (RFC 6749 §4.1.1 and §4.1.2.1,
 * RFC 7636, RFC 9700, OIDC Core §3.1.2.1), one case each. Errors before the client and
 * redirect URI are trusted must be shown, never redirected; afterwards they go to the app.
 */
const REDIRECT = 'https://app.example.com/cb';
const CHALLENGE = 'E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM';

function client(overrides: Partial<Client> = {}): Client {
  return {
    id: 'c1',
    name: 'App',
    description: '',
    secretHash: 'x',
    secretUpdatedAt: 0,
    public: false,
    grantTypes: ['authorization_code'],
    redirectUris: [REDIRECT],
    postLogoutRedirectUris: [],
    scopes: ['openid', 'profile', 'offline_access', 'accounts.read'],
    defaultScopes: [],
    onBehalfOfUserId: null,
    accessTokenTtl: null,
    refreshTokenTtl: null,
    requirePermission: 'developer_api',
    idTokenSignedResponseAlg: null,
    tokensValidAfter: 0,
    createdAt: 0,
    updatedAt: 0,
    ...overrides,
  };
}

const CLIENTS = new Map<string, Client>([
  ['c1', client()],
  ['two-uris', client({ id: 'two-uris', redirectUris: [REDIRECT, 'https://app.example.com/other'] })],
  ['public', client({ id: 'public', public: true, secretHash: null })],
  ['machine', client({ id: 'machine', grantTypes: ['client_credentials'] })],
  ['defaults', client({ id: 'defaults', defaultScopes: ['accounts.read'] })],
  ['query-uri', client({ id: 'query-uri', redirectUris: ['https://app.example.com/cb?tenant=7'] })],
]);
const lookup = (id: string) => CLIENTS.get(id);

function validate(params: Record<string, string | string[]>): Promise<AuthorizationValidation> {
  const raw = new Map(Object.entries(params).map(([k, v]) => [k, Array.isArray(v) ? v : [v]]));
  return validateAuthorizationRequest(raw, lookup);
}

const base = { client_id: 'c1', redirect_uri: REDIRECT, response_type: 'code', scope: 'openid', state: 'xyz' };

async function pageError(params: Record<string, string | string[]>): Promise<string> {
  const v = await validate(params);
  if (v.ok) throw new Error('expected an error');
  expect(v.redirectTo, 'must not redirect').toBeUndefined();
  return v.error.error;
}

async function redirected(params: Record<string, string | string[]>): Promise<{ error: string; description: string; state: string | undefined; uri: string }> {
  const v = await validate(params);
  if (v.ok) throw new Error('expected an error');
  expect(v.redirectTo, 'must redirect to the app').toBeDefined();
  return { error: v.error.error, description: v.error.description, state: v.redirectTo!.state, uri: v.redirectTo!.uri };
}

describe('errors shown on a page, never redirected (client or redirect URI not trusted)', () => {
  test.each([
    ['client_id missing', { ...base, client_id: undefined }, 'invalid_request'],
    ['unknown client_id', { ...base, client_id: 'nope' }, 'invalid_request'],
    ['app not registered for the code flow', { ...base, client_id: 'machine' }, 'unauthorized_client'],
    ['redirect_uri not registered', { ...base, redirect_uri: 'https://evil.example.net/cb' }, 'invalid_request'],
    ['redirect_uri with a trailing slash', { ...base, redirect_uri: `${REDIRECT}/` }, 'invalid_request'],
    ['redirect_uri in another case', { ...base, redirect_uri: REDIRECT.toUpperCase() }, 'invalid_request'],
    ['redirect_uri with an explicit default port', { ...base, redirect_uri: 'https://app.example.com:443/cb' }, 'invalid_request'],
    ['redirect_uri with an added query', { ...base, redirect_uri: `${REDIRECT}?x=1` }, 'invalid_request'],
    ['redirect_uri with a fragment', { ...base, redirect_uri: `${REDIRECT}#f` }, 'invalid_request'],
    ['redirect_uri omitted with two registered', { ...base, client_id: 'two-uris', redirect_uri: undefined }, 'invalid_request'],
    ['a parameter sent twice', { ...base, state: ['a', 'b'] }, 'invalid_request'],
    ['client_id sent twice', { ...base, client_id: ['c1', 'c1'] }, 'invalid_request'],
  ])('%s', async (_name, params, code) => {
    const clean = Object.fromEntries(Object.entries(params).filter(([, v]) => v !== undefined)) as Record<string, string | string[]>;
    expect(await pageError(clean)).toBe(code);
  });
});

describe('errors redirected to the app with state', () => {
  test.each([
    ['response_type missing', { response_type: undefined }, 'invalid_request'],
    ['response_type token (implicit)', { response_type: 'token' }, 'unsupported_response_type'],
    ['response_type code id_token (hybrid)', { response_type: 'code id_token' }, 'unsupported_response_type'],
    ['response_mode fragment', { response_mode: 'fragment' }, 'invalid_request'],
    ['request object', { request: 'eyJ...' }, 'invalid_request'],
    ['request_uri', { request_uri: 'urn:x' }, 'invalid_request_uri'],
    ['scope with a forbidden character', { scope: 'openid "quoted"' }, 'invalid_scope'],
    ['scope not registered for the app', { scope: 'openid accounts.write' }, 'invalid_scope'],
    ['code_challenge_method plain', { code_challenge: CHALLENGE, code_challenge_method: 'plain' }, 'invalid_request'],
    ['code_challenge without method (defaults to plain)', { code_challenge: CHALLENGE }, 'invalid_request'],
    ['code_challenge_method without challenge', { code_challenge_method: 'S256' }, 'invalid_request'],
    ['code_challenge too short', { code_challenge: 'a'.repeat(42), code_challenge_method: 'S256' }, 'invalid_request'],
    ['code_challenge too long', { code_challenge: 'a'.repeat(129), code_challenge_method: 'S256' }, 'invalid_request'],
    ['code_challenge with a bad character', { code_challenge: `${'a'.repeat(42)}+`, code_challenge_method: 'S256' }, 'invalid_request'],
    ['unknown prompt', { prompt: 'sometimes' }, 'invalid_request'],
    ['prompt=none with login', { prompt: 'none login' }, 'invalid_request'],
    ['max_age negative', { max_age: '-1' }, 'invalid_request'],
    ['max_age not a number', { max_age: '1h' }, 'invalid_request'],
    ['max_age absurdly large', { max_age: '9999999999' }, 'invalid_request'],
    ['nonce too long', { nonce: 'n'.repeat(513) }, 'invalid_request'],
    ['nonce with a control character', { nonce: 'a\u0000b' }, 'invalid_request'],
  ])('%s', async (_name, extra, code) => {
    const params = Object.fromEntries(Object.entries({ ...base, ...extra }).filter(([, v]) => v !== undefined)) as Record<string, string>;
    const r = await redirected(params);
    expect(r.error).toBe(code);
    expect(r.state).toBe('xyz');
    expect(r.uri).toBe(REDIRECT);
  });

  test('a public client must send a PKCE challenge', async () => {
    const r = await redirected({ ...base, client_id: 'public' });
    expect(r.error).toBe('invalid_request');
    expect(r.description).toContain('PKCE');
  });

  test('a state too long to echo is not echoed', async () => {
    const r = await redirected({ ...base, state: 's'.repeat(2049) });
    expect(r.error).toBe('invalid_request');
    expect(r.state).toBeUndefined();
  });
});

describe('accepted requests', () => {
  test('a minimal request, with every field read', async () => {
    const v = await validate({ ...base, nonce: 'n1', max_age: '300', login_hint: 'alice', prompt: 'login consent', code_challenge: CHALLENGE, code_challenge_method: 'S256' });
    if (!v.ok) throw new Error(v.error.description);
    expect(v.request.client.id).toBe('c1');
    expect(v.request.redirectUri).toBe(REDIRECT);
    expect(v.request.redirectUriInRequest).toBe(true);
    expect(v.request.scopes).toEqual(['openid']);
    expect(v.request.state).toBe('xyz');
    expect(v.request.nonce).toBe('n1');
    expect(v.request.maxAge).toBe(300);
    expect(v.request.loginHint).toBe('alice');
    expect([...v.request.prompt]).toEqual(['login', 'consent']);
    expect(v.request.codeChallenge).toBe(CHALLENGE);
  });

  test('redirect_uri may be omitted when exactly one is registered', async () => {
    const v = await validate({ client_id: 'c1', response_type: 'code' });
    if (!v.ok) throw new Error(v.error.description);
    expect(v.request.redirectUri).toBe(REDIRECT);
    expect(v.request.redirectUriInRequest).toBe(false);
  });

  test('a confidential client may skip PKCE; a public one with PKCE is fine', async () => {
    expect((await validate(base)).ok).toBe(true);
    expect((await validate({ ...base, client_id: 'public', code_challenge: CHALLENGE, code_challenge_method: 'S256' })).ok).toBe(true);
  });

  test('the app’s default scopes are added; duplicates collapse; a registered URI with a query matches exactly', async () => {
    const v = await validate({ ...base, client_id: 'defaults', scope: 'openid openid' });
    if (!v.ok) throw new Error(v.error.description);
    expect(v.request.scopes).toEqual(['openid', 'accounts.read']);
    expect((await validate({ ...base, client_id: 'query-uri', redirect_uri: 'https://app.example.com/cb?tenant=7' })).ok).toBe(true);
  });

  test('unknown parameters are ignored (RFC 6749 §3.1)', async () => {
    expect((await validate({ ...base, ui_locales: 'de', foo: 'bar' })).ok).toBe(true);
  });
});

describe('redirectWith', () => {
  test('keeps the registered query and appends response parameters, skipping undefined', () => {
    const url = new URL(redirectWith('https://app.example.com/cb?tenant=7', { code: 'abc', state: undefined, iss: 'https://id.example.com' }));
    expect(url.searchParams.get('tenant')).toBe('7');
    expect(url.searchParams.get('code')).toBe('abc');
    expect(url.searchParams.has('state')).toBe(false);
    expect(url.searchParams.get('iss')).toBe('https://id.example.com');
  });
});

describe('PKCE (RFC 7636)', () => {
  test('the Appendix B example: S256 of the verifier is the challenge', () => {
    const verifier = 'dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk';
    expect(s256(verifier)).toBe(CHALLENGE);
    expect(verifierMatches(verifier, CHALLENGE)).toBe(true);
    expect(verifierMatches(`${verifier.slice(0, -1)}l`, CHALLENGE)).toBe(false);
  });

  test('verifier length 43..128 and the unreserved alphabet only', () => {
    expect(isValidVerifier('a'.repeat(43))).toBe(true);
    expect(isValidVerifier('a'.repeat(128))).toBe(true);
    expect(isValidVerifier('a'.repeat(42))).toBe(false);
    expect(isValidVerifier('a'.repeat(129))).toBe(false);
    expect(isValidVerifier(`${'a'.repeat(42)}~`)).toBe(true);
    expect(isValidVerifier(`${'a'.repeat(42)}=`)).toBe(false);
    // A too-short verifier never matches, even if its hash were the challenge.
    expect(verifierMatches('short', s256('short'))).toBe(false);
    expect(isValidChallenge(CHALLENGE)).toBe(true);
    expect(isValidChallenge(`${CHALLENGE}!`)).toBe(false);
  });
});
