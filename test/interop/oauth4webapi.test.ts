import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import * as oauth from 'oauth4webapi';
import { createRemoteJWKSet, decodeJwt, exportJWK, generateKeyPair, jwtVerify, type CryptoKey } from 'jose';
import { DIALECTS } from '../support/databases.ts';
import { startTestServer, type TestServer, declareScopes } from '../support/server.ts';
import { SYSTEM } from '../../src/audit/actor.ts';
import { approveAuthorization } from '../support/sign-in.ts';

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

  describe('private_key_jwt (RFC 7523) with oauth4webapi.PrivateKeyJwt', () => {
    let signed: oauth.Client;
    let key: { key: CryptoKey; kid: string };

    beforeAll(async () => {
      const { privateKey, publicKey } = await generateKeyPair('ES256', { extractable: true });
      key = { key: privateKey, kid: 'interop-1' };
      const created = await server.tessera.services.clients.create({
        name: 'oauth4webapi signed',
        grantTypes: ['client_credentials'],
        scopes: ['accounts.read'],
        onBehalfOf: 'svc-interop',
        tokenEndpointAuthMethod: 'private_key_jwt',
        jwks: { keys: [{ ...(await exportJWK(publicKey)), kid: 'interop-1', alg: 'ES256', use: 'sig' }] },
      }, SYSTEM);
      signed = { client_id: created.client_id, token_endpoint_auth_method: 'private_key_jwt' };
    });

    test('discovery advertises it with the library’s algorithm', () => {
      expect(as.token_endpoint_auth_methods_supported).toContain('private_key_jwt');
      expect(as.token_endpoint_auth_signing_alg_values_supported).toContain('ES256');
    });

    test('client credentials → token → introspection → revocation, each authenticated by a fresh assertion', async () => {
      const response = await oauth.clientCredentialsGrantRequest(as, signed, oauth.PrivateKeyJwt(key), { scope: 'accounts.read' }, insecure);
      const tokens = await oauth.processClientCredentialsResponse(as, signed, response);
      expect(tokens.token_type).toBe('bearer');
      const { payload } = await jwtVerify(tokens.access_token, createRemoteJWKSet(new URL(as.jwks_uri!)), { issuer: server.url });
      expect(payload).toMatchObject({ client_id: signed.client_id, sub: userId, scope: 'accounts.read' });
      const intro = await oauth.processIntrospectionResponse(as, signed, await oauth.introspectionRequest(as, signed, oauth.PrivateKeyJwt(key), tokens.access_token, insecure));
      expect(intro).toMatchObject({ active: true, client_id: signed.client_id });
      await oauth.processRevocationResponse(await oauth.revocationRequest(as, signed, oauth.PrivateKeyJwt(key), tokens.access_token, insecure));
      const after = await oauth.processIntrospectionResponse(as, signed, await oauth.introspectionRequest(as, signed, oauth.PrivateKeyJwt(key), tokens.access_token, insecure));
      expect(after.active).toBe(false);
    });

    test('a replayed assertion is invalid_client: the library’s assertion, sent twice', async () => {
      let captured: string | undefined;
      const capture: typeof fetch = async (url, init) => {
        captured ??= new URLSearchParams(String(init?.body)).get('client_assertion') ?? undefined;
        return fetch(url, init);
      };
      await oauth.processClientCredentialsResponse(as, signed, await oauth.clientCredentialsGrantRequest(as, signed, oauth.PrivateKeyJwt(key), { scope: 'accounts.read' }, { ...insecure, [oauth.customFetch]: capture }));
      const replay = await fetch(as.token_endpoint!, {
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded' },
        body: new URLSearchParams({ grant_type: 'client_credentials', client_assertion_type: 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer', client_assertion: captured! }),
      });
      expect(replay.status).toBe(401);
      expect(await replay.json()).toMatchObject({ error: 'invalid_client' });
    });

    test('a key that is not the registered one is refused (ResponseBodyError invalid_client)', async () => {
      const { privateKey } = await generateKeyPair('ES256');
      const response = await oauth.clientCredentialsGrantRequest(as, signed, oauth.PrivateKeyJwt({ key: privateKey, kid: 'interop-1' }), { scope: 'accounts.read' }, insecure);
      await expect(oauth.processClientCredentialsResponse(as, signed, response)).rejects.toMatchObject({ error: 'invalid_client', status: 401 });
    });
  });
});

