import { createHash, randomBytes } from 'node:crypto';
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { decodeJwt } from 'jose';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { SYSTEM } from '../../src/audit/actor.ts';
import { DIALECTS } from '../support/databases.ts';
import { dpopKey, dpopProof, unsignedJws, type DpopKey } from '../support/dpop.ts';
import { basic, declareScopes, postForm, startTestServer, type TestServer } from '../support/server.ts';
import { approveAuthorization } from '../support/sign-in.ts';
import { location, UserAgent } from '../support/user-agent.ts';

/**
 * DPoP (RFC 9449) over HTTP on SQLite and PostgreSQL, conformance style: every MUST of the
 * token endpoint with its negative case (§4.3, §5, §10), then the resources that accept
 * DPoP-bound tokens (userinfo, introspection, the gateway, §6–§7), and server nonces (§8).
 */

const REDIRECT = 'https://app.example.com/callback';
const PASSWORD = 'correct horse battery staple';

function pkce(): { verifier: string; challenge: string } {
  const verifier = randomBytes(32).toString('base64url');
  return { verifier, challenge: createHash('sha256').update(verifier).digest('base64url') };
}

type Json = Record<string, unknown>;

describe.each(DIALECTS)('DPoP at the token endpoint (%s)', (dialect) => {
  let server: TestServer;
  let tokenUrl: string;
  let machine: { id: string; secret: string };
  let required: { id: string; secret: string };
  let web: { id: string; secret: string };
  let spa: { id: string };
  let key: DpopKey;
  let other: DpopKey;

  beforeAll(async () => {
    server = await startTestServer(dialect);
    tokenUrl = `${server.url}/connect/token`;
    const { services } = server.tessera;
    await declareScopes(server.tessera, ['accounts.read']);
    await services.users.create({ username: 'alice', password: PASSWORD, roles: ['developer'], email: 'alice@example.com' }, SYSTEM);
    const m = await services.clients.create({ name: 'Machine', grantTypes: ['client_credentials'], scopes: ['accounts.read'] }, SYSTEM);
    machine = { id: m.client_id, secret: m.client_secret! };
    const r = await services.clients.create({ name: 'Must DPoP', grantTypes: ['client_credentials'], scopes: ['accounts.read'], dpopBoundAccessTokens: true }, SYSTEM);
    required = { id: r.client_id, secret: r.client_secret! };
    const base = { grantTypes: ['authorization_code'], redirectUris: [REDIRECT], scopes: ['openid', 'profile', 'offline_access'] };
    const w = await services.clients.create({ ...base, name: 'Web' }, SYSTEM);
    web = { id: w.client_id, secret: w.client_secret! };
    const p = await services.clients.create({ ...base, name: 'SPA', public: true }, SYSTEM);
    spa = { id: p.client_id };
    key = await dpopKey('ES256');
    other = await dpopKey('ES256');
  });
  afterAll(async () => server?.close());

  const cc = (client: { id: string; secret: string }, headers: Record<string, string> = {}) =>
    postForm(tokenUrl, { grant_type: 'client_credentials' }, { authorization: basic(client.id, client.secret), ...headers });

  async function code(clientId: string, extra: Record<string, string> = {}): Promise<{ code: string; verifier: string }> {
    const { verifier, challenge } = pkce();
    const q = new URLSearchParams({ client_id: clientId, response_type: 'code', redirect_uri: REDIRECT, scope: 'openid profile offline_access', state: 's', code_challenge: challenge, code_challenge_method: 'S256', ...extra });
    const callback = await approveAuthorization(server.url, `/connect/authorize?${q}`, 'alice', PASSWORD);
    expect(callback.searchParams.get('error')).toBeNull();
    return { code: callback.searchParams.get('code')!, verifier };
  }

  test('client credentials with a proof: token_type DPoP and cnf.jkt of the proof key (§5, §6.1); without one: Bearer, no cnf', async () => {
    const res = await cc(machine, { dpop: await dpopProof(key, { htu: tokenUrl }) });
    expect(res.status).toBe(200);
    const body = (await res.json()) as Json;
    expect(body.token_type).toBe('DPoP');
    expect(decodeJwt(body.access_token as string).cnf).toEqual({ jkt: key.jkt });
    expect(res.headers.get('dpop-nonce')).toBeNull();

    const plain = (await (await cc(machine)).json()) as Json;
    expect(plain.token_type).toBe('Bearer');
    expect(decodeJwt(plain.access_token as string).cnf).toBeUndefined();
  });

  test.each<[string, (k: DpopKey, url: string) => Promise<string>]>([
    ['a replayed proof', async () => ''],
    ['a wrong htu', (k, url) => dpopProof(k, { htu: url.replace('/connect/token', '/connect/introspect') })],
    ['a wrong htm', (k, url) => dpopProof(k, { htu: url, htm: 'GET' })],
    ['alg none', async (k, url) => unsignedJws({ alg: 'none', typ: 'dpop+jwt', jwk: k.publicJwk }, { jti: 'x', htm: 'POST', htu: url, iat: Math.floor(Date.now() / 1000) })],
    ['a private key in jwk', async (k, url) => dpopProof(k, { htu: url, header: { jwk: { ...k.publicJwk, d: 'AAAA' } } })],
    ['an old iat', (k, url) => dpopProof(k, { htu: url, iat: Math.floor(Date.now() / 1000) - 3600 })],
    ['a wrong typ', (k, url) => dpopProof(k, { htu: url, header: { typ: 'JWT' } })],
  ])('%s is invalid_dpop_proof (400), and no token is issued', async (name, make) => {
    let proof: string;
    if (name === 'a replayed proof') {
      proof = await dpopProof(key, { htu: tokenUrl });
      expect((await cc(machine, { dpop: proof })).status).toBe(200);
    } else {
      proof = await make(key, tokenUrl);
    }
    const res = await cc(machine, { dpop: proof });
    expect(res.status).toBe(400);
    expect(res.headers.get('cache-control')).toBe('no-store');
    const body = (await res.json()) as Json;
    expect(body.error).toBe('invalid_dpop_proof');
    expect(body.access_token).toBeUndefined();
  });

  test('an HS256 proof is refused', async () => {
    const header = Buffer.from(JSON.stringify({ alg: 'HS256', typ: 'dpop+jwt', jwk: key.publicJwk })).toString('base64url');
    const payload = Buffer.from(JSON.stringify({ jti: 'h', htm: 'POST', htu: tokenUrl, iat: Math.floor(Date.now() / 1000) })).toString('base64url');
    const res = await cc(machine, { dpop: `${header}.${payload}.${randomBytes(32).toString('base64url')}` });
    expect(res.status).toBe(400);
    expect(((await res.json()) as Json).error).toBe('invalid_dpop_proof');
  });

  test('two DPoP headers are refused', async () => {
    const headers = new Headers({ 'content-type': 'application/x-www-form-urlencoded', authorization: basic(machine.id, machine.secret) });
    headers.append('dpop', await dpopProof(key, { htu: tokenUrl }));
    headers.append('dpop', await dpopProof(key, { htu: tokenUrl }));
    const res = await fetch(tokenUrl, { method: 'POST', headers, body: 'grant_type=client_credentials' });
    expect(res.status).toBe(400);
    expect(((await res.json()) as Json).error).toBe('invalid_dpop_proof');
  });

  test('an app with dpop_bound_access_tokens gets no token without a proof (§5.2), and a DPoP one with', async () => {
    const res = await cc(required);
    expect(res.status).toBe(400);
    expect(((await res.json()) as Json).error).toBe('invalid_request');
    const ok = await cc(required, { dpop: await dpopProof(key, { htu: tokenUrl }) });
    expect(((await ok.json()) as Json).token_type).toBe('DPoP');
  });

  test('a public client: code exchange with a proof binds the access and the refresh token; refresh needs a proof by the same key (§5)', async () => {
    const { code: c, verifier } = await code(spa.id);
    const res = await postForm(tokenUrl, { grant_type: 'authorization_code', code: c, redirect_uri: REDIRECT, client_id: spa.id, code_verifier: verifier }, { dpop: await dpopProof(key, { htu: tokenUrl }) });
    expect(res.status).toBe(200);
    const tokens = (await res.json()) as Json;
    expect(tokens.token_type).toBe('DPoP');
    expect(decodeJwt(tokens.access_token as string).cnf).toEqual({ jkt: key.jkt });
    const rt = tokens.refresh_token as string;
    expect(rt).toBeTruthy();

    const refresh = (headers: Record<string, string>) => postForm(tokenUrl, { grant_type: 'refresh_token', refresh_token: rt, client_id: spa.id }, headers);
    const bare = await refresh({});
    expect(bare.status).toBe(400);
    expect(((await bare.json()) as Json).error).toBe('invalid_dpop_proof');
    const stolen = await refresh({ dpop: await dpopProof(other, { htu: tokenUrl }) });
    expect(stolen.status).toBe(400);
    expect(((await stolen.json()) as Json).error).toBe('invalid_grant');
    // Neither attempt spent the token: its holder still refreshes.
    const ok = await refresh({ dpop: await dpopProof(key, { htu: tokenUrl }) });
    expect(ok.status).toBe(200);
    const next = (await ok.json()) as Json;
    expect(next.token_type).toBe('DPoP');
    expect(decodeJwt(next.access_token as string).cnf).toEqual({ jkt: key.jkt });
  });

  test('a confidential client’s refresh token is bound to its credentials, not the key: another key may refresh (§5)', async () => {
    const { code: c, verifier } = await code(web.id);
    const res = await postForm(tokenUrl, { grant_type: 'authorization_code', code: c, redirect_uri: REDIRECT, code_verifier: verifier }, { authorization: basic(web.id, web.secret), dpop: await dpopProof(key, { htu: tokenUrl }) });
    const tokens = (await res.json()) as Json;
    expect(tokens.token_type).toBe('DPoP');
    const ok = await postForm(tokenUrl, { grant_type: 'refresh_token', refresh_token: tokens.refresh_token as string }, { authorization: basic(web.id, web.secret), dpop: await dpopProof(other, { htu: tokenUrl }) });
    expect(ok.status).toBe(200);
    expect(decodeJwt(((await ok.json()) as Json).access_token as string).cnf).toEqual({ jkt: other.jkt });
  });

  test('dpop_jkt binds the code: no proof, or another key, is refused; the key it names gets the tokens (§10)', async () => {
    const exchange = async (c: { code: string; verifier: string }, headers: Record<string, string>) =>
      postForm(tokenUrl, { grant_type: 'authorization_code', code: c.code, redirect_uri: REDIRECT, client_id: spa.id, code_verifier: c.verifier }, headers);
    const a = await code(spa.id, { dpop_jkt: key.jkt });
    const bare = await exchange(a, {});
    expect(((await bare.json()) as Json).error).toBe('invalid_dpop_proof');
    const b = await code(spa.id, { dpop_jkt: key.jkt });
    const wrong = await exchange(b, { dpop: await dpopProof(other, { htu: tokenUrl }) });
    expect(wrong.status).toBe(400);
    expect(((await wrong.json()) as Json).error).toBe('invalid_grant');
    const c = await code(spa.id, { dpop_jkt: key.jkt });
    const ok = await exchange(c, { dpop: await dpopProof(key, { htu: tokenUrl }) });
    expect(ok.status).toBe(200);
    expect(((await ok.json()) as Json).token_type).toBe('DPoP');
    // A malformed dpop_jkt is an error sent back to the app.
    const ua = new UserAgent(server.url);
    const bad = await ua.get(`/connect/authorize?${new URLSearchParams({ client_id: spa.id, response_type: 'code', redirect_uri: REDIRECT, scope: 'openid', code_challenge: pkce().challenge, code_challenge_method: 'S256', dpop_jkt: 'short' })}`);
    expect(new URL(location(bad)).searchParams.get('error')).toBe('invalid_request');
  });

  test('a DPoP proof at PAR binds the code as dpop_jkt does (§10.1); with dpop_jkt too they must agree; a bad proof is refused there', async () => {
    const parUrl = `${server.url}/connect/par`;
    const push = async (headers: Record<string, string>, extra: Record<string, string> = {}) => {
      const { verifier, challenge } = pkce();
      const res = await postForm(parUrl, { client_id: spa.id, response_type: 'code', redirect_uri: REDIRECT, scope: 'openid offline_access', state: 's', code_challenge: challenge, code_challenge_method: 'S256', ...extra }, headers);
      return { res, verifier };
    };
    /** Push with a proof by `key`, authorize through the request_uri, and answer the code. */
    const pushedCode = async (): Promise<{ code: string; verifier: string }> => {
      const { res, verifier } = await push({ dpop: await dpopProof(key, { htu: parUrl }) });
      expect(res.status).toBe(201);
      const { request_uri } = (await res.json()) as { request_uri: string };
      const callback = await approveAuthorization(server.url, `/connect/authorize?${new URLSearchParams({ client_id: spa.id, request_uri })}`, 'alice', PASSWORD);
      expect(callback.searchParams.get('error')).toBeNull();
      return { code: callback.searchParams.get('code')!, verifier };
    };
    const exchange = async (c: { code: string; verifier: string }, headers: Record<string, string>) =>
      postForm(tokenUrl, { grant_type: 'authorization_code', code: c.code, redirect_uri: REDIRECT, client_id: spa.id, code_verifier: c.verifier }, headers);

    // The code is bound to the key that signed the push's proof: no proof, or another key, is refused.
    const bare = await exchange(await pushedCode(), {});
    expect(bare.status).toBe(400);
    expect(((await bare.json()) as Json).error).toBe('invalid_dpop_proof');
    const wrong = await exchange(await pushedCode(), { dpop: await dpopProof(other, { htu: tokenUrl }) });
    expect(wrong.status).toBe(400);
    expect(((await wrong.json()) as Json).error).toBe('invalid_grant');
    const ok = await exchange(await pushedCode(), { dpop: await dpopProof(key, { htu: tokenUrl }) });
    expect(ok.status).toBe(200);
    const tokens = (await ok.json()) as Json;
    expect(tokens.token_type).toBe('DPoP');
    expect(decodeJwt(tokens.access_token as string).cnf).toEqual({ jkt: key.jkt });

    // dpop_jkt beside the proof: the same key is accepted, another refused.
    const same = await push({ dpop: await dpopProof(key, { htu: parUrl }) }, { dpop_jkt: key.jkt });
    expect(same.res.status).toBe(201);
    const mismatch = await push({ dpop: await dpopProof(key, { htu: parUrl }) }, { dpop_jkt: other.jkt });
    expect(mismatch.res.status).toBe(400);
    expect(await mismatch.res.json()).toEqual({ error: 'invalid_request', error_description: 'dpop_jkt names another key than the DPoP proof' });
    // A proof made for another endpoint, or one sent again, is refused at PAR as at the token endpoint.
    const elsewhere = await push({ dpop: await dpopProof(key, { htu: tokenUrl }) });
    expect(elsewhere.res.status).toBe(400);
    expect(((await elsewhere.res.json()) as Json).error).toBe('invalid_dpop_proof');
    const proof = await dpopProof(key, { htu: parUrl });
    expect((await push({ dpop: proof })).res.status).toBe(201);
    const replayed = await push({ dpop: proof });
    expect(replayed.res.status).toBe(400);
    expect(((await replayed.res.json()) as Json).error).toBe('invalid_dpop_proof');
  });

  test('a self-registered app may ask for dpop_bound_access_tokens (§5.2, RFC 7591 metadata); then it needs proofs', async () => {
    await server.tessera.services.settings.update({ client_registration: 'open' }, SYSTEM);
    const reg = await fetch(`${server.url}/connect/register`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ client_name: 'Agent', redirect_uris: [REDIRECT], token_endpoint_auth_method: 'none', dpop_bound_access_tokens: true }),
    });
    expect(reg.status).toBe(201);
    const registered = (await reg.json()) as Json;
    expect(registered.dpop_bound_access_tokens).toBe(true);
    expect((await server.tessera.services.clients.show(registered.client_id as string)).dpop_bound_access_tokens).toBe(true);
    const bad = await fetch(`${server.url}/connect/register`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ redirect_uris: [REDIRECT], dpop_bound_access_tokens: 'yes' }),
    });
    expect(((await bad.json()) as Json).error).toBe('invalid_client_metadata');
    await server.tessera.services.settings.update({ client_registration: 'off' }, SYSTEM);
  });

  test('discovery lists dpop_signing_alg_values_supported (§5.1)', async () => {
    const meta = (await (await fetch(`${server.url}/.well-known/openid-configuration`)).json()) as Json;
    expect(meta.dpop_signing_alg_values_supported).toEqual(expect.arrayContaining(['ES256', 'RS256', 'PS256', 'EdDSA']));
    expect(meta.dpop_signing_alg_values_supported).not.toContain('none');
    expect(meta.dpop_signing_alg_values_supported).not.toContain('HS256');
  });
});

