import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { SYSTEM } from '../../src/audit/actor.ts';
import { DIALECTS } from '../support/databases.ts';
import { basic, postForm, startTestServer, type TestServer } from '../support/server.ts';
import { hiddenFields, location, UserAgent } from '../support/user-agent.ts';

/**
 * Deleting a user (admin API; the CLI is in the audit parity test) takes their sessions,
 * consents, refresh tokens and provider links with them, and their access tokens stop
 * working on every node; the last active admin cannot be deleted, disabled or lose the role.
 */
const PASSWORD = 'correct horse battery staple';
const API = '/admin/api/v1';

describe.each(DIALECTS)('deleting users (%s)', (dialect) => {
  let server: TestServer;
  let other: TestServer; // a second node on the same database
  let admin: string;

  async function call(method: string, path: string, body?: unknown): Promise<{ status: number; body: any }> {
    const headers: Record<string, string> = { authorization: `Bearer ${admin}` };
    if (body !== undefined) headers['content-type'] = 'application/json';
    const res = await fetch(`${server.url}${API}${path}`, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
    const text = await res.text();
    return { status: res.status, body: text ? JSON.parse(text) : undefined };
  }

  const userinfo = async (url: string, token: string) => (await fetch(`${url}/connect/userinfo`, { headers: { authorization: `Bearer ${token}` } })).status;

  beforeAll(async () => {
    server = await startTestServer(dialect);
    other = await startTestServer(dialect, { databaseUrl: server.databaseUrl, env: { TESSERA_KEY_ENCRYPTION_KEY_FILE: server.env.TESSERA_KEY_ENCRYPTION_KEY_FILE! } });
    other.tessera.setIssuer(server.url);
    const { services } = server.tessera;
    await services.users.create({ username: 'boss', password: PASSWORD, roles: ['admin'] }, SYSTEM);
    const automation = await services.clients.create({ name: 'ops automation', grantTypes: ['client_credentials'], onBehalfOf: 'boss', scopes: ['tessera.admin'] }, SYSTEM);
    const res = await postForm(`${server.url}/connect/token`, { grant_type: 'client_credentials', scope: 'tessera.admin' }, { authorization: basic(automation.client_id, automation.client_secret!) });
    admin = ((await res.json()) as { access_token: string }).access_token;
  });
  afterAll(async () => {
    await other?.close();
    await server?.close();
  });

  test('a deleted user’s session, refresh token and access tokens (on both nodes) stop working; the audit log keeps the id', async () => {
    const created = await call('POST', '/users', { username: 'yves', password: PASSWORD, roles: ['developer'] });
    expect(created.status).toBe(201);
    const app = await server.tessera.services.clients.create(
      { name: 'Yves’s app', grantTypes: ['authorization_code'], redirectUris: ['https://app.example.com/cb'], scopes: ['openid', 'offline_access'] },
      SYSTEM,
    );
    const ua = new UserAgent(server.url);
    const authorize = `/connect/authorize?${new URLSearchParams({ client_id: app.client_id, response_type: 'code', redirect_uri: 'https://app.example.com/cb', scope: 'openid offline_access' })}`;
    const login = await ua.get(`/login?${new URLSearchParams({ return_to: authorize })}`);
    await ua.post('/login', { ...hiddenFields(await login.text()), username: 'yves', password: PASSWORD });
    const consent = await ua.get(location(await ua.get(authorize)));
    const back = new URL(location(await ua.post('/consent', { ...hiddenFields(await consent.text()), decision: 'allow' })));
    const tokenRes = await postForm(
      `${server.url}/connect/token`,
      { grant_type: 'authorization_code', code: back.searchParams.get('code')!, redirect_uri: 'https://app.example.com/cb' },
      { authorization: basic(app.client_id, app.client_secret!) },
    );
    const tokens = (await tokenRes.json()) as { access_token: string; refresh_token: string };
    // Both nodes accept the token (and cache the user).
    expect(await userinfo(server.url, tokens.access_token)).toBe(200);
    expect(await userinfo(other.url, tokens.access_token)).toBe(200);
    expect((await call('GET', '/users/yves/sessions')).body.items).toHaveLength(1);
    expect((await call('GET', '/users/yves/grants')).body.items).toHaveLength(1);

    expect((await call('DELETE', '/users/yves')).status).toBe(204);
    expect((await call('GET', '/users/yves')).status).toBe(404);
    expect((await call('DELETE', '/users/yves')).status).toBe(404);
    expect(await userinfo(server.url, tokens.access_token)).toBe(401);
    // The other node hears of it through the change feed.
    const deadline = Date.now() + 5000;
    while ((await userinfo(other.url, tokens.access_token)) !== 401 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
    expect(await userinfo(other.url, tokens.access_token)).toBe(401);
    const refreshed = await postForm(`${server.url}/connect/token`, { grant_type: 'refresh_token', refresh_token: tokens.refresh_token }, { authorization: basic(app.client_id, app.client_secret!) });
    expect(((await refreshed.json()) as { error: string }).error).toBe('invalid_grant');
    expect(location(await ua.get(`${authorize}&prompt=none`))).toContain('error=login_required');
    expect((await call('GET', `/apps/${app.client_id}/grants`)).body.items).toEqual([]);

    const { items } = await server.tessera.services.audit.list({ action: 'user.delete' });
    expect(items).toEqual([expect.objectContaining({ target_type: 'user', target_id: created.body.id, details: { username: 'yves' } })]);
    const trail = (await server.tessera.services.audit.list({ targetId: created.body.id })).items;
    expect(trail.map((e) => e.action)).toEqual(['user.delete', 'consent.grant', 'user.sign_in', 'user.create']);
    // The page visits are recorded as the user, from where they came, with what they approved.
    expect(trail[1]).toMatchObject({ actor: 'user:yves', ip: '127.0.0.1', details: { client_id: app.client_id, scopes: ['openid', 'offline_access'] } });
    expect(trail[2]).toMatchObject({ actor: 'user:yves', ip: '127.0.0.1' });
  });

  test('a user that apps act on behalf of is not deleted (409) until those apps are gone', async () => {
    await server.tessera.services.users.create({ username: 'owner', password: PASSWORD, roles: ['developer'] }, SYSTEM);
    const robot = await server.tessera.services.clients.create({ name: 'robot', grantTypes: ['client_credentials'], onBehalfOf: 'owner' }, SYSTEM);
    const refused = await call('DELETE', '/users/owner');
    expect(refused.status).toBe(409);
    expect(refused.body.error_description).toContain(robot.client_id);
    await server.tessera.services.clients.delete(robot.client_id, SYSTEM);
    expect((await call('DELETE', '/users/owner')).status).toBe(204);
  });

  test('the last active admin cannot lose the role, be disabled or be deleted (409); with another active admin they can', async () => {
    const { users } = server.tessera.services;
    for (const [method, path, body] of [
      ['PATCH', '/users/boss', { roles: ['developer'] }],
      ['PATCH', '/users/boss', { disabled: true }],
      ['DELETE', '/users/boss', undefined],
    ] as const) {
      const refused = await call(method, path, body);
      expect(refused.status, `${method} ${JSON.stringify(body)}`).toBe(409);
      expect(refused.body.error_description).toContain('last active admin');
    }
    // A disabled admin does not count.
    await users.create({ username: 'deputy', password: PASSWORD, roles: ['admin'] }, SYSTEM);
    await users.setDisabled('deputy', true, SYSTEM);
    expect((await call('PATCH', '/users/boss', { disabled: true })).status).toBe(409);
    expect((await call('GET', '/users/boss')).body).toMatchObject({ disabled: false, roles: ['admin'] });
    // Other changes to the last admin still go through.
    expect((await call('PATCH', '/users/boss', { name: 'The Boss', roles: ['admin', 'developer'] })).status).toBe(200);

    await users.setDisabled('deputy', false, SYSTEM);
    expect((await users.update('boss', { roles: ['developer'] }, SYSTEM)).roles).toEqual(['developer']);
    // Now deputy is the last one.
    await expect(users.delete('deputy', SYSTEM)).rejects.toMatchObject({ status: 409 });
    await expect(users.setDisabled('deputy', true, SYSTEM)).rejects.toMatchObject({ status: 409 });
  });
});
