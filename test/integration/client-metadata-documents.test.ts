import { createHash, randomBytes, type webcrypto } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { decodeJwt, exportJWK, generateKeyPair, SignJWT } from 'jose';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { DIALECTS } from '../support/databases.ts';
import { basic, postForm, startTestServer, type TestServer } from '../support/server.ts';
import { hiddenFields, location, UserAgent } from '../support/user-agent.ts';
import { SYSTEM } from '../../src/audit/actor.ts';

/**
 * Client ID Metadata Documents (draft-ietf-oauth-client-id-metadata-document), on SQLite and
 * PostgreSQL: a client_id that is a URL is fetched under the redirect-URI policy (loopback
 * http only because this server runs in development mode), validated, stored as a public
 * app (or one that signs private_key_jwt assertions with the keys its document names), shown
 * with its host on the consent page, cached as its headers say, and refused — with the
 * reason, storing nothing — when it is on a private address, too large, or wrong.
 */
const PASSWORD = 'correct horse battery staple';

function pkce(): { verifier: string; challenge: string } {
  const verifier = randomBytes(32).toString('base64url');
  return { verifier, challenge: createHash('sha256').update(verifier).digest('base64url') };
}

interface DocServer {
  server: Server;
  base: string;
  fetches: Map<string, number>;
  /** The private key of the keys the keyed documents name (kid agent-1). */
  agentKey: webcrypto.CryptoKey;
  /** What /agents/switching.json says: a public client, or one with keys. */
  switching: { keyed: boolean };
}

