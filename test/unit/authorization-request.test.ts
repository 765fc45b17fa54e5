import { sha256 } from '../../src/lib/crypto.ts';
import { describe, expect, test } from 'vitest';
import type { Client } from '../../src/clients/client.ts';
import {
  redirectWith,
  validateAuthorizationRequest,
  type PushedRequestOptions,
  type AuthorizationRequest,
  type AuthorizationValidation,
} from '../../src/oauth/authorization-request.ts';
import type { ClientLookup } from '../../src/oauth/client-auth.ts';
import { isValidChallenge, isValidVerifier, s256, verifierMatches } from '../../src/oauth/pkce.ts';

/**
 * validateAuthorizationRequest, rule by rule (RFC 6749 §3.1, §3.1.2, §4.1.1, §4.1.2.1;
 * RFC 7636; RFC 9700 §2.1.1 and §4.1.3; OIDC Core §3.1.2.1), and the PKCE primitives.
 *
 * Two kinds of failure: before the app and its redirect URI are trusted, the error is shown
 * on a page (`redirectTo` undefined — redirecting would make Tessera an open redirector);
 * afterwards it goes back to the app's redirect URI, with the request's `state`.
 */

const REDIRECT = 'https://app.example.com/cb';
const OTHER_REDIRECT = 'https://app.example.com/other';
/** RFC 7636 Appendix B. */
const VERIFIER = 'dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk';
const CHALLENGE = 'E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM';

function makeClient(overrides: Partial<Client> = {}): Client {
  return {
    id: 'web',
    name: 'Web app',
    description: 'A confidential web app',
    secretHash: 'q1YzR3Y2bW9ja19zaGEyNTZfaGFzaF9vZl9zZWNyZXQ',
    secretUpdatedAt: 1_750_000_000,
    previousSecretHash: null,
    previousSecretExpiresAt: null,
    public: false,
    grantTypes: ['authorization_code'],
    redirectUris: [REDIRECT],
    postLogoutRedirectUris: [],
    scopes: ['openid', 'profile', 'email', 'offline_access', 'accounts.read'],
    defaultScopes: [],
    onBehalfOfUserId: null,
    accessTokenTtl: null,
    refreshTokenTtl: null,
    requirePermission: 'developer_api',
    idTokenSignedResponseAlg: null,
    tokensValidAfter: 0,
    createdAt: 1_750_000_000,
    updatedAt: 1_750_000_000,
    ...overrides,
  };
}

const CLIENTS: Client[] = [
  makeClient(),
  makeClient({ id: 'spa', public: true, secretHash: null, secretUpdatedAt: null }),
  makeClient({ id: 'two-uris', redirectUris: [REDIRECT, OTHER_REDIRECT] }),
  makeClient({ id: 'no-uris', redirectUris: [] }),
  makeClient({ id: 'machine', grantTypes: ['client_credentials'], redirectUris: [REDIRECT] }),
  makeClient({ id: 'both-grants', grantTypes: ['client_credentials', 'authorization_code'] }),
  makeClient({ id: 'with-query', redirectUris: ['https://app.example.com/cb?tenant=7'] }),
  makeClient({ id: 'with-port', redirectUris: ['https://app.example.com:8443/cb'] }),
  makeClient({ id: 'defaults', scopes: ['openid', 'profile'], defaultScopes: ['accounts.read'] }),
  makeClient({ id: 'other-app', redirectUris: ['https://other.example.org/cb'] }),
  makeClient({ id: 'openid-by-default', defaultScopes: ['openid'] }),
];

/** In-memory lookup; answers asynchronously like the database-backed one does on a cache miss. */
const lookup: ClientLookup = (id) => Promise.resolve(CLIENTS.find((c) => c.id === id));

type Params = Record<string, string | string[] | undefined>;

function raw(params: Params): Map<string, string[]> {
  const out = new Map<string, string[]>();
  for (const [k, v] of Object.entries(params)) if (v !== undefined) out.set(k, Array.isArray(v) ? v : [v]);
  return out;
}

function validate(params: Params, lookupClient: ClientLookup = lookup): Promise<AuthorizationValidation> {
  return validateAuthorizationRequest(raw(params), lookupClient);
}

/** A valid request of the confidential app; tests change one thing at a time. */
const BASE = { client_id: 'web', redirect_uri: REDIRECT, response_type: 'code', scope: 'openid profile', state: 'st-123' } as const;

async function accepted(params: Params): Promise<AuthorizationRequest> {
  const v = await validate(params);
  if (!v.ok) throw new Error(`expected the request to be accepted, got ${v.error.error}: ${v.error.description}`);
  return v.request;
}

interface ShownError {
  error: string;
  description: string;
  status: number;
}

