import { createHash, randomBytes } from 'node:crypto';
import { decodeJwt } from 'jose';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { SYSTEM } from '../../src/audit/actor.ts';
import { DIALECTS } from '../support/databases.ts';
import { dpopKey, dpopProof, unsignedJws, type DpopKey } from '../support/dpop.ts';
import { basic, declareScopes, postForm, startTestServer, type TestServer } from '../support/server.ts';
import { hiddenFields, location, UserAgent } from '../support/user-agent.ts';

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
    const ua = new UserAgent(server.url);
    const q = new URLSearchParams({ client_id: clientId, response_type: 'code', redirect_uri: REDIRECT, scope: 'openid profile offline_access', state: 's', code_challenge: challenge, code_challenge_method: 'S256', ...extra });
    let res = await ua.get(`/connect/authorize?${q}`);
    let target = location(res);
    if (target.startsWith('/login')) {
      const page = await ua.get(target);
      res = await ua.post('/login', { ...hiddenFields(await page.text()), username: 'alice', password: PASSWORD });
      res = await ua.get(location(res));
      target = location(res);
    }
    if (target.startsWith('/consent')) {
      res = await ua.get(target);
      res = await ua.post('/consent', { ...hiddenFields(await res.text()), decision: 'allow' });
      target = location(res);
    }
    const callback = new URL(target);
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
