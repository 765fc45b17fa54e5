import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import * as client from 'openid-client';
import { createRemoteJWKSet, exportJWK, generateKeyPair, jwtVerify, type CryptoKey } from 'jose';
import { hiddenFields, location, UserAgent } from '../support/user-agent.ts';
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

  describe('PAR (RFC 9126) with buildAuthorizationUrlWithPAR, the app authenticating with private_key_jwt', () => {
    const REDIRECT = 'https://rp.example.com/callback';
    let parClient: string;
    let key: CryptoKey;

    beforeAll(async () => {
      const { services } = server.tessera;
      await services.users.create({ username: 'par-user', password: 'correct horse battery staple', roles: ['developer'] }, SYSTEM);
      const pair = await generateKeyPair('ES256', { extractable: true });
      key = pair.privateKey;
      const created = await services.clients.create({
        name: 'openid-client PAR',
        grantTypes: ['authorization_code'],
        redirectUris: [REDIRECT],
        scopes: ['openid', 'profile'],
        requirePushedAuthorizationRequests: true,
        tokenEndpointAuthMethod: 'private_key_jwt',
        jwks: { keys: [{ ...(await exportJWK(pair.publicKey)), kid: 'rp-1', alg: 'ES256' }] },
      }, SYSTEM);
      parClient = created.client_id;
    });

    async function config(): Promise<client.Configuration> {
      return client.discovery(new URL(server.url), parClient, { token_endpoint_auth_method: 'private_key_jwt' }, client.PrivateKeyJwt({ key, kid: 'rp-1' }), {
        execute: [client.allowInsecureRequests],
      });
    }

    /** The browser: the authorization URL → login → consent → the app's callback. */
    async function browse(url: URL): Promise<URL> {
      const ua = new UserAgent(server.url);
      let res = await ua.get(url.pathname + url.search);
      let target = location(res);
      if (target.startsWith('/login')) {
        const returnTo = new URL(target, server.url).searchParams.get('return_to')!;
        const page = await ua.get(`/login?${new URLSearchParams({ return_to: returnTo })}`);
        res = await ua.post('/login', { ...hiddenFields(await page.text()), username: 'par-user', password: 'correct horse battery staple' });
        res = await ua.get(location(res));
        target = location(res);
      }
      if (target.startsWith('/consent')) {
        res = await ua.get(target);
        res = await ua.post('/consent', { ...hiddenFields(await res.text()), decision: 'allow' });
        target = location(res);
      }
      return new URL(target);
    }

    test('discovery names the PAR endpoint', async () => {
      expect((await config()).serverMetadata().pushed_authorization_request_endpoint).toBe(`${server.url}/connect/par`);
    });

    test('push → authorize with only client_id and request_uri → code → tokens with an ID token', async () => {
      const cfg = await config();
      const verifier = client.randomPKCECodeVerifier();
      const state = client.randomState();
      const nonce = client.randomNonce();
      const url = await client.buildAuthorizationUrlWithPAR(cfg, {
        redirect_uri: REDIRECT,
        scope: 'openid profile',
        code_challenge: await client.calculatePKCECodeChallenge(verifier),
        code_challenge_method: 'S256',
        state,
        nonce,
      });
      expect([...url.searchParams.keys()].sort()).toEqual(['client_id', 'request_uri']);
      const callback = await browse(url);
      const tokens = await client.authorizationCodeGrant(cfg, callback, { pkceCodeVerifier: verifier, expectedState: state, expectedNonce: nonce, idTokenExpected: true });
      expect(tokens.claims()?.aud).toBe(parClient);
      expect(tokens.access_token).toBeTruthy();
      // The request_uri was used: the same URL again is refused.
      const again = await new UserAgent(server.url).get(url.pathname + url.search);
      expect(again.status).toBe(400);
      expect(await again.text()).toContain('invalid_request_uri');
    });

    test('without PAR the app (which requires it) gets invalid_request back at its redirect URI', async () => {
      const cfg = await config();
      const url = client.buildAuthorizationUrl(cfg, { redirect_uri: REDIRECT, scope: 'openid', code_challenge: await client.calculatePKCECodeChallenge(client.randomPKCECodeVerifier()), code_challenge_method: 'S256', state: 's' });
      const res = await new UserAgent(server.url).get(url.pathname + url.search);
      const back = new URL(location(res));
      expect(back.searchParams.get('error')).toBe('invalid_request');
      await expect(client.authorizationCodeGrant(cfg, back, { expectedState: 's' })).rejects.toMatchObject({ error: 'invalid_request' });
    });
  });
});