async function shownOnPage(params: Params): Promise<ShownError> {
  const v = await validate(params);
  if (v.ok) throw new Error('expected an error, the request was accepted');
  expect(v.redirectTo, 'an untrusted client or redirect URI must never be redirected to').toBeUndefined();
  return { error: v.error.error, description: v.error.description, status: v.error.status };
}

interface RedirectedError extends ShownError {
  uri: string;
  state: string | undefined;
}

async function redirectedToApp(params: Params): Promise<RedirectedError> {
  const v = await validate(params);
  if (v.ok) throw new Error('expected an error, the request was accepted');
  if (v.redirectTo === undefined) throw new Error(`expected a redirect to the app, got an error page: ${v.error.error}: ${v.error.description}`);
  return { error: v.error.error, description: v.error.description, status: v.error.status, uri: v.redirectTo.uri, state: v.redirectTo.state };
}

describe('client_id (errors shown on a page)', () => {
  test('missing client_id', async () => {
    const e = await shownOnPage({ ...BASE, client_id: undefined });
    expect(e).toMatchObject({ error: 'invalid_request', status: 400 });
    expect(e.description).toContain('client_id');
  });

  test('empty client_id counts as missing', async () => {
    expect((await shownOnPage({ ...BASE, client_id: '' })).description).toContain('client_id');
  });

  test('unknown client_id', async () => {
    const e = await shownOnPage({ ...BASE, client_id: 'nobody' });
    expect(e).toMatchObject({ error: 'invalid_request', status: 400 });
    expect(e.description).toContain('unknown client_id');
  });

  test('client_id differing only in case is another (unknown) client', async () => {
    await shownOnPage({ ...BASE, client_id: 'WEB' });
  });

  test('a synchronous lookup works like an asynchronous one', async () => {
    const syncLookup: ClientLookup = (id) => CLIENTS.find((c) => c.id === id);
    const v = await validate(BASE, syncLookup);
    expect(v.ok).toBe(true);
    const bad = await validate({ ...BASE, client_id: 'nobody' }, syncLookup);
    expect(bad.ok).toBe(false);
  });

  test('an app registered only for client_credentials → unauthorized_client, on a page', async () => {
    const e = await shownOnPage({ ...BASE, client_id: 'machine' });
    expect(e).toMatchObject({ error: 'unauthorized_client', status: 400 });
  });

  test('an app registered for both grants may use the code flow', async () => {
    expect((await accepted({ ...BASE, client_id: 'both-grants' })).client.id).toBe('both-grants');
  });

  test('an untrusted client is not redirected to even when every later parameter is wrong too', async () => {
    const e = await shownOnPage({ client_id: 'nobody', redirect_uri: REDIRECT, response_type: 'token', code_challenge_method: 'plain' });
    expect(e.error).toBe('invalid_request');
  });
});

