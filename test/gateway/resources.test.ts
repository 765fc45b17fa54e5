import { createHash, randomBytes } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { decodeJwt } from 'jose';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { DIALECTS } from '../support/databases.ts';
import { basic, postForm, startTestServer, type TestServer } from '../support/server.ts';
import { hiddenFields, location, UserAgent } from '../support/user-agent.ts';
import { SYSTEM } from '../../src/audit/actor.ts';

/**
 * Gateway APIs as protected resources, on SQLite and PostgreSQL: RFC 9728 metadata and
 * challenges, RFC 8707 resource indicators on authorize, code exchange, refresh and client
 * credentials, and the gateway refusing a token bound to another API.
 */
const REDIRECT = 'https://app.example.com/callback';
const PASSWORD = 'correct horse battery staple';

function pkce(): { verifier: string; challenge: string } {
  const verifier = randomBytes(32).toString('base64url');
  return { verifier, challenge: createHash('sha256').update(verifier).digest('base64url') };
}

describe.each(DIALECTS)('protected resources and resource indicators (%s)', (dialect) => {
  let server: TestServer;
  let upstream: Server;
  let upstreamUrl: string;
  let hits = 0;
  let machine: { id: string; secret: string };
  let web: { id: string; secret: string };
  let notes: string;
  let tasks: string;

  beforeAll(async () => {
    upstream = createServer((_req, res) => {
      hits++;
      res.writeHead(200, { 'content-type': 'application/json' }).end('{"ok":true}');
    });
    await new Promise<void>((r) => upstream.listen(0, '127.0.0.1', r));
    upstreamUrl = `http://127.0.0.1:${(upstream.address() as AddressInfo).port}`;
    server = await startTestServer(dialect);
    const { services } = server.tessera;
    await services.apis.create({ name: 'Notes', basePath: '/notes', upstream: upstreamUrl, scopes: [{ name: 'notes.read' }, { name: 'notes.write' }], routes: [{ methods: ['GET'], path: '/**', scopes: ['notes.read'] }, { methods: ['POST'], path: '/**', scopes: ['notes.write'] }] }, SYSTEM);
    await services.apis.create({ name: 'Tasks', basePath: '/tasks/v1', upstream: upstreamUrl, scopes: [{ name: 'tasks.read' }], routes: [{ methods: ['GET'], path: '/**', scopes: ['tasks.read'] }] }, SYSTEM);
    await services.apis.create({ name: 'Hidden', basePath: '/hidden', upstream: upstreamUrl, audience: 'urn:example:hidden', scopes: [{ name: 'hidden.read' }], routes: [{ methods: ['GET'], path: '/**', scopes: ['hidden.read'] }] }, SYSTEM);
    await services.users.create({ username: 'svc', password: PASSWORD, roles: ['developer'] }, SYSTEM);
    await services.users.create({ username: 'alice', password: PASSWORD, roles: ['developer'] }, SYSTEM);
    const m = await services.clients.create({ name: 'machine', grantTypes: ['client_credentials'], onBehalfOf: 'svc', scopes: ['notes.read', 'tasks.read'] }, SYSTEM);
    machine = { id: m.client_id, secret: m.client_secret! };
    const w = await services.clients.create({ name: 'web', grantTypes: ['authorization_code'], redirectUris: [REDIRECT], scopes: ['openid', 'offline_access', 'notes.read', 'notes.write', 'tasks.read'] }, SYSTEM);
    web = { id: w.client_id, secret: w.client_secret! };
    for (let i = 0; i < 60 && server.tessera.gateway.size < 3; i++) await new Promise((r) => setTimeout(r, 50));
    expect(server.tessera.gateway.size).toBe(3);
    notes = `${server.url}/notes`;
    tasks = `${server.url}/tasks/v1`;
  });
  afterAll(async () => {
    await server?.close();
    await new Promise((r) => upstream?.close(r));
  });

  const cc = (form: Record<string, string>, client = machine) => postForm(`${server.url}/connect/token`, { grant_type: 'client_credentials', ...form }, { authorization: basic(client.id, client.secret) });
  const call = (path: string, token?: string) => fetch(`${server.url}${path}`, { headers: token ? { authorization: `Bearer ${token}` } : {} });

  test('RFC 9728: each API publishes its metadata; the 401 points to it', async () => {
    const res = await fetch(`${server.url}/.well-known/oauth-protected-resource/tasks/v1`);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toContain('application/json');
    expect(await res.json()).toEqual({
      resource: tasks,
      authorization_servers: [server.url],
      scopes_supported: ['tasks.read'],
      bearer_methods_supported: ['header'],
      dpop_signing_alg_values_supported: ['ES256', 'ES384', 'ES512', 'PS256', 'PS384', 'PS512', 'RS256', 'RS384', 'RS512', 'EdDSA', 'Ed25519'],
      resource_name: 'Tasks',
    });
    // A set audience is the resource identifier.
    expect(((await (await fetch(`${server.url}/.well-known/oauth-protected-resource/hidden`)).json()) as { resource: string }).resource).toBe('urn:example:hidden');
    expect((await fetch(`${server.url}/.well-known/oauth-protected-resource/nowhere`)).status).toBe(404);
    expect((await fetch(`${server.url}/.well-known/oauth-protected-resource/tasks`)).status).toBe(404);

    const missing = await call('/tasks/v1/items');
    expect(missing.status).toBe(401);
    const challenge = missing.headers.get('www-authenticate')!;
    const metadataUrl = /resource_metadata="([^"]+)"/.exec(challenge)![1]!;
    expect(metadataUrl).toBe(`${server.url}/.well-known/oauth-protected-resource/tasks/v1`);
    expect(challenge).toContain('scope="tasks.read"');
    // The metadata's resource is the URL the client called (RFC 9728 §3.3), its server the issuer.
    const metadata = (await (await fetch(metadataUrl)).json()) as { resource: string; authorization_servers: string[] };
    expect(`${server.url}/tasks/v1/items`.startsWith(metadata.resource)).toBe(true);
    const as = (await (await fetch(`${metadata.authorization_servers[0]}/.well-known/oauth-authorization-server`)).json()) as Record<string, unknown>;
    expect(as.protected_resources).toEqual(expect.arrayContaining([notes, tasks, 'urn:example:hidden']));
    const oidc = (await (await fetch(`${server.url}/.well-known/openid-configuration`)).json()) as Record<string, unknown>;
    expect(oidc.protected_resources).toEqual(as.protected_resources);

    // A browser-based client may read it cross-origin.
    const cors = await fetch(metadataUrl, { headers: { origin: 'https://agent.example' } });
    expect(cors.headers.get('access-control-allow-origin')).toBe('*');
  });

  test('RFC 8707 with client credentials: aud is the one API, scopes narrowed; A is refused at B', async () => {
    const res = await cc({ scope: 'notes.read tasks.read', resource: notes });
    expect(res.status).toBe(200);
    const body = (await res.json()) as { access_token: string; scope: string };
    expect(body.scope).toBe('notes.read');
    const claims = decodeJwt(body.access_token);
    expect(claims.aud).toBe(notes);
    expect(claims.scope).toBe('notes.read');

    const before = hits;
    expect((await call('/notes/x', body.access_token)).status).toBe(200);
    expect(hits).toBe(before + 1);
    // A token for Notes at Tasks: refused even if it carried a Tasks scope, and never forwarded.
    const wide = (await (await cc({ scope: 'tasks.read', resource: notes })).json()) as { access_token?: string; scope?: string };
    expect(wide.scope ?? '').toBe('');
    const atTasks = await call('/tasks/v1/items', body.access_token);
    expect(atTasks.status).toBe(401);
    expect(atTasks.headers.get('www-authenticate')).toContain('error="invalid_token"');
    expect(atTasks.headers.get('www-authenticate')).toContain('resource_metadata=');
    expect(hits).toBe(before + 1);

    // A trailing slash names the same resource.
    const slash = (await (await cc({ scope: 'tasks.read', resource: `${tasks}/` })).json()) as { access_token: string };
    expect(decodeJwt(slash.access_token).aud).toBe(tasks);
    expect((await call('/tasks/v1/items', slash.access_token)).status).toBe(200);

    // Without resource, tokens stay as before: the issuer audience, accepted by APIs without their own.
    const plain = (await (await cc({ scope: 'notes.read tasks.read' })).json()) as { access_token: string };
    expect(decodeJwt(plain.access_token).aud).toBe(server.url);
    expect((await call('/notes/x', plain.access_token)).status).toBe(200);
    expect((await call('/tasks/v1/x', plain.access_token)).status).toBe(200);
  });

  test('an API whose audience is an app (its resource server) is named by its URL; the app may introspect the bound token', async () => {
    const { services } = server.tessera;
    const rs = await services.clients.create({ name: 'ledger-rs', grantTypes: ['client_credentials'], onBehalfOf: 'svc', scopes: [] }, SYSTEM);
    await services.apis.create({ name: 'Ledger', basePath: '/ledger', upstream: upstreamUrl, audience: rs.client_id, scopes: [{ name: 'ledger.read' }], routes: [{ methods: ['GET'], path: '/**', scopes: ['ledger.read'] }] }, SYSTEM);
    const c = await services.clients.create({ name: 'ledger-user', grantTypes: ['client_credentials'], onBehalfOf: 'svc', scopes: ['ledger.read'] }, SYSTEM);
    for (let i = 0; i < 60 && server.tessera.gateway.size < 4; i++) await new Promise((r) => setTimeout(r, 50));
    const meta = (await (await fetch(`${server.url}/.well-known/oauth-protected-resource/ledger`)).json()) as { resource: string };
    expect(meta.resource).toBe(`${server.url}/ledger`);
    const res = await cc({ scope: 'ledger.read', resource: meta.resource }, { id: c.client_id, secret: c.client_secret! });
    expect(res.status).toBe(200);
    const token = ((await res.json()) as { access_token: string }).access_token;
    expect(decodeJwt(token).aud).toEqual([meta.resource, rs.client_id]);
    expect((await call('/ledger/x', token)).status).toBe(200);
    const introspected = await postForm(`${server.url}/connect/introspect`, { token }, { authorization: basic(rs.client_id, rs.client_secret!) });
    expect(((await introspected.json()) as { active: boolean }).active).toBe(true);
    await services.apis.delete('Ledger', SYSTEM);
  });

  test('RFC 8707 §2: invalid_target for unknown, malformed, several and not-allowed resources', async () => {
    const cases: Array<[string, Record<string, string> | string]> = [
      ['unknown', { resource: 'https://elsewhere.example/api' }],
      ['relative', { resource: '/notes' }],
      ['fragment', { resource: `${notes}#frag` }],
      ['not allowed for this app', { resource: 'urn:example:hidden' }],
    ];
    for (const [name, form] of cases) {
      const res = await cc(form as Record<string, string>);
      expect(res.status, name).toBe(400);
      expect(((await res.json()) as { error: string }).error, name).toBe('invalid_target');
    }
    const several = await fetch(`${server.url}/connect/token`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded', authorization: basic(machine.id, machine.secret) },
      body: `grant_type=client_credentials&resource=${encodeURIComponent(notes)}&resource=${encodeURIComponent(tasks)}`,
    });
    expect(several.status).toBe(400);
    expect(((await several.json()) as { error: string }).error).toBe('invalid_target');
  });

  async function codeFor(extra: Record<string, string>, ua = new UserAgent(server.url)): Promise<{ callback: URL; verifier: string }> {
    const { verifier, challenge } = pkce();
    const q = new URLSearchParams({ client_id: web.id, response_type: 'code', redirect_uri: REDIRECT, scope: 'openid offline_access notes.read notes.write tasks.read', state: 's', code_challenge: challenge, code_challenge_method: 'S256', ...extra });
    let res = await ua.get(`/connect/authorize?${q}`);
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
    return { callback: new URL(target), verifier };
  }
  const exchange = (code: string, verifier: string, extra: Record<string, string> = {}) =>
    postForm(`${server.url}/connect/token`, { grant_type: 'authorization_code', code, code_verifier: verifier, redirect_uri: REDIRECT, ...extra }, { authorization: basic(web.id, web.secret) });
  const refresh = (token: string, extra: Record<string, string> = {}) =>
    postForm(`${server.url}/connect/token`, { grant_type: 'refresh_token', refresh_token: token, ...extra }, { authorization: basic(web.id, web.secret) });

  test('authorization code: resource at authorize binds the code, the tokens and the refresh family', async () => {
    const ua = new UserAgent(server.url);
    const { callback, verifier } = await codeFor({ resource: notes }, ua);
    const code = callback.searchParams.get('code')!;
    expect(code).toBeTruthy();
    // Another resource at the token endpoint is a widening: refused (the code is spent, as by any failed exchange).
    const other = await exchange(code, verifier, { resource: tasks });
    expect(other.status).toBe(400);
    expect(((await other.json()) as { error: string }).error).toBe('invalid_target');

    const { callback: again, verifier: v2 } = await codeFor({ resource: notes }, ua);
    const res = await exchange(again.searchParams.get('code')!, v2, { resource: notes });
    expect(res.status).toBe(200);
    const body = (await res.json()) as { access_token: string; refresh_token: string; id_token: string; scope: string };
    expect(decodeJwt(body.access_token).aud).toBe(notes);
    expect(body.scope.split(' ').sort()).toEqual(['notes.read', 'notes.write', 'offline_access', 'openid']);
    expect(body.id_token).toBeTruthy();
    expect((await call('/notes/a', body.access_token)).status).toBe(200);
    expect((await call('/tasks/v1/a', body.access_token)).status).toBe(401);

    // Refresh: no resource keeps the bound one; another one is a widening.
    const wider = await refresh(body.refresh_token, { resource: tasks });
    expect(wider.status).toBe(400);
    expect(((await wider.json()) as { error: string }).error).toBe('invalid_target');
    const kept = await refresh(body.refresh_token);
    expect(kept.status).toBe(200);
    const keptBody = (await kept.json()) as { access_token: string };
    expect(decodeJwt(keptBody.access_token).aud).toBe(notes);
  });

  test('authorization code: no resource at authorize; the token request and refresh may narrow to one API', async () => {
    const { callback, verifier } = await codeFor({});
    const res = await exchange(callback.searchParams.get('code')!, verifier);
    expect(res.status).toBe(200);
    const body = (await res.json()) as { access_token: string; refresh_token: string };
    expect(decodeJwt(body.access_token).aud).toBe(server.url);
    const narrowed = await refresh(body.refresh_token, { resource: tasks });
    expect(narrowed.status).toBe(200);
    const nb = (await narrowed.json()) as { access_token: string; refresh_token: string; scope: string };
    expect(decodeJwt(nb.access_token).aud).toBe(tasks);
    expect(nb.scope.split(' ').sort()).toEqual(['offline_access', 'openid', 'tasks.read']);
    expect((await call('/tasks/v1/a', nb.access_token)).status).toBe(200);
    expect((await call('/notes/a', nb.access_token)).status).toBe(401);
    // The grant itself was not narrowed: the next refresh may name the other API.
    const back = await refresh(nb.refresh_token, { resource: notes });
    expect(back.status).toBe(200);
    expect(decodeJwt(((await back.json()) as { access_token: string }).access_token).aud).toBe(notes);
  });

  test('authorize: invalid_target goes back to the app with its state, without a code', async () => {
    for (const resource of ['https://elsewhere.example/x', 'urn:example:hidden', 'not a uri']) {
      const { callback } = await codeFor({ resource });
      expect(callback.origin + callback.pathname).toBe(REDIRECT);
      expect(callback.searchParams.get('error')).toBe('invalid_target');
      expect(callback.searchParams.get('state')).toBe('s');
      expect(callback.searchParams.get('code')).toBeNull();
    }
    const ua = new UserAgent(server.url);
    const { challenge } = pkce();
    const q = new URLSearchParams({ client_id: web.id, response_type: 'code', redirect_uri: REDIRECT, scope: 'openid', state: 's', code_challenge: challenge, code_challenge_method: 'S256' });
    q.append('resource', notes);
    q.append('resource', tasks);
    const several = new URL(location(await ua.get(`/connect/authorize?${q}`)));
    expect(several.searchParams.get('error')).toBe('invalid_target');
  });
});
