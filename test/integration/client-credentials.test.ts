import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { createLocalJWKSet, decodeJwt, jwtVerify, type JSONWebKeySet } from 'jose';
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

  test('scopes the app was not given are invalid_scope, each named; the allowed ones asked again still work', async () => {
    const auth = { authorization: basic(app.client_id, app.client_secret) };
    const refused = await postForm(`${server.url}/connect/token`, { grant_type: 'client_credentials', scope: 'accounts.read other.one openid' }, auth);
    expect(refused.status).toBe(400);
    const error = (await refused.json()) as { error: string; error_description: string };
    expect(error.error).toBe('invalid_scope');
    expect(error.error_description).toBe('scope not allowed for this app with client_credentials: other.one openid');
    const ok = await postForm(`${server.url}/connect/token`, { grant_type: 'client_credentials', scope: 'accounts.write accounts.read accounts.write' }, auth);
    expect(ok.status).toBe(200);
    expect(((await ok.json()) as { scope: string }).scope).toBe('accounts.write accounts.read cfgateway');
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

  test('a token without scopes has no scope claim, in the response, the JWT or introspection', async () => {
    const bare = await server.tessera.services.clients.create({ name: 'Bare job', grantTypes: ['client_credentials'] }, SYSTEM);
    const creds = { client_id: bare.client_id, client_secret: bare.client_secret! };
    const res = await postForm(`${server.url}/connect/token`, { grant_type: 'client_credentials', ...creds });
    expect(res.status).toBe(200);
    const body = (await res.json()) as Record<string, unknown>;
    expect(body).not.toHaveProperty('scope');
    const payload = decodeJwt(String(body.access_token));
    expect(payload).not.toHaveProperty('scope');
    expect(payload).toMatchObject({ sub: bare.client_id, client_id: bare.client_id });
    const intro = (await (await postForm(`${server.url}/connect/introspect`, { token: String(body.access_token), ...creds })).json()) as Record<string, unknown>;
    expect(intro).toMatchObject({ active: true, client_id: bare.client_id });
    expect(intro).not.toHaveProperty('scope');
  });

  test('introspection: active only for the app the token was issued to or an app its audience names', async () => {
    const { services } = server.tessera;
    const resourceServer = await services.clients.create({ name: 'Ledger API', grantTypes: ['client_credentials'] }, SYSTEM);
    const bystander = await services.clients.create({ name: 'Bystander', grantTypes: ['client_credentials'] }, SYSTEM);
    // The API's audience is the resource server app's client_id: tokens for its scopes name it in `aud`.
    await services.apis.create({
      name: 'Ledger', basePath: '/ledger-introspect', upstream: 'http://127.0.0.1:9/', audience: resourceServer.client_id,
      scopes: [{ name: 'ledger.read', description: 'Read the ledger' }],
    }, SYSTEM);
    const caller = await services.clients.create({ name: 'Ledger reader', grantTypes: ['client_credentials'], scopes: ['ledger.read', 'accounts.read'] }, SYSTEM);
    const callerCreds = { client_id: caller.client_id, client_secret: caller.client_secret! };
    const tokenFor = async (scope: string) =>
      ((await (await postForm(`${server.url}/connect/token`, { grant_type: 'client_credentials', scope, ...callerCreds })).json()) as { access_token: string }).access_token;
    const ask = async (token: string, who: { client_id: string; client_secret?: string }) =>
      (await (await postForm(`${server.url}/connect/introspect`, { token, client_id: who.client_id, client_secret: who.client_secret! })).json()) as Record<string, unknown>;

    const ledger = await tokenFor('ledger.read');
    expect(decodeJwt(ledger).aud).toEqual([server.url, resourceServer.client_id]);
    expect(await ask(ledger, callerCreds)).toMatchObject({ active: true, client_id: caller.client_id });
    expect(await ask(ledger, resourceServer)).toMatchObject({ active: true, client_id: caller.client_id, scope: 'ledger.read' });
    expect(await ask(ledger, bystander)).toEqual({ active: false });
    // A token for another API does not name the resource server: it is not shown to it.
    const accounts = await tokenFor('accounts.read');
    expect(await ask(accounts, resourceServer)).toEqual({ active: false });
    // Nor is the on-behalf-of app's token (user, roles, permissions) shown to another app.
    const reporting = ((await (await postForm(`${server.url}/connect/token`, { grant_type: 'client_credentials', ...app })).json()) as { access_token: string }).access_token;
    expect(await ask(reporting, bystander)).toEqual({ active: false });
    expect(await ask(reporting, app)).toMatchObject({ active: true, username: 'svc-reporting' });
  });

  test('a client_credentials-only app cannot be given scopes that need a signed-in user', async () => {
    const { clients } = server.tessera.services;
    for (const scope of ['openid', 'profile', 'email', 'offline_access']) {
      await expect(clients.create({ name: `Job ${scope}`, grantTypes: ['client_credentials'], scopes: [scope, 'accounts.read'] }, SYSTEM))
        .rejects.toMatchObject({ field: 'scopes', message: expect.stringContaining(scope) });
      await expect(clients.create({ name: `Job default ${scope}`, grantTypes: ['client_credentials'], defaultScopes: [scope] }, SYSTEM))
        .rejects.toMatchObject({ field: 'scopes' });
    }
    // With the authorization code grant too, the user flow uses them: allowed.
    const both = await clients.create({
      name: 'Both flows', grantTypes: ['client_credentials', 'authorization_code'], redirectUris: ['https://app.example.com/cb'], scopes: ['openid', 'accounts.read'],
    }, SYSTEM);
    expect(both.scopes).toContain('openid');
    // Dropping the authorization code grant while keeping them is refused as well.
    await expect(clients.update(both.client_id, { grantTypes: ['client_credentials'], redirectUris: [] }, SYSTEM)).rejects.toMatchObject({ field: 'scopes' });
    await expect(clients.update(app.client_id, { scopes: ['accounts.read', 'profile'] }, SYSTEM)).rejects.toMatchObject({ field: 'scopes' });
  });

  test('health reports database, keys and clock', async () => {
    const res = await fetch(`${server.url}/health`);
    expect(res.status).toBe(200);
    expect(await res.json()).toMatchObject({ status: 'ok', checks: { database: { status: 'ok' }, signing_keys: { status: 'ok' }, clock: { status: 'ok' } } });
  });
});
