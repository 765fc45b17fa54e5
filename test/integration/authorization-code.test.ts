import { createHash, randomBytes } from 'node:crypto';
import { createRemoteJWKSet, decodeJwt, decodeProtectedHeader, jwtVerify } from 'jose';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import type { Clock } from '../../src/clock.ts';
import { DIALECTS } from '../support/databases.ts';
import { basic, postForm, startTestServer, type TestServer } from '../support/server.ts';
import { hiddenFields, location, UserAgent } from '../support/user-agent.ts';
import { SYSTEM } from '../../src/audit/actor.ts';
import { refreshStoreFor, type RefreshStore } from '../../src/oauth/refresh-store.ts';
import { mintRefreshToken, newFamilyKey, parseRefreshToken } from '../../src/oauth/refresh-token-format.ts';

/**
 * The authorization code flow over HTTP, page by page, on SQLite and PostgreSQL: login,
 * consent, code exchange with PKCE, refresh rotation, userinfo, logout. The browser tests
 * (test/e2e) drive the same pages in Chromium; this file covers the many edge cases fast.
 */

const REDIRECT = 'https://app.example.com/callback';
const POST_LOGOUT = 'https://app.example.com/signed-out';
const PASSWORD = 'correct horse battery staple';

/** A clock tests can move forward, and stop (so that waits of seconds do not race a slow machine). */
function movableClock(): Clock & { advance(seconds: number): void; stop(): void; start(): void } {
  let offset = 0;
  let stoppedAt: number | undefined;
  return {
    now: () => stoppedAt ?? Date.now() + offset,
    advance: (s) => {
      offset += s * 1000;
      if (stoppedAt !== undefined) stoppedAt += s * 1000;
    },
    stop: () => void (stoppedAt = Date.now() + offset),
    start: () => {
      if (stoppedAt !== undefined) offset = stoppedAt - Date.now();
      stoppedAt = undefined;
    },
  };
}

function pkce(): { verifier: string; challenge: string } {
  const verifier = randomBytes(32).toString('base64url');
  return { verifier, challenge: createHash('sha256').update(verifier).digest('base64url') };
}