describe('redirect_uri (errors shown on a page)', () => {
  test.each([
    ['another host', 'https://evil.example.net/cb'],
    ['a trailing slash', `${REDIRECT}/`],
    ['the path in upper case', 'https://app.example.com/CB'],
    ['the host in upper case', 'https://APP.EXAMPLE.COM/cb'],
    ['the scheme in upper case', 'HTTPS://app.example.com/cb'],
    ['http instead of https', 'http://app.example.com/cb'],
    ['the default port spelled out', 'https://app.example.com:443/cb'],
    ['another port', 'https://app.example.com:8443/cb'],
    ['an added query', `${REDIRECT}?next=/admin`],
    ['an empty query', `${REDIRECT}?`],
    ['a fragment', `${REDIRECT}#x`],
    ['a percent-encoded path character', 'https://app.example.com/c%62'],
    ['a dot segment', 'https://app.example.com/x/../cb'],
    ['a longer path', `${REDIRECT}/deeper`],
    ['a prefix of the registered path', 'https://app.example.com/c'],
    ['a sub-domain', 'https://evil.app.example.com/cb'],
    ['userinfo in front of the host', 'https://app.example.com@evil.example.net/cb'],
    ['trailing whitespace', `${REDIRECT} `],
    ['a URI registered for another app', 'https://other.example.org/cb'],
  ])('not registered: %s', async (_name, uri) => {
    const e = await shownOnPage({ ...BASE, redirect_uri: uri });
    expect(e).toMatchObject({ error: 'invalid_request', status: 400 });
    expect(e.description).toContain('redirect_uri');
  });

  test('a registered URI with a query matches only exactly', async () => {
    expect((await accepted({ ...BASE, client_id: 'with-query', redirect_uri: 'https://app.example.com/cb?tenant=7' })).redirectUri).toBe(
      'https://app.example.com/cb?tenant=7',
    );
    for (const variant of [REDIRECT, 'https://app.example.com/cb?tenant=8', 'https://app.example.com/cb?tenant=7&x=1', 'https://app.example.com/cb?x=1&tenant=7']) {
      await shownOnPage({ ...BASE, client_id: 'with-query', redirect_uri: variant });
    }
  });

  test('a registered URI with a port matches only with that port', async () => {
    expect((await accepted({ ...BASE, client_id: 'with-port', redirect_uri: 'https://app.example.com:8443/cb' })).redirectUri).toBe(
      'https://app.example.com:8443/cb',
    );
    await shownOnPage({ ...BASE, client_id: 'with-port', redirect_uri: REDIRECT });
    await shownOnPage({ ...BASE, client_id: 'with-port', redirect_uri: 'https://app.example.com:8444/cb' });
  });

  test('omitted with exactly one registered in a plain OAuth request: that one is used, and it was not in the request', async () => {
    const request = await accepted({ ...BASE, redirect_uri: undefined, scope: 'accounts.read' });
    expect(request.redirectUri).toBe(REDIRECT);
    expect(request.redirectUriInRequest).toBe(false);
  });

  test('an empty redirect_uri counts as omitted', async () => {
    const request = await accepted({ ...BASE, redirect_uri: '', scope: 'profile' });
    expect(request.redirectUri).toBe(REDIRECT);
    expect(request.redirectUriInRequest).toBe(false);
  });

  test('omitted in an OpenID request (scope openid) → page, even with exactly one registered (OIDC Core §3.1.2.1)', async () => {
    const e = await shownOnPage({ ...BASE, redirect_uri: undefined });
    expect(e).toMatchObject({ error: 'invalid_request', status: 400 });
    expect(e.description).toContain('redirect_uri is required');
    expect((await shownOnPage({ ...BASE, redirect_uri: '', scope: 'profile openid' })).error).toBe('invalid_request');
  });

  test("omitted when the app's default scopes make it an OpenID request → page", async () => {
    await shownOnPage({ ...BASE, client_id: 'openid-by-default', redirect_uri: undefined, scope: 'profile' });
    expect((await accepted({ ...BASE, client_id: 'openid-by-default', scope: 'profile' })).scopes).toContain('openid');
  });

  test('omitted with two registered → page', async () => {
    const e = await shownOnPage({ ...BASE, client_id: 'two-uris', redirect_uri: undefined });
    expect(e.error).toBe('invalid_request');
    expect(e.description).toContain('redirect_uri is required');
  });

  test('omitted with none registered → page; given with none registered → page', async () => {
    await shownOnPage({ ...BASE, client_id: 'no-uris', redirect_uri: undefined });
    await shownOnPage({ ...BASE, client_id: 'no-uris' });
  });

  test('sent and registered: used, and flagged as in the request (the token request must repeat it)', async () => {
    const one = await accepted(BASE);
    expect(one.redirectUri).toBe(REDIRECT);
    expect(one.redirectUriInRequest).toBe(true);
    const second = await accepted({ ...BASE, client_id: 'two-uris', redirect_uri: OTHER_REDIRECT });
    expect(second.redirectUri).toBe(OTHER_REDIRECT);
    expect(second.redirectUriInRequest).toBe(true);
  });

  test('an untrusted redirect URI is not redirected to even when later parameters are wrong too', async () => {
    const e = await shownOnPage({ ...BASE, redirect_uri: 'https://evil.example.net/cb', response_type: 'token' });
    expect(e.error).toBe('invalid_request');
  });
});

describe('duplicate and oversized parameters (RFC 6749 §3.1)', () => {
  test.each(['client_id', 'redirect_uri', 'response_type', 'scope', 'state', 'nonce', 'code_challenge', 'code_challenge_method', 'prompt', 'max_age'])(
    '%s sent twice → invalid_request on a page (the parameters cannot be trusted)',
    async (name) => {
      const value = (BASE as Record<string, string>)[name] ?? { nonce: 'n', code_challenge: CHALLENGE, code_challenge_method: 'S256', prompt: 'login', max_age: '60' }[name]!;
      const e = await shownOnPage({ ...BASE, [name]: [value, value] });
      expect(e.error).toBe('invalid_request');
      expect(e.description).toContain(name);
      expect(e.description).toContain('more than once');
    },
  );

  test('a value longer than 4096 characters → invalid_request on a page', async () => {
    const e = await shownOnPage({ ...BASE, login_hint: 'x'.repeat(4097) });
    expect(e.error).toBe('invalid_request');
    expect(e.description).toContain('too long');
    expect((await accepted({ ...BASE, login_hint: 'x'.repeat(4096) })).loginHint).toHaveLength(4096);
  });
});