/**
 * DPoP (RFC 9449) with oauth4webapi's own DPoP support, against a server that requires
 * nonces: a public client signs in a user (authorization code with PKCE and dpop_jkt),
 * refreshes, reads userinfo and calls an API through the gateway, each time retrying once on
 * `use_dpop_nonce` as the library documents (isDPoPNonceError).
 */
describe.each(DIALECTS)('oauth4webapi with DPoP against Tessera (%s)', (dialect) => {
  const REDIRECT = 'https://app.example.com/callback';
  const PASSWORD = 'correct horse battery staple';
  let server: TestServer;
  let upstream: Server;
  let upstreamSeen: Array<Record<string, unknown>>;
  let as: oauth.AuthorizationServer;
  let client: oauth.Client;
  let aliceId: string;

  beforeAll(async () => {
    upstreamSeen = [];
    upstream = createServer((req, res) => {
      upstreamSeen.push({ ...req.headers });
      res.writeHead(200, { 'content-type': 'application/json' }).end('{"tasks":[]}');
    });
    await new Promise<void>((resolve) => upstream.listen(0, '127.0.0.1', resolve));
    server = await startTestServer(dialect, { env: { TESSERA_DPOP_NONCE: 'required' } });
    const { services } = server.tessera;
    await services.apis.create({
      name: 'Tasks',
      basePath: '/tasks',
      upstream: `http://127.0.0.1:${(upstream.address() as AddressInfo).port}`,
      forwardAuthorization: false,
      scopes: [{ name: 'tasks.read' }],
      routes: [{ methods: ['GET'], path: '/**', scopes: ['tasks.read'] }],
    }, SYSTEM);
    aliceId = (await services.users.create({ username: 'alice', password: PASSWORD, roles: ['developer'], email: 'alice@example.com' }, SYSTEM)).id;
    const app = await services.clients.create({
      name: 'DPoP SPA',
      grantTypes: ['authorization_code'],
      redirectUris: [REDIRECT],
      scopes: ['openid', 'profile', 'offline_access', 'tasks.read'],
      public: true,
      dpopBoundAccessTokens: true,
    }, SYSTEM);
    client = { client_id: app.client_id, token_endpoint_auth_method: 'none' };
    const issuer = new URL(server.url);
    as = await oauth.processDiscoveryResponse(issuer, await oauth.discoveryRequest(issuer, { ...insecure, algorithm: 'oidc' }));
  });
  afterAll(async () => {
    await server?.close();
    upstream?.close();
  });

  /** Runs a request; on use_dpop_nonce (the handle has cached the nonce from the answer) runs it once more. */
  async function withNonceRetry<T>(run: () => Promise<T>): Promise<{ result: T; retried: boolean }> {
    try {
      return { result: await run(), retried: false };
    } catch (error) {
      if (!oauth.isDPoPNonceError(error)) throw error;
      return { result: await run(), retried: true };
    }
  }

  /** The user's part, over HTTP as a browser would: authorize → login → consent → callback URL. */
  async function signIn(url: URL): Promise<URL> {
    return approveAuthorization(server.url, url.pathname + url.search, 'alice', PASSWORD);
  }

  test('discovery advertises DPoP', () => {
    expect(as.dpop_signing_alg_values_supported).toContain('ES256');
  });

  test('authorization code + PKCE + dpop_jkt, refresh, userinfo and a gateway call, all DPoP-bound, with nonces', async () => {
    const keyPair = await oauth.generateKeyPair('ES256');
    const DPoP = oauth.DPoP(client, keyPair);
    const verifier = oauth.generateRandomCodeVerifier();
    const state = oauth.generateRandomState();
    const nonce = oauth.generateRandomNonce();
    const url = new URL(as.authorization_endpoint!);
    url.search = new URLSearchParams({
      client_id: client.client_id,
      redirect_uri: REDIRECT,
      response_type: 'code',
      scope: 'openid profile offline_access tasks.read',
      code_challenge: await oauth.calculatePKCECodeChallenge(verifier),
      code_challenge_method: 'S256',
      state,
      nonce,
      dpop_jkt: await DPoP.calculateThumbprint(),
    }).toString();
    const params = oauth.validateAuthResponse(as, client, await signIn(url), state);

    // The first token request has no nonce yet: use_dpop_nonce, then the retry succeeds (the code is not spent by the first).
    const { result: tokens, retried } = await withNonceRetry(async () =>
      oauth.processAuthorizationCodeResponse(as, client, await oauth.authorizationCodeGrantRequest(as, client, oauth.None(), params, REDIRECT, verifier, { DPoP, ...insecure }), { expectedNonce: nonce, requireIdToken: true }),
    );
    expect(retried).toBe(true);
    expect(tokens.token_type).toBe('dpop');
    expect(decodeJwt(tokens.access_token).cnf).toEqual({ jkt: await DPoP.calculateThumbprint() });
    expect(tokens.refresh_token).toBeTruthy();
    const claims = oauth.getValidatedIdTokenClaims(tokens)!;
    expect(claims.sub).toBe(aliceId);

    // Refresh: the refresh token of this public client is bound to the key.
    const { result: refreshed } = await withNonceRetry(async () =>
      oauth.processRefreshTokenResponse(as, client, await oauth.refreshTokenGrantRequest(as, client, oauth.None(), tokens.refresh_token!, { DPoP, ...insecure })),
    );
    expect(refreshed.token_type).toBe('dpop');
    // The same refresh token from another key (a thief) is refused by the server.
    const thief = oauth.DPoP(client, await oauth.generateKeyPair('ES256'));
    const stolen = await withNonceRetry(async () =>
      oauth.processRefreshTokenResponse(as, client, await oauth.refreshTokenGrantRequest(as, client, oauth.None(), refreshed.refresh_token!, { DPoP: thief, ...insecure })),
    ).catch((e: unknown) => e);
    expect(stolen).toBeInstanceOf(oauth.ResponseBodyError);
    expect((stolen as oauth.ResponseBodyError).error).toBe('invalid_grant');

    // Userinfo with the DPoP scheme and a proof carrying ath.
    const { result: info } = await withNonceRetry(async () =>
      oauth.processUserInfoResponse(as, client, claims.sub, await oauth.userInfoRequest(as, client, refreshed.access_token, { DPoP, ...insecure })),
    );
    expect(info).toMatchObject({ sub: aliceId, preferred_username: 'alice' });

    // A gateway API.
    const { result: apiResponse } = await withNonceRetry(() =>
      oauth.protectedResourceRequest(refreshed.access_token, 'GET', new URL(`${server.url}/tasks/list?page=1`), new Headers(), null, { DPoP, ...insecure }),
    );
    expect(apiResponse.status).toBe(200);
    expect(await apiResponse.json()).toEqual({ tasks: [] });
    // forward_authorization is off: neither the token nor the proof reached the upstream.
    expect(upstreamSeen.at(-1)).toMatchObject({ 'x-tessera-subject': aliceId });
    expect(upstreamSeen.at(-1)!.authorization).toBeUndefined();
    expect(upstreamSeen.at(-1)!.dpop).toBeUndefined();

    // The same token without its proof (as a bearer token) is refused by the gateway.
    const bearerTry = await oauth.protectedResourceRequest(refreshed.access_token, 'GET', new URL(`${server.url}/tasks/list`), new Headers(), null, insecure).catch((e: unknown) => e);
    expect(bearerTry).toBeInstanceOf(oauth.WWWAuthenticateChallengeError);
    expect((bearerTry as oauth.WWWAuthenticateChallengeError).cause[0]).toMatchObject({ scheme: 'bearer', parameters: { error: 'invalid_token' } });
  });
});