describe.each(DIALECTS)('DPoP with server nonces required (%s)', (dialect) => {
  let server: TestServer;
  let tokenUrl: string;
  let machine: { id: string; secret: string };
  let key: DpopKey;

  beforeAll(async () => {
    server = await startTestServer(dialect, { env: { TESSERA_DPOP_NONCE: 'required' } });
    tokenUrl = `${server.url}/connect/token`;
    await declareScopes(server.tessera, ['accounts.read']);
    const m = await server.tessera.services.clients.create({ name: 'Machine', grantTypes: ['client_credentials'], scopes: ['accounts.read'] }, SYSTEM);
    machine = { id: m.client_id, secret: m.client_secret! };
    key = await dpopKey('ES256');
  });
  afterAll(async () => server?.close());

  const cc = (headers: Record<string, string>) => postForm(tokenUrl, { grant_type: 'client_credentials' }, { authorization: basic(machine.id, machine.secret), ...headers });

  test('a proof without the server’s nonce is use_dpop_nonce with a DPoP-Nonce header (§8); with it, a token and a fresh nonce', async () => {
    const first = await cc({ dpop: await dpopProof(key, { htu: tokenUrl }) });
    expect(first.status).toBe(400);
    expect(((await first.json()) as Json).error).toBe('use_dpop_nonce');
    const nonce = first.headers.get('dpop-nonce');
    expect(nonce).toMatch(/^[A-Za-z0-9_-]+$/);
    const wrong = await cc({ dpop: await dpopProof(key, { htu: tokenUrl, nonce: 'not-the-nonce' }) });
    expect(((await wrong.json()) as Json).error).toBe('use_dpop_nonce');
    const ok = await cc({ dpop: await dpopProof(key, { htu: tokenUrl, nonce: nonce! }) });
    expect(ok.status).toBe(200);
    expect(((await ok.json()) as Json).token_type).toBe('DPoP');
    expect(ok.headers.get('dpop-nonce')).toBe(nonce);
    // Bearer requests are not asked for nonces.
    expect((await cc({})).status).toBe(200);
  });
});

