import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { SYSTEM } from '../../src/audit/actor.ts';
import { DEVICE_CODE_GRANT } from '../../src/clients/client.ts';
import type { Clock } from '../../src/clock.ts';
import { KyselyDeviceAuthorizationStore } from '../../src/oauth/device-store.ts';
import { normalizeUserCode, userCodeHash } from '../../src/oauth/user-codes.ts';
import { DIALECTS } from '../support/databases.ts';
import { basic, postForm, startTestServer, type TestServer } from '../support/server.ts';
import { hiddenFields, location, UserAgent } from '../support/user-agent.ts';

/**
 * The device authorization grant (RFC 8628) at the protocol level, on both dialects: the
 * device authorization endpoint's checks, and every answer of the token endpoint — pending,
 * slow_down (interval + 5 s), expired_token, access_denied, the tokens once, then invalid_grant.
 * The user's approval is written through the store (the browser side is test/e2e/device-flow.test.ts).
 */
function manualClock(): Clock & { advance(seconds: number): void } {
  let now = Math.floor(Date.now() / 1000) * 1000;
  return { now: () => now, advance: (s) => void (now += s * 1000) };
}

type Json = Record<string, unknown>;

describe.each(DIALECTS)('device authorization grant (%s)', (dialect) => {
  let server: TestServer;
  let store: KyselyDeviceAuthorizationStore;
  let aliceId: string;
  let tv: { id: string; secret: string };
  let publicApp: string;
  let codeOnly: string;
  const clock = manualClock();
  const now = () => Math.floor(clock.now() / 1000);

  beforeAll(async () => {
    server = await startTestServer(dialect, { clock });
    store = new KyselyDeviceAuthorizationStore(server.tessera.database.db);
    const { services } = server.tessera;
    aliceId = (await services.users.create({ username: 'alice', password: 'correct horse battery staple', roles: ['developer'] }, SYSTEM)).id;
    const confidential = await services.clients.create({ name: 'TV', grantTypes: [DEVICE_CODE_GRANT], scopes: ['openid', 'offline_access'] }, SYSTEM);
    tv = { id: confidential.client_id, secret: confidential.client_secret! };
    publicApp = (await services.clients.create({ name: 'CLI', grantTypes: [DEVICE_CODE_GRANT], public: true, scopes: ['openid'] }, SYSTEM)).client_id;
    codeOnly = (await services.clients.create({ name: 'Web', grantTypes: ['client_credentials'] }, SYSTEM)).client_id;
  });
  afterAll(async () => {
    await server?.close();
  });

  async function start(form: Record<string, string>, auth?: string): Promise<{ status: number; body: Json }> {
    const res = await postForm(`${server.url}/connect/deviceauthorization`, form, auth ? { authorization: auth } : {});
    expect(res.headers.get('cache-control')).toContain('no-store');
    return { status: res.status, body: (await res.json()) as Json };
  }
  async function poll(deviceCode: string): Promise<{ status: number; body: Json }> {
    const res = await postForm(`${server.url}/connect/token`, { grant_type: DEVICE_CODE_GRANT, device_code: deviceCode }, { authorization: basic(tv.id, tv.secret) });
    return { status: res.status, body: (await res.json()) as Json };
  }
  const approve = (userCode: string) =>
    store.decide(userCodeHash(normalizeUserCode(userCode)!), { approve: true, userId: aliceId, sessionId: 'sid-1', authTime: now(), amr: ['pwd'] }, now());

  test('an app requiring a second factor: /device sends a password-only session back to sign in, and the password step asks to enrol', async () => {
    const strict = await server.tessera.services.clients.create({ name: 'Vault TV', grantTypes: [DEVICE_CODE_GRANT], public: true, scopes: ['openid'], requireMfa: true }, SYSTEM);
    const code = (await start({ client_id: strict.client_id })).body.user_code as string;
    const back = `/device?${new URLSearchParams({ user_code: code })}`;
    // A password-only session (signed in for nothing in particular).
    const ua = new UserAgent(server.url);
    const login = await ua.get('/login');
    const signedIn = await ua.post('/login', { ...hiddenFields(await login.text()), username: 'alice', password: 'correct horse battery staple' });
    // Without a return_to, /login answers with its own "signed in" page.
    expect(signedIn.status).toBe(200);
    const device = await ua.get(back);
    expect(device.status).toBe(303);
    expect(location(device)).toBe(`/login?${new URLSearchParams({ return_to: back })}`);
    // Signing in again for this code: the password step knows the app and asks for a second factor (enrolment: alice has none).
    const again = await ua.get(location(device));
    const step = await ua.post('/login', { ...hiddenFields(await again.text()), username: 'alice', password: 'correct horse battery staple' });
    expect(step.status).toBe(303);
    expect(location(step)).toBe('/login/enrol');
  });

  test('discovery lists the endpoint and the grant (on by default)', async () => {
    const meta = (await (await fetch(`${server.url}/.well-known/oauth-authorization-server`)).json()) as Json;
    expect(meta.device_authorization_endpoint).toBe(`${server.url}/connect/deviceauthorization`);
    expect(meta.grant_types_supported).toContain(DEVICE_CODE_GRANT);
  });

  test('the device authorization response (RFC 8628 §3.2)', async () => {
    const { status, body } = await start({ scope: 'openid offline_access' }, basic(tv.id, tv.secret));
    expect(status).toBe(200);
    expect(body).toMatchObject({ verification_uri: `${server.url}/device`, expires_in: 600, interval: 5 });
    expect(body.user_code).toMatch(/^[BCDFGHJKLMNPQRSTVWXZ]{4}-[BCDFGHJKLMNPQRSTVWXZ]{4}$/);
    expect(body.verification_uri_complete).toBe(`${server.url}/device?user_code=${body.user_code}`);
    // Stored hashed: neither code appears in the row.
    const row = await server.tessera.database.db.selectFrom('device_authorizations').selectAll().executeTakeFirstOrThrow();
    expect(JSON.stringify(row)).not.toContain(body.device_code as string);
    expect(JSON.stringify(row)).not.toContain((body.user_code as string).replace('-', ''));
  });

  test('bad requests: unknown client, wrong secret, app not registered for the grant, scope not allowed, GET', async () => {
    expect((await start({ client_id: 'nope' })).body.error).toBe('invalid_client');
    expect((await start({}, basic(tv.id, 'wrong'))).status).toBe(401);
    expect((await start({ client_id: codeOnly })).body.error).toBe('invalid_client'); // confidential app without its secret
    const cc = await server.tessera.services.clients.create({ name: 'Job', grantTypes: ['client_credentials'] }, SYSTEM);
    expect((await start({}, basic(cc.client_id, cc.client_secret!))).body.error).toBe('unauthorized_client');
    expect((await start({ client_id: publicApp, scope: 'offline_access' })).body.error).toBe('invalid_scope');
    expect((await start({ client_id: publicApp, scope: 'a"b' })).body.error).toBe('invalid_scope');
    const get = await fetch(`${server.url}/connect/deviceauthorization`);
    expect(get.status).toBe(405);
  });

  test('pending, slow_down (+5 s), approved → tokens once, then invalid_grant', async () => {
    const { body } = await start({ scope: 'openid offline_access' }, basic(tv.id, tv.secret));
    const deviceCode = body.device_code as string;
    expect((await poll(deviceCode)).body.error).toBe('authorization_pending');
    // Again at once: too fast.
    const fast = await poll(deviceCode);
    expect(fast.status).toBe(400);
    expect(fast.body.error).toBe('slow_down');
    expect(fast.body.error_description).toContain('10 seconds');
    // 5 s later is still too fast now: the interval is 10.
    clock.advance(5);
    expect((await poll(deviceCode)).body.error).toBe('slow_down');
    clock.advance(15);
    expect((await poll(deviceCode)).body.error).toBe('authorization_pending');
    expect(await approve(body.user_code as string)).toBe(true);
    // Answered once: a second approval changes nothing.
    expect(await approve(body.user_code as string)).toBe(false);
    clock.advance(15);
    const ok = await poll(deviceCode);
    expect(ok.status).toBe(200);
    expect(ok.body).toMatchObject({ token_type: 'Bearer', scope: 'openid offline_access' });
    expect(ok.body.id_token).toBeTruthy();
    expect(ok.body.refresh_token).toBeTruthy();
    clock.advance(15);
    const reused = await poll(deviceCode);
    expect(reused.body.error).toBe('invalid_grant');
    // The refresh token works (refresh_token comes with the device grant).
    const refreshed = await postForm(`${server.url}/connect/token`, { grant_type: 'refresh_token', refresh_token: ok.body.refresh_token as string }, { authorization: basic(tv.id, tv.secret) });
    expect(refreshed.status).toBe(200);
  });

  test('denied → access_denied (400); expired → expired_token; unknown and another client’s code → invalid_grant', async () => {
    const denied = (await start({}, basic(tv.id, tv.secret))).body;
    expect(await store.decide(userCodeHash(normalizeUserCode(denied.user_code as string)!), { approve: false, userId: aliceId }, now())).toBe(true);
    const d = await poll(denied.device_code as string);
    expect(d.status).toBe(400);
    expect(d.body.error).toBe('access_denied');

    const late = (await start({}, basic(tv.id, tv.secret))).body;
    const other = (await start({ client_id: publicApp })).body;
    const stolen = await postForm(`${server.url}/connect/token`, { grant_type: DEVICE_CODE_GRANT, device_code: late.device_code as string, client_id: publicApp });
    expect(((await stolen.json()) as Json).error).toBe('invalid_grant');
    clock.advance(601);
    expect((await poll(late.device_code as string)).body.error).toBe('expired_token');
    // An approval after expiry changes nothing.
    expect(await approve(late.user_code as string)).toBe(false);
    expect((await poll('not-a-device-code')).body.error).toBe('invalid_grant');
    const missing = await postForm(`${server.url}/connect/token`, { grant_type: DEVICE_CODE_GRANT, client_id: publicApp });
    expect(((await missing.json()) as Json).error).toBe('invalid_request');
    expect(other.device_code).toBeTruthy();

    // Cleanup removes requests an hour past their expiry.
    clock.advance(3600);
    expect(await store.purgeExpired(now() - 3600, 100)).toBeGreaterThanOrEqual(3);
    expect(await store.findByUserCode(userCodeHash(normalizeUserCode(late.user_code as string)!))).toBeUndefined();
  });
});

describe('TESSERA_DEVICE_FLOW=off', () => {
  let server: TestServer;
  beforeAll(async () => {
    server = await startTestServer('sqlite', { env: { TESSERA_DEVICE_FLOW: 'off' } });
  });
  afterAll(async () => {
    await server?.close();
  });

  test('no endpoint, no page, no grant, nothing in discovery', async () => {
    const meta = (await (await fetch(`${server.url}/.well-known/openid-configuration`)).json()) as Json;
    expect(meta.device_authorization_endpoint).toBeUndefined();
    expect(meta.grant_types_supported).not.toContain(DEVICE_CODE_GRANT);
    expect((await postForm(`${server.url}/connect/deviceauthorization`, { client_id: 'x' })).status).toBe(404);
    expect((await fetch(`${server.url}/device`)).status).toBe(404);
    const app = await server.tessera.services.clients.create({ name: 'TV', grantTypes: [DEVICE_CODE_GRANT], public: true, scopes: ['openid'] }, SYSTEM);
    const token = await postForm(`${server.url}/connect/token`, { grant_type: DEVICE_CODE_GRANT, device_code: 'x', client_id: app.client_id });
    expect(((await token.json()) as Json).error).toBe('unsupported_grant_type');
  });
});
