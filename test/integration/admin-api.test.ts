import { Validator } from '@seriousme/openapi-schema-validator';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { LIMITS } from '../../src/config/limits.ts';
import { DIALECTS } from '../support/databases.ts';
import { basic, postForm, startTestServer, type TestServer } from '../support/server.ts';
import { hiddenFields, location, UserAgent } from '../support/user-agent.ts';
import { SYSTEM } from '../../src/audit/actor.ts';

/**
 * The admin REST API on SQLite and PostgreSQL: authorization (no token, tokens without the
 * scope or the role, admin tokens), every resource, validation errors, the audit trail,
 * and the OpenAPI document.
 */
const PASSWORD = 'correct horse battery staple';
const API = '/admin/api/v1';

describe.each(DIALECTS)('admin API (%s)', (dialect) => {
  let server: TestServer;
  let admin: string; // a token with tessera.admin for an admin user
  let noScope: string; // an admin user's token without tessera.admin
  let developer: string; // a developer's token

  async function token(clientId: string, secret: string, scope?: string): Promise<string> {
    const res = await postForm(`${server.url}/connect/token`, { grant_type: 'client_credentials', ...(scope ? { scope } : {}) }, { authorization: basic(clientId, secret) });
    const body = (await res.json()) as { access_token?: string; error?: string };
    if (!body.access_token) throw new Error(`no token: ${JSON.stringify(body)}`);
    return body.access_token;
  }

  async function call(method: string, path: string, bearer: string | undefined, body?: unknown): Promise<{ status: number; body: any; headers: Headers }> {
    const headers: Record<string, string> = {};
    if (bearer) headers.authorization = `Bearer ${bearer}`;
    if (body !== undefined) headers['content-type'] = 'application/json';
    const res = await fetch(`${server.url}${API}${path}`, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
    const text = await res.text();
    return { status: res.status, body: text ? JSON.parse(text) : undefined, headers: res.headers };
  }

  beforeAll(async () => {
    server = await startTestServer(dialect);
    const { services } = server.tessera;
    await services.users.create({ username: 'root-ops', password: PASSWORD, roles: ['admin'] }, SYSTEM);
    await services.users.create({ username: 'dev', password: PASSWORD, roles: ['developer'] }, SYSTEM);
    const adminApp = await services.clients.create({ name: 'ops automation', grantTypes: ['client_credentials'], onBehalfOf: 'root-ops', scopes: ['tessera.admin'] }, SYSTEM);
    admin = await token(adminApp.client_id, adminApp.client_secret!, 'tessera.admin');
    noScope = await token(adminApp.client_id, adminApp.client_secret!);
    const devApp = await services.clients.create({ name: 'dev automation', grantTypes: ['client_credentials'], onBehalfOf: 'dev', scopes: ['tessera.admin'] }, SYSTEM);
    developer = await token(devApp.client_id, devApp.client_secret!);
    // A developer's app cannot even obtain the admin scope.
    const refused = await postForm(`${server.url}/connect/token`, { grant_type: 'client_credentials', scope: 'tessera.admin' }, { authorization: basic(devApp.client_id, devApp.client_secret!) });
    expect(refused.status).toBe(400);
    expect(((await refused.json()) as { error: string }).error).toBe('invalid_scope');
  });
  afterAll(async () => server?.close());

  test('authorization: no token 401, wrong scope or role 403, admin token 200', async () => {
    const none = await call('GET', '/apps', undefined);
    expect(none.status).toBe(401);
    expect(none.headers.get('www-authenticate')).toBe('Bearer realm="tessera"');
    const forged = await call('GET', '/apps', 'abc.def.ghi');
    expect(forged.status).toBe(401);
    expect(forged.headers.get('www-authenticate')).toContain('error="invalid_token"');
    const scopeless = await call('GET', '/apps', noScope);
    expect(scopeless.status).toBe(403);
    expect(scopeless.headers.get('www-authenticate')).toContain('error="insufficient_scope"');
    expect((await call('GET', '/users', developer)).status).toBe(403);
    const ok = await call('GET', '/me', admin);
    expect(ok.status).toBe(200);
    expect(ok.body).toMatchObject({ username: 'root-ops', roles: ['admin'] });
    // Every resource is behind the check, including writes.
    for (const [method, path] of [['POST', '/apps'], ['PATCH', '/settings'], ['POST', '/keys/rotate'], ['GET', '/audit'], ['DELETE', '/roles/x']] as const) {
      expect((await call(method, path, noScope, method === 'GET' ? undefined : {})).status, `${method} ${path}`).toBe(403);
    }
  });

  test('the admin role is checked at every call, not only when the token was issued', async () => {
    const { services } = server.tessera;
    await services.users.create({ username: 'temp-admin', password: PASSWORD, roles: ['admin'] }, SYSTEM);
    const app = await services.clients.create({ name: 'temp', grantTypes: ['client_credentials'], onBehalfOf: 'temp-admin', scopes: ['tessera.admin'] }, SYSTEM);
    const t = await token(app.client_id, app.client_secret!, 'tessera.admin');
    expect((await call('GET', '/me', t)).status).toBe(200);
    expect((await call('PATCH', '/users/temp-admin', admin, { roles: ['developer'] })).status).toBe(200);
    expect((await call('GET', '/me', t)).status).toBe(403);
  });

  test('apps: register, show, search, update, regenerate secret, delete — with validation errors', async () => {
    const created = await call('POST', '/apps', admin, {
      name: 'Reporting job',
      description: 'Nightly exports',
      grant_types: ['client_credentials'],
      on_behalf_of: 'dev',
      access_token_ttl: 600,
    });
    expect(created.status).toBe(201);
    expect(created.body.client_id).toMatch(/^[0-9a-f-]{36}$/);
    expect(created.body.client_secret).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(created.body.on_behalf_of).toBe('dev');
    const id = created.body.client_id as string;
    const first = await token(id, created.body.client_secret);

    const shown = await call('GET', `/apps/${id}`, admin);
    expect(shown.body.client_secret).toBeUndefined();
    expect(shown.body.access_token_ttl).toBe(600);
    const found = await call('GET', '/apps?search=reporting', admin);
    expect(found.body.items.map((a: { client_id: string }) => a.client_id)).toContain(id);
    expect((await call('GET', '/apps?search=zzz-nothing', admin)).body.items).toEqual([]);

    const updated = await call('PATCH', `/apps/${id}`, admin, { description: 'Hourly exports' });
    expect(updated.status).toBe(200);
    expect(updated.body.description).toBe('Hourly exports');

    const rotated = await call('POST', `/apps/${id}/secret`, admin);
    expect(rotated.status).toBe(200);
    expect(rotated.body.client_secret).not.toBe(created.body.client_secret);
    const introspected = await postForm(`${server.url}/connect/introspect`, { token: first }, { authorization: basic(id, rotated.body.client_secret) });
    expect(((await introspected.json()) as { active: boolean }).active).toBe(false);
    expect(rotated.body.previous_secret_expires_at).toBeNull();
    // With a grace period the previous secret keeps working for token requests.
    const graceful = await call('POST', `/apps/${id}/secret`, admin, { grace_seconds: 3600 });
    expect(graceful.status).toBe(200);
    expect(Date.parse(graceful.body.previous_secret_expires_at) - Date.now()).toBeGreaterThan(3500_000);
    expect(await token(id, rotated.body.client_secret)).toBeTruthy();
    expect(await token(id, graceful.body.client_secret)).toBeTruthy();
    expect((await call('GET', `/apps/${id}`, admin)).body.previous_secret_expires_at).toBe(graceful.body.previous_secret_expires_at);
    const tooLong = await call('POST', `/apps/${id}/secret`, admin, { grace_seconds: 31 * 86_400 });
    expect(tooLong.status).toBe(400);
    expect(tooLong.body.field).toBe('grace_seconds');

    // Validation: the rule that failed, and the field.
    const badUri = await call('POST', '/apps', admin, { name: 'x', grant_types: ['authorization_code'], redirect_uris: ['http://example.com/cb'] });
    expect(badUri.status).toBe(400);
    expect(badUri.body.error).toBe('validation_failed');
    expect(badUri.body.error_description).toMatch(/https/i);
    const unknownField = await call('POST', '/apps', admin, { name: 'x', grant_types: ['client_credentials'], colour: 'blue' });
    expect(unknownField.status).toBe(400);
    expect(unknownField.body.field).toBe('colour');
    const missing = await call('POST', '/apps', admin, { description: 'no name' });
    expect(missing.status).toBe(400);
    expect(missing.body.field).toBe('name');
    const badGrant = await call('POST', '/apps', admin, { name: 'x', grant_types: ['password'] });
    expect(badGrant.status).toBe(400);
    const notJson = await fetch(`${server.url}${API}/apps`, { method: 'POST', headers: { authorization: `Bearer ${admin}`, 'content-type': 'application/json' }, body: '{"name":' });
    expect(notJson.status).toBe(400);
    expect((await call('GET', '/apps/00000000-0000-4000-8000-000000000000', admin)).status).toBe(404);
    expect((await call('GET', '/apps/not-a-uuid%00', admin)).status).toBe(404);

    const check = await call('POST', '/apps/check-redirect-uri', admin, { uri: 'https://localhost/cb' });
    expect(check.body).toMatchObject({ ok: false, rule: 'reserved_name' });
    expect((await call('POST', '/apps/check-redirect-uri', admin, { uri: 'https://app.example.com/cb' })).body).toEqual({ ok: true });

    expect((await call('DELETE', `/apps/${id}`, admin)).status).toBe(204);
    expect((await call('GET', `/apps/${id}`, admin)).status).toBe(404);
  });

  test('users: create, duplicate, update, disable, reset password, sessions and grants', async () => {
    const created = await call('POST', '/users', admin, { username: 'zoe', password: PASSWORD, email: 'zoe@example.com', roles: ['developer'] });
    expect(created.status).toBe(201);
    expect(created.body).toMatchObject({ username: 'zoe', roles: ['developer'], permissions: ['developer_api'] });
    const dup = await call('POST', '/users', admin, { username: 'zoe', password: PASSWORD });
    expect(dup.status).toBe(409);
    expect(dup.body.field).toBe('username');
    expect((await call('POST', '/users', admin, { username: 'short', password: 'x' })).body.field).toBe('password');
    expect((await call('POST', '/users', admin, { username: 'r', password: PASSWORD, roles: ['nope'] })).body.error_description).toContain('nope');

    // zoe signs in and approves an app: a session and a grant to list and revoke.
    const app = await server.tessera.services.clients.create({
      name: 'Zoe’s app',
      grantTypes: ['authorization_code'],
      redirectUris: ['https://app.example.com/cb'],
      scopes: ['openid', 'offline_access'],
    }, SYSTEM);
    const ua = new UserAgent(server.url);
    const authorize = `/connect/authorize?${new URLSearchParams({ client_id: app.client_id, response_type: 'code', redirect_uri: 'https://app.example.com/cb', scope: 'openid offline_access' })}`;
    const login = await ua.get(`/login?${new URLSearchParams({ return_to: authorize })}`);
    await ua.post('/login', { ...hiddenFields(await login.text()), username: 'zoe', password: PASSWORD });
    const consent = await ua.get(location(await ua.get(authorize)));
    const back = new URL(location(await ua.post('/consent', { ...hiddenFields(await consent.text()), decision: 'allow' })));
    const code = back.searchParams.get('code')!;
    const tokens = (await (await postForm(`${server.url}/connect/token`, { grant_type: 'authorization_code', code, redirect_uri: 'https://app.example.com/cb' }, { authorization: basic(app.client_id, app.client_secret!) })).json()) as { refresh_token: string };

    const sessions = await call('GET', '/users/zoe/sessions', admin);
    expect(sessions.body.items).toHaveLength(1);
    expect(sessions.body.items[0]).toEqual(expect.objectContaining({ last_seen_at: expect.stringMatching(/^\d{4}-\d\d-\d\dT/), user_agent: expect.any(String) }));
    const grants = await call('GET', `/users/${created.body.id}/grants`, admin);
    expect(grants.body.items).toEqual([expect.objectContaining({ client_id: app.client_id, scopes: ['openid', 'offline_access'], active_refresh_tokens: 1 })]);
    expect((await call('GET', `/apps/${app.client_id}/grants`, admin)).body.items).toHaveLength(1);

    expect((await call('DELETE', `/users/zoe/grants/${app.client_id}`, admin)).status).toBe(204);
    const refreshed = await postForm(`${server.url}/connect/token`, { grant_type: 'refresh_token', refresh_token: tokens.refresh_token }, { authorization: basic(app.client_id, app.client_secret!) });
    expect(((await refreshed.json()) as { error: string }).error).toBe('invalid_grant');
    expect((await call('GET', '/users/zoe/grants', admin)).body.items).toEqual([]);

    const sid = sessions.body.items[0].sid as string;
    expect((await call('DELETE', `/users/zoe/sessions/${sid}`, admin)).status).toBe(204);
    expect((await call('GET', '/users/zoe/sessions', admin)).body.items).toEqual([]);
    expect(location(await ua.get(`${authorize}&prompt=none`))).toContain('error=login_required');

    const updated = await call('PATCH', '/users/zoe', admin, { name: 'Zoe Q', roles: [] });
    expect(updated.body).toMatchObject({ name: 'Zoe Q', roles: [], permissions: [] });
    expect((await call('POST', '/users/zoe/password', admin, { password: 'another long passphrase' })).status).toBe(204);
    const disabled = await call('PATCH', '/users/zoe', admin, { disabled: true });
    expect(disabled.body.disabled).toBe(true);
    expect((await call('GET', '/users?search=zoe', admin)).body.items.map((u: { username: string }) => u.username)).toEqual(['zoe']);
    expect((await call('GET', '/users/nobody', admin)).status).toBe(404);
    expect((await call('GET', '/users/a%00b', admin)).status).toBe(404);
  });

  test('a user’s language: set at creation (a regional tag matches its language), changed, cleared, refused when not offered — audited', async () => {
    const created = await call('POST', '/users', admin, { username: 'lena', password: PASSWORD, locale: 'de-AT' });
    expect(created.status).toBe(201);
    expect(created.body.locale).toBe('de');
    const id = created.body.id as string;
    expect((await server.tessera.services.users.find('lena')).locale).toBe('de');
    expect((await call('GET', '/users/lena', admin)).body.locale).toBe('de');
    // A user made without one reads back null (not known: the operator's default applies).
    expect((await call('POST', '/users', admin, { username: 'nolang', password: PASSWORD })).body.locale).toBeNull();

    // Not offered: 400 on the field, and nothing changes (neither the language nor the name sent beside it).
    for (const locale of ['xx', 'klingon-tlh']) {
      const refused = await call('PATCH', '/users/lena', admin, { name: 'Lena L', locale });
      expect(refused.status).toBe(400);
      expect(refused.body).toMatchObject({ error: 'validation_failed', field: 'locale' });
      expect(refused.body.error_description).toContain('en, de, fr, es');
    }
    expect((await call('POST', '/users', admin, { username: 'nope', password: PASSWORD, locale: 'xx' })).status).toBe(400);
    expect((await call('GET', '/users/nope', admin)).status).toBe(404);
    expect(await server.tessera.services.users.find('lena')).toMatchObject({ locale: 'de', name: null });

    const changed = await call('PATCH', '/users/lena', admin, { locale: 'FR' });
    expect(changed.status).toBe(200);
    expect(changed.body.locale).toBe('fr');
    // Other fields beside it: both applied; the language is kept when not sent.
    expect((await call('PATCH', '/users/lena', admin, { name: 'Lena L' })).body).toMatchObject({ name: 'Lena L', locale: 'fr' });
    // The same language again changes nothing (and is not audited again).
    expect((await call('PATCH', '/users/lena', admin, { locale: 'fr' })).body.locale).toBe('fr');
    const cleared = await call('PATCH', '/users/lena', admin, { locale: null });
    expect(cleared.body.locale).toBeNull();
    expect((await server.tessera.services.users.find('lena')).locale).toBeUndefined();

    const audit = await call('GET', `/audit?action=user.locale_change&target_id=${id}`, admin);
    expect(audit.status).toBe(200);
    expect(audit.body.items.map((e: { actor: string; details: unknown }) => [e.actor, e.details])).toEqual([
      [expect.stringMatching(/^app:.+ for user:root-ops$/), { locale: null, previous: 'fr' }],
      [expect.stringMatching(/^app:.+ for user:root-ops$/), { locale: 'fr', previous: 'de' }],
    ]);
    const creation = await call('GET', `/audit?action=user.create&target_id=${id}`, admin);
    expect(creation.body.items[0].details).toEqual({ username: 'lena', roles: [], locale: 'de' });
  });

  test('roles and permissions', async () => {
    const perm = await call('POST', '/permissions', admin, { name: 'billing_api', description: 'Billing API' });
    expect(perm.status).toBe(201);
    expect((await call('POST', '/permissions', admin, { name: 'billing_api' })).status).toBe(409);
    const role = await call('POST', '/roles', admin, { name: 'billing', description: 'Billing team', permissions: ['billing_api'] });
    expect(role.status).toBe(201);
    expect(role.body.permissions).toEqual(['billing_api']);
    const patched = await call('PATCH', '/roles/billing', admin, { permissions: ['billing_api', 'developer_api'] });
    expect(patched.body.permissions).toEqual(['billing_api', 'developer_api']);
    expect((await call('PATCH', '/roles/billing', admin, { permissions: ['ghost'] })).status).toBe(400);
    expect((await call('PATCH', '/roles/admin', admin, { permissions: [] })).status).toBe(400);
    expect((await call('DELETE', '/roles/developer', admin)).status).toBe(409);
    expect((await call('DELETE', '/permissions/developer_api', admin)).status).toBe(409);
    expect((await call('GET', '/roles', admin)).body.items.map((r: { name: string }) => r.name)).toEqual(['admin', 'billing', 'developer']);
    // Not while an app requires it: that app would refuse every user.
    const gated = await call('POST', '/apps', admin, { name: 'Billing portal', grant_types: ['authorization_code'], redirect_uris: ['https://billing.example.com/cb'], require_permission: 'billing_api' });
    expect(gated.status).toBe(201);
    const inUse = await call('DELETE', '/permissions/billing_api', admin);
    expect(inUse.status).toBe(409);
    expect(inUse.body.error_description).toContain('required by the app "Billing portal"');
    expect((await call('PATCH', `/apps/${gated.body.client_id}`, admin, { require_permission: 'developer_api' })).status).toBe(200);
    expect((await call('DELETE', '/permissions/billing_api', admin)).status).toBe(204);
    expect((await call('GET', '/roles/billing', admin)).body.permissions).toEqual(['developer_api']);
    expect((await call('DELETE', '/roles/billing', admin)).status).toBe(204);
    expect((await call('GET', '/roles/billing', admin)).status).toBe(404);
    expect((await call('POST', '/roles', admin, { name: 'Bad Name' })).status).toBe(400);
  });

  test('settings apply to the next token without a restart; invalid values change nothing', async () => {
    const before = await call('GET', '/settings', admin);
    expect(before.body).toMatchObject({ access_token_ttl: 3600, refresh_token_ttl: 2592000, code_ttl: 1800, session_ttl: 43200, redirect_uri_policy: 'strict' });
    const bad = await call('PATCH', '/settings', admin, { access_token_ttl: 5, session_ttl: 600 });
    expect(bad.status).toBe(400);
    expect(bad.body.field).toBe('access_token_ttl');
    expect((await call('GET', '/settings', admin)).body.session_ttl).toBe(43200);
    expect((await call('PATCH', '/settings', admin, { redirect_uri_policy: 'lenient' })).status).toBe(400);

    const changed = await call('PATCH', '/settings', admin, { access_token_ttl: 300, redirect_uri_policy: 'development' });
    expect(changed.status).toBe(200);
    expect(changed.body.access_token_ttl).toBe(300);
    const app = await server.tessera.services.clients.create({ name: 'ttl probe', grantTypes: ['client_credentials'], onBehalfOf: 'dev' }, SYSTEM);
    const res = await postForm(`${server.url}/connect/token`, { grant_type: 'client_credentials' }, { authorization: basic(app.client_id, app.client_secret!) });
    expect(((await res.json()) as { expires_in: number }).expires_in).toBe(300);
    // Development policy now admits loopback redirect URIs.
    expect((await call('POST', '/apps/check-redirect-uri', admin, { uri: 'http://127.0.0.1:9999/cb' })).body.ok).toBe(true);
    await call('PATCH', '/settings', admin, { access_token_ttl: 3600, redirect_uri_policy: 'strict' });
    expect((await call('POST', '/apps/check-redirect-uri', admin, { uri: 'http://127.0.0.1:9999/cb' })).body.ok).toBe(false);
  });

  test('keys: list and rotate', async () => {
    const before = await call('GET', '/keys', admin);
    expect(before.body.items.filter((k: { status: string }) => k.status === 'active')).toHaveLength(2);
    const rotated = await call('POST', '/keys/rotate', admin);
    expect(rotated.status).toBe(200);
    expect(rotated.body.items.map((k: { alg: string }) => k.alg).sort()).toEqual(['ES256', 'RS256']);
    const jwks = (await (await fetch(`${server.url}/.well-known/jwks.json`)).json()) as { keys: Array<{ kid: string }> };
    for (const k of rotated.body.items) expect(jwks.keys.map((j) => j.kid)).toContain(k.kid);
    // Tokens signed with the previous key still work.
    expect((await call('GET', '/me', admin)).status).toBe(200);
  });

  test('every change is in the audit log with who and from where, and no secrets', async () => {
    const created = await call('POST', '/apps', admin, { name: 'audited', grant_types: ['client_credentials'], on_behalf_of: 'dev' });
    await call('POST', `/apps/${created.body.client_id}/secret`, admin);
    const log = await call('GET', `/audit?target_id=${created.body.client_id}`, admin);
    expect(log.status).toBe(200);
    expect(log.body.items.map((e: { action: string }) => e.action)).toEqual(['app.secret_regenerate', 'app.create']);
    const event = log.body.items[1];
    expect(event.actor).toMatch(/^app:[0-9a-f-]+ for user:root-ops$/);
    expect(event.ip).toBe('127.0.0.1');
    expect(Date.parse(event.at)).toBeGreaterThan(0);
    const all = await call('GET', '/audit?limit=500', admin);
    const text = JSON.stringify(all.body);
    expect(text).not.toContain(created.body.client_secret);
    expect(text).not.toContain(PASSWORD);
    expect(text).not.toContain('another long passphrase');
    const actions = new Set(all.body.items.map((e: { action: string }) => e.action));
    for (const a of ['user.create', 'user.update', 'user.disable', 'user.password_reset', 'role.create', 'role.delete', 'permission.delete', 'settings.update', 'keys.rotate', 'grant.revoke', 'session.revoke', 'app.delete']) {
      expect(actions, a).toContain(a);
    }
    // Paging: a cursor walks the log without repeats.
    const page1 = await call('GET', '/audit?limit=3', admin);
    const page2 = await call('GET', `/audit?limit=3&before=${encodeURIComponent(page1.body.next)}`, admin);
    expect(page2.body.items[0].id < page1.body.items[2].id).toBe(true);
    expect((await call('GET', '/audit?action=keys.rotate', admin)).body.items.every((e: { action: string }) => e.action === 'keys.rotate')).toBe(true);
    expect((await call('GET', '/audit?limit=0', admin)).status).toBe(400);
    expect((await call('GET', '/audit?since=yesterday', admin)).status).toBe(400);
  });

  test('APIs: create with scopes and routes, reject overlaps and undeclared scopes, update, delete', async () => {
    const created = await call('POST', '/apis', admin, {
      name: 'Accounts',
      base_path: '/0/odata',
      upstream: 'http://accounts.internal:9000/odata',
      scopes: [{ name: 'accounts.read', description: 'Read your accounts' }],
      routes: [{ methods: ['GET', 'HEAD'], path: '/Account({id})', scopes: ['accounts.read'] }],
    });
    expect(created.status).toBe(201);
    expect(created.body).toMatchObject({ name: 'Accounts', base_path: '/0/odata', timeout_ms: 30000, forward_authorization: true, max_body_bytes: null, routes: [{ methods: ['GET', 'HEAD'], path: '/Account({id})', scopes: ['accounts.read'] }] });
    const overlap = await call('POST', '/apis', admin, { name: 'Nested', base_path: '/0/odata/v2', upstream: 'http://x.internal' });
    expect(overlap.status).toBe(409);
    expect(overlap.body.field).toBe('base_path');
    expect((await call('POST', '/apis', admin, { name: 'Own', base_path: '/connect/x', upstream: 'http://x.internal' })).body.error_description).toContain('/connect');
    const undeclared = await call('POST', '/apis', admin, { name: 'U', base_path: '/u', upstream: 'http://x.internal', routes: [{ methods: ['GET'], path: '/x', scopes: ['nope'] }] });
    expect(undeclared.status).toBe(400);
    expect(undeclared.body.error_description).toContain('nope');
    // Apps may now be given the declared scope, and not an unknown one.
    expect((await call('POST', '/apps', admin, { name: 'reader', grant_types: ['client_credentials'], on_behalf_of: 'dev', scopes: ['accounts.read'] })).status).toBe(201);
    const unknownScope = await call('POST', '/apps', admin, { name: 'reader2', grant_types: ['client_credentials'], scopes: ['accounts.delete'] });
    expect(unknownScope.status).toBe(400);
    expect(unknownScope.body.field).toBe('scopes');
    const patched = await call('PATCH', `/apis/${created.body.id}`, admin, { timeout_ms: 5000 });
    expect(patched.body.timeout_ms).toBe(5000);
    const gatewaySettings = await call('PATCH', `/apis/${created.body.id}`, admin, { forward_authorization: false, max_body_bytes: 1_048_576 });
    expect(gatewaySettings.body).toMatchObject({ forward_authorization: false, max_body_bytes: 1_048_576, timeout_ms: 5000 });
    expect((await call('PATCH', `/apis/${created.body.id}`, admin, { max_body_bytes: LIMITS.apiMaxBodyBytes.max + 1 })).status).toBe(400);
    expect((await call('PATCH', `/apis/${created.body.id}`, admin, { max_body_bytes: null })).body).toMatchObject({ forward_authorization: false, max_body_bytes: null });
    // The upstream token (RFC 8693 exchange at the gateway): one of three modes, with its audience.
    expect(gatewaySettings.body.upstream_token).toBe('none');
    const exchange = await call('PATCH', `/apis/${created.body.id}`, admin, { upstream_token: 'exchange', upstream_audience: 'urn:example:accounts' });
    expect(exchange.body).toMatchObject({ upstream_token: 'exchange', upstream_audience: 'urn:example:accounts', forward_authorization: false });
    expect((await call('PATCH', `/apis/${created.body.id}`, admin, { upstream_token: 'sometimes' })).status).toBe(400);
    const both = await call('PATCH', `/apis/${created.body.id}`, admin, { upstream_token: 'forward', forward_authorization: true });
    expect([both.status, both.body.field]).toEqual([400, 'upstream_token']);
    expect((await call('PATCH', `/apis/${created.body.id}`, admin, { forward_authorization: true })).body).toMatchObject({ upstream_token: 'forward', forward_authorization: true });
    // An app's token-exchange policy: set, shown, refused when malformed, removed.
    const reader = (await call('GET', '/apps', admin)).body.items.find((x: { name: string }) => x.name === 'reader');
    const policy = await call('PATCH', `/apps/${reader.client_id}`, admin, { token_exchange: { audiences: ['http://id.example/0/odata'], scopes: ['accounts.read'] } });
    expect(policy.status).toBe(200);
    expect(policy.body.token_exchange).toEqual({ audiences: ['http://id.example/0/odata'], scopes: ['accounts.read'], subject_clients: null });
    expect((await call('PATCH', `/apps/${reader.client_id}`, admin, { token_exchange: { audiences: [] } })).status).toBe(400);
    const unknownApp = await call('PATCH', `/apps/${reader.client_id}`, admin, { token_exchange: { audiences: ['urn:x'], subject_clients: ['00000000-0000-4000-8000-000000000000'] } });
    expect([unknownApp.status, unknownApp.body.field]).toEqual([400, 'token_exchange']);
    const adminScope = await call('PATCH', `/apps/${reader.client_id}`, admin, { token_exchange: { audiences: ['urn:x'], scopes: ['tessera.admin'] } });
    expect([adminScope.status, adminScope.body.field]).toEqual([400, 'token_exchange']);
    expect((await call('PATCH', `/apps/${reader.client_id}`, admin, { token_exchange: null })).body.token_exchange).toBeNull();
    expect((await call('GET', '/apis/Accounts', admin)).body.id).toBe(created.body.id);
    expect((await call('GET', '/apis', admin)).body.items).toHaveLength(1);
    expect((await call('DELETE', `/apis/${created.body.id}`, admin)).status).toBe(204);
    expect((await call('GET', `/apis/${created.body.id}`, admin)).status).toBe(404);
  });

  test('errors have one shape: schema validation, malformed and oversized bodies, wrong content type, a bug', async () => {
    const raw = async (method: string, path: string, contentType: string, body: string) => {
      const res = await fetch(`${server.url}${API}${path}`, { method, headers: { authorization: `Bearer ${admin}`, 'content-type': contentType }, body });
      return { status: res.status, body: (await res.json()) as Record<string, unknown>, headers: res.headers };
    };
    const wrongType = await call('POST', '/roles', admin, { name: { first: 'x' } });
    expect(wrongType.status).toBe(400);
    expect(wrongType.body).toEqual({ error: 'validation_failed', error_description: 'body: body/name must be string', field: 'name' });
    const badQuery = await call('GET', '/audit?limit=0', admin);
    expect(badQuery.status).toBe(400);
    expect(badQuery.body).toMatchObject({ error: 'validation_failed', field: 'limit' });
    expect(badQuery.body.error_description).toMatch(/^querystring: querystring\/limit /);
    const malformed = await raw('POST', '/roles', 'application/json', '{"name": ');
    expect(malformed).toMatchObject({ status: 400, body: { error: 'invalid_request', error_description: 'the request is malformed' } });
    const unsupported = await raw('POST', '/roles', 'text/csv', 'name\nx');
    // Any body type is read (the protocol endpoints answer invalid_request themselves); here the schema refuses it.
    expect(unsupported).toMatchObject({ status: 400, body: { error: 'validation_failed', error_description: 'body: body must be object' } });
    expect(unsupported.body.field).toBeUndefined();
    const tooLarge = await raw('POST', '/roles', 'application/json', JSON.stringify({ name: 'x', description: 'y'.repeat(server.tessera.config.server.bodyLimit) }));
    expect(tooLarge).toMatchObject({ status: 413, body: { error: 'too_large', error_description: 'the request body is too large' } });
    expect(tooLarge.headers.get('cache-control')).toBe('no-store');
    const { roles } = server.tessera.services;
    const list = roles.list;
    roles.list = async () => {
      throw new Error('a bug');
    };
    try {
      const bug = await call('GET', '/roles', admin);
      expect(bug).toMatchObject({ status: 500, body: { error: 'server_error', error_description: 'the server could not complete the request' } });
    } finally {
      roles.list = list;
    }
  });

  test('the OpenAPI 3.1 document is valid and lists every resource', async () => {
    const res = await fetch(`${server.url}${API}/openapi.json`);
    expect(res.status).toBe(200);
    const doc = (await res.json()) as { openapi: string; paths: Record<string, Record<string, unknown>> };
    expect(doc.openapi).toBe('3.1.0');
    const validator = new Validator();
    const result = await validator.validate(doc as unknown as Parameters<Validator['validate']>[0]);
    expect(result.errors ?? []).toEqual([]);
    expect(result.valid).toBe(true);
    for (const path of ['/admin/api/v1/apps', '/admin/api/v1/apps/{id}/secret', '/admin/api/v1/users/{id}/sessions', '/admin/api/v1/roles', '/admin/api/v1/permissions', '/admin/api/v1/settings', '/admin/api/v1/keys/rotate', '/admin/api/v1/audit', '/admin/api/v1/apis', '/admin/api/v1/apis/{id}']) {
      expect(Object.keys(doc.paths), path).toContain(path);
    }
    // Ranges come from config/limits.ts; the console reads them from this document.
    type Schema = { $ref?: string; properties?: Record<string, { minimum?: number; maximum?: number }> };
    const components = (doc as unknown as { components: { schemas: Record<string, Schema> } }).components.schemas;
    const deref = (s: Schema): Schema => (s.$ref ? components[s.$ref.split('/').pop()!]! : s);
    const operation = (path: string, method: string) => doc.paths[`${API}${path}`]![method] as {
      requestBody?: { content: Record<string, { schema: Schema }> };
      responses: Record<string, { content: Record<string, { schema: Schema }> }>;
    };
    const body = (path: string, method: string) => deref(operation(path, method).requestBody!.content['application/json']!.schema);
    const reply = (path: string, method: string) => deref(operation(path, method).responses['200']!.content['application/json']!.schema);
    const range = (schema: Schema, field: string) => ({ min: schema.properties![field]!.minimum, max: schema.properties![field]!.maximum });
    for (const schema of [reply('/settings', 'get'), body('/settings', 'patch')]) {
      expect(range(schema, 'access_token_ttl')).toEqual(LIMITS.accessTokenTtl);
      expect(range(schema, 'refresh_token_ttl')).toEqual(LIMITS.refreshTokenTtl);
      expect(range(schema, 'code_ttl')).toEqual(LIMITS.codeTtl);
      expect(range(schema, 'id_token_ttl')).toEqual(LIMITS.idTokenTtl);
      expect(range(schema, 'session_ttl')).toEqual(LIMITS.sessionTtl);
    }
    for (const schema of [reply('/apps/{id}', 'get'), body('/apps', 'post'), body('/apps/{id}', 'patch')]) {
      expect(range(schema, 'access_token_ttl')).toEqual(LIMITS.appAccessTokenTtl);
      expect(range(schema, 'refresh_token_ttl')).toEqual(LIMITS.appRefreshTokenTtl);
    }
    for (const schema of [body('/apis', 'post'), body('/apis/{id}', 'patch')]) {
      expect(range(schema, 'timeout_ms')).toEqual(LIMITS.apiTimeoutMs);
      expect(range(schema, 'max_body_bytes')).toEqual(LIMITS.apiMaxBodyBytes);
    }
    // No protocol endpoints leak into the admin document.
    expect(Object.keys(doc.paths).some((p) => p.startsWith('/connect'))).toBe(false);
    const page = await fetch(`${server.url}${API}/docs`);
    expect(page.status).toBe(200);
    expect(page.headers.get('content-security-policy')).toContain("frame-ancestors 'none'");
    const html = await page.text();
    expect(html).toContain('/admin/api/v1/apps/{id}/secret');
    expect(html).toContain('Regenerate the secret');
  });
});