/** An upstream that records the headers of each request it gets. */
async function recordingUpstream(): Promise<{ url: string; seen: IncomingHttpHeaders[]; server: Server }> {
  const seen: IncomingHttpHeaders[] = [];
  const server = createServer((req, res) => {
    seen.push(req.headers);
    res.writeHead(200, { 'content-type': 'application/json' }).end('{"ok":true}');
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, seen, server };
}

/** authorize → login → consent → code exchange for a public client, with a DPoP proof by `key`. */
async function userTokens(server: TestServer, clientId: string, key: DpopKey, nonce?: string): Promise<Json> {
  const { verifier, challenge } = pkce();
  const q = new URLSearchParams({ client_id: clientId, response_type: 'code', redirect_uri: REDIRECT, scope: 'openid profile', state: 's', code_challenge: challenge, code_challenge_method: 'S256' });
  const code = (await approveAuthorization(server.url, `/connect/authorize?${q}`, 'alice', PASSWORD)).searchParams.get('code')!;
  const tokenUrl = `${server.url}/connect/token`;
  const tokens = await postForm(tokenUrl, { grant_type: 'authorization_code', code, redirect_uri: REDIRECT, client_id: clientId, code_verifier: verifier }, { dpop: await dpopProof(key, { htu: tokenUrl, ...(nonce ? { nonce } : {}) }) });
  expect(tokens.status).toBe(200);
  return (await tokens.json()) as Json;
}

describe.each(DIALECTS)('DPoP-bound tokens at userinfo, introspection, the admin API and the gateway (%s)', (dialect) => {
  let server: TestServer;
  let upstream: Awaited<ReturnType<typeof recordingUpstream>>;
  let machine: { id: string; secret: string };
  let spa: { id: string };
  let key: DpopKey;
  let other: DpopKey;
  let userinfoUrl: string;

  beforeAll(async () => {
    upstream = await recordingUpstream();
    server = await startTestServer(dialect);
    userinfoUrl = `${server.url}/connect/userinfo`;
    const { services } = server.tessera;
    await services.apis.create({ name: 'Tasks', basePath: '/tasks', upstream: upstream.url, scopes: [{ name: 'tasks.read' }, { name: 'tasks.write' }], routes: [{ methods: ['GET'], path: '/**', scopes: ['tasks.read'] }, { methods: ['POST'], path: '/**', scopes: ['tasks.write'] }] }, SYSTEM);
    await services.apis.create({ name: 'Private', basePath: '/private', upstream: upstream.url, forwardAuthorization: false, scopes: [{ name: 'private.read' }], routes: [{ methods: ['GET'], path: '/**', scopes: ['private.read'] }] }, SYSTEM);
    await services.users.create({ username: 'alice', password: PASSWORD, roles: ['developer'], email: 'alice@example.com' }, SYSTEM);
    const m = await services.clients.create({ name: 'Machine', grantTypes: ['client_credentials'], scopes: ['tasks.read', 'private.read'], defaultScopes: ['tasks.read', 'private.read'], onBehalfOf: 'alice' }, SYSTEM);
    machine = { id: m.client_id, secret: m.client_secret! };
    const p = await services.clients.create({ name: 'SPA', grantTypes: ['authorization_code'], redirectUris: [REDIRECT], scopes: ['openid', 'profile'], public: true }, SYSTEM);
    spa = { id: p.client_id };
    key = await dpopKey('ES256');
    other = await dpopKey('ES256');
  });
  afterAll(async () => {
    await server?.close();
    upstream?.server.close();
  });

  async function machineToken(dpop?: DpopKey): Promise<string> {
    const tokenUrl = `${server.url}/connect/token`;
    const res = await postForm(tokenUrl, { grant_type: 'client_credentials' }, { authorization: basic(machine.id, machine.secret), ...(dpop ? { dpop: await dpopProof(dpop, { htu: tokenUrl }) } : {}) });
    return ((await res.json()) as Json).access_token as string;
  }

  test('userinfo: the DPoP scheme with a proof (htm, htu, ath) answers; every broken proof, and the token as Bearer, is 401 with the challenge (§7)', async () => {
    const tokens = await userTokens(server, spa.id, key);
    const at = tokens.access_token as string;
    const get = async (headers: Record<string, string>) => fetch(userinfoUrl, { headers });
    const ok = await get({ authorization: `DPoP ${at}`, dpop: await dpopProof(key, { htm: 'GET', htu: userinfoUrl, accessToken: at }) });
    expect(ok.status).toBe(200);
    expect(((await ok.json()) as Json).sub).toBeTruthy();
    // POST with htm POST works too; a proof for GET does not.
    const post = await fetch(userinfoUrl, { method: 'POST', headers: { authorization: `DPoP ${at}`, dpop: await dpopProof(key, { htm: 'POST', htu: userinfoUrl, accessToken: at }) } });
    expect(post.status).toBe(200);

    const cases: Array<[string, Record<string, string>, string]> = [
      ['as Bearer', { authorization: `Bearer ${at}` }, 'invalid_token'],
      ['without a proof', { authorization: `DPoP ${at}` }, 'invalid_dpop_proof'],
      ['with a wrong ath', { authorization: `DPoP ${at}`, dpop: await dpopProof(key, { htm: 'GET', htu: userinfoUrl, accessToken: 'other' }) }, 'invalid_dpop_proof'],
      ['with a wrong htm', { authorization: `DPoP ${at}`, dpop: await dpopProof(key, { htm: 'POST', htu: userinfoUrl, accessToken: at }) }, 'invalid_dpop_proof'],
      ['with a wrong htu', { authorization: `DPoP ${at}`, dpop: await dpopProof(key, { htm: 'GET', htu: `${server.url}/connect/token`, accessToken: at }) }, 'invalid_dpop_proof'],
      ['with another key', { authorization: `DPoP ${at}`, dpop: await dpopProof(other, { htm: 'GET', htu: userinfoUrl, accessToken: at }) }, 'invalid_dpop_proof'],
    ];
    for (const [name, headers, error] of cases) {
      const res = await get(headers);
      expect(res.status, name).toBe(401);
      expect(((await res.json()) as Json).error, name).toBe(error);
      const challenge = res.headers.get('www-authenticate')!;
      expect(challenge, name).toMatch(/^Bearer realm="tessera"/);
      expect(challenge, name).toContain('DPoP ');
      expect(challenge, name).toContain('algs="ES256');
      // The error is in the challenge of the scheme the client used.
      expect(challenge, name).toContain(headers.authorization!.startsWith('DPoP') ? `DPoP error="${error}"` : `Bearer realm="tessera", error="${error}"`);
    }
    // A replayed proof.
    const proof = await dpopProof(key, { htm: 'GET', htu: userinfoUrl, accessToken: at });
    expect((await get({ authorization: `DPoP ${at}`, dpop: proof })).status).toBe(200);
    const replay = await get({ authorization: `DPoP ${at}`, dpop: proof });
    expect(replay.status).toBe(401);
    expect(((await replay.json()) as Json).error_description).toMatch(/already used/);
  });

  test('a bearer token sent with the DPoP scheme is refused (it is not bound)', async () => {
    const bearer = await machineToken();
    const res = await fetch(`${server.url}/tasks/x`, { headers: { authorization: `DPoP ${bearer}`, dpop: await dpopProof(key, { htm: 'GET', htu: `${server.url}/tasks/x`, accessToken: bearer }) } });
    expect(res.status).toBe(401);
    expect(((await res.json()) as Json).error).toBe('invalid_token');
  });

  test('introspection reports token_type DPoP and cnf.jkt for a bound token, Bearer without cnf otherwise (§6.2)', async () => {
    const introspect = async (token: string) => (await (await postForm(`${server.url}/connect/introspect`, { token }, { authorization: basic(machine.id, machine.secret) })).json()) as Json;
    const bound = await introspect(await machineToken(key));
    expect(bound).toMatchObject({ active: true, token_type: 'DPoP', cnf: { jkt: key.jkt } });
    const plain = await introspect(await machineToken());
    expect(plain).toMatchObject({ active: true, token_type: 'Bearer' });
    expect(plain.cnf).toBeUndefined();
  });

  test('the admin API takes bearer tokens only: a DPoP-bound token is invalid_token there', async () => {
    const bound = await fetch(`${server.url}/admin/api/v1/apps`, { headers: { authorization: `Bearer ${await machineToken(key)}` } });
    expect(bound.status).toBe(401);
    const plain = await fetch(`${server.url}/admin/api/v1/apps`, { headers: { authorization: `Bearer ${await machineToken()}` } });
    expect(plain.status).toBe(403);
  });

  test('gateway: a DPoP call is forwarded; with forward_authorization off neither the token nor the proof reaches the upstream, with it on both do', async () => {
    const at = await machineToken(key);
    const callGateway = async (path: string, headers: Record<string, string>, method = 'GET') => fetch(`${server.url}${path}`, { method, headers });
    const before = upstream.seen.length;
    const url = `${server.url}/private/items?x=1`;
    const priv = await callGateway('/private/items?x=1', { authorization: `DPoP ${at}`, dpop: await dpopProof(key, { htm: 'GET', htu: url, accessToken: at }) });
    expect(priv.status).toBe(200);
    const seenPrivate = upstream.seen.at(-1)!;
    expect(seenPrivate.authorization).toBeUndefined();
    expect(seenPrivate.dpop).toBeUndefined();
    expect(seenPrivate['x-tessera-client-id']).toBe(machine.id);

    const tasks = await callGateway('/tasks/items', { authorization: `DPoP ${at}`, dpop: await dpopProof(key, { htm: 'GET', htu: `${server.url}/tasks/items`, accessToken: at }) });
    expect(tasks.status).toBe(200);
    const seenTasks = upstream.seen.at(-1)!;
    expect(seenTasks.authorization).toBe(`DPoP ${at}`);
    expect(seenTasks.dpop).toBeTruthy();
    expect(upstream.seen.length).toBe(before + 2);
  });

  test('gateway refusals never reach the upstream: bound token as Bearer, replayed proof, wrong htu, wrong htm, wrong ath, missing scope', async () => {
    const at = await machineToken(key);
    const htu = `${server.url}/tasks/items`;
    const before = upstream.seen.length;
    const proof = await dpopProof(key, { htm: 'GET', htu, accessToken: at });
    expect((await fetch(htu, { headers: { authorization: `DPoP ${at}`, dpop: proof } })).status).toBe(200);
    const cases: Array<[string, RequestInit, number, string]> = [
      ['bound token as Bearer', { headers: { authorization: `Bearer ${at}` } }, 401, 'invalid_token'],
      ['replayed proof', { headers: { authorization: `DPoP ${at}`, dpop: proof } }, 401, 'invalid_dpop_proof'],
      ['wrong htu', { headers: { authorization: `DPoP ${at}`, dpop: await dpopProof(key, { htm: 'GET', htu: `${server.url}/tasks/other`, accessToken: at }) } }, 401, 'invalid_dpop_proof'],
      ['wrong htm', { headers: { authorization: `DPoP ${at}`, dpop: await dpopProof(key, { htm: 'POST', htu, accessToken: at }) } }, 401, 'invalid_dpop_proof'],
      ['wrong ath', { headers: { authorization: `DPoP ${at}`, dpop: await dpopProof(key, { htm: 'GET', htu, accessToken: 'x' }) } }, 401, 'invalid_dpop_proof'],
      ['missing scope', { method: 'POST', headers: { authorization: `DPoP ${at}`, dpop: await dpopProof(key, { htm: 'POST', htu, accessToken: at }) } }, 403, 'insufficient_scope'],
    ];
    for (const [name, init, status, error] of cases) {
      const res = await fetch(htu, init);
      expect(res.status, name).toBe(status);
      expect(((await res.json()) as Json).error, name).toBe(error);
      const challenge = res.headers.get('www-authenticate')!;
      expect(challenge, name).toContain(`resource_metadata="${server.url}/.well-known/oauth-protected-resource/tasks"`);
      if (name !== 'bound token as Bearer') expect(challenge, name).toContain(`DPoP error="${error}"`);
    }
    expect(upstream.seen.length).toBe(before + 1);
    const prm = (await (await fetch(`${server.url}/.well-known/oauth-protected-resource/tasks`)).json()) as Json;
    expect(prm.dpop_signing_alg_values_supported).toContain('ES256');
  });
});

describe.each(DIALECTS)('DPoP nonces at userinfo and the gateway (%s)', (dialect) => {
  let server: TestServer;
  let upstream: Awaited<ReturnType<typeof recordingUpstream>>;
  let machine: { id: string; secret: string };
  let key: DpopKey;

  beforeAll(async () => {
    upstream = await recordingUpstream();
    server = await startTestServer(dialect, { env: { TESSERA_DPOP_NONCE: 'required' } });
    const { services } = server.tessera;
    await services.apis.create({ name: 'Tasks', basePath: '/tasks', upstream: upstream.url, scopes: [{ name: 'tasks.read' }], routes: [{ methods: ['GET'], path: '/**', scopes: ['tasks.read'] }] }, SYSTEM);
    const m = await services.clients.create({ name: 'Machine', grantTypes: ['client_credentials'], scopes: ['tasks.read'], defaultScopes: ['tasks.read'] }, SYSTEM);
    machine = { id: m.client_id, secret: m.client_secret! };
    key = await dpopKey('ES256');
    // The gateway learns the API through the change feed (a 404 until then).
    for (let i = 0; i < 60 && server.tessera.gateway.size < 1; i++) await new Promise((r) => setTimeout(r, 50));
  });
  afterAll(async () => {
    await server?.close();
    upstream?.server.close();
  });

  test('a proof without the nonce is 401 with DPoP error="use_dpop_nonce" and a DPoP-Nonce header; with it the call goes through and brings the nonce back', async () => {
    const tokenUrl = `${server.url}/connect/token`;
    const first = await postForm(tokenUrl, { grant_type: 'client_credentials' }, { authorization: basic(machine.id, machine.secret), dpop: await dpopProof(key, { htu: tokenUrl }) });
    const nonce = first.headers.get('dpop-nonce')!;
    const issued = await postForm(tokenUrl, { grant_type: 'client_credentials' }, { authorization: basic(machine.id, machine.secret), dpop: await dpopProof(key, { htu: tokenUrl, nonce }) });
    const at = ((await issued.json()) as Json).access_token as string;
    const htu = `${server.url}/tasks/items`;
    const before = upstream.seen.length;
    const without = await fetch(htu, { headers: { authorization: `DPoP ${at}`, dpop: await dpopProof(key, { htm: 'GET', htu, accessToken: at }) } });
    expect(without.status).toBe(401);
    expect(without.headers.get('www-authenticate')).toContain('DPoP error="use_dpop_nonce"');
    expect(without.headers.get('dpop-nonce')).toBe(nonce);
    expect(upstream.seen.length).toBe(before);
    const ok = await fetch(htu, { headers: { authorization: `DPoP ${at}`, dpop: await dpopProof(key, { htm: 'GET', htu, accessToken: at, nonce }) } });
    expect(ok.status).toBe(200);
    expect(ok.headers.get('dpop-nonce')).toBe(nonce);
    expect(upstream.seen.length).toBe(before + 1);
  });
});

describe('DPoP across two nodes on one PostgreSQL, behind a public URL', () => {
  const ISSUER = 'https://id.example.com';
  let a: TestServer;
  let b: TestServer;
  let machine: { id: string; secret: string };
  let key: DpopKey;

  beforeAll(async () => {
    a = await startTestServer('postgres', { env: { TESSERA_ISSUER: ISSUER, TESSERA_DPOP_NONCE: 'required' } });
    b = await startTestServer('postgres', {
      databaseUrl: a.databaseUrl,
      env: { TESSERA_ISSUER: ISSUER, TESSERA_DPOP_NONCE: 'required', TESSERA_KEY_ENCRYPTION_KEY_FILE: a.env.TESSERA_KEY_ENCRYPTION_KEY_FILE! },
    });
    await declareScopes(a.tessera, ['accounts.read']);
    const m = await a.tessera.services.clients.create({ name: 'Machine', grantTypes: ['client_credentials'], scopes: ['accounts.read'] }, SYSTEM);
    machine = { id: m.client_id, secret: m.client_secret! };
    key = await dpopKey('ES256');
  });
  afterAll(async () => {
    await b?.close();
    await a?.close();
  });

  const cc = (node: TestServer, proof: string) => postForm(`${node.url}/connect/token`, { grant_type: 'client_credentials' }, { authorization: basic(machine.id, machine.secret), dpop: proof });

  test('htu is the public URL (the issuer’s), a nonce from one node is good at the other, and a proof accepted by one is a replay at the other', async () => {
    const htu = `${ISSUER}/connect/token`;
    const first = await cc(a, await dpopProof(key, { htu }));
    expect(((await first.json()) as Json).error).toBe('use_dpop_nonce');
    const nonce = first.headers.get('dpop-nonce')!;

    const proof = await dpopProof(key, { htu, nonce });
    const atB = await cc(b, proof);
    expect(atB.status).toBe(200);
    expect(((await atB.json()) as Json).token_type).toBe('DPoP');
    const replayAtA = await cc(a, proof);
    expect(replayAtA.status).toBe(400);
    expect(((await replayAtA.json()) as Json).error_description).toMatch(/already used/);

    // The address the node listens on is not the URL clients are told to use.
    const local = await cc(a, await dpopProof(key, { htu: `${a.url}/connect/token`, nonce }));
    expect(((await local.json()) as Json).error).toBe('invalid_dpop_proof');
  });
});