/** Serves client metadata documents; each path is a case. */
async function startDocServer(): Promise<DocServer> {
  const fetches = new Map<string, number>();
  let base = '';
  const agent = await generateKeyPair('ES256', { extractable: true });
  const switching = { keyed: false };
  const agentJwks = { keys: [{ ...(await exportJWK(agent.publicKey)), kid: 'agent-1', alg: 'ES256', use: 'sig' }] };
  const doc = (path: string, extra: Record<string, unknown> = {}) => ({
    client_id: `${base}${path}`,
    client_name: 'Agent <Smith>',
    redirect_uris: ['http://127.0.0.1:33418/callback'],
    token_endpoint_auth_method: 'none',
    grant_types: ['authorization_code', 'refresh_token'],
    response_types: ['code'],
    ...extra,
  });
  const server = createServer((req, res) => {
    const path = req.url!;
    fetches.set(path, (fetches.get(path) ?? 0) + 1);
    const json = (body: unknown, headers: Record<string, string> = {}) => res.writeHead(200, { 'content-type': 'application/json', ...headers }).end(JSON.stringify(body));
    switch (path) {
      case '/agents/good.json':
        return json(doc(path), { 'cache-control': 'public, max-age=60' });
      case '/agents/no-store.json':
        return json(doc(path), { 'cache-control': 'no-store' });
      case '/agents/scoped.json':
        return json(doc(path, { scope: 'openid notes.read' }), { 'cache-control': 'no-store' });
      case '/agents/policy.json':
        return json(doc(path, { scope: 'openid profile notes.read notes.write' }), { 'cache-control': 'no-store' });
      case '/agents/big.json':
        return json(doc(path, { padding: 'x'.repeat(6000) }));
      case '/agents/wrong-id.json':
        return json(doc('/agents/other.json'));
      case '/agents/secret.json':
        return json(doc(path, { token_endpoint_auth_method: 'client_secret_basic' }));
      case '/agents/keyed.json':
        return json(doc(path, { token_endpoint_auth_method: 'private_key_jwt', jwks_uri: `${base}/agents/keys.json` }), { 'cache-control': 'no-store' });
      case '/agents/keyed-inline.json':
        return json(doc(path, { token_endpoint_auth_method: 'private_key_jwt', jwks: agentJwks }));
      case '/agents/keys.json':
        return json(agentJwks);
      case '/agents/switching.json':
        return json(doc(path, switching.keyed ? { token_endpoint_auth_method: 'private_key_jwt', jwks: agentJwks } : {}), { 'cache-control': 'no-store' });
      case '/agents/keyless.json':
        return json(doc(path, { token_endpoint_auth_method: 'private_key_jwt' }));
      case '/agents/private-key.json':
        return json(doc(path, { token_endpoint_auth_method: 'private_key_jwt', jwks: { keys: [{ kty: 'EC', crv: 'P-256', x: 'x', y: 'y', d: 'd' }] } }));
      case '/agents/private-redirect.json':
        return json(doc(path, { redirect_uris: ['https://10.0.0.8/callback'] }));
      case '/agents/implicit.json':
        return json(doc(path, { response_types: ['token'] }));
      case '/agents/redirect.json':
        return res.writeHead(302, { location: '/agents/good.json' }).end();
      case '/agents/not-json.json':
        return res.writeHead(200, { 'content-type': 'text/html' }).end('<html>');
      default:
        return res.writeHead(404).end();
    }
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return { server, base, fetches, agentKey: agent.privateKey, switching };
}

describe.each(DIALECTS)('client ID metadata documents (%s)', (dialect) => {
  let server: TestServer;
  let docs: DocServer;

  beforeAll(async () => {
    docs = await startDocServer();
    server = await startTestServer(dialect, {
      env: { TESSERA_CLIENT_ID_METADATA_DOCUMENTS: 'on', TESSERA_REDIRECT_URI_POLICY: 'development' },
      // internal.example resolves into a private network: the policy must refuse it before any request.
      resolver: async (host) => (host === 'internal.example' ? ['10.1.2.3'] : ['93.184.215.14']),
    });
    await server.tessera.services.apis.create({ name: 'Notes', basePath: '/notes', upstream: 'http://127.0.0.1:9', scopes: [{ name: 'notes.read' }, { name: 'notes.write' }], routes: [{ methods: ['GET'], path: '/**', scopes: ['notes.read'] }] }, SYSTEM);
    await server.tessera.services.users.create({ username: 'alice', password: PASSWORD, roles: ['developer'] }, SYSTEM);
    await server.tessera.services.users.create({ username: 'ops', password: PASSWORD, roles: ['admin'] }, SYSTEM);
  });
  afterAll(async () => {
    await server?.close();
    await new Promise((r) => docs?.server.close(r));
  });

  const authorizeUrl = (clientId: string, challenge: string, extra: Record<string, string> = {}) =>
    `/connect/authorize?${new URLSearchParams({ client_id: clientId, response_type: 'code', redirect_uri: 'http://127.0.0.1:33418/callback', scope: 'openid notes.read', state: 'st', code_challenge: challenge, code_challenge_method: 'S256', ...extra })}`;

  async function adminToken(): Promise<string> {
    const ops = await server.tessera.services.clients.create({ name: `ops-${Math.random()}`, grantTypes: ['client_credentials'], onBehalfOf: 'ops', scopes: ['tessera.admin'] }, SYSTEM);
    const res = await postForm(`${server.url}/connect/token`, { grant_type: 'client_credentials', scope: 'tessera.admin' }, { authorization: basic(ops.client_id, ops.client_secret!) });
    return ((await res.json()) as { access_token: string }).access_token;
  }

  async function signedIn(): Promise<UserAgent> {
    const ua = new UserAgent(server.url);
    const page = await ua.get('/login');
    const res = await ua.post('/login', { ...hiddenFields(await page.text()), username: 'alice', password: PASSWORD });
    expect(res.status).toBeLessThan(400);
    return ua;
  }

  test('discovery says metadata documents are accepted', async () => {
    const meta = (await (await fetch(`${server.url}/.well-known/oauth-authorization-server`)).json()) as Record<string, unknown>;
    expect(meta.client_id_metadata_document_supported).toBe(true);
    const oidc = (await (await fetch(`${server.url}/.well-known/openid-configuration`)).json()) as Record<string, unknown>;
    expect(oidc.client_id_metadata_document_supported).toBe(true);
  });

  test('a valid document: consent shows its name and host; the code is exchanged as a public client with PKCE', async () => {
    const clientId = `${docs.base}/agents/good.json`;
    const ua = await signedIn();
    const { verifier, challenge } = pkce();
    let res = await ua.get(authorizeUrl(clientId, challenge));
    expect(res.status).toBe(303);
    const consentUrl = location(res);
    expect(consentUrl).toMatch(/^\/consent/);
    res = await ua.get(consentUrl);
    const page = await res.text();
    expect(page).toContain('Agent &lt;Smith&gt; wants to access your account');
    expect(page).toContain(`from <strong>${new URL(docs.base).host}</strong>`);
    res = await ua.post('/consent', { ...hiddenFields(page), decision: 'allow' });
    const callback = new URL(location(res));
    expect(callback.origin + callback.pathname).toBe('http://127.0.0.1:33418/callback');
    const code = callback.searchParams.get('code')!;
    const token = await postForm(`${server.url}/connect/token`, { grant_type: 'authorization_code', code, code_verifier: verifier, redirect_uri: 'http://127.0.0.1:33418/callback', client_id: clientId, resource: `${server.url}/notes` });
    expect(token.status).toBe(200);
    const body = (await token.json()) as { access_token: string; scope: string };
    const claims = decodeJwt(body.access_token);
    expect(claims.client_id).toBe(clientId);
    expect(claims.aud).toBe(`${server.url}/notes`);
    // Fetched once: max-age=60 covered the authorize, the consent and the token request.
    expect(docs.fetches.get('/agents/good.json')).toBe(1);

    // Stored as an app like any other, public, authorization code only, no admin scope.
    const app = await server.tessera.services.clients.show(clientId);
    expect(app).toMatchObject({ client_id: clientId, registration: 'metadata_document', name: 'Agent <Smith>', public: true, grant_types: ['authorization_code'], redirect_uris: ['http://127.0.0.1:33418/callback'] });
    expect(app.scopes).toEqual(expect.arrayContaining(['openid', 'notes.read', 'notes.write']));
    expect(app.scopes).not.toContain('tessera.admin');
    // Marked as self-registered in the admin API (the console shows the same field).
    const adminApp = await server.app.inject({ method: 'GET', url: `/admin/api/v1/apps/${encodeURIComponent(clientId)}`, headers: { authorization: `Bearer ${await adminToken()}` } });
    expect(adminApp.statusCode).toBe(200);
    expect(adminApp.json()).toMatchObject({ client_id: clientId, registration: 'metadata_document' });

    // A redirect URI the document does not list is refused on the error page (exact match).
    const { challenge: c2 } = pkce();
    const other = await ua.get(authorizeUrl(clientId, c2, { redirect_uri: 'http://127.0.0.1:33418/other' }));
    expect(other.status).toBe(400);
    expect(await other.text()).toContain('redirect_uri is not registered');
  });

  test('private_key_jwt: a document naming its keys (jwks_uri or jwks) makes a confidential app that proves itself with signed assertions', async () => {
    const tokenEndpoint = `${server.url}/connect/token`;
    const assertion = (clientId: string, key: webcrypto.CryptoKey = docs.agentKey) =>
      new SignJWT({ jti: randomBytes(16).toString('hex') }).setProtectedHeader({ alg: 'ES256', kid: 'agent-1' }).setIssuer(clientId).setSubject(clientId).setAudience(tokenEndpoint).setIssuedAt().setExpirationTime('2m').sign(key);
    for (const path of ['/agents/keyed.json', '/agents/keyed-inline.json']) {
      const clientId = `${docs.base}${path}`;
      const ua = await signedIn();
      const { verifier, challenge } = pkce();
      let res = await ua.get(authorizeUrl(clientId, challenge));
      res = await ua.get(location(res));
      res = await ua.post('/consent', { ...hiddenFields(await res.text()), decision: 'allow' });
      const code = new URL(location(res)).searchParams.get('code')!;
      const form = { grant_type: 'authorization_code', code, code_verifier: verifier, redirect_uri: 'http://127.0.0.1:33418/callback' };
      // As a public client (no assertion), or with a key the document does not name: invalid_client; the code is not spent.
      const unsigned = await postForm(tokenEndpoint, { ...form, client_id: clientId });
      expect([unsigned.status, ((await unsigned.json()) as { error: string }).error], path).toEqual([401, 'invalid_client']);
      const stranger = (await generateKeyPair('ES256')).privateKey;
      const forged = await postForm(tokenEndpoint, { ...form, client_assertion_type: 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer', client_assertion: await assertion(clientId, stranger) });
      expect(forged.status, path).toBe(401);
      const signed = await postForm(tokenEndpoint, { ...form, client_assertion_type: 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer', client_assertion: await assertion(clientId) });
      expect(signed.status, path).toBe(200);
      expect(decodeJwt(((await signed.json()) as { access_token: string }).access_token).client_id).toBe(clientId);
      const app = await server.tessera.services.clients.show(clientId);
      expect(app, path).toMatchObject({ registration: 'metadata_document', public: false, token_endpoint_auth_method: 'private_key_jwt' });
    }
    expect(docs.fetches.get('/agents/keys.json')).toBeGreaterThanOrEqual(1);

    // A document that changes its method moves its app with it at the next fetch, audited.
    const switchingId = `${docs.base}/agents/switching.json`;
    const app = () => server.tessera.services.clients.show(switchingId);
    await (await signedIn()).get(authorizeUrl(switchingId, pkce().challenge));
    expect(await app()).toMatchObject({ public: true });
    docs.switching.keyed = true;
    await (await signedIn()).get(authorizeUrl(switchingId, pkce().challenge));
    expect(await app()).toMatchObject({ public: false, token_endpoint_auth_method: 'private_key_jwt' });
    const [update] = (await server.tessera.services.audit.list({ targetId: switchingId, action: 'app.update' } as never)).items;
    expect(update!.details).toEqual({ fields: ['jwks', 'token_endpoint_auth_method'] });
    docs.switching.keyed = false;
    await (await signedIn()).get(authorizeUrl(switchingId, pkce().challenge));
    expect(await app()).toMatchObject({ public: true, token_endpoint_auth_method: null });
    // The policy decides: without private_key_jwt such a document is refused at authorization, nothing stored.
    const { settings } = server.tessera.services;
    await settings.update({ registration_auth_methods: ['none'] }, SYSTEM);
    try {
      const clientId = `${docs.base}/agents/keyed.json`;
      const res = await (await signedIn()).get(authorizeUrl(clientId, pkce().challenge));
      expect(res.status).toBeGreaterThanOrEqual(400);
      expect((await res.text()).replaceAll('&#39;', "'")).toMatch(/may not use private_key_jwt/);
    } finally {
      await settings.update({ registration_auth_methods: ['client_secret_basic', 'client_secret_post', 'private_key_jwt', 'none'] }, SYSTEM);
    }
  });

  test('no-store documents are fetched every time; the document’s scope limits the app', async () => {
    const ua = await signedIn();
    const clientId = `${docs.base}/agents/scoped.json`;
    const { challenge } = pkce();
    await ua.get(authorizeUrl(clientId, challenge, { scope: 'openid' }));
    await ua.get(authorizeUrl(clientId, challenge, { scope: 'openid' }));
    expect(docs.fetches.get('/agents/scoped.json')).toBe(2);
    const refused = new URL(location(await ua.get(authorizeUrl(clientId, challenge, { scope: 'openid notes.write' }))));
    expect(refused.searchParams.get('error')).toBe('invalid_scope');
  });

  test("the operator's self-registration policy narrows a document's scopes, and refuses it without public apps or the code grant", async () => {
    const { settings } = server.tessera.services;
    const ua = await signedIn();
    const clientId = `${docs.base}/agents/policy.json`;
    const { challenge } = pkce();
    try {
      await settings.update({ registration_scopes: ['openid', 'notes.read'] }, SYSTEM);
      expect((await ua.get(authorizeUrl(clientId, challenge, { scope: 'openid' }))).status).toBe(303);
      expect((await server.tessera.services.clients.show(clientId)).scopes).toEqual(['openid', 'notes.read']);
      const refused = new URL(location(await ua.get(authorizeUrl(clientId, challenge, { scope: 'openid notes.write' }))));
      expect(refused.searchParams.get('error')).toBe('invalid_scope');

      await settings.update({ registration_auth_methods: ['client_secret_basic'] }, SYSTEM);
      let res = await ua.get(authorizeUrl(clientId, challenge, { scope: 'openid' }));
      expect(res.status).toBe(400);
      expect(res.headers.get('location')).toBeNull();
      expect((await res.text()).replaceAll('&#39;', "'")).toMatch(/public apps \(token_endpoint_auth_method none\) are not allowed/);

      await settings.update({ registration_auth_methods: ['none'], registration_grant_types: ['urn:ietf:params:oauth:grant-type:device_code'] }, SYSTEM);
      res = await ua.get(authorizeUrl(clientId, challenge, { scope: 'openid' }));
      expect(res.status).toBe(400);
      expect(await res.text()).toMatch(/may not use the authorization_code grant/);
    } finally {
      await settings.update({ registration_scopes: null, registration_auth_methods: ['client_secret_basic', 'client_secret_post', 'private_key_jwt', 'none'], registration_grant_types: ['authorization_code'] }, SYSTEM);
    }
    expect((await ua.get(authorizeUrl(clientId, challenge, { scope: 'openid notes.write' }))).status).toBe(303);
    expect((await server.tessera.services.clients.show(clientId)).scopes).toEqual(expect.arrayContaining(['openid', 'profile', 'notes.read', 'notes.write']));
  });

  test('refused documents and URLs: the reason on the error page, nothing stored, nothing fetched when the address is private', async () => {
    const ua = await signedIn();
    const { challenge } = pkce();
    const cases: Array<[string, string, RegExp]> = [
      ['too large', `${docs.base}/agents/big.json`, /larger than 5120 bytes/],
      ['client_id differs', `${docs.base}/agents/wrong-id.json`, /client_id is not the URL/],
      ['confidential auth method', `${docs.base}/agents/secret.json`, /token_endpoint_auth_method must be .none. \(a public client, PKCE\) or .private_key_jwt./],
      ['private_key_jwt without keys', `${docs.base}/agents/keyless.json`, /private_key_jwt needs the public keys of the client/],
      ['a private key in jwks', `${docs.base}/agents/private-key.json`, /is a private key/],
      ['private redirect URI', `${docs.base}/agents/private-redirect.json`, /private address/],
      ['implicit response type', `${docs.base}/agents/implicit.json`, /response_types/],
      ['redirect not followed', `${docs.base}/agents/redirect.json`, /HTTP 302/],
      ['not JSON', `${docs.base}/agents/not-json.json`, /not a JSON object/],
      ['not found', `${docs.base}/agents/missing.json`, /HTTP 404/],
      ['private IP literal', 'https://10.0.0.7/agent.json', /private address/],
      ['name resolving to a private address', 'https://internal.example/agent.json', /non-public address/],
      ['no path', 'https://agent.example', /must contain a path/],
      ['dot segments', 'https://agent.example/a/../b.json', /normal form|\. or \.\./],
      ['query', 'https://agent.example/agent.json?x=1', /must not contain a query/],
      ['credentials', 'https://user:pw@agent.example/agent.json', /username or password/],
    ];
    for (const [name, clientId, reason] of cases) {
      const res = await ua.get(authorizeUrl(clientId, challenge));
      expect(res.status, name).toBeGreaterThanOrEqual(400);
      expect(res.headers.get('location'), name).toBeNull();
      const text = (await res.text()).replaceAll('&#39;', "'").replaceAll('&quot;', '"');
      expect(text, name).toMatch(reason);
      await expect(server.tessera.services.clients.show(clientId), name).rejects.toThrow();
    }
    expect(docs.fetches.get('/agents/redirect.json')).toBe(1);
    expect(docs.fetches.has('/agents/good.json?')).toBe(false);
    // The token endpoint refuses such a client_id as invalid_client.
    const token = await postForm(`${server.url}/connect/token`, { grant_type: 'authorization_code', code: 'x', code_verifier: 'y'.repeat(43), client_id: `${docs.base}/agents/big.json` });
    expect(token.status).toBe(401);
    expect(((await token.json()) as { error: string }).error).toBe('invalid_client');
  });

  test('strict mode (the production default) refuses http and loopback document URLs', async () => {
    await server.tessera.services.settings.update({ redirect_uri_policy: 'strict' }, SYSTEM);
    try {
      const ua = await signedIn();
      const { challenge } = pkce();
      const res = await ua.get(authorizeUrl(`${docs.base}/agents/no-store.json`, challenge));
      expect(res.status).toBe(400);
      expect(await res.text()).toMatch(/must use https/);
      expect(docs.fetches.has('/agents/no-store.json')).toBe(false);
    } finally {
      await server.tessera.services.settings.update({ redirect_uri_policy: 'development' }, SYSTEM);
    }
  });
});

describe('client ID metadata documents switched off (the default)', () => {
  let server: TestServer;
  beforeAll(async () => {
    server = await startTestServer('sqlite', { env: { TESSERA_REDIRECT_URI_POLICY: 'development' } });
  });
  afterAll(async () => server?.close());

  test('not advertised, and a URL client_id is an unknown client', async () => {
    const meta = (await (await fetch(`${server.url}/.well-known/oauth-authorization-server`)).json()) as Record<string, unknown>;
    expect(meta).not.toHaveProperty('client_id_metadata_document_supported');
    const res = await fetch(`${server.url}/connect/authorize?${new URLSearchParams({ client_id: 'http://127.0.0.1:9/agent.json', response_type: 'code' })}`);
    expect(res.status).toBe(400);
    expect(await res.text()).toContain('unknown client_id');
  });
});
