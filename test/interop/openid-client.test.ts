import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import * as client from 'openid-client';
import { createRemoteJWKSet, jwtVerify } from 'jose';
import { DIALECTS } from '../support/databases.ts';
import { startTestServer, type TestServer, declareScopes } from '../support/server.ts';
import { SYSTEM } from '../../src/audit/actor.ts';

/**
 * Interop with openid-client v6 (panva), the certified Node.js relying-party library.
 * The issuer is plain http on 127.0.0.1, so discovery runs with the documented escape
 * hatch `execute: [client.allowInsecureRequests]`, which also applies to every later
 * request made with the resulting Configuration.
 */
describe.each(DIALECTS)('openid-client against Tessera (%s)', (dialect) => {
  let server: TestServer;
  let clientId: string;
  let secret: string;
  let userId: string;

  function discover(
    auth: (secret: string) => client.ClientAuth,
    options: { secret?: string; algorithm?: 'oidc' | 'oauth2' } = {},
  ): Promise<client.Configuration> {
    const s = options.secret ?? secret;
    return client.discovery(new URL(server.url), clientId, s, auth(s), {
      algorithm: options.algorithm ?? 'oidc',
      execute: [client.allowInsecureRequests],
    });
  }

  beforeAll(async () => {
    server = await startTestServer(dialect);
    const { services } = server.tessera;
    await declareScopes(server.tessera, ['accounts.read', 'accounts.write', 'cfgateway']);
    const user = await services.users.create({ username: 'svc-rp', password: 'correct horse battery', roles: ['developer'] }, SYSTEM);
    userId = user.id;
    const created = await services.clients.create({
      name: 'openid-client interop',
      grantTypes: ['client_credentials'],
      scopes: ['accounts.read', 'accounts.write'],
      defaultScopes: ['cfgateway'],
      onBehalfOf: 'svc-rp',
    }, SYSTEM);
    clientId = created.client_id;
    secret = created.client_secret!;
  });
  afterAll(async () => server?.close());

  test('discovery via /.well-known/openid-configuration', async () => {
    const config = await discover(client.ClientSecretBasic);
    const metadata = config.serverMetadata();
    expect(metadata.issuer).toBe(server.url);
    expect(metadata.token_endpoint).toBe(`${server.url}/connect/token`);
    expect(metadata.introspection_endpoint).toBe(`${server.url}/connect/introspect`);
    expect(metadata.revocation_endpoint).toBe(`${server.url}/connect/revocation`);
    expect(metadata.jwks_uri).toBe(`${server.url}/.well-known/jwks.json`);
    expect(metadata.grant_types_supported).toContain('client_credentials');
    expect(config.clientMetadata().client_id).toBe(clientId);
  });

  test('discovery via /.well-known/oauth-authorization-server (RFC 8414) agrees', async () => {
    const oidc = (await discover(client.ClientSecretBasic)).serverMetadata();
    const rfc8414 = (await discover(client.ClientSecretBasic, { algorithm: 'oauth2' })).serverMetadata();
    expect(rfc8414.issuer).toBe(oidc.issuer);
    expect(rfc8414.token_endpoint).toBe(oidc.token_endpoint);
    expect(rfc8414.jwks_uri).toBe(oidc.jwks_uri);
    expect(rfc8414.introspection_endpoint).toBe(oidc.introspection_endpoint);
    expect(rfc8414.revocation_endpoint).toBe(oidc.revocation_endpoint);
  });

  test('without allowInsecureRequests the library refuses the http issuer', async () => {
    await expect(client.discovery(new URL(server.url), clientId, secret)).rejects.toBeInstanceOf(client.ClientError);
  });

  test.each([
    ['client_secret_basic', client.ClientSecretBasic],
    ['client_secret_post', client.ClientSecretPost],
  ] as const)('client credentials grant with %s; the access token verifies against the discovered JWKS', async (_method, auth) => {
    const config = await discover(auth);
    const tokens = await client.clientCredentialsGrant(config, { scope: 'accounts.read' });
    expect(tokens.token_type).toBe('bearer'); // lower-cased by the library
    expect(tokens.expires_in).toBe(3600);
    expect(tokens.expiresIn()).toBeGreaterThan(3590);
    expect(tokens.scope).toBe('accounts.read cfgateway');
    expect(tokens.refresh_token).toBeUndefined();

    const metadata = config.serverMetadata();
    const jwks = createRemoteJWKSet(new URL(metadata.jwks_uri!));
    const { payload, protectedHeader } = await jwtVerify(tokens.access_token, jwks, {
      issuer: metadata.issuer,
      typ: 'at+jwt',
      algorithms: ['ES256'],
    });
    expect(protectedHeader.kid).toBeTruthy();
    for (const claim of ['iss', 'sub', 'aud', 'client_id', 'scope', 'iat', 'exp', 'jti']) expect(payload).toHaveProperty(claim);
    expect(payload).toMatchObject({
      iss: server.url,
      sub: userId,
      client_id: clientId,
      scope: 'accounts.read cfgateway',
      roles: ['developer'],
      permissions: ['developer_api'],
    });
    expect(payload.aud).toBeTruthy();
    expect(payload.exp! - payload.iat!).toBe(3600);
    expect(typeof payload.jti).toBe('string');
  });

  test.each([
    ['client_secret_basic', client.ClientSecretBasic],
    ['client_secret_post', client.ClientSecretPost],
  ] as const)('introspection active → revocation → inactive, authenticating with %s', async (_method, auth) => {
    const config = await discover(auth);
    const { access_token } = await client.clientCredentialsGrant(config);
    const active = await client.tokenIntrospection(config, access_token);
    expect(active).toMatchObject({ active: true, client_id: clientId, sub: userId, scope: 'cfgateway', token_type: 'Bearer' });

    await expect(client.tokenRevocation(config, access_token)).resolves.toBeUndefined();
    expect(await client.tokenIntrospection(config, access_token)).toEqual({ active: false });
    // Revoking again, or an unknown token, is still fine (RFC 7009 §2.2).
    await expect(client.tokenRevocation(config, access_token)).resolves.toBeUndefined();
    await expect(client.tokenRevocation(config, 'no-such-token')).resolves.toBeUndefined();
  });

  test('wrong secret (client_secret_post) rejects with ResponseBodyError carrying invalid_client', async () => {
    const config = await discover(client.ClientSecretPost, { secret: 'not-the-secret' });
    const error = await client.clientCredentialsGrant(config).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(client.ResponseBodyError);
    const e = error as client.ResponseBodyError;
    expect(e.error).toBe('invalid_client');
    expect(e.status).toBe(401);
    expect(e.cause).toMatchObject({ error: 'invalid_client' });
  });

  test('wrong secret (client_secret_basic) rejects with WWWAuthenticateChallengeError; the body says invalid_client', async () => {
    const config = await discover(client.ClientSecretBasic, { secret: 'not-the-secret' });
    const error = await client.clientCredentialsGrant(config).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(client.WWWAuthenticateChallengeError);
    const e = error as client.WWWAuthenticateChallengeError;
    expect(e.status).toBe(401);
    expect(e.cause[0]?.scheme).toBe('basic');
    expect(await e.response.json()).toMatchObject({ error: 'invalid_client' });
  });

  test('introspection and revocation with a wrong secret fail with invalid_client', async () => {
    const config = await discover(client.ClientSecretPost, { secret: 'not-the-secret' });
    await expect(client.tokenIntrospection(config, 'a.b.c')).rejects.toMatchObject({ error: 'invalid_client', status: 401 });
    await expect(client.tokenRevocation(config, 'a.b.c')).rejects.toMatchObject({ error: 'invalid_client', status: 401 });
  });

  test('a scope the app may not use rejects with ResponseBodyError carrying invalid_scope', async () => {
    const config = await discover(client.ClientSecretBasic);
    await expect(client.clientCredentialsGrant(config, { scope: 'openid' })).rejects.toMatchObject({ error: 'invalid_scope', status: 400 });
  });
});