describe('request objects (OIDC Core §6) are not supported', () => {
  test('request → request_not_supported, redirected with state', async () => {
    const e = await redirectedToApp({ ...BASE, request: 'eyJhbGciOiJub25lIn0.e30.' });
    expect(e).toMatchObject({ error: 'request_not_supported', status: 400, uri: REDIRECT, state: 'st-123' });
    expect(e.description).toContain('request objects');
  });

  test('request_uri → request_uri_not_supported, redirected with state', async () => {
    const e = await redirectedToApp({ ...BASE, request_uri: 'https://app.example.com/request.jwt' });
    expect(e).toMatchObject({ error: 'request_uri_not_supported', status: 400, uri: REDIRECT, state: 'st-123' });
  });
});

describe('response_type and response_mode (redirected with state)', () => {
  test('missing response_type → invalid_request', async () => {
    const e = await redirectedToApp({ ...BASE, response_type: undefined });
    expect(e).toMatchObject({ error: 'invalid_request', uri: REDIRECT, state: 'st-123' });
    expect(e.description).toContain('response_type');
  });

  test('empty response_type counts as missing', async () => {
    expect((await redirectedToApp({ ...BASE, response_type: '' })).error).toBe('invalid_request');
  });

  test.each(['token', 'id_token', 'code id_token', 'code token', 'id_token token', 'none', 'CODE', 'Code', 'code ', ' code', 'device_code'])(
    'response_type=%j → unsupported_response_type',
    async (responseType) => {
      const e = await redirectedToApp({ ...BASE, response_type: responseType });
      expect(e).toMatchObject({ error: 'unsupported_response_type', status: 400, uri: REDIRECT, state: 'st-123' });
    },
  );

  test('the unsupported value is echoed only as safe error_description text', async () => {
    const e = await redirectedToApp({ ...BASE, response_type: 'to"ken\\\u00e9' });
    expect(e.error).toBe('unsupported_response_type');
    expect(e.description).toMatch(/^[\x20-\x21\x23-\x5b\x5d-\x7e]*$/);
  });

  test('redirected to the registered URI when redirect_uri was omitted', async () => {
    const e = await redirectedToApp({ ...BASE, redirect_uri: undefined, scope: 'profile', response_type: 'token' });
    expect(e).toMatchObject({ error: 'unsupported_response_type', uri: REDIRECT, state: 'st-123' });
  });

  test('redirected to the URI the request named, among several registered', async () => {
    const e = await redirectedToApp({ ...BASE, client_id: 'two-uris', redirect_uri: OTHER_REDIRECT, response_type: 'token' });
    expect(e.uri).toBe(OTHER_REDIRECT);
  });

  test('without state, none is echoed', async () => {
    const e = await redirectedToApp({ ...BASE, state: undefined, response_type: 'token' });
    expect(e.state).toBeUndefined();
  });

  test('response_mode=query is accepted', async () => {
    await accepted({ ...BASE, response_mode: 'query' });
  });

  test.each(['fragment', 'form_post', 'query.jwt', 'QUERY'])('response_mode=%s → invalid_request', async (mode) => {
    const e = await redirectedToApp({ ...BASE, response_mode: mode });
    expect(e).toMatchObject({ error: 'invalid_request', uri: REDIRECT, state: 'st-123' });
    expect(e.description).toContain('response_mode');
  });
});

describe('scope (RFC 6749 §3.3)', () => {
  test.each([
    ['a double quote', 'openid "profile"'],
    ['a backslash', 'openid a\\b'],
    ['a non-ASCII character', 'openid prof\u00efle'],
    ['a control character', 'openid\u0001'],
    ['a tab as separator', 'openid\tprofile'],
    ['a token longer than 200 characters', `openid ${'a'.repeat(201)}`],
  ])('syntax: %s → invalid_scope, redirected', async (_name, scope) => {
    const e = await redirectedToApp({ ...BASE, scope });
    expect(e).toMatchObject({ error: 'invalid_scope', status: 400, uri: REDIRECT, state: 'st-123' });
  });

  test('a scope the app may not request → invalid_scope naming only the offending scopes', async () => {
    const e = await redirectedToApp({ ...BASE, scope: 'openid tessera.admin accounts.write profile' });
    expect(e).toMatchObject({ error: 'invalid_scope', uri: REDIRECT, state: 'st-123' });
    expect(e.description).toContain('tessera.admin accounts.write');
    expect(e.description).not.toContain('openid');
    expect(e.description).not.toContain('profile');
  });

  test('scope names are case-sensitive', async () => {
    expect((await redirectedToApp({ ...BASE, scope: 'OpenID' })).error).toBe('invalid_scope');
  });

  test('allowed scopes are kept in order, duplicates and extra spaces collapse', async () => {
    const request = await accepted({ ...BASE, scope: ' email  openid email offline_access ' });
    expect(request.scopes).toEqual(['email', 'openid', 'offline_access']);
  });

  test('no scope and no default scopes → an empty list', async () => {
    expect((await accepted({ ...BASE, scope: undefined })).scopes).toEqual([]);
    expect((await accepted({ ...BASE, scope: '' })).scopes).toEqual([]);
  });

  test('the app’s default scopes are added after the requested ones', async () => {
    expect((await accepted({ ...BASE, client_id: 'defaults', scope: 'openid profile' })).scopes).toEqual(['openid', 'profile', 'accounts.read']);
    expect((await accepted({ ...BASE, client_id: 'defaults', scope: undefined })).scopes).toEqual(['accounts.read']);
  });

  test('a default scope may be requested explicitly (even if not in the app’s scopes) and is not added twice', async () => {
    expect((await accepted({ ...BASE, client_id: 'defaults', scope: 'accounts.read openid' })).scopes).toEqual(['accounts.read', 'openid']);
  });

  test('a scope outside both lists is still refused for an app with defaults', async () => {
    expect((await redirectedToApp({ ...BASE, client_id: 'defaults', scope: 'openid email' })).error).toBe('invalid_scope');
  });
});

