import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { SYSTEM } from '../../src/audit/actor.ts';
import { DIALECTS } from '../support/databases.ts';
import { basic, postForm, startTestServer, type TestServer } from '../support/server.ts';
import { startTestUpstream, type TestUpstream } from '../support/test-upstream.ts';

/** Identity providers through the admin API (issue #11), on SQLite and PostgreSQL. */
const API = '/admin/api/v1';

let upstream: TestUpstream;
beforeAll(async () => {
  upstream = await startTestUpstream('oidc');
});
afterAll(async () => {
  await upstream?.close();
});

describe.each(DIALECTS)('admin API: identity providers (%s)', (dialect) => {
  let server: TestServer;
  let admin: string;

  async function call(method: string, path: string, body?: unknown): Promise<{ status: number; body: any }> {
    const headers: Record<string, string> = { authorization: `Bearer ${admin}` };
    if (body !== undefined) headers['content-type'] = 'application/json';
    const res = await fetch(`${server.url}${API}${path}`, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
    const text = await res.text();
    return { status: res.status, body: text ? JSON.parse(text) : undefined };
  }

  beforeAll(async () => {
    server = await startTestServer(dialect, { env: { TESSERA_REDIRECT_URI_POLICY: 'development' } });
    const { services } = server.tessera;
    await services.users.create({ username: 'root-ops', password: 'correct horse battery staple', roles: ['admin'] }, SYSTEM);
    const app = await services.clients.create({ name: 'ops', grantTypes: ['client_credentials'], onBehalfOf: 'root-ops', scopes: ['tessera.admin'] }, SYSTEM);
    const res = await postForm(`${server.url}/connect/token`, { grant_type: 'client_credentials', scope: 'tessera.admin' }, { authorization: basic(app.client_id, app.client_secret!) });
    admin = ((await res.json()) as { access_token: string }).access_token;
  });
  afterAll(async () => server?.close());

  test('create, list, show, test, update, delete; the secret never comes back; every change audited', async () => {
    const created = await call('POST', '/providers', { slug: 'acme', name: 'Acme SSO', issuer: upstream.issuer, client_id: upstream.clientId, client_secret: 'top-secret', default_roles: ['developer'] });
    expect(created.status).toBe(201);
    expect(created.body).toMatchObject({
      slug: 'acme',
      kind: 'oidc',
      redirect_uri: `${server.url}/login/providers/acme/callback`,
      has_client_secret: true,
      default_roles: ['developer'],
      token_endpoint: `${upstream.issuer}/token`,
      claim_mapping: null,
    });
    expect(JSON.stringify(created.body)).not.toContain('top-secret');
    expect((await call('GET', '/providers')).body.items.map((p: { slug: string }) => p.slug)).toEqual(['acme']);
    expect((await call('GET', '/providers/acme')).body).toEqual(created.body);
    expect((await call('POST', '/providers/acme/test')).body).toEqual({ ok: true });

    const updated = await call('PATCH', '/providers/acme', { enabled: false, trust_email: true });
    expect(updated).toMatchObject({ status: 200, body: { enabled: false, trust_email: true } });

    const github = await call('POST', '/providers', {
      slug: 'github',
      name: 'GitHub',
      kind: 'oauth2',
      authorization_url: 'http://127.0.0.1:9/authorize',
      token_url: 'http://127.0.0.1:9/token',
      userinfo_url: 'http://127.0.0.1:9/user',
      claim_mapping: { subject: 'id', preferred_username: 'login' },
      client_id: 'gh',
      client_secret: 'x',
    });
    expect(github).toMatchObject({ status: 201, body: { kind: 'oauth2', claim_mapping: { subject: 'id', preferred_username: 'login' } } });

    expect((await call('DELETE', '/providers/github')).status).toBe(204);
    expect((await call('GET', '/providers/github')).status).toBe(404);

    const audit = await call('GET', '/audit?target_type=provider');
    expect(audit.body.items.map((e: { action: string; target_id: string }) => `${e.action} ${e.target_id}`)).toEqual([
      'provider.delete github',
      'provider.create github',
      'provider.update acme',
      'provider.create acme',
    ]);
    expect(audit.body.items[0].actor).not.toBe('system');
  });

  test('refusals: 400 with the field, 409 for a taken slug, 404 for an unknown one; nothing stored', async () => {
    const before = (await call('GET', '/providers')).body.items.length;
    expect(await call('POST', '/providers', { slug: 'Bad Slug', name: 'x', issuer: upstream.issuer, client_id: 'x' })).toMatchObject({ status: 400, body: { field: 'slug' } });
    expect(await call('POST', '/providers', { slug: 'down', name: 'x', issuer: 'http://127.0.0.1:9', client_id: 'x' })).toMatchObject({ status: 400, body: { field: 'issuer' } });
    expect(await call('POST', '/providers', { slug: 'x', name: 'x', client_id: 'x', surprise: 1 })).toMatchObject({ status: 400 });
    await call('POST', '/providers', { slug: 'taken', name: 'T', issuer: upstream.issuer, client_id: 'x' });
    expect(await call('POST', '/providers', { slug: 'taken', name: 'T', issuer: upstream.issuer, client_id: 'x' })).toMatchObject({ status: 409 });
    expect((await call('PATCH', '/providers/nope', { name: 'x' })).status).toBe(404);
    expect((await call('GET', '/providers')).body.items.length).toBe(before + 1);
  });
});