describe.each(DIALECTS)('authorization code flow over HTTP (%s)', (dialect) => {
  let server: TestServer;
  const clock = movableClock();
  let app: { id: string; secret: string };
  let other: { id: string; secret: string };
  let publicApp: { id: string };
  let shortRefresh: { id: string; secret: string };

  beforeAll(async () => {
    server = await startTestServer(dialect, { clock });
    const { services } = server.tessera;
    await services.users.create({ username: 'alice', password: PASSWORD, roles: ['developer'], email: 'alice@example.com', name: 'Alice Liddell' }, SYSTEM);
    await services.users.create({ username: 'bob', password: PASSWORD, roles: [] }, SYSTEM);
    await services.users.create({ username: 'carol', password: PASSWORD, roles: ['developer'] }, SYSTEM);
    await services.users.create({ username: 'dave', password: PASSWORD, roles: ['developer'] }, SYSTEM);
    const base = {
      grantTypes: ['authorization_code'],
      redirectUris: [REDIRECT],
      postLogoutRedirectUris: [POST_LOGOUT],
      scopes: ['openid', 'profile', 'email', 'offline_access'],
    };
    const a = await services.clients.create({ ...base, name: 'Acme Books', description: 'Bookkeeping <for> "small" teams' }, SYSTEM);
    app = { id: a.client_id, secret: a.client_secret! };
    const o = await services.clients.create({ ...base, name: 'Other App' }, SYSTEM);
    other = { id: o.client_id, secret: o.client_secret! };
    const p = await services.clients.create({ ...base, name: 'Mobile App', public: true }, SYSTEM);
    publicApp = { id: p.client_id };
    const s = await services.clients.create({ ...base, name: 'Short Refresh', refreshTokenTtl: 180 }, SYSTEM);
    shortRefresh = { id: s.client_id, secret: s.client_secret! };
  });
  afterAll(async () => server?.close());

  function authorizeUrl(clientId: string, extra: Record<string, string> = {}): string {
    const q = new URLSearchParams({ client_id: clientId, response_type: 'code', redirect_uri: REDIRECT, scope: 'openid profile email offline_access', state: 'st-123', nonce: 'n-456', ...extra });
    return `/connect/authorize?${q}`;
  }

  async function signIn(ua: UserAgent, username: string, returnTo?: string): Promise<Response> {
    const page = await ua.get(returnTo ? `/login?${new URLSearchParams({ return_to: returnTo })}` : '/login');
    expect(page.status).toBe(200);
    const fields = hiddenFields(await page.text());
    return ua.post('/login', { ...fields, username, password: PASSWORD });
  }

  /** Runs authorize → login → consent (allow) and returns the callback URL. */
  async function getCode(clientId: string, username = 'alice', extra: Record<string, string> = {}, ua = new UserAgent(server.url)): Promise<{ callback: URL; ua: UserAgent }> {
    let res = await ua.get(authorizeUrl(clientId, extra));
    let target = location(res);
    if (target.startsWith('/login')) {
      const returnTo = new URL(target, server.url).searchParams.get('return_to')!;
      res = await signIn(ua, username, returnTo);
      target = location(res);
      expect(target).toBe(returnTo);
      res = await ua.get(target);
      target = location(res);
    }
    if (target.startsWith('/consent')) {
      res = await ua.get(target);
      expect(res.status).toBe(200);
      res = await ua.post('/consent', { ...hiddenFields(await res.text()), decision: 'allow' });
      target = location(res);
    }
    return { callback: new URL(target), ua };
  }

  async function exchange(code: string, verifier: string | undefined, client = app, extra: Record<string, string> = {}): Promise<Response> {
    const form: Record<string, string> = { grant_type: 'authorization_code', code, redirect_uri: REDIRECT, ...extra };
    if (verifier) form.code_verifier = verifier;
    return postForm(`${server.url}/connect/token`, form, { authorization: basic(client.id, client.secret) });
  }

  async function introspect(token: string): Promise<Record<string, unknown>> {
    const res = await postForm(`${server.url}/connect/introspect`, { token }, { authorization: basic(app.id, app.secret) });
    return (await res.json()) as Record<string, unknown>;
  }

  async function refresh(token: string, client = app, extra: Record<string, string> = {}): Promise<Response> {
    return postForm(`${server.url}/connect/token`, { grant_type: 'refresh_token', refresh_token: token, ...extra }, { authorization: basic(client.id, client.secret) });
  }

  test('full flow: login, consent, code with state and iss, PKCE exchange, ID token, userinfo', async () => {
    const { verifier, challenge } = pkce();
    const ua = new UserAgent(server.url);
    const start = await ua.get(authorizeUrl(app.id, { code_challenge: challenge, code_challenge_method: 'S256' }));
    expect(start.status).toBe(303);
    const loginUrl = new URL(location(start), server.url);
    expect(loginUrl.pathname).toBe('/login');

    const loginPage = await ua.get(loginUrl.pathname + loginUrl.search);
    expect(loginPage.headers.get('content-security-policy')).toContain("frame-ancestors 'none'");
    // Scripts: only the passkey scripts from our origin, by this response's nonce (no 'self', no inline).
    const csp = loginPage.headers.get('content-security-policy')!;
    const nonce = /script-src 'nonce-([A-Za-z0-9_-]+)';/.exec(csp)?.[1];
    expect(nonce).toBeTruthy();
    expect(csp).not.toMatch(/'self'[^;]*;\s*connect-src|unsafe-inline|script-src 'self'/);
    expect(loginPage.headers.get('x-frame-options')).toBe('DENY');
    expect(loginPage.headers.get('cache-control')).toBe('no-store');
    const loginHtml = await loginPage.text();
    const scripts = [...loginHtml.matchAll(/<script([^>]*)>([^<]*)<\/script>/g)];
    expect(scripts.length).toBe(2);
    for (const [, attrs, inline] of scripts) {
      expect(attrs).toContain(`nonce="${nonce}"`);
      expect(attrs).toMatch(/src="\/assets\/[a-z-]+\.[0-9a-f]{16}\.js"/);
      expect(inline).toBe('');
    }
    expect(loginHtml).not.toMatch(/\son[a-z]+=/i);
    expect(loginHtml).toContain('name="username"');
    expect(loginHtml).toContain('name="password"');
    expect(loginHtml).toContain('Acme Books');
    const csrfCookie = loginPage.headers.getSetCookie().find((c) => c.startsWith('tessera_csrf='))!;
    expect(csrfCookie).toMatch(/HttpOnly/i);
    expect(csrfCookie).toMatch(/SameSite=Lax/i);

    const posted = await ua.post('/login', { ...hiddenFields(loginHtml), username: 'alice', password: PASSWORD });
    expect(posted.status).toBe(303);
    const sessionCookie = posted.headers.getSetCookie().find((c) => c.startsWith('tessera_session='))!;
    expect(sessionCookie).toMatch(/HttpOnly/i);
    expect(sessionCookie).toMatch(/SameSite=Lax/i);
    expect(sessionCookie).not.toMatch(/Secure/i); // the issuer is http://127.0.0.1 here

    const again = await ua.get(location(posted));
    const consentUrl = location(again);
    expect(consentUrl.startsWith('/consent?')).toBe(true);
    const consent = await ua.get(consentUrl);
    const consentHtml = await consent.text();
    expect(consent.status).toBe(200);
    expect(consentHtml).toContain('Acme Books');
    // Output is escaped: the description's markup arrives as text.
    expect(consentHtml).toContain('Bookkeeping &lt;for&gt; &quot;small&quot; teams');
    expect(consentHtml).toContain('Yes, Allow');
    expect(consentHtml).toContain('Deny');
    expect(consentHtml).toContain('See your email address');
    expect(consentHtml).toContain('Keep access while you are away');

    const decided = await ua.post('/consent', { ...hiddenFields(consentHtml), decision: 'allow' });
    const callback = new URL(location(decided));
    expect(callback.origin + callback.pathname).toBe(REDIRECT);
    expect(callback.searchParams.get('state')).toBe('st-123');
    expect(callback.searchParams.get('iss')).toBe(server.url);
    expect(callback.searchParams.get('scope')).toBe('openid profile email offline_access');
    const code = callback.searchParams.get('code')!;
    expect(code).toMatch(/^[A-Za-z0-9_-]{43}$/);

    const res = await exchange(code, verifier);
    expect(res.status).toBe(200);
    expect(res.headers.get('cache-control')).toBe('no-store');
    const tokens = (await res.json()) as Record<string, string>;
    expect(tokens.token_type).toBe('Bearer');
    expect(tokens.refresh_token).toMatch(/^[A-Za-z0-9_-]{76}$/);

    const jwks = createRemoteJWKSet(new URL(`${server.url}/.well-known/jwks.json`));
    expect(decodeProtectedHeader(tokens.id_token!).alg).toBe('RS256');
    const { payload: id } = await jwtVerify(tokens.id_token!, jwks, { issuer: server.url, audience: app.id });
    const alice = await server.tessera.services.users.show('alice');
    expect(id.sub).toBe(alice.id);
    expect(id.nonce).toBe('n-456');
    expect(typeof id.sid).toBe('string');
    expect(typeof id.auth_time).toBe('number');
    // RFC 8176: a password sign-in, one factor.
    expect(id.amr).toEqual(['pwd']);
    expect(id.acr).toBe('urn:tessera:acr:basic');
    const atHash = createHash('sha256').update(tokens.access_token!).digest().subarray(0, 16).toString('base64url');
    expect(id.at_hash).toBe(atHash);
    expect(id.email).toBe('alice@example.com');

    const { payload: at } = await jwtVerify(tokens.access_token!, jwks, { issuer: server.url, typ: 'at+jwt' });
    expect(at.sub).toBe(alice.id);
    expect(at.client_id).toBe(app.id);

    const viaGet = await fetch(`${server.url}/connect/userinfo`, { headers: { authorization: `Bearer ${tokens.access_token}` } });
    expect(viaGet.status).toBe(200);
    expect(await viaGet.json()).toMatchObject({ sub: alice.id, preferred_username: 'alice', name: 'Alice Liddell', email: 'alice@example.com' });
    const viaPost = await postForm(`${server.url}/connect/userinfo`, { access_token: tokens.access_token! });
    expect(((await viaPost.json()) as { sub: string }).sub).toBe(alice.id);
    const noToken = await fetch(`${server.url}/connect/userinfo`);
    expect(noToken.status).toBe(401);
    expect(noToken.headers.get('www-authenticate')).toBe('Bearer realm="tessera", DPoP algs="ES256 ES384 ES512 PS256 PS384 PS512 RS256 RS384 RS512 EdDSA Ed25519"');
    const badToken = await fetch(`${server.url}/connect/userinfo`, { headers: { authorization: 'Bearer abc.def.ghi' } });
    expect(badToken.status).toBe(401);
    expect(badToken.headers.get('www-authenticate')).toContain('error="invalid_token"');
  });

  test('consent is remembered; prompt=consent and new scopes ask again', async () => {
    const { callback: first, ua } = await getCode(app.id, 'carol', { scope: 'openid profile' });
    expect(first.searchParams.get('code')).toBeTruthy();
    // Same scopes again: straight back to the app.
    const straight = new URL(location(await ua.get(authorizeUrl(app.id, { scope: 'openid profile' }))));
    expect(straight.searchParams.get('code')).toBeTruthy();
    // prompt=consent: the page again, with every scope.
    const forced = location(await ua.get(authorizeUrl(app.id, { scope: 'openid profile', prompt: 'consent' })));
    expect(forced.startsWith('/consent')).toBe(true);
    // One new scope: the page lists only it.
    const wider = location(await ua.get(authorizeUrl(app.id, { scope: 'openid profile email' })));
    const page = await (await ua.get(wider)).text();
    expect(page).toContain('<code>email</code>');
    expect(page).not.toContain('<code>profile</code>');
  });

  test('the consent page describes API scopes with the API’s own words', async () => {
    await server.tessera.services.apis.create({
      name: 'Ledger',
      basePath: `/ledger-${dialect}`,
      upstream: 'http://ledger.internal',
      scopes: [{ name: 'ledger.read', description: 'Read your <ledger> entries' }],
    }, SYSTEM);
    const c = await server.tessera.services.clients.create({ name: 'Ledger viewer', grantTypes: ['authorization_code'], redirectUris: [REDIRECT], scopes: ['openid', 'ledger.read'] }, SYSTEM);
    const ua = new UserAgent(server.url);
    await signIn(ua, 'carol');
    const page = await (await ua.get(location(await ua.get(authorizeUrl(c.client_id, { scope: 'openid ledger.read' }))))).text();
    expect(page).toContain('Read your &lt;ledger&gt; entries');
    expect(page).toContain('<code>ledger.read</code>');
  });

  test('deny sends access_denied with state and iss back to the app', async () => {
    const ua = new UserAgent(server.url);
    await signIn(ua, 'dave');
    const consent = location(await ua.get(authorizeUrl(other.id)));
    const page = await ua.get(consent);
    const back = new URL(location(await ua.post('/consent', { ...hiddenFields(await page.text()), decision: 'deny' })));
    expect(back.searchParams.get('error')).toBe('access_denied');
    expect(back.searchParams.get('state')).toBe('st-123');
    expect(back.searchParams.get('iss')).toBe(server.url);
    expect(back.searchParams.get('code')).toBeNull();
    // Recorded, as an approval is: the user, their address, the app and what it asked for.
    const dave = (await server.tessera.services.users.show('dave'))!;
    const { items } = await server.tessera.services.audit.list({ action: 'consent.deny', targetId: dave.id, limit: 10 });
    expect(items.map((e) => ({ actor: e.actor, ip: e.ip, details: e.details }))).toEqual([{ actor: 'user:dave', ip: '127.0.0.1', details: { client_id: other.id, scopes: expect.arrayContaining(['openid']) } }]);
    expect((await server.tessera.services.audit.list({ action: 'consent.grant', targetId: dave.id, limit: 10 })).items).toEqual([]);
  });

  test('a user without the required permission gets access_denied saying why', async () => {
    const ua = new UserAgent(server.url);
    await signIn(ua, 'bob');
    const back = new URL(location(await ua.get(authorizeUrl(app.id))));
    expect(back.searchParams.get('error')).toBe('access_denied');
    expect(back.searchParams.get('error_description')).toContain('developer_api');
  });

  test('prompt=none: login_required without a session, consent_required without consent, a code with both', async () => {
    const anon = new UserAgent(server.url);
    const noSession = new URL(location(await anon.get(authorizeUrl(app.id, { prompt: 'none' }))));
    expect(noSession.searchParams.get('error')).toBe('login_required');
    expect(noSession.searchParams.get('state')).toBe('st-123');

    const ua = new UserAgent(server.url);
    await signIn(ua, 'dave');
    const noConsent = new URL(location(await ua.get(authorizeUrl(app.id, { prompt: 'none' }))));
    expect(noConsent.searchParams.get('error')).toBe('consent_required');

    await getCode(app.id, 'dave', {}, ua);
    const silent = new URL(location(await ua.get(authorizeUrl(app.id, { prompt: 'none' }))));
    expect(silent.searchParams.get('code')).toBeTruthy();
  });

  test('max_age and prompt=login send a signed-in user back to the login page', async () => {
    const { ua } = await getCode(app.id, 'alice');
    clock.advance(5);
    expect(location(await ua.get(authorizeUrl(app.id, { max_age: '1' }))).startsWith('/login')).toBe(true);
    expect(location(await ua.get(authorizeUrl(app.id, { prompt: 'login' }))).startsWith('/login')).toBe(true);
  });

  test('unknown client and untrusted redirect URIs get an error page, never a redirect', async () => {
    const ua = new UserAgent(server.url);
    for (const url of [
      authorizeUrl('no-such-client'),
      authorizeUrl(app.id, { redirect_uri: 'https://evil.example.net/callback' }),
      authorizeUrl(app.id, { redirect_uri: `${REDIRECT}/` }),
      `/connect/authorize?client_id=${app.id}&client_id=${app.id}&response_type=code`,
    ]) {
      const res = await ua.get(url);
      expect(res.status, url).toBe(400);
      expect(res.headers.get('location')).toBeNull();
      expect(res.headers.get('content-type')).toContain('text/html');
      expect(res.headers.get('x-frame-options')).toBe('DENY');
    }
  });

  test('other errors are redirected: unsupported_response_type, plain PKCE, unknown scope', async () => {
    const ua = new UserAgent(server.url);
    const cases: Array<[Record<string, string>, string]> = [
      [{ response_type: 'token' }, 'unsupported_response_type'],
      [{ code_challenge: 'x'.repeat(43), code_challenge_method: 'plain' }, 'invalid_request'],
      [{ scope: 'openid admin.everything' }, 'invalid_scope'],
      [{ nonce: 'a\u0000b' }, 'invalid_request'],
      [{ prompt: 'none login' }, 'invalid_request'],
      [{ max_age: '-1' }, 'invalid_request'],
    ];
    for (const [extra, error] of cases) {
      const back = new URL(location(await ua.get(authorizeUrl(app.id, extra))));
      expect(back.searchParams.get('error')).toBe(error);
      expect(back.searchParams.get('state')).toBe('st-123');
      expect(back.searchParams.get('iss')).toBe(server.url);
    }
    // A public client must use PKCE.
    const back = new URL(location(await ua.get(authorizeUrl(publicApp.id))));
    expect(back.searchParams.get('error')).toBe('invalid_request');
    expect(back.searchParams.get('error_description')).toContain('PKCE');
  });

  test('code exchange: wrong verifier, wrong redirect URI and another client each get invalid_grant', async () => {
    const { verifier, challenge } = pkce();
    const pkceExtra = { code_challenge: challenge, code_challenge_method: 'S256' };
    const c1 = (await getCode(app.id, 'alice', pkceExtra)).callback.searchParams.get('code')!;
    const wrong = await exchange(c1, pkce().verifier);
    expect(wrong.status).toBe(400);
    expect(((await wrong.json()) as { error: string }).error).toBe('invalid_grant');

    const c2 = (await getCode(app.id, 'alice', pkceExtra)).callback.searchParams.get('code')!;
    const res2 = await exchange(c2, verifier, app, { redirect_uri: 'https://app.example.com/other' });
    expect(((await res2.json()) as { error: string }).error).toBe('invalid_grant');

    const c3 = (await getCode(app.id, 'alice', pkceExtra)).callback.searchParams.get('code')!;
    const res3 = await exchange(c3, verifier, other);
    expect(((await res3.json()) as { error: string }).error).toBe('invalid_grant');

    const c4 = (await getCode(app.id, 'alice', pkceExtra)).callback.searchParams.get('code')!;
    const missing = await exchange(c4, undefined);
    expect(((await missing.json()) as { error: string }).error).toBe('invalid_grant');
  });

  test('a public client exchanges its code with PKCE and no secret', async () => {
    const { verifier, challenge } = pkce();
    const { callback } = await getCode(publicApp.id, 'alice', { code_challenge: challenge, code_challenge_method: 'S256' });
    const res = await postForm(`${server.url}/connect/token`, {
      grant_type: 'authorization_code',
      code: callback.searchParams.get('code')!,
      redirect_uri: REDIRECT,
      code_verifier: verifier,
      client_id: publicApp.id,
    });
    expect(res.status).toBe(200);
    expect(((await res.json()) as { access_token: string }).access_token).toBeTruthy();
  });

  test('a replayed code gets invalid_grant and revokes every token issued from it', async () => {
    const { callback } = await getCode(app.id, 'alice');
    const code = callback.searchParams.get('code')!;
    const tokens = (await (await exchange(code, undefined)).json()) as Record<string, string>;
    expect((await introspect(tokens.access_token!)).active).toBe(true);
    const replay = await exchange(code, undefined);
    expect(replay.status).toBe(400);
    expect(((await replay.json()) as { error: string }).error).toBe('invalid_grant');
    expect((await introspect(tokens.access_token!)).active).toBe(false);
    expect((await introspect(tokens.refresh_token!)).active).toBe(false);
    const refreshed = await refresh(tokens.refresh_token!);
    expect(((await refreshed.json()) as { error: string }).error).toBe('invalid_grant');
  });

  test('an exchange that issues commits once (the code consumed, what it gave recorded, the refresh family written)', async () => {
    const { database } = server.tessera;
    const stats = database.sqlite?.stats ?? database.groupCommit!.stats;
    for (let i = 0; i < 3; i++) {
      const { callback } = await getCode(app.id, 'alice');
      const batches = stats.batches;
      const res = await exchange(callback.searchParams.get('code')!, undefined);
      expect(res.status).toBe(200);
      const tokens = (await res.json()) as Record<string, string>;
      expect(tokens.refresh_token).toBeTruthy();
      expect(stats.batches - batches).toBe(1);
      expect((await introspect(tokens.refresh_token!)).active).toBe(true);
    }
  });

  test('a code whose user is not in the registry cache is exchanged all the same: the user read once the code is consumed, then two commits on SQLite', async () => {
    const { database, cache, feed } = server.tessera;
    const stats = database.sqlite?.stats ?? database.groupCommit!.stats;
    await server.tessera.services.users.create({ username: 'hana', password: PASSWORD, roles: ['developer'] }, SYSTEM);
    const { callback } = await getCode(app.id, 'hana');
    // A change to the user drops them from the registry cache once the change feed is read.
    await server.tessera.services.users.setDisabled('hana', true, SYSTEM);
    await server.tessera.services.users.setDisabled('hana', false, SYSTEM);
    await feed.refresh();
    const misses = cache.stats.principals.misses;
    const batches = stats.batches;
    const res = await exchange(callback.searchParams.get('code')!, undefined);
    expect(res.status).toBe(200);
    const tokens = (await res.json()) as Record<string, string>;
    expect(cache.stats.principals.misses - misses).toBe(1);
    expect(stats.batches - batches).toBe(database.sqlite ? 2 : 1);
    expect((await introspect(tokens.access_token!)).active).toBe(true);
    expect((await introspect(tokens.refresh_token!)).active).toBe(true);
    const again = await exchange(callback.searchParams.get('code')!, undefined);
    expect(await again.json()).toEqual({ error: 'invalid_grant', error_description: 'the authorization code was already used; tokens issued from it are revoked' });
    expect((await introspect(tokens.refresh_token!)).active).toBe(false);
  });

  test('a code whose user was disabled after consent is refused, and used up: it cannot be exchanged once they are enabled again', async () => {
    await server.tessera.services.users.create({ username: 'gina', password: PASSWORD, roles: ['developer'] }, SYSTEM);
    const { callback } = await getCode(app.id, 'gina');
    const code = callback.searchParams.get('code')!;
    await server.tessera.services.users.setDisabled('gina', true, SYSTEM);
    const refused = await exchange(code, undefined);
    expect(refused.status).toBe(400);
    expect(await refused.json()).toEqual({ error: 'invalid_grant', error_description: 'the user is disabled or no longer exists' });
    await server.tessera.services.users.setDisabled('gina', false, SYSTEM);
    const again = await exchange(code, undefined);
    expect(await again.json()).toEqual({ error: 'invalid_grant', error_description: 'the authorization code was already used; tokens issued from it are revoked' });
  });

  test('concurrent exchanges of one code: after the replays, no token from the code is active', async () => {
    for (let round = 0; round < 3; round++) {
      const { callback } = await getCode(app.id, 'alice');
      const code = callback.searchParams.get('code')!;
      const answers = await Promise.all(Array.from({ length: 6 }, () => exchange(code, undefined)));
      const bodies = (await Promise.all(answers.map((a) => a.json()))) as Array<Record<string, string>>;
      const won = bodies.filter((b) => b.access_token);
      // At most one exchange issues tokens; every other gets invalid_grant.
      expect(won.length).toBeLessThanOrEqual(1);
      expect(bodies.filter((b) => b.error === 'invalid_grant')).toHaveLength(6 - won.length);
      for (const b of won) {
        expect((await introspect(b.access_token!)).active).toBe(false);
        expect((await introspect(b.refresh_token!)).active).toBe(false);
      }
    }
  });

  test('introspection answers only the app the tokens were issued to; a refresh token has no token_type', async () => {
    const { callback } = await getCode(app.id, 'alice');
    const tokens = (await (await exchange(callback.searchParams.get('code')!, undefined)).json()) as Record<string, string>;
    const own = await introspect(tokens.refresh_token!);
    expect(own).toMatchObject({ active: true, client_id: app.id, scope: 'openid profile email offline_access' });
    // RFC 7662 §2.2 token_type is an access token type (RFC 6749 §7.1): a refresh token has none.
    expect(own).not.toHaveProperty('token_type');
    expect(await introspect(tokens.access_token!)).toMatchObject({ active: true, client_id: app.id, username: 'alice', token_type: 'Bearer' });
    // Another confidential app learns nothing, not even that the tokens are valid.
    for (const token of [tokens.access_token!, tokens.refresh_token!]) {
      const res = await postForm(`${server.url}/connect/introspect`, { token }, { authorization: basic(other.id, other.secret) });
      expect(res.status).toBe(200);
      expect(await res.json()).toEqual({ active: false });
    }
    expect((await introspect(tokens.refresh_token!)).active).toBe(true);
  });

  test('refresh tokens rotate; reuse of a rotated one revokes the family', async () => {
    const { callback } = await getCode(app.id, 'alice');
    const first = (await (await exchange(callback.searchParams.get('code')!, undefined)).json()) as Record<string, string>;
    expect((await introspect(first.refresh_token!)).active).toBe(true);
    const r1 = await refresh(first.refresh_token!);
    expect(r1.status).toBe(200);
    const second = (await r1.json()) as Record<string, string>;
    expect(second.refresh_token).not.toBe(first.refresh_token);
    expect(second.id_token).toBeTruthy();
    // The refreshed ID token says how the user signed in, as the first did.
    expect(decodeJwt(second.id_token!)).toMatchObject({ amr: ['pwd'], acr: 'urn:tessera:acr:basic' });
    // Narrowing is allowed, widening is not.
    const narrow = await refresh(second.refresh_token!, app, { scope: 'openid offline_access' });
    expect(narrow.status).toBe(200);
    const third = (await narrow.json()) as Record<string, string>;
    expect(third.scope).toBe('openid offline_access');
    const widen = await refresh(third.refresh_token!, app, { scope: 'openid offline_access email' });
    expect(((await widen.json()) as { error: string }).error).toBe('invalid_scope');
    // Reuse of the first (rotated) token: refused, and the latest one dies with it.
    const reuse = await refresh(first.refresh_token!);
    expect(((await reuse.json()) as { error: string }).error).toBe('invalid_grant');
    const latest = await refresh(third.refresh_token!);
    expect(((await latest.json()) as { error: string }).error).toBe('invalid_grant');
  });

  test('a refresh token names its family and generation; the family keeps one row, holding only the current token’s hash', async () => {
    const { callback } = await getCode(app.id, 'alice');
    let tokens = (await (await exchange(callback.searchParams.get('code')!, undefined)).json()) as Record<string, string>;
    const first = parseRefreshToken(tokens.refresh_token!)!;
    expect(first.generation).toBe(0);
    for (let generation = 1; generation <= 4; generation++) {
      const r = await refresh(tokens.refresh_token!);
      expect(r.status).toBe(200);
      tokens = (await r.json()) as Record<string, string>;
      expect(parseRefreshToken(tokens.refresh_token!)).toEqual({ key: first.key, generation });
    }
    const db = server.tessera.database.db;
    const family = await db.selectFrom('refresh_token_families').selectAll().where('token_key', '=', first.key).executeTakeFirstOrThrow();
    expect(family).toMatchObject({ client_id: app.id, token_generation: 4, token_hash: createHash('sha256').update(tokens.refresh_token!).digest('base64url'), revoked_at: null });
    // No row per token: four rotations wrote nothing but this row, and the token itself is stored nowhere.
    expect(await db.selectFrom('refresh_tokens').select('token_hash').where('family_id', '=', family.id).execute()).toEqual([]);
    expect(JSON.stringify(family)).not.toContain(tokens.refresh_token!);
    expect((await introspect(tokens.refresh_token!)).active).toBe(true);
  });

  test('a spent token of any earlier generation revokes the family; a forged one changes nothing', async () => {
    const { callback } = await getCode(app.id, 'alice');
    const issued = [(await (await exchange(callback.searchParams.get('code')!, undefined)).json()) as Record<string, string>];
    for (let i = 0; i < 5; i++) issued.push((await (await refresh(issued.at(-1)!.refresh_token!)).json()) as Record<string, string>);
    const current = issued.at(-1)!.refresh_token!;
    const { key, generation } = parseRefreshToken(current)!;
    expect(generation).toBe(5);

    // Forged: the current generation with another secret, a later generation, an unknown family.
    const forged = [mintRefreshToken(key, 5), mintRefreshToken(key, 6), mintRefreshToken(newFamilyKey(), 0), `${current.slice(0, 75)}${current.endsWith('A') ? 'B' : 'A'}`];
    for (const token of forged) {
      const r = await refresh(token);
      expect(r.status).toBe(400);
      expect(await r.json()).toEqual({ error: 'invalid_grant', error_description: 'the refresh token is invalid' });
      expect((await introspect(token)).active).toBe(false);
      const revoked = await postForm(`${server.url}/connect/revocation`, { token, token_type_hint: 'refresh_token' }, { authorization: basic(app.id, app.secret) });
      expect(revoked.status).toBe(200);
    }
    // None of them touched the family: the current token is active and still rotates.
    expect((await introspect(current)).active).toBe(true);
    const next = (await (await refresh(current)).json()) as Record<string, string>;
    expect(parseRefreshToken(next.refresh_token!)).toEqual({ key, generation: 6 });
    expect((await introspect(issued[1]!.refresh_token!)).active).toBe(false);

    // The token of generation 1, spent five rotations ago: reuse, and the family is revoked.
    const reuse = await refresh(issued[1]!.refresh_token!);
    expect(await reuse.json()).toEqual({ error: 'invalid_grant', error_description: 'the refresh token was already used; the grant is revoked' });
    expect((await introspect(next.refresh_token!)).active).toBe(false);
    expect(((await (await refresh(next.refresh_token!)).json()) as { error: string }).error).toBe('invalid_grant');
    const row = await server.tessera.database.db.selectFrom('refresh_token_families').select(['revoked_at', 'token_generation']).where('token_key', '=', key).executeTakeFirstOrThrow();
    expect(row.revoked_at).not.toBeNull();
    expect(row.token_generation).toBe(6);
  });

  test('a refresh that races a revocation of its family issues nothing and is no replay', async () => {
    const { callback } = await getCode(app.id, 'alice');
    const tokens = (await (await exchange(callback.searchParams.get('code')!, undefined)).json()) as Record<string, string>;
    const db = server.tessera.database.db;
    const { key } = parseRefreshToken(tokens.refresh_token!)!;
    const familyId = (await db.selectFrom('refresh_token_families').select('id').where('token_key', '=', key).executeTakeFirstOrThrow()).id;
    // The revocation lands between the grant's find and its rotation (as /connect/revocation
    // from another request would): patched into the store the server uses, for this request only.
    const store = Object.getPrototypeOf(refreshStoreFor(server.tessera.database)) as RefreshStore;
    const rotate = store.rotate;
    store.rotate = async function (this: RefreshStore, ...args: Parameters<RefreshStore['rotate']>) {
      await this.revokeFamily(args[2], args[4]);
      return rotate.apply(this, args);
    };
    let raced: Response;
    try {
      raced = await refresh(tokens.refresh_token!);
    } finally {
      store.rotate = rotate;
    }
    expect(raced.status).toBe(400);
    expect(await raced.json()).toEqual({ error: 'invalid_grant', error_description: 'the refresh token has been revoked' });
    const row = await db.selectFrom('refresh_token_families').select(['token_generation', 'revoked_at']).where('id', '=', familyId).executeTakeFirstOrThrow();
    expect(row.token_generation).toBe(0);
    expect(row.revoked_at).not.toBeNull();
    expect(await db.selectFrom('audit_events').select('id').where('action', '=', 'token.replay').where('target_id', '=', familyId).execute()).toEqual([]);
  });

  test('a refresh token issued before migration 0026 (a refresh_tokens row) still rotates, in its own form, and its reuse revokes the family', async () => {
    const nowS = Math.floor(clock.now() / 1000);
    const hash = (t: string) => createHash('sha256').update(t).digest('base64url');
    const old = randomBytes(32).toString('base64url');
    await refreshStoreFor(server.tessera.database).createFamily(
      { id: `fam-legacy-${dialect}`, clientId: app.id, userId: (await server.tessera.services.users.find('alice')).id, scope: 'openid offline_access', sessionId: null, authTime: nowS, amr: ['pwd'], createdAt: nowS, expiresAt: nowS + 3600, revokedAt: null },
      hash(old),
      nowS + 3600,
    );
    const r1 = await refresh(old);
    expect(r1.status).toBe(200);
    const second = ((await r1.json()) as Record<string, string>).refresh_token!;
    expect(second).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(parseRefreshToken(second)).toBeUndefined();
    const rows = await server.tessera.database.db.selectFrom('refresh_tokens').select(['token_hash', 'used_at']).where('family_id', '=', `fam-legacy-${dialect}`).orderBy('created_at').execute();
    expect(rows.map((r) => [r.token_hash, r.used_at === null])).toEqual(expect.arrayContaining([[hash(old), false], [hash(second), true]]));
    const third = ((await (await refresh(second)).json()) as Record<string, string>).refresh_token!;
    expect((await introspect(third)).active).toBe(true);
    expect(((await (await refresh(old)).json()) as { error: string }).error).toBe('invalid_grant');
    expect((await introspect(third)).active).toBe(false);
  });

  test('concurrent use of one refresh token gives exactly one success', async () => {
    const { callback } = await getCode(app.id, 'alice');
    const tokens = (await (await exchange(callback.searchParams.get('code')!, undefined)).json()) as Record<string, string>;
    const results = await Promise.all(Array.from({ length: 8 }, () => refresh(tokens.refresh_token!)));
    const statuses = results.map((r) => r.status);
    expect(statuses.filter((s) => s === 200)).toHaveLength(1);
    expect(statuses.filter((s) => s === 400)).toHaveLength(7);
  });

  test('a refresh refused at issue spends nothing: the same token then works with a narrower scope', async () => {
    // A grant with the admin scope for a user who is not (or no longer) an admin: refreshing it
    // as it is is refused when the tokens would be issued. The rotation commits only once
    // issuing is allowed, so the token is not spent and its family stays alive.
    const erin = (await server.tessera.services.users.create({ username: `erin-${dialect}`, password: PASSWORD, roles: ['developer'] }, SYSTEM)) as { id: string };
    const nowS = Math.floor(clock.now() / 1000);
    const token = randomBytes(32).toString('base64url');
    await refreshStoreFor(server.tessera.database).createFamily(
      { id: `fam-erin-${dialect}`, clientId: app.id, userId: erin.id, scope: 'openid offline_access tessera.admin', sessionId: null, authTime: nowS, amr: ['pwd'], createdAt: nowS, expiresAt: nowS + 3600, revokedAt: null },
      createHash('sha256').update(token).digest('base64url'),
      nowS + 3600,
    );
    const refused = await refresh(token);
    expect(refused.status).toBe(400);
    expect(await refused.json()).toMatchObject({ error: 'invalid_grant', error_description: 'tessera.admin requires the admin role' });
    const narrower = await refresh(token, app, { scope: 'openid offline_access' });
    expect(narrower.status).toBe(200);
    const tokens = (await narrower.json()) as Record<string, string>;
    expect(tokens.scope).toBe('openid offline_access');
    expect((await refresh(tokens.refresh_token!, app, { scope: 'openid offline_access' })).status).toBe(200);
  });

  test('refresh tokens come only with offline_access; another client cannot use them; revocation kills the family', async () => {
    const { callback } = await getCode(app.id, 'alice', { scope: 'openid profile' });
    const noOffline = (await (await exchange(callback.searchParams.get('code')!, undefined)).json()) as Record<string, string>;
    expect(noOffline.refresh_token).toBeUndefined();

    const { callback: c2 } = await getCode(app.id, 'alice');
    const tokens = (await (await exchange(c2.searchParams.get('code')!, undefined)).json()) as Record<string, string>;
    const stolen = await refresh(tokens.refresh_token!, other);
    expect(((await stolen.json()) as { error: string }).error).toBe('invalid_grant');
    const rotated = (await (await refresh(tokens.refresh_token!)).json()) as Record<string, string>;
    const revoked = await postForm(`${server.url}/connect/revocation`, { token: rotated.refresh_token!, token_type_hint: 'refresh_token' }, { authorization: basic(app.id, app.secret) });
    expect(revoked.status).toBe(200);
    expect(((await (await refresh(rotated.refresh_token!)).json()) as { error: string }).error).toBe('invalid_grant');
  });

  test('a per-app refresh lifetime of 3 minutes is honoured', async () => {
    const { callback } = await getCode(shortRefresh.id, 'alice');
    const tokens = (await (await exchange(callback.searchParams.get('code')!, undefined, shortRefresh)).json()) as Record<string, string>;
    clock.advance(120);
    const ok = await refresh(tokens.refresh_token!, shortRefresh);
    expect(ok.status).toBe(200);
    const next = (await ok.json()) as Record<string, string>;
    clock.advance(181);
    const expired = await refresh(next.refresh_token!, shortRefresh);
    expect(((await expired.json()) as { error: string }).error).toBe('invalid_grant');
  });

  test('a refresh-token family expires at its absolute lifetime from the first issue; rotation does not extend it', async () => {
    const { callback } = await getCode(shortRefresh.id, 'alice');
    const tokens = (await (await exchange(callback.searchParams.get('code')!, undefined, shortRefresh)).json()) as Record<string, string>;
    clock.advance(120);
    const ok = await refresh(tokens.refresh_token!, shortRefresh);
    expect(ok.status).toBe(200);
    const next = (await ok.json()) as Record<string, string>;
    // 181 s after the first issue: past the family's 180 s, though only 61 s after the rotation.
    clock.advance(61);
    const expired = await refresh(next.refresh_token!, shortRefresh);
    expect(expired.status).toBe(400);
    expect(((await expired.json()) as { error: string }).error).toBe('invalid_grant');
  });

  test('login: one generic message, CSRF required, slowed (429, Retry-After) after repeated failures', async () => {
    const ua = new UserAgent(server.url);
    const page = await ua.get('/login');
    const fields = hiddenFields(await page.text());
    const unknown = await ua.post('/login', { ...fields, username: 'nobody', password: 'whatever-long' });
    const wrong = await ua.post('/login', { ...fields, username: 'carol', password: 'wrong password!' });
    expect(unknown.status).toBe(401);
    expect(wrong.status).toBe(401);
    const m1 = /role="alert">([^<]*)</.exec(await unknown.text())![1];
    const m2 = /role="alert">([^<]*)</.exec(await wrong.text())![1];
    expect(m1).toBe(m2);

    const forged = await ua.post('/login', { csrf: 'forged', username: 'carol', password: PASSWORD });
    expect(forged.status).toBe(403);
    expect(forged.headers.getSetCookie().some((c) => c.startsWith('tessera_session='))).toBe(false);

    // A NUL byte or an oversized name is just a failed sign-in, never a 500.
    const nul = await ua.post('/login', { ...fields, username: 'a\u0000b', password: 'x' });
    expect(nul.status).toBe(401);
    const long = await ua.post('/login', { ...fields, username: 'x'.repeat(5000), password: 'x' });
    expect(long.status).toBeLessThan(500);

    const victim = 'throttle-victim';
    await server.tessera.services.users.create({ username: victim, password: PASSWORD, roles: ['developer'] }, SYSTEM);
    // Five free failures, then one that makes this browser wait a second (docs/sign-in.md).
    clock.stop();
    try {
      for (let i = 0; i < 6; i++) expect((await ua.post('/login', { ...fields, username: victim, password: 'bad password!' })).status).toBe(401);
      const slowed = await ua.post('/login', { ...fields, username: victim, password: PASSWORD });
      expect(slowed.status).toBe(429);
      expect(slowed.headers.get('retry-after')).toBe('1');
      expect(/role="alert">([^<]*)</.exec(await slowed.text())![1]).toBe('Too many failed sign-in attempts. Wait 1 second, then try again.');
      clock.advance(1);
      expect((await ua.post('/login', { ...fields, username: victim, password: PASSWORD })).status).toBe(200);
    } finally {
      clock.start();
    }
  });

  test('consent POST with a forged CSRF token changes nothing', async () => {
    const ua = new UserAgent(server.url);
    await signIn(ua, 'carol');
    const consent = location(await ua.get(authorizeUrl(other.id)));
    const fields = hiddenFields(await (await ua.get(consent)).text());
    const forged = await ua.post('/consent', { ...fields, csrf: 'AAAA', decision: 'allow' });
    expect(forged.status).toBe(403);
    expect(forged.headers.get('location')).toBeNull();
    // Still not approved: the page comes back.
    expect(location(await ua.get(authorizeUrl(other.id))).startsWith('/consent')).toBe(true);
  });

  test('logout with id_token_hint and post_logout_redirect_uri ends the session; prompt=none then says login_required', async () => {
    const { callback, ua } = await getCode(app.id, 'alice');
    const tokens = (await (await exchange(callback.searchParams.get('code')!, undefined)).json()) as Record<string, string>;
    const bad = await ua.get(`/connect/endsession?${new URLSearchParams({ id_token_hint: tokens.id_token!, post_logout_redirect_uri: 'https://evil.example.net/' })}`);
    expect(bad.status).toBe(400);
    expect(bad.headers.get('location')).toBeNull();

    const res = await ua.get(`/connect/endsession?${new URLSearchParams({ id_token_hint: tokens.id_token!, post_logout_redirect_uri: POST_LOGOUT, state: 'bye-1' })}`);
    const target = new URL(location(res));
    expect(target.origin + target.pathname).toBe(POST_LOGOUT);
    expect(target.searchParams.get('state')).toBe('bye-1');
    const after = new URL(location(await ua.get(authorizeUrl(app.id, { prompt: 'none' }))));
    expect(after.searchParams.get('error')).toBe('login_required');
    // Tokens already issued stay valid until they expire or are revoked.
    expect((await introspect(tokens.access_token!)).active).toBe(true);
  });

  test('logout without a hint asks for confirmation first', async () => {
    const { ua } = await getCode(app.id, 'alice');
    const res = await ua.get(`/connect/endsession?${new URLSearchParams({ client_id: app.id, post_logout_redirect_uri: POST_LOGOUT, state: 's2' })}`);
    const confirmUrl = location(res);
    expect(confirmUrl.startsWith('/logout')).toBe(true);
    const page = await ua.get(confirmUrl);
    expect(page.status).toBe(200);
    const html = await page.text();
    expect(html).toContain('Sign out?');
    // Still signed in until the user confirms.
    expect(new URL(location(await ua.get(authorizeUrl(app.id, { prompt: 'none' })))).searchParams.get('code')).toBeTruthy();
    const forged = await ua.post('/logout', { ...hiddenFields(html), csrf: 'nope' });
    expect(forged.status).toBe(403);
    const done = new URL(location(await ua.post('/logout', hiddenFields(html))));
    expect(done.origin + done.pathname).toBe(POST_LOGOUT);
    expect(done.searchParams.get('state')).toBe('s2');
    expect(new URL(location(await ua.get(authorizeUrl(app.id, { prompt: 'none' })))).searchParams.get('error')).toBe('login_required');
  });

  test('a password change and disabling a user end their sessions', async () => {
    await server.tessera.services.users.create({ username: 'erin', password: PASSWORD, roles: ['developer'] }, SYSTEM);
    const { ua } = await getCode(app.id, 'erin');
    expect(new URL(location(await ua.get(authorizeUrl(app.id, { prompt: 'none' })))).searchParams.get('code')).toBeTruthy();
    clock.advance(2);
    await server.tessera.services.users.update('erin', { password: 'a brand new passphrase' }, SYSTEM);
    expect(new URL(location(await ua.get(authorizeUrl(app.id, { prompt: 'none' })))).searchParams.get('error')).toBe('login_required');

    await server.tessera.services.users.create({ username: 'frank', password: PASSWORD, roles: ['developer'] }, SYSTEM);
    const { ua: ua2 } = await getCode(app.id, 'frank');
    await server.tessera.services.users.setDisabled('frank', true, SYSTEM);
    expect(new URL(location(await ua2.get(authorizeUrl(app.id, { prompt: 'none' })))).searchParams.get('error')).toBe('login_required');
  });

  test('no input to the pages or browser endpoints produces a 5xx', async () => {
    // A seeded generator: the same cases every run, so a failure can be replayed.
    let seed = 20261122;
    const rnd = (n: number) => ((seed = (seed * 1103515245 + 12345) % 2 ** 31), seed % n);
    const alphabet = ['', 'a', '\u0000', '%', '%zz', '\u00ff', '\ud83d\ude00', '"<x>', '&', '=', ' ', 'x'.repeat(3000), app.id, REDIRECT, 'code', 'none'];
    const keys = ['client_id', 'redirect_uri', 'response_type', 'scope', 'state', 'nonce', 'prompt', 'max_age', 'code_challenge', 'code_challenge_method', 'login_hint', 'id_token_hint', 'post_logout_redirect_uri', 'return_to', 'username', 'password', 'csrf', 'decision'];
    const ua = new UserAgent(server.url);
    await signIn(ua, 'alice');
    const paths = ['/connect/authorize', '/consent', '/login', '/logout', '/connect/endsession'];
    for (let i = 0; i < 150; i++) {
      const form = new URLSearchParams();
      for (let k = rnd(6); k > 0; k--) form.append(keys[rnd(keys.length)]!, alphabet[rnd(alphabet.length)]! + alphabet[rnd(alphabet.length)]!);
      const path = paths[rnd(paths.length)]!;
      const res = rnd(2) ? await ua.get(`${path}?${form}`) : await ua.post(path, form);
      expect(res.status, `${path} ${form}`).toBeLessThan(500);
      await res.arrayBuffer();
    }
    // Raw, unencoded garbage in the query string too.
    for (const raw of ['%', '%%%', 'a=%ff%fe', '&&&==', `client_id=${app.id}&redirect_uri=%`]) {
      const res = await ua.get(`/connect/authorize?${raw}`);
      expect(res.status, raw).toBeLessThan(500);
    }
  });

  test('an app that asks for ES256 ID tokens gets them; login_hint fills the username', async () => {
    const es = await server.tessera.services.clients.create({
      name: 'ES256 App',
      grantTypes: ['authorization_code'],
      redirectUris: [REDIRECT],
      scopes: ['openid'],
      idTokenSignedResponseAlg: 'ES256',
    }, SYSTEM);
    const ua = new UserAgent(server.url);
    const toLogin = location(await ua.get(authorizeUrl(es.client_id, { scope: 'openid', login_hint: 'alice' })));
    const page = await (await ua.get(toLogin)).text();
    expect(page).toContain('value="alice"');
    const { callback } = await getCode(es.client_id, 'alice', { scope: 'openid' });
    const tokens = (await (await exchange(callback.searchParams.get('code')!, undefined, { id: es.client_id, secret: es.client_secret! })).json()) as Record<string, string>;
    expect(decodeProtectedHeader(tokens.id_token!).alg).toBe('ES256');
    const jwks = createRemoteJWKSet(new URL(`${server.url}/.well-known/jwks.json`));
    await jwtVerify(tokens.id_token!, jwks, { issuer: server.url, audience: es.client_id });
  });

  test('codes expire after 1800 s by default', async () => {
    const { callback } = await getCode(app.id, 'alice');
    clock.advance(1801);
    const res = await exchange(callback.searchParams.get('code')!, undefined);
    expect(res.status).toBe(400);
    expect(((await res.json()) as { error_description: string }).error_description).toContain('expired');
  });

  test('sessions end after TESSERA_SESSION_TTL (12 h by default)', async () => {
    const { ua } = await getCode(app.id, 'alice');
    clock.advance(11 * 3600);
    expect(new URL(location(await ua.get(authorizeUrl(app.id, { prompt: 'none' })))).searchParams.get('code')).toBeTruthy();
    clock.advance(3600 + 1);
    expect(new URL(location(await ua.get(authorizeUrl(app.id, { prompt: 'none' })))).searchParams.get('error')).toBe('login_required');
  });

  test('discovery lists the interactive endpoints', async () => {
    const meta = (await (await fetch(`${server.url}/.well-known/openid-configuration`)).json()) as Record<string, unknown>;
    expect(meta.authorization_endpoint).toBe(`${server.url}/connect/authorize`);
    expect(meta.userinfo_endpoint).toBe(`${server.url}/connect/userinfo`);
    expect(meta.end_session_endpoint).toBe(`${server.url}/connect/endsession`);
    expect(meta.code_challenge_methods_supported).toEqual(['S256']);
    expect(meta.authorization_response_iss_parameter_supported).toBe(true);
    expect(meta.response_types_supported).toEqual(['code']);
    expect(meta.grant_types_supported).toEqual(expect.arrayContaining(['authorization_code', 'refresh_token', 'client_credentials']));
    expect(meta.claims_supported).toEqual(expect.arrayContaining(['sub', 'email', 'preferred_username', 'sid', 'auth_time', 'amr', 'acr']));
    expect(meta.acr_values_supported).toEqual(['urn:tessera:acr:basic', 'urn:tessera:acr:mfa']);
    // Userinfo is never signed: no signing algorithm is listed for it, not even "none".
    expect(meta).not.toHaveProperty('userinfo_signing_alg_values_supported');
    expect(meta.request_parameter_supported).toBe(false);
    expect(meta.request_uri_parameter_supported).toBe(false);
    // Every advertised endpoint answers (no 404s).
    for (const key of ['authorization_endpoint', 'userinfo_endpoint', 'end_session_endpoint', 'jwks_uri']) {
      const res = await fetch(meta[key] as string, { redirect: 'manual' });
      expect(res.status, key).not.toBe(404);
    }
  });
});

describe('cookies over https', () => {
  test('the session and CSRF cookies are Secure when the issuer is https', async () => {
    const server = await startTestServer('sqlite', { env: { TESSERA_ISSUER: 'https://id.example.com', TESSERA_SESSION_TTL: '600' } });
    try {
      await server.tessera.services.users.create({ username: 'alice', password: PASSWORD, roles: ['developer'] }, SYSTEM);
      const ua = new UserAgent(server.url);
      const page = await ua.get('/login');
      expect(page.headers.getSetCookie().find((c) => c.startsWith('tessera_csrf='))).toMatch(/; Secure/i);
      const res = await ua.post('/login', { ...hiddenFields(await page.text()), username: 'alice', password: PASSWORD });
      const session = res.headers.getSetCookie().find((c) => c.startsWith('tessera_session='))!;
      expect(session).toMatch(/; Secure/i);
      expect(session).toMatch(/HttpOnly/i);
      // The configured lifetime reaches the browser too.
      expect(session).toMatch(/Max-Age=600/i);
    } finally {
      await server.close();
    }
  });
});