describe('PKCE (RFC 7636, RFC 9700 §2.1.1)', () => {
  test('S256 with a valid challenge is accepted and kept', async () => {
    expect((await accepted({ ...BASE, code_challenge: CHALLENGE, code_challenge_method: 'S256' })).codeChallenge).toBe(CHALLENGE);
  });

  test('plain is refused', async () => {
    const e = await redirectedToApp({ ...BASE, code_challenge: CHALLENGE, code_challenge_method: 'plain' });
    expect(e).toMatchObject({ error: 'invalid_request', uri: REDIRECT, state: 'st-123' });
    expect(e.description).toContain('S256');
  });

  test('a challenge without a method (which RFC 7636 would read as plain) is refused', async () => {
    const e = await redirectedToApp({ ...BASE, code_challenge: CHALLENGE });
    expect(e.error).toBe('invalid_request');
    expect(e.description).toContain('S256');
  });

  test.each(['s256', 'SHA256', 'S512', 'S256 '])('method %j is refused (exact S256 only)', async (method) => {
    expect((await redirectedToApp({ ...BASE, code_challenge: CHALLENGE, code_challenge_method: method })).error).toBe('invalid_request');
  });

  test('a method without a challenge is refused', async () => {
    const e = await redirectedToApp({ ...BASE, code_challenge_method: 'S256' });
    expect(e.error).toBe('invalid_request');
    expect(e.description).toContain('code_challenge');
  });

  test.each([
    ['42 characters', 'a'.repeat(42)],
    ['129 characters', 'a'.repeat(129)],
    ['a "+"', `${'a'.repeat(42)}+`],
    ['a "/"', `${'a'.repeat(42)}/`],
    ['base64 padding "="', `${CHALLENGE}=`],
    ['a space', `${'a'.repeat(21)} ${'a'.repeat(21)}`],
    ['a percent sign', `${'a'.repeat(42)}%`],
    ['a non-ASCII letter', `${'a'.repeat(42)}\u00e9`],
  ])('a malformed challenge (%s) is refused', async (_name, challenge) => {
    const e = await redirectedToApp({ ...BASE, code_challenge: challenge, code_challenge_method: 'S256' });
    expect(e).toMatchObject({ error: 'invalid_request', uri: REDIRECT, state: 'st-123' });
    expect(e.description).toContain('malformed');
  });

  test.each([
    ['43 characters', 'a'.repeat(43)],
    ['128 characters', 'b'.repeat(128)],
    ['every unreserved character', `AZaz09-._~${'x'.repeat(33)}`],
  ])('a well-formed challenge (%s) is accepted', async (_name, challenge) => {
    expect((await accepted({ ...BASE, code_challenge: challenge, code_challenge_method: 'S256' })).codeChallenge).toBe(challenge);
  });

  test('a public client must send a challenge', async () => {
    const e = await redirectedToApp({ ...BASE, client_id: 'spa' });
    expect(e).toMatchObject({ error: 'invalid_request', uri: REDIRECT, state: 'st-123' });
    expect(e.description).toContain('PKCE is required');
  });

  test('a public client with an S256 challenge is accepted; plain is refused for it too', async () => {
    expect((await accepted({ ...BASE, client_id: 'spa', code_challenge: CHALLENGE, code_challenge_method: 'S256' })).codeChallenge).toBe(CHALLENGE);
    expect((await redirectedToApp({ ...BASE, client_id: 'spa', code_challenge: CHALLENGE, code_challenge_method: 'plain' })).error).toBe('invalid_request');
  });

  test('a confidential client may omit PKCE', async () => {
    expect((await accepted(BASE)).codeChallenge).toBeUndefined();
  });

  test('a confidential client that sends PKCE has it checked like anyone else', async () => {
    expect((await redirectedToApp({ ...BASE, code_challenge: 'short', code_challenge_method: 'S256' })).error).toBe('invalid_request');
    expect((await redirectedToApp({ ...BASE, code_challenge: CHALLENGE, code_challenge_method: 'plain' })).error).toBe('invalid_request');
  });
});

