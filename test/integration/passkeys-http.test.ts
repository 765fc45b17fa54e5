import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { SYSTEM } from '../../src/audit/actor.ts';
import type { Clock } from '../../src/clock.ts';
import { basic, postForm, startTestServer, type TestServer } from '../support/server.ts';
import { SoftAuthenticator } from '../support/soft-authenticator.ts';
import { hiddenFields, location, UserAgent } from '../support/user-agent.ts';

/**
 * The passkey endpoints over HTTP with a software authenticator, Tessera configured as it runs
 * behind a TLS proxy (TESSERA_ISSUER=https://id.example.com): the rpID and the only origin
 * accepted are the public ones, whatever address the request came to. Also: CSRF on every
 * call, the recent-sign-in rule, bad bodies (never a 500), and throttling of failures.
 */
const PASSWORD = 'correct horse battery staple';
const ORIGIN = 'https://id.example.com';
const RP_ID = 'id.example.com';

describe('passkey endpoints over HTTP behind a TLS proxy', () => {
  let server: TestServer;
  let offset = 0;
  const clock: Clock = { now: () => Date.now() + offset * 1000 };
  const key = new SoftAuthenticator();

  beforeAll(async () => {
    server = await startTestServer('sqlite', { clock, env: { TESSERA_ISSUER: ORIGIN } });
    await server.tessera.services.users.create({ username: 'alice', password: PASSWORD, roles: ['developer'] }, SYSTEM);
  });
  afterAll(async () => {
    await server?.close();
  });

  async function signedIn(): Promise<UserAgent> {
    const ua = new UserAgent(server.url);
    const login = await ua.get('/login');
    const { csrf } = hiddenFields(await login.text());
    const r = await ua.post('/login', { csrf: csrf!, username: 'alice', password: PASSWORD });
    // The second step, once alice has a passkey: passed here with the same key.
    if (r.status === 303 && location(r) === '/login/second-factor') {
      const page = await (await ua.get('/login/second-factor')).text();
      const stepCsrf = /data-passkey-endpoint="\/login\/second-factor\/passkey" data-csrf="([^"]+)"/.exec(page)![1]!;
      const options = await json(await ua.postJson('/login/second-factor/passkey/options', { csrf: stepCsrf }));
      expect((options.allowCredentials as Array<{ id: string }>).map((c) => c.id)).toEqual([key.id]);
      const done = await ua.postJson('/login/second-factor/passkey/verify', { csrf: stepCsrf, response: key.assert({ challenge: options.challenge as string, origin: ORIGIN, rpId: RP_ID }) });
      expect(await json(done)).toEqual({ redirect: '/account' });
    } else {
      expect(r.status).toBe(200);
    }
    expect(ua.cookies.has('tessera_session')).toBe(true);
    return ua;
  }

  async function pageCsrf(ua: UserAgent, path: string, marker: RegExp): Promise<string> {
    const page = await (await ua.get(path)).text();
    return marker.exec(page)![1]!.replace(/&#39;/g, "'");
  }
  const addFormCsrf = (ua: UserAgent) => pageCsrf(ua, '/account/passkeys', /data-passkey="register"[^>]*>\s*<input type="hidden" name="csrf" value="([^"]+)"/);
  const loginCsrf = (ua: UserAgent) => pageCsrf(ua, '/login', /data-passkey="authenticate"[^>]*data-csrf="([^"]+)"/);

  async function json(response: Response): Promise<Record<string, unknown>> {
    expect(response.headers.get('content-type')).toContain('application/json');
    return (await response.json()) as Record<string, unknown>;
  }

  test('registration: rpID and origin are the public ones; the address the request came to is refused as an origin', async () => {
    const ua = await signedIn();
    const csrf = await addFormCsrf(ua);
    const options = await json(await ua.postJson('/webauthn/registration/options', { csrf }));
    expect(options).toMatchObject({ rp: { id: RP_ID, name: 'Tessera' }, user: { name: 'alice' }, attestation: 'none' });
    expect((options.pubKeyCredParams as Array<{ alg: number }>).map((p) => p.alg)).toEqual([-7, -8, -257]);
    // The browser's view if it reached Tessera on its own address rather than through the proxy.
    const wrong = new SoftAuthenticator();
    const refused = await ua.postJson('/webauthn/registration/verify', {
      csrf,
      name: 'Wrong origin',
      response: wrong.register({ challenge: options.challenge as string, origin: server.url, rpId: RP_ID, userId: (options.user as { id: string }).id }),
    });
    expect(refused.status).toBe(400);
    expect(await json(refused)).toMatchObject({ error: 'passkey_refused' });
    const again = await json(await ua.postJson('/webauthn/registration/options', { csrf }));
    const done = await ua.postJson('/webauthn/registration/verify', {
      csrf,
      name: 'Laptop',
      response: key.register({ challenge: again.challenge as string, origin: ORIGIN, rpId: RP_ID, userId: (again.user as { id: string }).id }),
    });
    expect(done.status).toBe(200);
    expect(await json(done)).toEqual({ redirect: '/account/passkeys?done=added' });
    const alice = await server.tessera.services.users.show('alice');
    expect((await server.tessera.services.passkeys.list(alice.id)).map((p) => p.name)).toEqual(['Laptop']);
    // The session cookie is Secure (https issuer); the ceremony cookie was cleared.
    expect(ua.cookies.has('tessera_webauthn')).toBe(false);
  });

  test('CSRF: every call needs the page token of this browser (and of this session)', async () => {
    const ua = await signedIn();
    const other = await signedIn();
    const theirs = await addFormCsrf(other);
    for (const body of [{}, { csrf: 'forged' }, { csrf: theirs }]) {
      const r = await ua.postJson('/webauthn/registration/options', body);
      expect(r.status).toBe(403);
      expect(await json(r)).toMatchObject({ error: 'invalid_csrf' });
    }
    const anonymous = new UserAgent(server.url);
    expect((await anonymous.postJson('/webauthn/registration/options', { csrf: 'x' })).status).toBe(401);
    expect((await anonymous.postJson('/webauthn/authentication/options', { csrf: 'x' })).status).toBe(403);
    expect((await anonymous.postJson('/webauthn/authentication/verify', { csrf: 'x' })).status).toBe(403);
    expect((await anonymous.postJson('/login/second-factor/passkey/options', { csrf: 'x' })).status).toBe(400);
  });

  test('bad bodies get a clear 4xx, never a 500, and change nothing', async () => {
    const ua = new UserAgent(server.url);
    const csrf = await loginCsrf(ua);
    const cases: Array<{ body?: string; json?: unknown; type?: string }> = [
      { body: '{not json', type: 'application/json' },
      { json: [1, 2] },
      { json: 'text' },
      { json: null },
      { body: 'csrf=x', type: 'text/plain' },
    ];
    for (const path of ['/webauthn/authentication/options', '/webauthn/authentication/verify', '/webauthn/registration/options', '/webauthn/registration/verify', '/login/second-factor/passkey/verify']) {
      for (const c of cases) {
        const r = await ua.request(path, { method: 'POST', ...(c.json !== undefined ? { json: c.json } : { body: c.body!, headers: { 'content-type': c.type! } }) });
        expect(r.status, `${path} ${JSON.stringify(c)}`).toBeGreaterThanOrEqual(400);
        expect(r.status, `${path} ${JSON.stringify(c)}`).toBeLessThan(500);
      }
    }
    for (const response of [undefined, null, 1, 'x', {}, { id: 'x', rawId: 'x', type: 'public-key', response: { clientDataJSON: 'x', authenticatorData: 'x', signature: 'x', userHandle: 5 } }, { id: 'a'.repeat(5000) }]) {
      await ua.postJson('/webauthn/authentication/options', { csrf });
      const r = await ua.postJson('/webauthn/authentication/verify', { csrf, response });
      expect(r.status).toBe(401);
      expect(await json(r)).toMatchObject({ error: 'passkey_refused', error_description: expect.stringContaining('not accepted') });
    }
  });

  test('passwordless over HTTP: right origin signs in; another origin or rpID, a replay, and a forged id do not', async () => {
    const ua = new UserAgent(server.url);
    const csrf = await loginCsrf(ua);
    const attempt = async (o: { origin?: string; rpId?: string; id?: string } = {}) => {
      const options = await json(await ua.postJson('/webauthn/authentication/options', { csrf }));
      expect(options).toMatchObject({ rpId: RP_ID, userVerification: 'required' });
      const response = key.assert({ challenge: options.challenge as string, origin: o.origin ?? ORIGIN, rpId: o.rpId ?? RP_ID, id: o.id });
      return { r: await ua.postJson('/webauthn/authentication/verify', { csrf, response, return_to: '/account/passkeys' }), response };
    };
    for (const bad of [{ origin: 'https://evil.example.net' }, { origin: server.url }, { rpId: 'example.com' }, { id: Buffer.from('forged').toString('base64url') }]) {
      const { r } = await attempt(bad);
      expect(r.status, JSON.stringify(bad)).toBe(401);
      expect(ua.cookies.has('tessera_session')).toBe(false);
    }
    const { r, response } = await attempt();
    expect(r.status).toBe(200);
    expect(await json(r)).toEqual({ redirect: '/account/passkeys' });
    expect(ua.cookies.has('tessera_session')).toBe(true);
    expect(ua.cookies.has('tessera_device')).toBe(true);
    const replay = await ua.postJson('/webauthn/authentication/verify', { csrf, response });
    expect(replay.status).toBe(401);
    const page = await ua.get('/account/passkeys');
    expect(page.status).toBe(200);
    const csp = page.headers.get('content-security-policy')!;
    expect(csp).toMatch(/^default-src 'none'; script-src 'nonce-[\w-]+'; connect-src 'self';/);
    expect(await page.text()).toContain('Laptop');
  });

  test('adding and removing need a sign-in within 10 minutes; renaming does not', async () => {
    const ua = await signedIn();
    const csrf = await addFormCsrf(ua);
    const alice = await server.tessera.services.users.show('alice');
    const [passkey] = await server.tessera.services.passkeys.list(alice.id);
    offset = 11 * 60;
    try {
      const r = await ua.postJson('/webauthn/registration/options', { csrf });
      expect(r.status).toBe(403);
      expect(await json(r)).toMatchObject({ error: 'reauthentication_required' });
      const page = await (await ua.get('/account/passkeys')).text();
      expect(page).toContain('confirm it is you first');
      expect(page).toContain('/login?return_to=%2Faccount%2Fpasskeys&amp;login_hint=alice');
      expect(page).not.toContain('data-passkey="register"');
      const removed = await ua.post('/account/passkeys/remove', { csrf, id: passkey!.id });
      expect(removed.status).toBe(403);
      expect(await server.tessera.services.passkeys.list(alice.id)).toHaveLength(1);
      expect(location(await ua.post('/account/passkeys/rename', { csrf, id: passkey!.id, name: 'Old laptop' }))).toBe('/account/passkeys?done=renamed');
      expect((await server.tessera.services.passkeys.list(alice.id))[0]!.name).toBe('Old laptop');
      // A name the service refuses: on a German page, in German (issue 15); nothing changes.
      const unnamed = await ua.request('/account/passkeys/rename', { form: { csrf, id: passkey!.id, name: '  ' }, headers: { 'accept-language': 'de' } });
      expect(unnamed.status).toBe(400);
      expect(await unnamed.text()).toContain('Geben Sie dem Passkey einen Namen.');
      expect((await server.tessera.services.passkeys.list(alice.id))[0]!.name).toBe('Old laptop');
      // Forms with a wrong token change nothing.
      expect((await ua.post('/account/passkeys/rename', { csrf: 'forged', id: passkey!.id, name: 'x' })).status).toBe(403);
    } finally {
      offset = 0;
    }
  });

  test("admin API: the user's factors list the passkey; DELETE resets it, and it signs nobody in any more", async () => {
    const { services } = server.tessera;
    await services.users.create({ username: 'ops', password: PASSWORD, roles: ['admin'] }, SYSTEM);
    const automation = await services.clients.create({ name: 'ops automation', grantTypes: ['client_credentials'], onBehalfOf: 'ops', scopes: ['tessera.admin'] }, SYSTEM);
    const res = await postForm(`${server.url}/connect/token`, { grant_type: 'client_credentials', scope: 'tessera.admin' }, { authorization: basic(automation.client_id, automation.client_secret!) });
    const token = ((await res.json()) as { access_token: string }).access_token;
    const call = async (method: string, path: string) => {
      const r = await fetch(`${server.url}/admin/api/v1${path}`, { method, headers: { authorization: `Bearer ${token}` } });
      return { status: r.status, body: (await r.json()) as { factors: Array<{ id: string; type: string; name: string }> } };
    };
    const listed = await call('GET', '/users/alice/factors');
    expect(listed.status).toBe(200);
    expect(listed.body.factors).toEqual([expect.objectContaining({ id: key.id, type: 'passkey', name: 'Old laptop' })]);
    expect((await call('DELETE', '/users/alice/factors')).status).toBe(200);
    expect((await call('GET', '/users/alice/factors')).body.factors).toEqual([]);
    const ua = new UserAgent(server.url);
    const csrf = await loginCsrf(ua);
    const options = await json(await ua.postJson('/webauthn/authentication/options', { csrf }));
    const refused = await ua.postJson('/webauthn/authentication/verify', { csrf, response: key.assert({ challenge: options.challenge as string, origin: ORIGIN, rpId: RP_ID }) });
    expect(refused.status).toBe(401);
    // The password alone signs her in again (no second step left).
    await signedIn();
  });

  test('failed passkey sign-ins are throttled per IP address (429 with Retry-After)', async () => {
    const ua = new UserAgent(server.url);
    const csrf = await loginCsrf(ua);
    let status = 0;
    let retryAfter: string | null = null;
    for (let i = 0; i < 110 && status !== 429; i++) {
      const r = await ua.postJson('/webauthn/authentication/verify', { csrf, response: {} });
      status = r.status;
      retryAfter = r.headers.get('retry-after');
      await r.body?.cancel();
    }
    expect(status).toBe(429);
    expect(Number(retryAfter)).toBeGreaterThan(0);
  });
});
