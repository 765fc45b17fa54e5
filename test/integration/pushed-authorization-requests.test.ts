import { createHash, randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { SYSTEM } from '../../src/audit/actor.ts';
import type { Clock } from '../../src/clock.ts';
import { DIALECTS } from '../support/databases.ts';
import { basic, postForm, startTestServer, type TestServer } from '../support/server.ts';
import { hiddenFields, location, UserAgent } from '../support/user-agent.ts';

/**
 * Pushed authorization requests (RFC 9126) over HTTP on SQLite and PostgreSQL: the push
 * (client authenticated, validated as at /connect/authorize, errors as JSON), the request_uri
 * at /connect/authorize through login and consent to a code and tokens, and its MUSTs and
 * negative cases: used once, expired, another app's, parameters beside it ignored, a request
 * with a request_uri inside refused, PAR required per app and for every app.
 */
const REDIRECT = 'https://app.example.com/callback';
const PASSWORD = 'correct horse battery staple';

function movableClock(): Clock & { advance(seconds: number): void } {
  let offset = 0;
  return { now: () => Date.now() + offset, advance: (s) => void (offset += s * 1000) };
}

function pkce(): { verifier: string; challenge: string } {
  const verifier = randomBytes(32).toString('base64url');
  return { verifier, challenge: createHash('sha256').update(verifier).digest('base64url') };
}

describe.each(DIALECTS)('pushed authorization requests over HTTP (%s)', (dialect) => {
  let server: TestServer;
  const clock = movableClock();
  let app: { id: string; secret: string };
  let other: { id: string; secret: string };
  let strict: { id: string; secret: string };
  let publicApp: string;

  beforeAll(async () => {
    server = await startTestServer(dialect, { clock });
    const { services } = server.tessera;
    await services.users.create({ username: 'alice', password: PASSWORD, roles: ['developer'] }, SYSTEM);
    const base = { grantTypes: ['authorization_code'], redirectUris: [REDIRECT], scopes: ['openid', 'profile'] };
    const a = await services.clients.create({ ...base, name: 'Pushing app' }, SYSTEM);
    app = { id: a.client_id, secret: a.client_secret! };
    const o = await services.clients.create({ ...base, name: 'Other app' }, SYSTEM);
    other = { id: o.client_id, secret: o.client_secret! };
    const s = await services.clients.create({ ...base, name: 'PAR only', requirePushedAuthorizationRequests: true }, SYSTEM);
    strict = { id: s.client_id, secret: s.client_secret! };
    publicApp = (await services.clients.create({ ...base, name: 'Public pusher', public: true }, SYSTEM)).client_id;
  });
  afterAll(async () => server?.close());

  const request = (extra: Record<string, string> = {}) => ({ response_type: 'code', redirect_uri: REDIRECT, scope: 'openid profile', state: 'st-1', nonce: 'n-1', ...extra });

  async function push(client: { id: string; secret: string }, extra: Record<string, string> = {}): Promise<{ status: number; body: Record<string, unknown>; headers: Headers }> {
    const res = await postForm(`${server.url}/connect/par`, request(extra), { authorization: basic(client.id, client.secret) });
    return { status: res.status, body: (await res.json()) as Record<string, unknown>, headers: res.headers };
  }

  /** /connect/authorize with client_id and request_uri → login → consent → the app's callback. */
  async function authorize(clientId: string, requestUri: string, ua = new UserAgent(server.url), extra: Record<string, string> = {}): Promise<{ target: string; ua: UserAgent }> {
    let res = await ua.get(`/connect/authorize?${new URLSearchParams({ client_id: clientId, request_uri: requestUri, ...extra })}`);
    if (res.status === 400) return { target: `page:${await res.text()}`, ua };
    let target = location(res);
    if (target.startsWith('/login')) {
      const returnTo = new URL(target, server.url).searchParams.get('return_to')!;
      const page = await ua.get(`/login?${new URLSearchParams({ return_to: returnTo })}`);
      res = await ua.post('/login', { ...hiddenFields(await page.text()), username: 'alice', password: PASSWORD });
      res = await ua.get(location(res));
      target = location(res);
    }
    if (target.startsWith('/consent')) {
      res = await ua.get(target);
      res = await ua.post('/consent', { ...hiddenFields(await res.text()), decision: 'allow' });
      target = location(res);
    }
    return { target, ua };
  }

  test('push → request_uri (201, no-store, 60 s) → authorize → code → tokens, with PKCE', async () => {
    const { verifier, challenge } = pkce();
    const pushed = await push(app, { code_challenge: challenge, code_challenge_method: 'S256' });
    expect(pushed.status).toBe(201);
    expect(pushed.headers.get('cache-control')).toBe('no-store');
    expect(pushed.body.expires_in).toBe(60);
    expect(pushed.body.request_uri).toMatch(/^urn:ietf:params:oauth:request_uri:[A-Za-z0-9_-]{40,}$/);
    const { target } = await authorize(app.id, String(pushed.body.request_uri));
    const callback = new URL(target);
    expect(callback.origin + callback.pathname).toBe(REDIRECT);
    expect(callback.searchParams.get('state')).toBe('st-1');
    const code = callback.searchParams.get('code')!;
    const tokens = await postForm(`${server.url}/connect/token`, { grant_type: 'authorization_code', code, redirect_uri: REDIRECT, code_verifier: verifier }, { authorization: basic(app.id, app.secret) });
    expect(tokens.status).toBe(200);
    expect(await tokens.json()).toHaveProperty('id_token');
  });

  test('a request_uri is used once: the second authorization request is refused with invalid_request_uri', async () => {
    const pushed = await push(app);
    const ua = new UserAgent(server.url);
    const first = await authorize(app.id, String(pushed.body.request_uri), ua);
    expect(new URL(first.target).searchParams.get('code')).toBeTruthy();
    const again = await ua.get(`/connect/authorize?${new URLSearchParams({ client_id: app.id, request_uri: String(pushed.body.request_uri) })}`);
    expect(again.status).toBe(400);
    expect(await again.text()).toContain('invalid_request_uri');
  });

  test('a request_uri not brought within expires_in is refused; once the user arrived it lives through the sign-in', async () => {
    const late = await push(app);
    clock.advance(61);
    const res = await new UserAgent(server.url).get(`/connect/authorize?${new URLSearchParams({ client_id: app.id, request_uri: String(late.body.request_uri) })}`);
    expect(res.status).toBe(400);
    expect(await res.text()).toContain('invalid_request_uri');

    const slow = await push(app);
    const ua = new UserAgent(server.url);
    const start = await ua.get(`/connect/authorize?${new URLSearchParams({ client_id: app.id, request_uri: String(slow.body.request_uri) })}`);
    expect(location(start)).toMatch(/^\/login/);
    clock.advance(300); // the user takes five minutes to sign in
    const { target } = await authorize(app.id, String(slow.body.request_uri), ua);
    expect(new URL(target).searchParams.get('code')).toBeTruthy();
  });

  test('another app’s request_uri, a made-up one, and one without client_id are refused on the page', async () => {
    const pushed = await push(app);
    const ua = new UserAgent(server.url);
    for (const query of [
      { client_id: other.id, request_uri: String(pushed.body.request_uri) },
      { client_id: app.id, request_uri: 'urn:ietf:params:oauth:request_uri:made-up' },
      { client_id: app.id, request_uri: 'https://evil.example/request' },
    ]) {
      const res = await ua.get(`/connect/authorize?${new URLSearchParams(query)}`);
      expect(res.status).toBe(400);
      expect(await res.text()).toContain('invalid_request_uri');
    }
    const noClient = await ua.get(`/connect/authorize?${new URLSearchParams({ request_uri: String(pushed.body.request_uri) })}`);
    expect(noClient.status).toBe(400);
    // The owner can still use it: the refusals above did not consume it.
    expect(new URL((await authorize(app.id, String(pushed.body.request_uri))).target).searchParams.get('code')).toBeTruthy();
  });

  test('parameters sent beside request_uri are ignored: the pushed ones count', async () => {
    const pushed = await push(app, { state: 'pushed-state' });
    const { target } = await authorize(app.id, String(pushed.body.request_uri), undefined, { state: 'injected', redirect_uri: 'https://evil.example/cb', scope: 'openid' });
    const callback = new URL(target);
    expect(callback.origin).toBe('https://app.example.com');
    expect(callback.searchParams.get('state')).toBe('pushed-state');
    expect(callback.searchParams.get('scope')).toBe('openid profile');
  });

  test('prompt=login in a pushed request asks for a login once, then answers (no loop)', async () => {
    const ua = new UserAgent(server.url);
    await authorize(app.id, String((await push(app)).body.request_uri), ua); // signed in, consented
    clock.advance(2);
    const pushed = await push(app, { prompt: 'login' });
    const first = await ua.get(`/connect/authorize?${new URLSearchParams({ client_id: app.id, request_uri: String(pushed.body.request_uri) })}`);
    expect(location(first)).toMatch(/^\/login/);
    clock.advance(2);
    const { target } = await authorize(app.id, String(pushed.body.request_uri), ua);
    expect(new URL(target).searchParams.get('code')).toBeTruthy();
  });

  test('the push is validated like an authorization request; errors are JSON, never redirects', async () => {
    const badRedirect = await push(app, { redirect_uri: 'https://evil.example/cb' });
    expect(badRedirect).toMatchObject({ status: 400, body: { error: 'invalid_request' } });
    expect((await push(app, { scope: 'openid admin.everything' })).body.error).toBe('invalid_scope');
    expect((await push(app, { response_type: 'token' })).body.error).toBe('unsupported_response_type');
    expect((await push(app, { request_uri: 'urn:ietf:params:oauth:request_uri:x' })).body).toMatchObject({ error: 'invalid_request', error_description: expect.stringContaining('request_uri') });
    const wrongSecret = await postForm(`${server.url}/connect/par`, request(), { authorization: basic(app.id, 'nope') });
    expect(wrongSecret.status).toBe(401);
    expect(((await wrongSecret.json()) as { error: string }).error).toBe('invalid_client');
    const noAuth = await postForm(`${server.url}/connect/par`, { ...request(), client_id: app.id });
    expect(noAuth.status).toBe(401);
    expect((await fetch(`${server.url}/connect/par`)).status).toBe(405);
  });

  test('a public app pushes with client_id alone, PKCE required', async () => {
    const noPkce = await postForm(`${server.url}/connect/par`, { ...request(), client_id: publicApp });
    expect(((await noPkce.json()) as { error: string }).error).toBe('invalid_request');
    const { challenge } = pkce();
    const ok = await postForm(`${server.url}/connect/par`, { ...request({ code_challenge: challenge, code_challenge_method: 'S256' }), client_id: publicApp });
    expect(ok.status).toBe(201);
  });

  test('an app that requires PAR is refused a plain authorization request (invalid_request back to the app)', async () => {
    const res = await new UserAgent(server.url).get(`/connect/authorize?${new URLSearchParams({ client_id: strict.id, ...request() })}`);
    const back = new URL(location(res));
    expect(back.origin + back.pathname).toBe(REDIRECT);
    expect(back.searchParams.get('error')).toBe('invalid_request');
    expect(back.searchParams.get('error_description')).toMatch(/pushed authorization request/);
    const pushed = await push(strict);
    expect(new URL((await authorize(strict.id, String(pushed.body.request_uri))).target).searchParams.get('code')).toBeTruthy();
  });

  test('the setting requires PAR of every app; discovery says so only then', async () => {
    const { settings } = server.tessera.services;
    const meta = async () => (await (await fetch(`${server.url}/.well-known/oauth-authorization-server`)).json()) as Record<string, unknown>;
    expect(await meta()).toMatchObject({ pushed_authorization_request_endpoint: `${server.url}/connect/par` });
    expect(await meta()).not.toHaveProperty('require_pushed_authorization_requests');
    await settings.update({ require_pushed_authorization_requests: true }, SYSTEM);
    try {
      expect(await meta()).toMatchObject({ require_pushed_authorization_requests: true });
      const res = await new UserAgent(server.url).get(`/connect/authorize?${new URLSearchParams({ client_id: app.id, ...request() })}`);
      expect(new URL(location(res)).searchParams.get('error')).toBe('invalid_request');
      const pushed = await push(app);
      expect(new URL((await authorize(app.id, String(pushed.body.request_uri))).target).searchParams.get('code')).toBeTruthy();
    } finally {
      await settings.update({ require_pushed_authorization_requests: false }, SYSTEM);
    }
  });
});