describe('prompt (OIDC Core §3.1.2.1)', () => {
  test.each([
    ['none', ['none']],
    ['login', ['login']],
    ['consent', ['consent']],
    ['select_account', ['select_account']],
    ['login consent', ['login', 'consent']],
    ['consent  login ', ['consent', 'login']],
    ['none none', ['none']],
  ])('prompt=%j is accepted', async (prompt, expected) => {
    expect([...(await accepted({ ...BASE, prompt })).prompt]).toEqual(expected);
  });

  test('no prompt → an empty set', async () => {
    expect((await accepted(BASE)).prompt.size).toBe(0);
    expect((await accepted({ ...BASE, prompt: '' })).prompt.size).toBe(0);
  });

  test.each(['none login', 'consent none', 'none select_account', 'login none consent'])('prompt=%j: none with another value → invalid_request', async (prompt) => {
    const e = await redirectedToApp({ ...BASE, prompt });
    expect(e).toMatchObject({ error: 'invalid_request', uri: REDIRECT, state: 'st-123' });
    expect(e.description).toContain('none');
  });

  test.each(['sometimes', 'NONE', 'Login', 'login create'])('prompt=%j: unknown value → invalid_request', async (prompt) => {
    const e = await redirectedToApp({ ...BASE, prompt });
    expect(e).toMatchObject({ error: 'invalid_request', uri: REDIRECT, state: 'st-123' });
    expect(e.description).toContain('prompt');
  });
});

describe('max_age', () => {
  test.each([
    ['0', 0],
    ['300', 300],
    ['0300', 300],
    ['999999999', 999_999_999],
  ])('max_age=%s → %d', async (value, expected) => {
    expect((await accepted({ ...BASE, max_age: value })).maxAge).toBe(expected);
  });

  test('absent → undefined', async () => {
    expect((await accepted(BASE)).maxAge).toBeUndefined();
  });

  test.each(['-1', '+5', '1.5', '1e3', '0x10', ' 5', '5 ', 'abc', '1000000000', '9'.repeat(20)])('max_age=%j → invalid_request', async (value) => {
    const e = await redirectedToApp({ ...BASE, max_age: value });
    expect(e).toMatchObject({ error: 'invalid_request', uri: REDIRECT, state: 'st-123' });
    expect(e.description).toContain('max_age');
  });
});

describe('nonce', () => {
  test('kept as sent, up to 512 characters', async () => {
    expect((await accepted({ ...BASE, nonce: 'n-0S6_WzA2Mj' })).nonce).toBe('n-0S6_WzA2Mj');
    expect((await accepted({ ...BASE, nonce: 'n'.repeat(512) })).nonce).toHaveLength(512);
    expect((await accepted(BASE)).nonce).toBeUndefined();
  });

  test('513 characters → invalid_request', async () => {
    const e = await redirectedToApp({ ...BASE, nonce: 'n'.repeat(513) });
    expect(e).toMatchObject({ error: 'invalid_request', uri: REDIRECT, state: 'st-123' });
    expect(e.description).toContain('nonce');
  });

  test.each(['\u0000', '\n', '\r', '\t', '\u001f', '\u007f'])('a control character (%j) → invalid_request', async (c) => {
    const e = await redirectedToApp({ ...BASE, nonce: `abc${c}def` });
    expect(e.error).toBe('invalid_request');
    expect(e.description).toContain('nonce');
  });
});

describe('state', () => {
  test('kept unchanged, whatever its characters, up to 2048 characters', async () => {
    const odd = 'a b&c=d/é?#%20+';
    expect((await accepted({ ...BASE, state: odd })).state).toBe(odd);
    expect((await accepted({ ...BASE, state: 's'.repeat(2048) })).state).toHaveLength(2048);
    expect((await accepted({ ...BASE, state: undefined })).state).toBeUndefined();
  });

  test('errors echo the state unchanged', async () => {
    const odd = 'a b&c=d/é?#%20+';
    expect((await redirectedToApp({ ...BASE, state: odd, response_type: 'token' })).state).toBe(odd);
  });

  test('2049 characters → invalid_request, and the state is not echoed', async () => {
    const e = await redirectedToApp({ ...BASE, state: 's'.repeat(2049) });
    expect(e).toMatchObject({ error: 'invalid_request', uri: REDIRECT });
    expect(e.description).toContain('state');
    expect(e.state).toBeUndefined();
  });

  test('a state too long is not echoed either when another error is reported first', async () => {
    for (const extra of [{ response_type: 'token' }, { scope: 'admin' }, { code_challenge_method: 'plain', code_challenge: CHALLENGE }, { prompt: 'bogus' }]) {
      const e = await redirectedToApp({ ...BASE, state: 's'.repeat(3000), ...extra });
      expect(e.state, JSON.stringify(Object.keys(extra))).toBeUndefined();
    }
  });
});

