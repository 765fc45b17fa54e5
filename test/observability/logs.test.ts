import { createHash, randomBytes } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Writable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { SYSTEM } from '../../src/audit/actor.ts';
import { createLogger } from '../../src/observability/logging.ts';
import { startOidcUpstream, type OidcUpstream } from '../support/oidc-upstream.ts';
import { basic, postForm, startTestServer, type TestServer } from '../support/server.ts';
import { hiddenFields, location, UserAgent } from '../support/user-agent.ts';

/**
 * Every flow Tessera serves, with the server's own JSON logger (pino, as `serve` builds it)
 * captured at trace level; every secret the test used or received is collected, and none may
 * appear in any log line — raw or URL-encoded.
 */
const REDIRECT = 'https://app.example.com/callback';
const METRICS_TOKEN = `metrics-${randomBytes(16).toString('hex')}`;

interface LogLine {
  level: number;
  msg?: string;
  reqId?: string;
  [key: string]: unknown;
}

describe('no secret in any log line, at trace level, through every flow', () => {
  const raw: string[] = [];
  const secrets = new Set<string>();
  const keep = (...values: Array<string | null | undefined>) => {
    for (const v of values) if (v) secrets.add(v);
  };
  let server: TestServer;
  let upstream: OidcUpstream;
  let api: Server;
  let apiUrl: string;
  let app: { id: string; secret: string };
  let job: { id: string; secret: string };
  let ops: { id: string; secret: string };
  const password = `pw-${randomBytes(12).toString('base64url')}`;
  const lines = () => raw.map((l) => JSON.parse(l) as LogLine);

  beforeAll(async () => {
    const stream = new Writable({
      write(chunk, _encoding, callback) {
        raw.push(...String(chunk).split('\n').filter(Boolean));
        callback();
      },
    });
    server = await startTestServer('sqlite', {
      logger: createLogger('trace', stream),
      metrics: true,
      env: { TESSERA_REDIRECT_URI_POLICY: 'development', TESSERA_METRICS_TOKEN: METRICS_TOKEN, TESSERA_LOG_LEVEL: 'trace' },
    });
    expect(server.app.log.level).toBe('trace');
    keep(METRICS_TOKEN);
    upstream = await startOidcUpstream(`${server.url}/login/providers/acme/callback`);
    keep(upstream.clientSecret);
    api = createServer((req, res) => {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ ok: true, requestId: req.headers['x-request-id'] }));
    });
    await new Promise<void>((resolve) => api.listen(0, '127.0.0.1', resolve));
    apiUrl = `http://127.0.0.1:${(api.address() as AddressInfo).port}`;

    const { services } = server.tessera;
    await services.providers.create({ slug: 'acme', name: 'Acme SSO', issuer: upstream.issuer, clientId: upstream.clientId, clientSecret: upstream.clientSecret }, SYSTEM);
    await services.apis.create({ name: 'Ledger', basePath: '/ledger', upstream: apiUrl, scopes: [{ name: 'ledger.read' }], routes: [{ methods: ['GET'], path: '/**', scopes: ['ledger.read'] }] }, SYSTEM);
    await services.users.create({ username: 'alice', password, roles: ['admin'] }, SYSTEM);
    keep(password);
    const a = await services.clients.create({ name: 'Books', grantTypes: ['authorization_code'], redirectUris: [REDIRECT], scopes: ['openid', 'profile', 'email', 'offline_access'] }, SYSTEM);
    app = { id: a.client_id, secret: a.client_secret! };
    const j = await services.clients.create({ name: 'Job', grantTypes: ['client_credentials'], scopes: ['ledger.read'] }, SYSTEM);
    job = { id: j.client_id, secret: j.client_secret! };
    const o = await services.clients.create({ name: 'Ops', grantTypes: ['client_credentials'], onBehalfOf: 'alice', scopes: ['tessera.admin'] }, SYSTEM);
    ops = { id: o.client_id, secret: o.client_secret! };
    keep(app.secret, job.secret, ops.secret);
    for (let i = 0; i < 60 && server.tessera.gateway.size < 1; i++) await new Promise((r) => setTimeout(r, 50));
  });
  afterAll(async () => {
    await upstream?.close();
    await server?.close();
    await new Promise((r) => api?.close(r));
  });

  /** Secrets that travel in cookies, hidden form fields and redirects are collected as they pass. */
  function keepBrowser(ua: UserAgent, page?: string): void {
    for (const value of ua.cookies.values()) keep(value);
    if (page) keep(hiddenFields(page).csrf);
  }

  async function signIn(ua: UserAgent, returnTo: string, pw = password): Promise<Response> {
    const page = await (await ua.get(`/login?${new URLSearchParams({ return_to: returnTo })}`)).text();
    keepBrowser(ua, page);
    const res = await ua.post('/login', { ...hiddenFields(page), username: 'alice', password: pw });
    keepBrowser(ua);
    return res;
  }

  test('client credentials, a gateway call and the admin API', async () => {
    const res = await postForm(`${server.url}/connect/token`, { grant_type: 'client_credentials', scope: 'ledger.read' }, { authorization: basic(job.id, job.secret) });
    const { access_token } = (await res.json()) as { access_token: string };
    keep(access_token);
    // client_secret_post: the secret in a form body.
    const posted = await postForm(`${server.url}/connect/token`, { grant_type: 'client_credentials', client_id: job.id, client_secret: job.secret });
    expect(posted.status).toBe(200);
    keep(((await posted.json()) as { access_token: string }).access_token);
    const wrong = `wrong-${randomBytes(8).toString('hex')}`;
    keep(wrong);
    expect((await postForm(`${server.url}/connect/token`, { grant_type: 'client_credentials' }, { authorization: basic(job.id, wrong) })).status).toBe(401);

    const proxied = await fetch(`${server.url}/ledger/entries?access_token=${access_token}&x=1`, { headers: { authorization: `Bearer ${access_token}` } });
    expect(proxied.status).toBe(200);

    const adminRes = await postForm(`${server.url}/connect/token`, { grant_type: 'client_credentials', scope: 'tessera.admin' }, { authorization: basic(ops.id, ops.secret) });
    const admin = ((await adminRes.json()) as { access_token: string }).access_token;
    keep(admin);
    expect((await fetch(`${server.url}/admin/api/v1/users`, { headers: { authorization: `Bearer ${admin}` } })).status).toBe(200);
    const created = await fetch(`${server.url}/admin/api/v1/users`, {
      method: 'POST',
      headers: { authorization: `Bearer ${admin}`, 'content-type': 'application/json' },
      body: JSON.stringify({ username: 'bob', password: `bob-${password}` }),
    });
    expect(created.status).toBe(201);
    keep(`bob-${password}`);
    expect((await fetch(`${server.url}/metrics`, { headers: { authorization: `Bearer ${METRICS_TOKEN}` } })).status).toBe(200);

    const issued = lines().filter((l) => l.msg === 'token issued');
    expect(issued.length).toBeGreaterThanOrEqual(3);
    expect(issued[0]).toMatchObject({ level: 30, grant_type: 'client_credentials', client_id: job.id });
    expect(lines().some((l) => l.msg === 'token request refused' && l.error === 'invalid_client')).toBe(true);
  });

  test('authorization code with PKCE, refresh, introspection, userinfo, revocation; a failed and a good sign-in', async () => {
    const ua = new UserAgent(server.url);
    const verifier = randomBytes(32).toString('base64url');
    const state = `state-${randomBytes(8).toString('hex')}`;
    const nonce = `nonce-${randomBytes(8).toString('hex')}`;
    keep(verifier, state, nonce);
    const q = new URLSearchParams({
      client_id: app.id,
      response_type: 'code',
      redirect_uri: REDIRECT,
      scope: 'openid profile email offline_access',
      state,
      nonce,
      code_challenge: createHash('sha256').update(verifier).digest('base64url'),
      code_challenge_method: 'S256',
    });
    const authorize = `/connect/authorize?${q}`;
    const returnTo = new URL(location(await ua.get(authorize)), server.url).searchParams.get('return_to')!;

    const wrongPassword = `wrong-${randomBytes(8).toString('hex')}`;
    keep(wrongPassword);
    expect((await signIn(ua, returnTo, wrongPassword)).status).toBe(401);
    expect(location(await signIn(ua, returnTo))).toBe(returnTo);
    let target = location(await ua.get(returnTo));
    const consent = await (await ua.get(target)).text();
    keepBrowser(ua, consent);
    target = location(await ua.post('/consent', { ...hiddenFields(consent), decision: 'allow' }));
    const code = new URL(target).searchParams.get('code')!;
    keep(code);

    const exchanged = await postForm(`${server.url}/connect/token`, { grant_type: 'authorization_code', code, redirect_uri: REDIRECT, code_verifier: verifier }, { authorization: basic(app.id, app.secret) });
    expect(exchanged.status).toBe(200);
    const tokens = (await exchanged.json()) as { access_token: string; refresh_token: string; id_token: string };
    keep(tokens.access_token, tokens.refresh_token, tokens.id_token);

    const refreshed = await postForm(`${server.url}/connect/token`, { grant_type: 'refresh_token', refresh_token: tokens.refresh_token }, { authorization: basic(app.id, app.secret) });
    expect(refreshed.status).toBe(200);
    const second = (await refreshed.json()) as { access_token: string; refresh_token: string; id_token?: string };
    keep(second.access_token, second.refresh_token, second.id_token);

    const introspected = await postForm(`${server.url}/connect/introspect`, { token: second.access_token }, { authorization: basic(app.id, app.secret) });
    expect(((await introspected.json()) as { active: boolean }).active).toBe(true);
    expect((await fetch(`${server.url}/connect/userinfo`, { headers: { authorization: `Bearer ${second.access_token}` } })).status).toBe(200);
    expect((await postForm(`${server.url}/connect/revocation`, { token: second.refresh_token, token_type_hint: 'refresh_token' }, { authorization: basic(app.id, app.secret) })).status).toBe(200);
    // A revoked refresh token presented again.
    expect((await postForm(`${server.url}/connect/token`, { grant_type: 'refresh_token', refresh_token: second.refresh_token }, { authorization: basic(app.id, app.secret) })).status).toBe(400);
    // The code again: refused, and the refusal does not log it either.
    expect((await postForm(`${server.url}/connect/token`, { grant_type: 'authorization_code', code, redirect_uri: REDIRECT, code_verifier: verifier }, { authorization: basic(app.id, app.secret) })).status).toBe(400);

    const signedIn = lines().find((l) => l.msg === 'signed in');
    expect(signedIn).toMatchObject({ level: 30, user_id: expect.any(String) });
    expect(lines().find((l) => l.msg === 'sign-in refused')).toMatchObject({ level: 30, reason: 'invalid_credentials' });
    expect(lines().filter((l) => l.msg === 'token issued').map((l) => l.grant_type)).toEqual(expect.arrayContaining(['authorization_code', 'refresh_token']));
  });

  test('sign-in through an identity provider: the upstream code, state and tokens stay out of the logs', async () => {
    const ua = new UserAgent(server.url);
    const start = await ua.get(`/login/providers/acme?${new URLSearchParams({ return_to: '/' })}`);
    keepBrowser(ua);
    const upstreamUrl = new URL(location(start));
    keep(upstreamUrl.searchParams.get('state'), upstreamUrl.searchParams.get('nonce'), upstreamUrl.searchParams.get('code_challenge'));
    const callback = await upstream.signIn(upstreamUrl.toString(), 'uma');
    keep(callback.get('code'), callback.get('state'));
    const back = await ua.get(`/login/providers/acme/callback?${callback}`);
    expect(back.status).toBe(200);
    keepBrowser(ua);
    // A replayed callback: refused, with the same code and state in its URL.
    expect((await new UserAgent(server.url).get(`/login/providers/acme/callback?${callback}`)).status).toBeGreaterThanOrEqual(400);
    expect(lines().some((l) => l.msg === 'signed in through an identity provider')).toBe(true);
  });

  test('X-Request-Id: a sane one is kept, returned and passed upstream; anything else is replaced by a new id', async () => {
    const given = 'edge-7f3a.42:abc';
    const res = await fetch(`${server.url}/.well-known/openid-configuration`, { headers: { 'x-request-id': given } });
    expect(res.headers.get('x-request-id')).toBe(given);
    expect(lines().filter((l) => l.reqId === given).map((l) => l.msg)).toEqual(['incoming request', 'request completed']);

    for (const bad of ['has spaces in it', 'x'.repeat(129), 'quote"d', '']) {
      const r = await fetch(`${server.url}/.well-known/openid-configuration`, { headers: { 'x-request-id': bad } });
      expect(r.headers.get('x-request-id')).toMatch(/^[0-9a-f-]{36}$/);
    }
    const none = await fetch(`${server.url}/no/such/page`);
    expect(none.headers.get('x-request-id')).toMatch(/^[0-9a-f-]{36}$/);

    const t = (await (await postForm(`${server.url}/connect/token`, { grant_type: 'client_credentials', scope: 'ledger.read' }, { authorization: basic(job.id, job.secret) })).json()) as { access_token: string };
    keep(t.access_token);
    const proxied = await fetch(`${server.url}/ledger/x`, { headers: { authorization: `Bearer ${t.access_token}`, 'x-request-id': 'gw-1234' } });
    expect(proxied.headers.get('x-request-id')).toBe('gw-1234');
    expect(((await proxied.json()) as { requestId: string }).requestId).toBe('gw-1234');
    const generated = await fetch(`${server.url}/ledger/y`, { headers: { authorization: `Bearer ${t.access_token}` } });
    const id = generated.headers.get('x-request-id');
    expect(id).toMatch(/^[0-9a-f-]{36}$/);
    expect(((await generated.json()) as { requestId: string }).requestId).toBe(id);
  });

  test('every line is JSON; no secret appears in any line, raw or URL-encoded; no JWT at all', () => {
    const all = lines();
    expect(all.length).toBeGreaterThan(50);
    // Trace level really was on: Fastify's request lines are there, with paths and no query strings.
    const incoming = all.filter((l) => l.msg === 'incoming request');
    expect(incoming.length).toBeGreaterThan(20);
    for (const l of incoming) expect(JSON.stringify(l.req)).not.toContain('?');
    expect(secrets.size).toBeGreaterThan(20);
    const leaks: string[] = [];
    for (const secret of secrets) {
      const forms = new Set([secret, encodeURIComponent(secret), new URLSearchParams({ s: secret }).toString().slice(2)]);
      for (const line of raw) for (const form of forms) if (line.includes(form)) leaks.push(`${secret.slice(0, 12)}… in ${line.slice(0, 200)}`);
    }
    expect(leaks).toEqual([]);
    // Upstream ID and access tokens were never seen by the test; no JWT of any kind is logged.
    expect(raw.filter((line) => /eyJ[\w-]{8,}\.[\w-]{8,}\./.test(line))).toEqual([]);
  });
});
