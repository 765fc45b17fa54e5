import { createHash } from 'node:crypto';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { exportJWK, generateKeyPair } from 'jose';
import * as oauth from 'oauth4webapi';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { DIALECTS } from '../support/databases.ts';
import { startTestServer, type TestServer } from '../support/server.ts';
import { hiddenFields, location, UserAgent } from '../support/user-agent.ts';
import { SYSTEM } from '../../src/audit/actor.ts';
import { DEVICE_CODE_GRANT } from '../../src/clients/client.ts';

/**
 * Dynamic Client Registration (RFC 7591) and its management protocol (RFC 7592), on SQLite
 * and PostgreSQL: off by default (no endpoint in discovery, registration refused), open, or
 * protected by initial access tokens; the self-registration policy; the RFC 7591 §3.2.2
 * errors; RFC 6750 challenges; a registered app completing the authorization-code flow with
 * oauth4webapi; read, update and delete with the registration access token, audited.
 */
const PASSWORD = 'correct horse battery staple';
const REDIRECT = 'http://127.0.0.1:33419/callback';
const sha256 = (value: string) => createHash('sha256').update(value).digest('base64url');
const insecure = { [oauth.allowInsecureRequests]: true } as const;

describe.each(DIALECTS)('dynamic client registration (%s)', (dialect) => {
  let server: TestServer;
  let endpoint: string;

  beforeAll(async () => {
    // One trusted proxy: X-Forwarded-For names the address the per-IP registration limit counts.
    server = await startTestServer(dialect, { env: { TESSERA_REDIRECT_URI_POLICY: 'development', TESSERA_TRUST_PROXY: '1' } });
    endpoint = `${server.url}/connect/register`;
    await server.tessera.services.apis.create({ name: 'Notes', basePath: '/notes', upstream: 'http://127.0.0.1:9', scopes: [{ name: 'notes.read' }], routes: [{ methods: ['GET'], path: '/**', scopes: ['notes.read'] }] }, SYSTEM);
    await server.tessera.services.users.create({ username: 'alice', password: PASSWORD, roles: ['developer'] }, SYSTEM);
  });
  afterAll(async () => server?.close());

  const mode = (client_registration: 'off' | 'open' | 'token') => server.tessera.services.settings.update({ client_registration }, SYSTEM);
  const register = (body: unknown, headers: Record<string, string> = {}) =>
    fetch(endpoint, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body: typeof body === 'string' ? body : JSON.stringify(body) });
  const metadata = (extra: Record<string, unknown> = {}) => ({ client_name: 'Agent <X>', redirect_uris: [REDIRECT], token_endpoint_auth_method: 'none', ...extra });
  const discovery = async () => (await (await fetch(`${server.url}/.well-known/oauth-authorization-server`)).json()) as Record<string, unknown>;

  test('off by default: no registration_endpoint, registration refused, nothing stored', async () => {
    expect(server.tessera.services.settings.view().client_registration).toBe('off');
    expect((await discovery()).registration_endpoint).toBeUndefined();
    const before = (await server.tessera.services.clients.list()).length;
    const res = await register(metadata());
    expect(res.status).toBe(403);
    expect(await res.json()).toMatchObject({ error: 'access_denied' });
    expect((await server.tessera.services.clients.list()).length).toBe(before);
  });

  test('open: an app registers with oauth4webapi and completes the authorization-code flow (PKCE, ID token)', async () => {
    await mode('open');
    const issuer = new URL(server.url);
    const as = await oauth.processDiscoveryResponse(issuer, await oauth.discoveryRequest(issuer, { ...insecure, algorithm: 'oidc' }));
    expect(as.registration_endpoint).toBe(endpoint);
    const oidc = (await (await fetch(`${server.url}/.well-known/openid-configuration`)).json()) as Record<string, unknown>;
    expect(oidc.registration_endpoint).toBe(endpoint);

    const registered = await oauth.processDynamicClientRegistrationResponse(
      await oauth.dynamicClientRegistrationRequest(as, { client_name: 'Notes agent', redirect_uris: [REDIRECT], grant_types: ['authorization_code', 'refresh_token'], response_types: ['code'], token_endpoint_auth_method: 'client_secret_basic', scope: 'openid profile notes.read' }, insecure),
    );
    expect(registered).toMatchObject({
      client_name: 'Notes agent',
      redirect_uris: [REDIRECT],
      grant_types: ['authorization_code', 'refresh_token'],
      response_types: ['code'],
      token_endpoint_auth_method: 'client_secret_basic',
      scope: 'openid profile notes.read',
      client_secret_expires_at: 0,
      registration_client_uri: `${endpoint}/${registered.client_id}`,
    });
    expect(typeof registered.client_secret).toBe('string');
    expect(typeof registered.registration_access_token).toBe('string');
    expect(Math.abs((registered.client_id_issued_at as number) - Date.now() / 1000)).toBeLessThan(60);

    // Marked as self-registered; secret and registration token stored only as hashes.
    const app = await server.tessera.services.clients.show(registered.client_id);
    expect(app).toMatchObject({ registration: 'dynamic', public: false, grant_types: ['authorization_code'] });
    expect(app.scopes).not.toContain('tessera.admin');
    const stored = await server.tessera.database.db.selectFrom('clients').selectAll().where('id', '=', registered.client_id).executeTakeFirstOrThrow();
    expect(stored.registration_token_hash).toBe(sha256(registered.registration_access_token as string));
    expect(stored.secret_hash).toBe(sha256(registered.client_secret as string));
    const audit = await server.tessera.services.audit.list({ targetId: registered.client_id });
    expect(audit.items.find((e) => e.action === 'app.create')).toMatchObject({ actor: 'self-registration' });

    // The authorization-code flow, driven by oauth4webapi, with a real sign-in and consent.
    const client: oauth.Client = { client_id: registered.client_id };
    const auth = oauth.ClientSecretBasic(registered.client_secret as string);
    const verifier = oauth.generateRandomCodeVerifier();
    const url = new URL(as.authorization_endpoint!);
    url.search = new URLSearchParams({ client_id: client.client_id, response_type: 'code', redirect_uri: REDIRECT, scope: 'openid notes.read', state: 'st', nonce: 'n1', code_challenge: await oauth.calculatePKCECodeChallenge(verifier), code_challenge_method: 'S256' }).toString();
    const ua = new UserAgent(server.url);
    const login = await ua.get('/login');
    expect((await ua.post('/login', { ...hiddenFields(await login.text()), username: 'alice', password: PASSWORD })).status).toBeLessThan(400);
    let res = await ua.get(url.pathname + url.search);
    const consentUrl = location(res);
    res = await ua.get(consentUrl);
    const page = await res.text();
    expect(page).toContain('Notes agent');
    res = await ua.post('/consent', { ...hiddenFields(page), decision: 'allow' });
    const callback = new URL(location(res));
    const params = oauth.validateAuthResponse(as, client, callback, 'st');
    const tokenResponse = await oauth.authorizationCodeGrantRequest(as, client, auth, params, REDIRECT, verifier, insecure);
    const tokens = await oauth.processAuthorizationCodeResponse(as, client, tokenResponse, { expectedNonce: 'n1', requireIdToken: true });
    expect(tokens.scope).toBe('openid notes.read');
    expect(oauth.getValidatedIdTokenClaims(tokens)!.aud).toBe(registered.client_id);
  });

  test('RFC 7592: read, update (validated like a registration) and delete with the registration access token', async () => {
    await mode('open');
    const res = await register(metadata({ scope: 'openid' }));
    expect(res.status).toBe(201);
    expect(res.headers.get('cache-control')).toBe('no-store');
    const reg = (await res.json()) as Record<string, string>;
    expect(reg.client_secret).toBeUndefined();
    expect(reg.token_endpoint_auth_method).toBe('none');
    const uri = reg.registration_client_uri!;
    const bearer = { authorization: `Bearer ${reg.registration_access_token}` };

    const read = await fetch(uri, { headers: bearer });
    expect(read.status).toBe(200);
    expect(await read.json()).toMatchObject({ client_id: reg.client_id, client_name: 'Agent <X>', redirect_uris: [REDIRECT], scope: 'openid' });

    // Wrong token, no token, another app's id: 401 with an RFC 6750 challenge; nothing told apart.
    const wrong = await fetch(uri, { headers: { authorization: 'Bearer not-the-token' } });
    expect(wrong.status).toBe(401);
    expect(wrong.headers.get('www-authenticate')).toMatch(/^Bearer error="invalid_token"/);
    const none = await fetch(uri);
    expect(none.status).toBe(401);
    expect(none.headers.get('www-authenticate')).toBe('Bearer');
    const other = await fetch(`${endpoint}/00000000-0000-4000-8000-000000000000`, { headers: bearer });
    expect(other.status).toBe(401);

    const put = (body: unknown) => fetch(uri, { method: 'PUT', headers: { ...bearer, 'content-type': 'application/json' }, body: JSON.stringify(body) });
    const updated = await put({ ...metadata({ client_name: 'Renamed', scope: 'openid notes.read' }), client_id: reg.client_id });
    expect(updated.status).toBe(200);
    expect(await updated.json()).toMatchObject({ client_name: 'Renamed', scope: 'openid notes.read' });
    expect((await server.tessera.services.clients.show(reg.client_id!)).name).toBe('Renamed');
    // PUT validates as POST does and changes nothing when refused.
    const badPut = await put({ ...metadata({ grant_types: ['client_credentials'] }), client_id: reg.client_id });
    expect(badPut.status).toBe(400);
    expect(await badPut.json()).toMatchObject({ error: 'invalid_client_metadata' });
    const badRedirect = await put({ ...metadata({ redirect_uris: ['https://10.0.0.1/cb'] }), client_id: reg.client_id });
    expect(await badRedirect.json()).toMatchObject({ error: 'invalid_redirect_uri' });
    const wrongId = await put({ ...metadata(), client_id: 'someone-else' });
    expect(await wrongId.json()).toMatchObject({ error: 'invalid_client_metadata' });
    const toConfidential = await put({ ...metadata({ token_endpoint_auth_method: 'client_secret_basic' }), client_id: reg.client_id });
    expect(await toConfidential.json()).toMatchObject({ error: 'invalid_client_metadata' });
    expect((await server.tessera.services.clients.show(reg.client_id!)).name).toBe('Renamed');

    const del = await fetch(uri, { method: 'DELETE', headers: bearer });
    expect(del.status).toBe(204);
    await expect(server.tessera.services.clients.show(reg.client_id!)).rejects.toThrow(/not found/);
    expect((await fetch(uri, { headers: bearer })).status).toBe(401);
    const actions = (await server.tessera.services.audit.list({ targetId: reg.client_id })).items.map((e) => `${e.action} ${e.actor}`);
    expect(actions).toEqual(expect.arrayContaining(['app.create self-registration', `app.update self-registration:${reg.client_id}`, `app.delete self-registration:${reg.client_id}`]));
  });

  test('private_key_jwt: an app registers its public keys (jwks or jwks_uri), gets no secret, completes the code flow with oauth4webapi.PrivateKeyJwt, and rotates its keys through RFC 7592', async () => {
    await mode('open');
    const issuer = new URL(server.url);
    const as = await oauth.processDiscoveryResponse(issuer, await oauth.discoveryRequest(issuer, { ...insecure, algorithm: 'oidc' }));
    expect(as.token_endpoint_auth_methods_supported).toContain('private_key_jwt');
    const first = await generateKeyPair('ES256', { extractable: true });
    const jwk = { ...(await exportJWK(first.publicKey)), kid: 'agent-1', alg: 'ES256', use: 'sig' };

    const registered = await oauth.processDynamicClientRegistrationResponse(
      await oauth.dynamicClientRegistrationRequest(as, { client_name: 'Keyed agent', redirect_uris: [REDIRECT], token_endpoint_auth_method: 'private_key_jwt', jwks: { keys: [jwk] }, scope: 'openid notes.read' }, insecure),
    );
    expect(registered).toMatchObject({ token_endpoint_auth_method: 'private_key_jwt', jwks: { keys: [jwk] } });
    expect(registered.client_secret).toBeUndefined();
    expect(registered.client_secret_expires_at).toBeUndefined();
    const stored = await server.tessera.database.db.selectFrom('clients').selectAll().where('id', '=', registered.client_id).executeTakeFirstOrThrow();
    expect(stored.secret_hash).toBeNull();

    // The authorization-code flow; the token request is authenticated by an assertion oauth4webapi signs.
    const client: oauth.Client = { client_id: registered.client_id };
    const verifier = oauth.generateRandomCodeVerifier();
    const url = new URL(as.authorization_endpoint!);
    url.search = new URLSearchParams({ client_id: client.client_id, response_type: 'code', redirect_uri: REDIRECT, scope: 'openid notes.read', state: 'st', nonce: 'n2', code_challenge: await oauth.calculatePKCECodeChallenge(verifier), code_challenge_method: 'S256' }).toString();
    const ua = new UserAgent(server.url);
    expect((await ua.post('/login', { ...hiddenFields(await (await ua.get('/login')).text()), username: 'alice', password: PASSWORD })).status).toBeLessThan(400);
    let res = await ua.get(url.pathname + url.search);
    res = await ua.get(location(res));
    res = await ua.post('/consent', { ...hiddenFields(await res.text()), decision: 'allow' });
    const params = oauth.validateAuthResponse(as, client, new URL(location(res)), 'st');
    const tokens = await oauth.processAuthorizationCodeResponse(
      as,
      client,
      await oauth.authorizationCodeGrantRequest(as, client, oauth.PrivateKeyJwt({ key: first.privateKey, kid: 'agent-1' }), params, REDIRECT, verifier, insecure),
      { expectedNonce: 'n2', requireIdToken: true },
    );
    expect(oauth.getValidatedIdTokenClaims(tokens)!.aud).toBe(registered.client_id);

    // Which key authenticates: a bogus code is invalid_grant once the client is authenticated, invalid_client before.
    const authenticatedWith = async (key: oauth.CryptoKey, kid: string) => {
      const r = await oauth.genericTokenEndpointRequest(as, client, oauth.PrivateKeyJwt({ key, kid }), 'authorization_code', new URLSearchParams({ code: 'bogus', redirect_uri: REDIRECT, code_verifier: verifier }), insecure);
      return ((await r.json()) as { error: string }).error;
    };
    expect(await authenticatedWith(first.privateKey, 'agent-1')).toBe('invalid_grant');
    const stranger = await generateKeyPair('ES256');
    expect(await authenticatedWith(stranger.privateKey, 'agent-1')).toBe('invalid_client');

    // RFC 7592: read shows the keys; an update rotates them to a jwks_uri the app serves; the old key stops working.
    const bearer = { authorization: `Bearer ${registered.registration_access_token}` };
    const uri = registered.registration_client_uri as string;
    expect(await (await fetch(uri, { headers: bearer })).json()).toMatchObject({ token_endpoint_auth_method: 'private_key_jwt', jwks: { keys: [jwk] } });
    const second = await generateKeyPair('ES256', { extractable: true });
    const keys = createServer((_req, answer) => {
      void exportJWK(second.publicKey).then((k) => answer.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ keys: [{ ...k, kid: 'agent-2', alg: 'ES256', use: 'sig' }] })));
    });
    await new Promise<void>((done) => keys.listen(0, '127.0.0.1', done));
    try {
      const jwksUri = `http://127.0.0.1:${(keys.address() as AddressInfo).port}/jwks`;
      const put = (body: Record<string, unknown>) => fetch(uri, { method: 'PUT', headers: { ...bearer, 'content-type': 'application/json' }, body: JSON.stringify({ client_id: registered.client_id, client_name: 'Keyed agent', redirect_uris: [REDIRECT], scope: 'openid notes.read', ...body }) });
      const rotated = await put({ token_endpoint_auth_method: 'private_key_jwt', jwks_uri: jwksUri });
      expect(rotated.status).toBe(200);
      const view = (await rotated.json()) as Record<string, unknown>;
      expect(view).toMatchObject({ jwks_uri: jwksUri });
      expect(view.jwks).toBeUndefined();
      expect(await authenticatedWith(second.privateKey, 'agent-2')).toBe('invalid_grant');
      expect(await authenticatedWith(first.privateKey, 'agent-1')).toBe('invalid_client');
      // Another kind of credential is another app.
      const toSecret = await put({ token_endpoint_auth_method: 'client_secret_basic' });
      expect(toSecret.status).toBe(400);
      expect(await toSecret.json()).toMatchObject({ error: 'invalid_client_metadata', error_description: expect.stringMatching(/cannot change between none, a secret and private_key_jwt/) });
      const keyless = await put({ token_endpoint_auth_method: 'private_key_jwt' });
      expect(await keyless.json()).toMatchObject({ error: 'invalid_client_metadata', error_description: expect.stringMatching(/give jwks or jwks_uri/) });
      expect(await (await fetch(uri, { headers: bearer })).json()).toMatchObject({ jwks_uri: jwksUri });
    } finally {
      await new Promise((done) => keys.close(done));
    }

    // Refused, nothing stored: keys without private_key_jwt, no keys, both, a private key, an http jwks_uri on another host.
    const before = (await server.tessera.services.clients.list()).length;
    const privateJwk = await exportJWK((await generateKeyPair('ES256', { extractable: true })).privateKey);
    const refusals: Array<[unknown, RegExp]> = [
      [metadata({ token_endpoint_auth_method: 'client_secret_basic', jwks: { keys: [jwk] } }), /jwks and jwks_uri are used only with token_endpoint_auth_method private_key_jwt/],
      [metadata({ token_endpoint_auth_method: 'private_key_jwt' }), /private_key_jwt needs the app's public keys/],
      [metadata({ token_endpoint_auth_method: 'private_key_jwt', jwks: { keys: [jwk] }, jwks_uri: 'https://agent.example/jwks' }), /give jwks or jwks_uri, not both/],
      [metadata({ token_endpoint_auth_method: 'private_key_jwt', jwks: { keys: [privateJwk] } }), /is a private key/],
      [metadata({ token_endpoint_auth_method: 'private_key_jwt', jwks: 'not a set' }), /jwks must be a JWK set/],
      [metadata({ token_endpoint_auth_method: 'private_key_jwt', jwks_uri: 'http://agent.example/jwks' }), /invalid jwks_uri/],
      [metadata({ token_endpoint_auth_method: 'private_key_jwt', jwks_uri: 42 }), /jwks_uri must be a string/],
    ];
    for (const [body, description] of refusals) {
      const r = await register(body);
      expect(r.status, String(description)).toBe(400);
      expect(await r.json()).toMatchObject({ error: 'invalid_client_metadata', error_description: expect.stringMatching(description) });
    }
    expect((await server.tessera.services.clients.list()).length).toBe(before);
  });

  test('refusals: RFC 7591 §3.2.2 errors as JSON 400, nothing stored, never a 500', async () => {
    await mode('open');
    const before = (await server.tessera.services.clients.list()).length;
    const cases: Array<[string, unknown, string]> = [
      ['client_credentials not allowed', metadata({ grant_types: ['client_credentials'] }), 'invalid_client_metadata'],
      ['implicit not allowed', metadata({ grant_types: ['implicit'], response_types: ['token'] }), 'invalid_client_metadata'],
      ['response type without its grant', metadata({ response_types: ['code', 'token'] }), 'invalid_client_metadata'],
      ['admin scope', metadata({ scope: 'openid tessera.admin' }), 'invalid_client_metadata'],
      ['unknown scope', metadata({ scope: 'nope.read' }), 'invalid_client_metadata'],
      ['unknown auth method', metadata({ token_endpoint_auth_method: 'private_key_jwt' }), 'invalid_client_metadata'],
      ['name not a string', metadata({ client_name: 42 }), 'invalid_client_metadata'],
      ['logo not https', metadata({ logo_uri: 'http://example.com/logo.png' }), 'invalid_client_metadata'],
      ['no redirect URIs', metadata({ redirect_uris: [] }), 'invalid_redirect_uri'],
      ['redirect URIs not an array', metadata({ redirect_uris: REDIRECT }), 'invalid_redirect_uri'],
      ['private redirect', metadata({ redirect_uris: ['https://10.0.0.1/cb'] }), 'invalid_redirect_uri'],
      ['fragment', metadata({ redirect_uris: ['https://app.example/cb#x'] }), 'invalid_redirect_uri'],
      ['not an object', [1, 2], 'invalid_client_metadata'],
      ['malformed JSON', '{"redirect_uris": [', 'invalid_client_metadata'],
    ];
    for (const [name, body, error] of cases) {
      const res = await register(body);
      expect(res.status, name).toBe(400);
      expect(res.headers.get('content-type'), name).toMatch(/^application\/json/);
      expect(await res.json(), name).toMatchObject({ error });
    }
    const form = await fetch(endpoint, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: 'redirect_uris=x' });
    expect(form.status).toBe(400);
    expect(await form.json()).toMatchObject({ error: 'invalid_client_metadata' });
    const big = await register(metadata({ client_name: 'x'.repeat(20_000) }));
    expect(big.status).toBe(413);
    expect(await big.json()).toMatchObject({ error: 'invalid_request' });
    expect((await server.tessera.services.clients.list()).length).toBe(before);
  });

  test('token mode: initial access tokens (hashed, expiring, limited uses, revocable); RFC 6750 401 without one', async () => {
    await mode('token');
    const { registration } = server.tessera.services;
    expect((await discovery()).registration_endpoint).toBe(endpoint);
    const missing = await register(metadata());
    expect(missing.status).toBe(401);
    expect(missing.headers.get('www-authenticate')).toBe('Bearer');
    const wrong = await register(metadata(), { authorization: 'Bearer nope' });
    expect(wrong.status).toBe(401);
    expect(wrong.headers.get('www-authenticate')).toMatch(/^Bearer error="invalid_token"/);
    expect(await wrong.json()).toMatchObject({ error: 'invalid_token' });

    const twice = await registration.issueToken({ label: 'partner', maxUses: 2 }, SYSTEM);
    const auth = { authorization: `Bearer ${twice.token}` };
    expect((await register(metadata(), auth)).status).toBe(201);
    expect((await register(metadata(), auth)).status).toBe(201);
    expect((await register(metadata(), auth)).status).toBe(401);
    // Refused metadata does not spend a use.
    const once = await registration.issueToken({ label: 'once', maxUses: 1 }, SYSTEM);
    const onceAuth = { authorization: `Bearer ${once.token}` };
    expect((await register(metadata({ grant_types: ['client_credentials'] }), onceAuth)).status).toBe(400);
    // Nor does a registration the app checks refuse after the token was accepted (redirect URI policy).
    expect(await (await register(metadata({ redirect_uris: ['https://10.0.0.1/cb'] }), onceAuth)).json()).toMatchObject({ error: 'invalid_redirect_uri' });
    expect((await register(metadata(), onceAuth)).status).toBe(201);

    const revoked = await registration.issueToken({ label: 'revoked' }, SYSTEM);
    await registration.revokeToken(revoked.id, SYSTEM);
    expect((await register(metadata(), { authorization: `Bearer ${revoked.token}` })).status).toBe(401);
    await expect(registration.revokeToken(revoked.id, SYSTEM)).rejects.toThrow(/not found/);

    const list = await registration.listTokens();
    expect(list.find((t) => t.id === twice.id)).toMatchObject({ label: 'partner', uses: 2, max_uses: 2, state: 'used_up' });
    expect(list.find((t) => t.id === revoked.id)).toMatchObject({ state: 'revoked' });
    expect(JSON.stringify(list)).not.toContain(twice.token);
    await expect(registration.issueToken({ expiresIn: 10 }, SYSTEM)).rejects.toThrow(/expires_in/);
    await expect(registration.issueToken({ maxUses: 0 }, SYSTEM)).rejects.toThrow(/max_uses/);
  });

  test('RFC 7591 §2 and RFC 7592 §2.2 MUSTs: unknown metadata ignored; all registered metadata returned; client_id and client_secret in an update must match', async () => {
    await mode('open');
    // §2: metadata the server does not understand is ignored, not refused, and not echoed.
    const res = await register(metadata({ token_endpoint_auth_method: 'client_secret_post', software_statement: 'eyJ.x.y', tos_uri_fr: 'https://x.example/tos', x_custom: { a: 1 }, software_id: 'agent-1' }), { 'x-forwarded-for': '192.0.2.20' });
    expect(res.status).toBe(201);
    const reg = (await res.json()) as Record<string, unknown>;
    for (const unknown of ['software_statement', 'tos_uri_fr', 'x_custom', 'software_id']) expect(reg, unknown).not.toHaveProperty(unknown);
    // §3.2.1: every registered value, those the server chose included (the scope it gave, the grant and response types).
    expect(reg).toMatchObject({ client_id: expect.any(String), client_id_issued_at: expect.any(Number), client_secret: expect.any(String), client_secret_expires_at: 0, grant_types: ['authorization_code', 'refresh_token'], response_types: ['code'], token_endpoint_auth_method: 'client_secret_post', scope: expect.stringContaining('openid'), redirect_uris: [REDIRECT] });
    // RFC 7592 §2.1: a read returns the same registration (without the secret, which is stored only as a hash).
    const read = (await (await fetch(reg.registration_client_uri as string, { headers: { authorization: `Bearer ${reg.registration_access_token}` } })).json()) as Record<string, unknown>;
    const { client_secret: _secret, registration_access_token: _token, ...registered } = reg;
    expect(read).toEqual(registered);

    // RFC 7592 §2.2: client_id must be there and match; a client_secret, if sent, must match.
    const put = (body: unknown) => fetch(reg.registration_client_uri as string, { method: 'PUT', headers: { authorization: `Bearer ${reg.registration_access_token}`, 'content-type': 'application/json' }, body: JSON.stringify(body) });
    const base = { ...metadata({ token_endpoint_auth_method: 'client_secret_post' }) };
    expect(await (await put(base)).json()).toMatchObject({ error: 'invalid_client_metadata' });
    expect(await (await put({ ...base, client_id: reg.client_id, client_secret: 'not-the-secret' })).json()).toMatchObject({ error: 'invalid_client_metadata' });
    const ok = await put({ ...base, client_id: reg.client_id, client_secret: reg.client_secret, client_name: 'Same secret' });
    expect(ok.status).toBe(200);
    expect(await ok.json()).toMatchObject({ client_name: 'Same secret' });
  });

  test("the operator's policy: grant types, auth methods and scopes beyond it are invalid_client_metadata; a device-grant app registers", async () => {
    const { settings } = server.tessera.services;
    await mode('open');
    try {
      await settings.update({ registration_grant_types: ['authorization_code', DEVICE_CODE_GRANT], registration_auth_methods: ['none'], registration_scopes: ['openid', 'notes.read'] }, SYSTEM);
      const before = (await server.tessera.services.clients.list()).length;
      const refusals: Array<[string, unknown, string, RegExp]> = [
        ['a secret when only public apps may register', metadata({ token_endpoint_auth_method: 'client_secret_basic' }), 'invalid_client_metadata', /token_endpoint_auth_method must be one of none/],
        ['a scope outside the policy', metadata({ scope: 'openid profile' }), 'invalid_client_metadata', /scope profile may not be registered/],
        ['client_credentials still never', metadata({ grant_types: ['client_credentials'] }), 'invalid_client_metadata', /grant type client_credentials may not be registered/],
        ['the device grant with redirect URIs', metadata({ grant_types: [DEVICE_CODE_GRANT] }), 'invalid_redirect_uri', /only with the authorization_code grant/],
        ['the device grant with the code response type', { grant_types: [DEVICE_CODE_GRANT], response_types: ['code'], token_endpoint_auth_method: 'none' }, 'invalid_client_metadata', /response_types must be empty/],
      ];
      for (const [name, body, error, description] of refusals) {
        const res = await register(body);
        expect(res.status, name).toBe(400);
        const answer = (await res.json()) as { error: string; error_description: string };
        expect(answer.error, name).toBe(error);
        expect(answer.error_description, name).toMatch(description);
      }
      expect((await server.tessera.services.clients.list()).length).toBe(before);

      // Without scope: every scope the policy allows (and nothing else on offer).
      const code = (await (await register(metadata())).json()) as Record<string, string>;
      expect(code.scope).toBe('openid notes.read');
      expect((await server.tessera.services.clients.show(code.client_id!)).scopes).toEqual(['openid', 'notes.read']);

      // A device-grant app: no redirect URIs, no response types; it asks for a device code at once.
      const res = await register({ client_name: 'TV agent', grant_types: [DEVICE_CODE_GRANT], token_endpoint_auth_method: 'none', scope: 'openid' });
      expect(res.status).toBe(201);
      const device = (await res.json()) as Record<string, unknown>;
      expect(device).toMatchObject({ grant_types: [DEVICE_CODE_GRANT, 'refresh_token'], response_types: [], redirect_uris: [], token_endpoint_auth_method: 'none' });
      expect(await server.tessera.services.clients.show(device.client_id as string)).toMatchObject({ registration: 'dynamic', grant_types: [DEVICE_CODE_GRANT], public: true });
      const authorization = await fetch(`${server.url}/connect/deviceauthorization`, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: new URLSearchParams({ client_id: device.client_id as string, scope: 'openid' }) });
      expect(authorization.status).toBe(200);
      expect(await authorization.json()).toMatchObject({ device_code: expect.any(String), user_code: expect.any(String) });

      // RFC 7592 update is held to the policy too.
      const update = await fetch(device.registration_client_uri as string, {
        method: 'PUT',
        headers: { 'content-type': 'application/json', authorization: `Bearer ${device.registration_access_token}` },
        body: JSON.stringify({ client_id: device.client_id, grant_types: [DEVICE_CODE_GRANT], token_endpoint_auth_method: 'none', scope: 'openid profile' }),
      });
      expect(update.status).toBe(400);
      expect(await update.json()).toMatchObject({ error: 'invalid_client_metadata' });

      // The settings refuse a policy that could not hold.
      await expect(settings.update({ registration_grant_types: [] }, SYSTEM)).rejects.toThrow(/registration_grant_types must list one or more/);
      await expect(settings.update({ registration_grant_types: ['client_credentials'] }, SYSTEM)).rejects.toThrow(/registration_grant_types/);
      await expect(settings.update({ registration_auth_methods: ['tls_client_auth'] }, SYSTEM)).rejects.toThrow(/registration_auth_methods must list one or more of client_secret_basic, client_secret_post, private_key_jwt, none/);
      await expect(settings.update({ registration_scopes: ['openid', 'tessera.admin'] }, SYSTEM)).rejects.toThrow(/cannot include tessera.admin/);
      await expect(settings.update({ registration_scopes: ['bad scope"'] }, SYSTEM)).rejects.toThrow(/not a scope name/);
    } finally {
      await settings.update({ registration_grant_types: ['authorization_code'], registration_auth_methods: ['client_secret_basic', 'client_secret_post', 'private_key_jwt', 'none'], registration_scopes: null }, SYSTEM);
    }
    // Back to the default: the device grant is refused again.
    const refused = await register({ grant_types: [DEVICE_CODE_GRANT], token_endpoint_auth_method: 'none' });
    expect(await refused.json()).toMatchObject({ error: 'invalid_client_metadata' });
  });

  test('open mode: each address registers a few apps, then waits (429 + Retry-After); refusals are not counted; token mode is not limited', async () => {
    await mode('open');
    const from = (ip: string) => ({ 'x-forwarded-for': ip });
    // Refused registrations give their count back.
    for (let i = 0; i < 12; i++) expect((await register(metadata({ grant_types: ['client_credentials'] }), from('203.0.113.8'))).status).toBe(400);
    expect((await register(metadata(), from('203.0.113.8'))).status).toBe(201);

    const perIp = server.tessera.config.registration.perIp;
    expect(perIp).toBe(10);
    for (let i = 0; i < perIp; i++) expect((await register(metadata(), from('203.0.113.7'))).status, `registration ${i + 1}`).toBe(201);
    const before = (await server.tessera.services.clients.list()).length;
    const throttled = await register(metadata(), from('203.0.113.7'));
    expect(throttled.status).toBe(429);
    expect(Number(throttled.headers.get('retry-after'))).toBeGreaterThan(50);
    expect(Number(throttled.headers.get('retry-after'))).toBeLessThanOrEqual(60);
    expect(await throttled.json()).toMatchObject({ error: 'temporarily_unavailable', error_description: expect.stringMatching(/too many registrations/) });
    expect((await server.tessera.services.clients.list()).length).toBe(before);
    // Another address is not affected; parallel requests from a fresh one cannot all slip through.
    expect((await register(metadata(), from('203.0.113.9'))).status).toBe(201);
    const burst = await Promise.all(Array.from({ length: perIp + 5 }, () => register(metadata(), from('198.51.100.4'))));
    expect(burst.filter((r) => r.status === 201).length).toBe(perIp);
    expect(burst.filter((r) => r.status === 429).length).toBe(5);

    // With an initial access token the administrator decides how many: no per-address limit.
    await mode('token');
    const issued = await server.tessera.services.registration.issueToken({ label: 'bulk' }, SYSTEM);
    expect((await register(metadata(), { ...from('203.0.113.7'), authorization: `Bearer ${issued.token}` })).status).toBe(201);
    await mode('off');
  });

  test('CORS: browser-based clients may register and manage their registration from any origin, without credentials', async () => {
    await mode('open');
    const origin = 'https://agent.example';
    const preflight = await fetch(endpoint, { method: 'OPTIONS', headers: { origin, 'access-control-request-method': 'POST', 'access-control-request-headers': 'content-type' } });
    expect(preflight.status).toBe(204);
    expect(preflight.headers.get('access-control-allow-origin')).toBe('*');
    expect(preflight.headers.get('access-control-allow-methods')).toBe('POST');
    expect(preflight.headers.get('access-control-allow-credentials')).toBeNull();
    const res = await register(metadata(), { origin, 'x-forwarded-for': '192.0.2.10' });
    expect(res.status).toBe(201);
    expect(res.headers.get('access-control-allow-origin')).toBe('*');
    expect(res.headers.get('access-control-expose-headers')).toBe('www-authenticate, retry-after');
    const reg = (await res.json()) as Record<string, string>;
    const manage = await fetch(reg.registration_client_uri!, { method: 'OPTIONS', headers: { origin, 'access-control-request-method': 'PUT', 'access-control-request-headers': 'authorization, content-type' } });
    expect(manage.status).toBe(204);
    expect(manage.headers.get('access-control-allow-methods')).toBe('GET, PUT, DELETE');
    const read = await fetch(reg.registration_client_uri!, { headers: { origin, authorization: `Bearer ${reg.registration_access_token}` } });
    expect(read.status).toBe(200);
    expect(read.headers.get('access-control-allow-origin')).toBe('*');
    await mode('off');
  });

  test('expired initial access token is refused', async () => {
    await mode('token');
    const t = await server.tessera.services.registration.issueToken({ expiresIn: 60 }, SYSTEM);
    // Expire it in the database (the clock is real here).
    await server.tessera.database.db.updateTable('initial_access_tokens').set({ expires_at: 1 }).where('id', '=', t.id).execute();
    expect((await register(metadata(), { authorization: `Bearer ${t.token}` })).status).toBe(401);
    expect((await server.tessera.services.registration.listTokens()).find((x) => x.id === t.id)!.state).toBe('expired');
    await mode('off');
  });
});