describe('login_hint and the accepted request', () => {
  test('login_hint is passed through; absent or empty → undefined', async () => {
    expect((await accepted({ ...BASE, login_hint: 'alice@example.com' })).loginHint).toBe('alice@example.com');
    expect((await accepted(BASE)).loginHint).toBeUndefined();
    expect((await accepted({ ...BASE, login_hint: '' })).loginHint).toBeUndefined();
  });

  test('a full request: every field read', async () => {
    const request = await accepted({
      ...BASE,
      client_id: 'spa',
      scope: 'openid email offline_access',
      nonce: 'nonce-1',
      code_challenge: CHALLENGE,
      code_challenge_method: 'S256',
      prompt: 'consent',
      max_age: '600',
      login_hint: 'alice',
      response_mode: 'query',
      ui_locales: 'de',
    });
    expect(request.client.id).toBe('spa');
    expect(request.client.public).toBe(true);
    expect(request.redirectUri).toBe(REDIRECT);
    expect(request.redirectUriInRequest).toBe(true);
    expect(request.scopes).toEqual(['openid', 'email', 'offline_access']);
    expect(request.state).toBe('st-123');
    expect(request.nonce).toBe('nonce-1');
    expect(request.codeChallenge).toBe(CHALLENGE);
    expect([...request.prompt]).toEqual(['consent']);
    expect(request.maxAge).toBe(600);
    expect(request.loginHint).toBe('alice');
    // The parameters as received (unknown ones too), to re-submit from the login and consent pages.
    expect(request.params.get('ui_locales')).toBe('de');
    expect(request.params.get('code_challenge')).toBe(CHALLENGE);
    expect(request.params.get('client_id')).toBe('spa');
  });

  test('unknown parameters are ignored (RFC 6749 §3.1)', async () => {
    await accepted({ ...BASE, claims: '{}', ui_locales: 'fr', display: 'page', acr_values: 'x' });
  });
});

describe('redirectWith', () => {
  test('appends the response parameters to a URI without a query', () => {
    expect(redirectWith(REDIRECT, { code: 'abc', state: 'st-123', iss: 'https://id.example.com' })).toBe(
      'https://app.example.com/cb?code=abc&state=st-123&iss=https%3A%2F%2Fid.example.com',
    );
  });

  test('keeps the registered query (RFC 6749 §3.1.2) and appends after it', () => {
    const uri = redirectWith('https://app.example.com/cb?tenant=7&lang=de', { code: 'abc', state: 'xyz' });
    expect(uri).toBe('https://app.example.com/cb?tenant=7&lang=de&code=abc&state=xyz');
  });

  test('skips undefined values and encodes the others so they read back unchanged', () => {
    const state = 'a b&c=d/é?#+%';
    const url = new URL(redirectWith('https://app.example.com/cb?tenant=7', { error: 'access_denied', error_description: undefined, state }));
    expect(url.searchParams.get('tenant')).toBe('7');
    expect(url.searchParams.get('error')).toBe('access_denied');
    expect(url.searchParams.has('error_description')).toBe(false);
    expect(url.searchParams.get('state')).toBe(state);
    expect(url.hash).toBe('');
    expect(url.origin + url.pathname).toBe(REDIRECT);
  });
});

