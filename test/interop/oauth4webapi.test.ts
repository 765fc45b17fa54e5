import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import * as oauth from 'oauth4webapi';
import { createRemoteJWKSet, jwtVerify } from 'jose';
import { DIALECTS } from '../support/databases.ts';
import { startTestServer, type TestServer, declareScopes } from '../support/server.ts';
import { SYSTEM } from '../../src/audit/actor.ts';

/**
 * Interop with oauth4webapi (panva), the low-level client most JavaScript OAuth libraries
 * build on. The issuer is plain http on 127.0.0.1, so every call passes the library's
 * documented escape hatch `[oauth.allowInsecureRequests]: true`.
 */
const insecure = { [oauth.allowInsecureRequests]: true } as const;

describe.each(DIALECTS)('oauth4webapi against Tessera (%s)', (dialect) => {
  let server: TestServer;
  let as: oauth.AuthorizationServer;
  let client: oauth.Client;
  let secret: string;
  let userId: string;

  beforeAll(async () => {
    server = await startTestServer(dialect);
    const { services } = server.tessera;
    await declareScopes(server.tessera, ['accounts.read', 'accounts.write', 'cfgateway']);
    const user = await services.users.create({ username: 'svc-interop', password: 'correct horse battery', roles: ['developer'] }, SYSTEM);
    userId = user.id;
    const created = await services.clients.create({
      name: 'oauth4webapi interop',
      grantTypes: ['client_credentials'],
      scopes: ['accounts.read', 'accounts.write'],
      defaultScopes: ['cfgateway'],
      onBehalfOf: 'svc-interop',
    }, SYSTEM);
    client = { client_id: created.client_id };
    secret = created.client_secret!;
    const issuer = new URL(server.url);
    as = await oauth.processDiscoveryResponse(issuer, await oauth.discoveryRequest(issuer, { ...insecure, algorithm: 'oidc' }));
  });
  afterAll(async () => server?.close());

  async function clientCredentials(auth: oauth.ClientAuth, scope = 'accounts.read'): Promise<oauth.TokenEndpointResponse> {
    const response = await oauth.clientCredentialsGrantRequest(as, client, auth, { scope }, insecure);
    return oauth.processClientCredentialsResponse(as, client, response);
  }

  async function introspect(token: string): Promise<oauth.IntrospectionResponse> {
    const response = await oauth.introspectionRequest(as, client, oauth.ClientSecretBasic(secret), token, insecure);
    return oauth.processIntrospectionResponse(as, client, response);
  }

  test('OpenID discovery (/.well-known/openid-configuration) yields usable metadata', () => {
    expect(as.issuer).toBe(server.url);
    expect(as.token_endpoint).toBe(`${server.url}/connect/token`);
    expect(as.introspection_endpoint).toBe(`${server.url}/connect/introspect`);
    expect(as.revocation_endpoint).toBe(`${server.url}/connect/revocation`);
    expect(as.jwks_uri).toBe(`${server.url}/.well-known/jwks.json`);
    expect(as.grant_types_supported).toContain('client_credentials');
    expect(as.token_endpoint_auth_methods_supported).toEqual(expect.arrayContaining(['client_secret_basic', 'client_secret_post']));
  });

  test('RFC 8414 discovery (/.well-known/oauth-authorization-server) agrees with OpenID discovery', async () => {
    const issuer = new URL(server.url);
    const response = await oauth.discoveryRequest(issuer, { ...insecure, algorithm: 'oauth2' });
    expect(new URL(response.url).pathname).toBe('/.well-known/oauth-authorization-server');
    const metadata = await oauth.processDiscoveryResponse(issuer, response);
    expect(metadata.issuer).toBe(as.issuer);
    expect(metadata.token_endpoint).toBe(as.token_endpoint);
    expect(metadata.jwks_uri).toBe(as.jwks_uri);
    expect(metadata.introspection_endpoint).toBe(as.introspection_endpoint);
    expect(metadata.revocation_endpoint).toBe(as.revocation_endpoint);
  });

  test('discovery refuses plain http without the escape hatch (the library default holds)', async () => {
    await expect(oauth.discoveryRequest(new URL(server.url))).rejects.toMatchObject({ code: oauth.HTTP_REQUEST_FORBIDDEN });
  });

  test.each([
    ['client_secret_basic', () => oauth.ClientSecretBasic(secret)],
    ['client_secret_post', () => oauth.ClientSecretPost(secret)],
  ] as const)('client credentials grant with %s; the access token verifies against the discovered JWKS', async (_method, auth) => {
    const tokens = await clientCredentials(auth());
    expect(tokens.token_type).toBe('bearer'); // the library lower-cases token_type
    expect(tokens.expires_in).toBe(3600);
    expect(tokens.scope).toBe('accounts.read cfgateway');
    expect(tokens.refresh_token).toBeUndefined();

    const jwks = createRemoteJWKSet(new URL(as.jwks_uri!));
    const { payload, protectedHeader } = await jwtVerify(tokens.access_token, jwks, {
      issuer: as.issuer,
      typ: 'at+jwt',
      algorithms: ['ES256'],
    });
    expect(protectedHeader.alg).toBe('ES256');
    expect(protectedHeader.kid).toBeTruthy();
    for (const claim of ['iss', 'sub', 'aud', 'client_id', 'scope', 'iat', 'exp', 'jti']) expect(payload).toHaveProperty(claim);
    expect(payload).toMatchObject({ iss: server.url, sub: userId, client_id: client.client_id, scope: 'accounts.read cfgateway' });
    expect(payload.aud).toBeTruthy();
    expect(payload.exp! - payload.iat!).toBe(3600);
    expect(typeof payload.jti).toBe('string');
  });

  test('introspection shows the token active, revocation makes it inactive', async () => {
    const { access_token } = await clientCredentials(oauth.ClientSecretPost(secret));
    const active = await introspect(access_token);
    expect(active).toMatchObject({ active: true, client_id: client.client_id, sub: userId, scope: 'accounts.read cfgateway', iss: server.url });
    expect(typeof active.exp).toBe('number');

    const revoked = await oauth.revocationRequest(as, client, oauth.ClientSecretBasic(secret), access_token, insecure);
    await expect(oauth.processRevocationResponse(revoked)).resolves.toBeUndefined();
    expect(await introspect(access_token)).toEqual({ active: false });

    // RFC 7009 §2.2: an unknown token is not an error either.
    const unknown = await oauth.revocationRequest(as, client, oauth.ClientSecretPost(secret), 'no-such-token', insecure);
    await expect(oauth.processRevocationResponse(unknown)).resolves.toBeUndefined();
  });

  test('wrong secret with client_secret_post is a ResponseBodyError carrying invalid_client', async () => {
    const error = await clientCredentials(oauth.ClientSecretPost('not-the-secret')).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(oauth.ResponseBodyError);
    const e = error as oauth.ResponseBodyError;
    expect(e.code).toBe(oauth.RESPONSE_BODY_ERROR);
    expect(e.status).toBe(401);
    expect(e.error).toBe('invalid_client');
    expect(e.cause.error).toBe('invalid_client');
  });

  test('wrong secret with client_secret_basic is a WWWAuthenticateChallengeError (Basic) whose body says invalid_client', async () => {
    // RFC 6749 §5.2: a 401 after Basic carries WWW-Authenticate; oauth4webapi reports the
    // challenge first and leaves the body unread for the caller.
    const error = await clientCredentials(oauth.ClientSecretBasic('not-the-secret')).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(oauth.WWWAuthenticateChallengeError);
    const e = error as oauth.WWWAuthenticateChallengeError;
    expect(e.code).toBe(oauth.WWW_AUTHENTICATE_CHALLENGE);
    expect(e.status).toBe(401);
    expect(e.cause[0]?.scheme).toBe('basic');
    expect(e.cause[0]?.parameters.realm).toBe('tessera');
    expect(await e.response.json()).toMatchObject({ error: 'invalid_client' });
  });

  test('introspection with a wrong secret is rejected, not answered with active:false', async () => {
    const response = await oauth.introspectionRequest(as, client, oauth.ClientSecretPost('not-the-secret'), 'x.y.z', insecure);
    await expect(oauth.processIntrospectionResponse(as, client, response)).rejects.toMatchObject({ error: 'invalid_client', status: 401 });
  });

  test('a scope the app may not use is a ResponseBodyError carrying invalid_scope', async () => {
    await expect(clientCredentials(oauth.ClientSecretPost(secret), 'admin.everything')).rejects.toMatchObject({
      code: oauth.RESPONSE_BODY_ERROR,
      error: 'invalid_scope',
      status: 400,
    });
  });
});
