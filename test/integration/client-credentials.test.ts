import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { createLocalJWKSet, jwtVerify, type JSONWebKeySet } from 'jose';
import { DIALECTS } from '../support/databases.ts';
import { basic, postForm, startTestServer, type TestServer, declareScopes } from '../support/server.ts';
import { SYSTEM } from '../../src/audit/actor.ts';

describe.each(DIALECTS)('client credentials over HTTP (%s)', (dialect) => {
  let server: TestServer;
  let app: { client_id: string; client_secret: string };
  let userId: string;

  beforeAll(async () => {
    server = await startTestServer(dialect);
    const { services } = server.tessera;
    await declareScopes(server.tessera, ['accounts.read', 'accounts.write', 'cfgateway']);
    const user = await services.users.create({ username: 'svc-reporting', password: 'correct horse battery', roles: ['developer'] }, SYSTEM);
    userId = user.id;
    const created = await services.clients.create({
      name: 'Reporting job',
      grantTypes: ['client_credentials'],
      scopes: ['accounts.read', 'accounts.write'],
      defaultScopes: ['cfgateway'],
      onBehalfOf: 'svc-reporting',
    }, SYSTEM);
    app = { client_id: created.client_id, client_secret: created.client_secret! };
  });
  afterAll(async () => server?.close());

  test('issues an RFC 9068 JWT acting for the on-behalf user, verifiable with the JWKS', async () => {
    const res = await postForm(`${server.url}/connect/token`, { grant_type: 'client_credentials', scope: 'accounts.read' }, {
      authorization: basic(app.client_id, app.client_secret),
    });
    expect(res.status).toBe(200);
    expect(res.headers.get('cache-control')).toBe('no-store');
    const body = (await res.json()) as Record<string, unknown>;
    expect(body).toMatchObject({ token_type: 'Bearer', expires_in: 3600, scope: 'accounts.read cfgateway' });
    expect(body.refresh_token).toBeUndefined();

    const jwks = (await (await fetch(`${server.url}/.well-known/jwks.json`)).json()) as JSONWebKeySet;
    const { payload, protectedHeader } = await jwtVerify(String(body.access_token), createLocalJWKSet(jwks), {
      issuer: server.url,
      typ: 'at+jwt',
      algorithms: ['ES256'],
    });
    expect(protectedHeader.kid).toBeTruthy();
    expect(payload).toMatchObject({
      sub: userId,
      client_id: app.client_id,
      scope: 'accounts.read cfgateway',
      roles: ['developer'],
      permissions: ['developer_api'],
    });
    expect(payload.exp! - payload.iat!).toBe(3600);
    expect(typeof payload.jti).toBe('string');
  });

  test('client_secret_post works; both methods at once is invalid_request', async () => {
    const ok = await postForm(`${server.url}/connect/token`, { grant_type: 'client_credentials', ...app });
    expect(ok.status).toBe(200);
    const both = await postForm(`${server.url}/connect/token`, { grant_type: 'client_credentials', ...app }, {
      authorization: basic(app.client_id, app.client_secret),
    });
    expect(both.status).toBe(400);
    expect(await both.json()).toMatchObject({ error: 'invalid_request' });
  });

  test('wrong secret is invalid_client with WWW-Authenticate when Basic was used', async () => {
    const res = await postForm(`${server.url}/connect/token`, { grant_type: 'client_credentials' }, {
      authorization: basic(app.client_id, 'not-the-secret'),
    });
    expect(res.status).toBe(401);
    expect(res.headers.get('www-authenticate')).toMatch(/^Basic/);
    expect(await res.json()).toMatchObject({ error: 'invalid_client' });
  });

  test('introspection and revocation', async () => {
    const token = ((await (await postForm(`${server.url}/connect/token`, { grant_type: 'client_credentials', ...app })).json()) as { access_token: string }).access_token;
    const auth = { authorization: basic(app.client_id, app.client_secret) };
    const active = await (await postForm(`${server.url}/connect/introspect`, { token }, auth)).json();
    expect(active).toMatchObject({ active: true, client_id: app.client_id, sub: userId, username: 'svc-reporting', token_type: 'Bearer' });

    const revoked = await postForm(`${server.url}/connect/revocation`, { token }, auth);
    expect(revoked.status).toBe(200);
    expect(await (await postForm(`${server.url}/connect/introspect`, { token }, auth)).json()).toEqual({ active: false });

    // RFC 7009 §2.2: unknown tokens answer 200 too.
    expect((await postForm(`${server.url}/connect/revocation`, { token: 'no-such-token' }, auth)).status).toBe(200);
  });

  test('regenerating the secret invalidates the old secret and every token issued before', async () => {
    const token = ((await (await postForm(`${server.url}/connect/token`, { grant_type: 'client_credentials', ...app })).json()) as { access_token: string }).access_token;
    const rotated = await server.tessera.services.clients.rotateSecret(app.client_id, SYSTEM);
    const fresh = { client_id: app.client_id, client_secret: rotated.client_secret! };
    const intro = await (await postForm(`${server.url}/connect/introspect`, { token, ...fresh })).json();
    expect(intro).toEqual({ active: false });
    const old = await postForm(`${server.url}/connect/token`, { grant_type: 'client_credentials', ...app });
    expect(old.status).toBe(401);
    // A token issued right after rotation (same second) is valid.
    const next = ((await (await postForm(`${server.url}/connect/token`, { grant_type: 'client_credentials', ...fresh })).json()) as { access_token: string }).access_token;
    expect(await (await postForm(`${server.url}/connect/introspect`, { token: next, ...fresh })).json()).toMatchObject({ active: true });
    app = { client_id: app.client_id, client_secret: fresh.client_secret };
  });

  test('disabling the on-behalf user invalidates its tokens and stops issuance', async () => {
    const token = ((await (await postForm(`${server.url}/connect/token`, { grant_type: 'client_credentials', ...app })).json()) as { access_token: string }).access_token;
    await server.tessera.services.users.setDisabled('svc-reporting', true, SYSTEM);
    expect(await (await postForm(`${server.url}/connect/introspect`, { token, ...app })).json()).toEqual({ active: false });
    const res = await postForm(`${server.url}/connect/token`, { grant_type: 'client_credentials', ...app });
    expect(res.status).toBe(400);
    expect(await res.json()).toMatchObject({ error: 'unauthorized_client' });
    await server.tessera.services.users.setDisabled('svc-reporting', false, SYSTEM);
  });

  test('health reports database, keys and clock', async () => {
    const res = await fetch(`${server.url}/health`);
    expect(res.status).toBe(200);
    expect(await res.json()).toMatchObject({ status: 'ok', checks: { database: { status: 'ok' }, signing_keys: { status: 'ok' }, clock: { status: 'ok' } } });
  });
});