describe('pkce.ts', () => {
  test('RFC 7636 Appendix B: S256 of the verifier is the challenge', () => {
    expect(s256(VERIFIER)).toBe(CHALLENGE);
    expect(verifierMatches(VERIFIER, CHALLENGE)).toBe(true);
  });

  test('another verifier, or another challenge, does not match', () => {
    expect(verifierMatches(`${VERIFIER.slice(0, -1)}j`, CHALLENGE)).toBe(false);
    expect(verifierMatches(VERIFIER, `${CHALLENGE.slice(0, -1)}d`)).toBe(false);
    // A challenge of another length must not throw (constant-time compare of unequal lengths).
    expect(verifierMatches(VERIFIER, CHALLENGE.slice(0, 42))).toBe(false);
    expect(verifierMatches(VERIFIER, '')).toBe(false);
    // plain is not supported: the verifier itself as the challenge does not match.
    expect(verifierMatches(VERIFIER, VERIFIER)).toBe(false);
  });

  test('verifier length is 43..128', () => {
    expect(isValidVerifier('a'.repeat(42))).toBe(false);
    expect(isValidVerifier('a'.repeat(43))).toBe(true);
    expect(isValidVerifier('a'.repeat(128))).toBe(true);
    expect(isValidVerifier('a'.repeat(129))).toBe(false);
    expect(isValidVerifier('')).toBe(false);
  });

  test('verifier alphabet: unreserved characters only', () => {
    const pad = 'a'.repeat(42);
    for (const ok of ['A', 'Z', 'a', 'z', '0', '9', '-', '.', '_', '~']) expect(isValidVerifier(pad + ok), ok).toBe(true);
    for (const bad of ['+', '/', '=', ' ', '%', '!', '*', '\u00e9', '\n', '\u0000']) expect(isValidVerifier(pad + bad), JSON.stringify(bad)).toBe(false);
  });

  test('a verifier breaking the rules never matches, even when its hash is the challenge', () => {
    expect(verifierMatches('short', s256('short'))).toBe(false);
    const tooLong = 'a'.repeat(129);
    expect(verifierMatches(tooLong, s256(tooLong))).toBe(false);
    const badChar = `${'a'.repeat(42)}+`;
    expect(verifierMatches(badChar, s256(badChar))).toBe(false);
    const longest = 'a'.repeat(128);
    expect(verifierMatches(longest, s256(longest))).toBe(true);
  });

  test('challenge format: 43..128 unreserved characters', () => {
    expect(isValidChallenge(CHALLENGE)).toBe(true);
    expect(isValidChallenge('a'.repeat(42))).toBe(false);
    expect(isValidChallenge('a'.repeat(128))).toBe(true);
    expect(isValidChallenge('a'.repeat(129))).toBe(false);
    expect(isValidChallenge(`${CHALLENGE}=`)).toBe(false);
    expect(isValidChallenge(CHALLENGE.replace('-', '+'))).toBe(false);
  });
});

describe('pushed authorization requests (RFC 9126 §4, §6)', () => {
  const URI = 'urn:ietf:params:oauth:request_uri:abc';
  const stored = new Map([[sha256(URI), { clientId: 'web', params: { ...BASE, state: 'pushed' }, startedAt: 1_750_000_100 }]]);
  const pushed = (requiredForAll = false): PushedRequestOptions => ({ load: async (h) => stored.get(h), requiredForAll: () => requiredForAll });
  const withPush = (params: Params, options: { pushed?: PushedRequestOptions; fromPar?: boolean }) => validateAuthorizationRequest(raw(params), lookup, undefined, options);

  test('client_id + request_uri: the pushed parameters count, others beside them are ignored; re-submitted as client_id + request_uri', async () => {
    const v = await withPush({ client_id: 'web', request_uri: URI, state: 'injected', scope: 'openid email' }, { pushed: pushed() });
    expect(v.ok && v.request).toMatchObject({ state: 'pushed', scopes: ['openid', 'profile'], pushedRequestUriHash: sha256(URI), pushedStartedAt: 1_750_000_100 });
    expect(v.ok && Object.fromEntries(v.request.params)).toEqual({ client_id: 'web', request_uri: URI });
  });

  test('unknown, foreign-shaped or another app’s request_uri: invalid_request_uri on the page', async () => {
    for (const params of [{ client_id: 'web', request_uri: 'urn:ietf:params:oauth:request_uri:nope' }, { client_id: 'web', request_uri: 'https://app.example.com/r' }, { client_id: 'two-uris', request_uri: URI }]) {
      const v = await withPush(params, { pushed: pushed() });
      expect(v).toMatchObject({ ok: false, redirectTo: undefined, error: { error: 'invalid_request_uri' } });
    }
  });

  test('an app requiring PAR, or the setting for all: a plain request is invalid_request, redirected', async () => {
    const strict = makeClient({ id: 'strict', requirePushedAuthorizationRequests: true });
    const v = await validateAuthorizationRequest(raw({ ...BASE, client_id: 'strict' }), async () => strict, undefined, { pushed: pushed() });
    expect(v).toMatchObject({ ok: false, redirectTo: { uri: REDIRECT, state: 'st-123' }, error: { error: 'invalid_request' } });
    expect(await withPush(BASE, { pushed: pushed(true) })).toMatchObject({ ok: false, redirectTo: { uri: REDIRECT }, error: { error: 'invalid_request' } });
    expect((await withPush(BASE, { pushed: pushed(false) })).ok).toBe(true);
  });

  test('a pushed request containing request_uri is refused', async () => {
    expect(await withPush({ ...BASE, request_uri: URI }, { fromPar: true })).toMatchObject({ ok: false, error: { error: 'invalid_request' } });
  });
});
