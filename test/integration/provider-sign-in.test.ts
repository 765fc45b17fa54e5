import { createHash, randomBytes } from 'node:crypto';
import { decodeJwt } from 'jose';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { SYSTEM } from '../../src/audit/actor.ts';
import { DIALECTS } from '../support/databases.ts';
import { startOidcUpstream, type OidcUpstream } from '../support/oidc-upstream.ts';
import { basic, postForm, startTestServer, type TestServer } from '../support/server.ts';
import { hiddenFields, location, UserAgent } from '../support/user-agent.ts';

/**
 * Signing in to Tessera through an upstream provider over HTTP (issue #11): node-oidc-provider
 * with its own login and consent pages is the upstream; the app gets Tessera's code and
 * Tessera's ID token for the user created just in time. Failures end on a page, never a 500,
 * and never with a session.
 */
const REDIRECT = 'https://app.example.com/callback';

describe.each(DIALECTS)('sign-in through an identity provider (%s)', (dialect) => {
  let server: TestServer;
  let upstream: OidcUpstream;
  let app: { id: string; secret: string };
  let admin: string;

  beforeAll(async () => {
    server = await startTestServer(dialect, { env: { TESSERA_REDIRECT_URI_POLICY: 'development' } });
    upstream = await startOidcUpstream(`${server.url}/login/providers/acme/callback`);
    const { services } = server.tessera;
    await services.providers.create({ slug: 'acme', name: 'Acme SSO', issuer: upstream.issuer, clientId: upstream.clientId, clientSecret: upstream.clientSecret, defaultRoles: ['developer'] }, SYSTEM);
    await services.providers.create(
      { slug: 'down', name: 'Down Corp', kind: 'oauth2', authorizationUrl: 'http://127.0.0.1:1/authorize', tokenUrl: 'http://127.0.0.1:1/token', userinfoUrl: 'http://127.0.0.1:1/user', clientId: 'x', clientSecret: 'y' },
      SYSTEM,
    );
    await services.providers.create({ slug: 'off', name: 'Switched Off', issuer: upstream.issuer, clientId: 'x', enabled: false }, SYSTEM);
    const created = await services.clients.create({ name: 'Books', grantTypes: ['authorization_code'], redirectUris: [REDIRECT], scopes: ['openid', 'profile', 'email'] }, SYSTEM);
    app = { id: created.client_id, secret: created.client_secret! };
    await services.users.create({ username: 'root-ops', password: 'correct horse battery staple', roles: ['admin'] }, SYSTEM);
    const ops = await services.clients.create({ name: 'ops', grantTypes: ['client_credentials'], onBehalfOf: 'root-ops', scopes: ['tessera.admin'] }, SYSTEM);
    const res = await postForm(`${server.url}/connect/token`, { grant_type: 'client_credentials', scope: 'tessera.admin' }, { authorization: basic(ops.client_id, ops.client_secret!) });
    admin = ((await res.json()) as { access_token: string }).access_token;
  });

  async function adminCall(method: string, path: string): Promise<{ status: number; body: any }> {
    const res = await fetch(`${server.url}/admin/api/v1${path}`, { method, headers: { authorization: `Bearer ${admin}` } });
    const text = await res.text();
    return { status: res.status, body: text ? JSON.parse(text) : undefined };
  }
  afterAll(async () => {
    await upstream?.close();
    await server?.close();
  });

  function authorizeUrl(extra: Record<string, string> = {}): { url: string; verifier: string } {
    const verifier = randomBytes(32).toString('base64url');
    const q = new URLSearchParams({
      client_id: app.id,
      response_type: 'code',
      redirect_uri: REDIRECT,
      scope: 'openid profile email',
      state: 'app-state',
      nonce: 'app-nonce',
      code_challenge: createHash('sha256').update(verifier).digest('base64url'),
      code_challenge_method: 'S256',
      ...extra,
    });
    return { url: `/connect/authorize?${q}`, verifier };
  }

  /** From Tessera's start link through the provider's pages back to Tessera's callback. */
  async function throughProvider(ua: UserAgent, startHref: string, login: string): Promise<Response> {
    const start = await ua.get(startHref);
    expect(start.status).toBe(303);
    const upstreamUrl = location(start);
    expect(upstreamUrl.startsWith(`${upstream.issuer}/auth?`)).toBe(true);
    const callback = await upstream.signIn(upstreamUrl, login);
    return ua.get(`/login/providers/acme/callback?${callback}`);
  }

  test('the login page offers "Continue with {name}" for enabled providers; the flow ends with Tessera’s tokens for a just-in-time user', async () => {
    const ua = new UserAgent(server.url);
    const { url, verifier } = authorizeUrl();
    const loginTarget = location(await ua.get(url));
    expect(loginTarget).toMatch(/^\/login\?/);
    const page = await (await ua.get(loginTarget)).text();
    const links = [...page.matchAll(/<a class="button" href="([^"]+)">Continue with ([^<]+)<\/a>/g)].map((m) => [m[2], m[1]!.replace(/&amp;/g, '&')]);
    expect(links.map(([name]) => name)).toEqual(['Acme SSO', 'Down Corp']);
    const acmeHref = links[0]![1]!;
    expect(acmeHref).toBe(`/login/providers/acme?${new URLSearchParams({ return_to: new URL(loginTarget, server.url).searchParams.get('return_to')! })}`);

    const back = await throughProvider(ua, acmeHref, 'uma');
    expect(back.status).toBe(303);
    expect(ua.cookies.has('tessera_session')).toBe(true);
    let target = location(back);
    expect(target.startsWith('/connect/authorize?')).toBe(true);
    target = location(await ua.get(target));
    expect(target.startsWith('/consent')).toBe(true);
    const consent = await ua.get(target);
    target = location(await ua.post('/consent', { ...hiddenFields(await consent.text()), decision: 'allow' }));
    const callback = new URL(target);
    expect(callback.origin + callback.pathname).toBe(REDIRECT);
    expect(callback.searchParams.get('state')).toBe('app-state');

    const token = await postForm(`${server.url}/connect/token`, { grant_type: 'authorization_code', code: callback.searchParams.get('code')!, redirect_uri: REDIRECT, code_verifier: verifier }, { authorization: basic(app.id, app.secret) });
    expect(token.status).toBe(200);
    const body = (await token.json()) as { id_token: string; access_token: string };
    const idToken = decodeJwt(body.id_token);
    expect(idToken.iss).toBe(server.url);
    expect(idToken.nonce).toBe('app-nonce');
    // RFC 8176: signed in at an upstream provider; what it checked is not known here.
    expect(idToken.amr).toEqual(['fed']);
    expect(idToken.acr).toBe('urn:tessera:acr:basic');
    const user = (await server.tessera.services.users.list()).find((u) => u.username === 'uma');
    expect(user).toMatchObject({ email: 'uma@upstream.example', name: 'uma Upstream', roles: ['developer'] });
    expect(idToken.sub).toBe(user!.id);
    // The app never sees the provider's tokens: Tessera signed this one with its own key.
    expect(JSON.stringify(body)).not.toContain(upstream.issuer);

    // A second sign-in finds the same user.
    const again = new UserAgent(server.url);
    const second = await throughProvider(again, `/login/providers/acme?${new URLSearchParams({ return_to: authorizeUrl().url })}`, 'uma');
    expect(second.status).toBe(303);
    expect((await server.tessera.services.users.list()).filter((u) => u.username.startsWith('uma'))).toHaveLength(1);
  });

  test('idp_hint={slug} skips the login page; an unknown or disabled hint shows it', async () => {
    const ua = new UserAgent(server.url);
    const hinted = location(await ua.get(authorizeUrl({ idp_hint: 'acme' }).url));
    expect(hinted).toMatch(/^\/login\/providers\/acme\?return_to=/);
    expect(location(await ua.get(authorizeUrl({ idp_hint: 'off' }).url))).toMatch(/^\/login\?/);
    expect(location(await ua.get(authorizeUrl({ idp_hint: 'nope' }).url))).toMatch(/^\/login\?/);
  });

  test('failures end on a page with a clear message, never a 500 and never a session', async () => {
    // A disabled or unknown provider cannot be started.
    for (const slug of ['off', 'nope']) {
      const res = await new UserAgent(server.url).get(`/login/providers/${slug}`);
      expect(res.status).toBe(404);
      expect(await res.text()).toContain('not available');
    }
    // A forged callback; a callback without the browser's cookie.
    const forged = await new UserAgent(server.url).get(`/login/providers/acme/callback?code=x&state=${randomBytes(32).toString('base64url')}`);
    expect(forged.status).toBe(400);
    expect(await forged.text()).toContain('not valid in this browser');
    const ua = new UserAgent(server.url);
    const start = await ua.get('/login/providers/acme');
    const params = await upstream.signIn(location(start), 'vic');
    const stranger = await new UserAgent(server.url).get(`/login/providers/acme/callback?${params}`);
    expect(stranger.status).toBe(400);
    expect(stranger.headers.getSetCookie().join(';')).not.toContain('tessera_session');
    // The user cancels at the provider.
    const cancelUa = new UserAgent(server.url);
    const cancelled = await upstream.cancel(location(await cancelUa.get('/login/providers/acme')));
    const cancelPage = await cancelUa.get(`/login/providers/acme/callback?${cancelled}`);
    expect(cancelPage.status).toBe(400);
    expect(await cancelPage.text()).toContain('You cancelled the sign-in');
    expect(cancelUa.cookies.has('tessera_session')).toBe(false);
    // A provider that is down.
    const downUa = new UserAgent(server.url);
    const downStart = new URL(location(await downUa.get('/login/providers/down')));
    const down = await downUa.get(`/login/providers/down/callback?code=abc&state=${downStart.searchParams.get('state')}`);
    expect(down.status).toBe(502);
    expect(await down.text()).toContain('cannot be reached');
    expect(downUa.cookies.has('tessera_session')).toBe(false);
  });

  test('cancelled at the provider during an app’s request: the app gets access_denied with its state and iss', async () => {
    const ua = new UserAgent(server.url);
    const hinted = location(await ua.get(authorizeUrl({ idp_hint: 'acme' }).url));
    const cancelled = await upstream.cancel(location(await ua.get(hinted)));
    const back = await ua.get(`/login/providers/acme/callback?${cancelled}`);
    expect(back.status).toBe(303);
    const callback = new URL(location(back));
    expect(callback.origin + callback.pathname).toBe(REDIRECT);
    expect(Object.fromEntries(callback.searchParams)).toMatchObject({ error: 'access_denied', state: 'app-state', iss: server.url });
    expect(ua.cookies.has('tessera_session')).toBe(false);
  });

  test('sign-ins through a provider and their failures are in the audit log, with the reason', async () => {
    const { items: ok } = await server.tessera.services.audit.list({ action: 'provider.sign_in', limit: 500 });
    expect(ok.find((e) => e.details.username === 'uma')).toMatchObject({ target_type: 'provider', target_id: 'acme', details: { how: expect.stringMatching(/created|linked/) } });
    const { items: failed } = await server.tessera.services.audit.list({ action: 'provider.sign_in_failed', limit: 500 });
    const kinds = failed.map((e) => `${e.target_id} ${e.details.failure}`);
    expect(kinds).toEqual(expect.arrayContaining(['acme bad_state', 'acme cancelled', 'down unreachable']));
    expect(failed.find((e) => e.details.failure === 'bad_state')!.details.reason).toMatch(/another browser|unknown state/);
  });

  test('the admin API shows a user’s links and removes one (audited); the upstream account then no longer signs in as that user', async () => {
    const first = await throughProvider(new UserAgent(server.url), '/login/providers/acme', 'yan');
    expect(first.status).toBe(200);
    const listed = await adminCall('GET', '/users/yan/links');
    expect(listed).toMatchObject({ status: 200, body: { items: [{ provider: 'acme', provider_name: 'Acme SSO', subject: 'yan', email: 'yan@upstream.example' }] } });
    expect(listed.body.items[0].last_sign_in_at).toMatch(/^\d{4}-/);
    expect((await adminCall('DELETE', '/users/yan/links/acme/nope')).status).toBe(404);
    expect((await adminCall('DELETE', '/users/uma/links/acme/yan')).status).toBe(404);
    expect((await adminCall('DELETE', '/users/yan/links/acme/yan')).status).toBe(204);
    expect((await adminCall('GET', '/users/yan/links')).body.items).toEqual([]);
    const { items } = await server.tessera.services.audit.list({ action: 'user.unlink' });
    expect(items[0]).toMatchObject({ target_type: 'user', details: { provider: 'acme', subject: 'yan' } });
    expect(items[0]!.actor).toMatch(/for user:root-ops$/);
    // Unlinked, the same upstream account meets a local user with its email: not linked silently.
    const again = await throughProvider(new UserAgent(server.url), '/login/providers/acme', 'yan');
    expect(again.status).toBe(403);
  });

  test('a disabled user cannot sign in through a provider', async () => {
    const first = await throughProvider(new UserAgent(server.url), '/login/providers/acme', 'wes');
    expect(first.status).toBe(200);
    const wes = (await server.tessera.services.users.list()).find((u) => u.username === 'wes')!;
    await server.tessera.services.users.setDisabled(wes.id, true, SYSTEM);
    const ua = new UserAgent(server.url);
    const refused = await throughProvider(ua, '/login/providers/acme', 'wes');
    expect(refused.status).toBe(403);
    expect(await refused.text()).toContain('disabled');
    expect(ua.cookies.has('tessera_session')).toBe(false);
  });

  test('an existing local user with the same email is not linked without --trust-email', async () => {
    await server.tessera.services.users.create({ username: 'xena', password: 'correct horse battery staple', email: 'xena@upstream.example' }, SYSTEM);
    const ua = new UserAgent(server.url);
    const refused = await throughProvider(ua, '/login/providers/acme', 'xena');
    expect(refused.status).toBe(403);
    expect(await refused.text()).toContain('already exists');
    expect(ua.cookies.has('tessera_session')).toBe(false);
  });
});
