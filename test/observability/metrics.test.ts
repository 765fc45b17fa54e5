import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { SYSTEM } from '../../src/audit/actor.ts';
import { listenForMetrics } from '../../src/http/metrics-endpoint.ts';
import { renderOf } from '../../src/observability/metrics.ts';
import { DIALECTS } from '../support/databases.ts';
import { scrape, Scrape } from '../support/metrics.ts';
import { basic, postForm, startTestServer, type TestServer } from '../support/server.ts';
import { hiddenFields, UserAgent } from '../support/user-agent.ts';

const TOKEN = 'metrics-token-0123456789abcdef';

async function startUpstream(): Promise<{ url: string; server: Server }> {
  const server = createServer((req, res) => {
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(JSON.stringify({ path: req.url }));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, server };
}

describe.each(DIALECTS)('/metrics (%s)', (dialect) => {
  let server: TestServer;
  let upstream: Awaited<ReturnType<typeof startUpstream>>;
  let app: { id: string; secret: string };
  const metricsUrl = () => `${server.url}/metrics`;

  beforeAll(async () => {
    upstream = await startUpstream();
    server = await startTestServer(dialect, { metrics: true, env: { TESSERA_METRICS_TOKEN: TOKEN } });
    const { services } = server.tessera;
    await services.apis.create(
      { name: 'Echo', basePath: '/echo', upstream: upstream.url, scopes: [{ name: 'echo.read' }], routes: [{ methods: ['GET'], path: '/**', scopes: ['echo.read'] }] },
      SYSTEM,
    );
    await services.apis.create({ name: 'Down', basePath: '/down', upstream: 'http://127.0.0.1:9', scopes: [{ name: 'down.read' }], routes: [{ methods: ['GET'], path: '/**', scopes: ['down.read'] }] }, SYSTEM);
    await services.users.create({ username: 'alice', password: 'correct horse battery' }, SYSTEM);
    const created = await services.clients.create({ name: 'Metrics job', grantTypes: ['client_credentials'], scopes: ['echo.read', 'down.read'] }, SYSTEM);
    app = { id: created.client_id, secret: created.client_secret! };
    for (let i = 0; i < 60 && server.tessera.gateway.size < 2; i++) await new Promise((r) => setTimeout(r, 50));
  });
  afterAll(async () => {
    await server?.close();
    await new Promise((r) => upstream?.server.close(r));
  });

  const token = async (scope = 'echo.read') => {
    const res = await postForm(`${server.url}/connect/token`, { grant_type: 'client_credentials', scope }, { authorization: basic(app.id, app.secret) });
    expect(res.status).toBe(200);
    return ((await res.json()) as { access_token: string }).access_token;
  };

  test('refused without the token, or with a wrong one (401, Bearer challenge); served with it', async () => {
    const none = await fetch(metricsUrl());
    expect(none.status).toBe(401);
    expect(none.headers.get('www-authenticate')).toMatch(/^Bearer /);
    const wrong = await fetch(metricsUrl(), { headers: { authorization: `Bearer ${TOKEN.slice(0, -1)}x` } });
    expect(wrong.status).toBe(401);
    const basicAuth = await fetch(metricsUrl(), { headers: { authorization: basic('metrics', TOKEN) } });
    expect(basicAuth.status).toBe(401);
    const ok = await fetch(metricsUrl(), { headers: { authorization: `Bearer ${TOKEN}` } });
    expect(ok.status).toBe(200);
    expect(ok.headers.get('content-type')).toMatch(/^text\/plain; version=0\.0\.4/);
    // Parsed by a real Prometheus text-format parser; process metrics are there.
    const parsed = await Scrape.parse(await ok.text());
    expect(parsed.family('process_cpu_user_seconds_total').type).toBe('counter');
    expect(parsed.family('nodejs_heap_size_used_bytes').type).toBe('gauge');
    expect(parsed.family('tessera_http_request_duration_seconds').type).toBe('histogram');
  });

  test('counters move with real traffic: tokens, a failed sign-in, gateway calls, caches, query errors', async () => {
    const before = await scrape(metricsUrl(), TOKEN);

    const t = await token();
    await token();
    // A failed sign-in through the login page (CSRF and all).
    const ua = new UserAgent(server.url);
    const page = await ua.get('/login');
    const failed = await ua.post('/login', { ...hiddenFields(await page.text()), username: 'alice', password: 'wrong password' });
    expect(failed.status).toBe(401);
    // Gateway: forwarded (200), refused by Tessera (no token), upstream unreachable.
    const echoed = await fetch(`${server.url}/echo/items/42?q=secret-looking`, { headers: { authorization: `Bearer ${t}` } });
    expect(echoed.status).toBe(200);
    expect((await fetch(`${server.url}/echo/items/42`)).status).toBe(401);
    const downToken = await token('down.read');
    expect((await fetch(`${server.url}/down/x`, { headers: { authorization: `Bearer ${downToken}` } })).status).toBe(502);
    // Raw URLs never become labels: these land on the route pattern or on "unmatched".
    expect((await fetch(`${server.url}/no/such/path/${Math.random()}`)).status).toBe(404);
    const wrongSecret = await postForm(`${server.url}/connect/token`, { grant_type: 'client_credentials' }, { authorization: basic(app.id, 'wrong-secret') });
    expect(wrongSecret.status).toBe(401);
    const withQuery = await postForm(`${server.url}/connect/token?unused=${Math.random()}`, { grant_type: 'client_credentials' }, { authorization: basic(app.id, app.secret) });
    expect(withQuery.status).toBe(400);
    // A statement the database refuses.
    await expect(sql`select * from no_such_table`.execute(server.tessera.database.db)).rejects.toThrow();

    const after = await scrape(metricsUrl(), TOKEN);
    const delta = (name: string, labels: Record<string, string> = {}) => after.value(name, labels) - before.value(name, labels);
    const countDelta = (name: string, labels: Record<string, string>) => after.count(name, labels) - before.count(name, labels);

    expect(delta('tessera_tokens_issued_total', { grant_type: 'client_credentials' })).toBe(3);
    expect(delta('tessera_sign_ins_total', { method: 'password', outcome: 'invalid_credentials' })).toBe(1);
    expect(delta('tessera_sign_ins_total', { method: 'password', outcome: 'success' })).toBe(0);
    expect(countDelta('tessera_http_request_duration_seconds', { method: 'POST', route: '/connect/token', status: '200' })).toBe(3);
    expect(countDelta('tessera_http_request_duration_seconds', { method: 'POST', route: '/connect/token', status: '401' })).toBe(1);
    expect(countDelta('tessera_http_request_duration_seconds', { method: 'POST', route: '/connect/token', status: '400' })).toBe(1);
    expect(countDelta('tessera_http_request_duration_seconds', { method: 'POST', route: '/login', status: '401' })).toBe(1);
    expect(countDelta('tessera_http_request_duration_seconds', { method: 'GET', route: 'unmatched', status: '404' })).toBeGreaterThanOrEqual(1);
    // Gateway requests count under "gateway" (per API in the gateway's own metrics).
    expect(countDelta('tessera_http_request_duration_seconds', { method: 'GET', route: 'gateway', status: '200' })).toBe(1);
    expect(countDelta('tessera_http_request_duration_seconds', { method: 'GET', route: 'gateway', status: '502' })).toBe(1);
    for (const route of after.labelValues('tessera_http_request_duration_seconds', 'route')) {
      expect(route === 'unmatched' || route === 'gateway' || route.startsWith('/'), route).toBe(true);
      expect(route).not.toMatch(/\?|no\/such|items\/42/);
    }
    expect(delta('tessera_gateway_requests_total', { api: 'Echo', upstream_status: '200' })).toBe(1);
    expect(delta('tessera_gateway_requests_total', { api: 'Echo', upstream_status: 'rejected' })).toBe(1);
    expect(delta('tessera_gateway_requests_total', { api: 'Down', upstream_status: 'unreachable' })).toBe(1);
    expect(countDelta('tessera_gateway_upstream_duration_seconds', { api: 'Echo' })).toBe(1);
    // The app's record was cached after the first token; the verified token was verified once.
    expect(delta('tessera_cache_requests_total', { cache: 'clients', result: 'hit' })).toBeGreaterThanOrEqual(3);
    expect(after.value('tessera_cache_requests_total', { cache: 'verified_tokens', result: 'miss' })).toBeGreaterThanOrEqual(1);
    expect(delta('tessera_database_query_errors_total')).toBeGreaterThanOrEqual(1);
    // The change feed polls every 100 ms here.
    expect(after.value('tessera_change_feed_lag_seconds')).toBeLessThan(5);
    expect(after.family('tessera_change_feed_poll_failures_total').type).toBe('counter');
    if (dialect === 'postgres') {
      expect(after.value('tessera_database_pool_connections', { state: 'max' })).toBe(10);
      expect(after.value('tessera_database_pool_connections', { state: 'idle' }) + after.value('tessera_database_pool_connections', { state: 'busy' })).toBeGreaterThanOrEqual(1);
      expect(after.family('tessera_database_pool_waiting').type).toBe('gauge');
    } else {
      expect(after.families.tessera_database_pool_connections?.data ?? []).toEqual([]);
    }
  });

  test('throttled sign-ins are counted as throttling', async () => {
    const before = await scrape(metricsUrl(), TOKEN);
    const ua = new UserAgent(server.url);
    await server.tessera.services.users.create({ username: 'bob', password: 'correct horse battery' }, SYSTEM);
    const fields = hiddenFields(await (await ua.get('/login')).text());
    // Five free failures, then each one makes the next attempt wait (1, 2, 4 … s): stop at the first 429.
    let last = 0;
    for (let i = 0; i < 10 && last !== 429; i++) last = (await ua.post('/login', { ...fields, username: 'bob', password: 'nope' })).status;
    expect(last).toBe(429);
    const after = await scrape(metricsUrl(), TOKEN);
    expect(after.value('tessera_sign_ins_total', { method: 'password', outcome: 'throttled' }) - before.value('tessera_sign_ins_total', { method: 'password', outcome: 'throttled' })).toBe(1);
    expect(after.value('tessera_throttled_requests_total', { endpoint: 'sign_in' }) - before.value('tessera_throttled_requests_total', { endpoint: 'sign_in' })).toBe(1);
  });

  test('a separate metrics address serves the same registry (and asks for the token when one is set)', async () => {
    const listener = await listenForMetrics(renderOf(server.metrics!), { host: '127.0.0.1', port: 0 }, TOKEN);
    try {
      expect((await fetch(listener.url)).status).toBe(401);
      expect((await fetch(listener.url.replace('/metrics', '/other'), { headers: { authorization: `Bearer ${TOKEN}` } })).status).toBe(404);
      const parsed = await scrape(listener.url, TOKEN);
      expect(parsed.value('tessera_tokens_issued_total', { grant_type: 'client_credentials' })).toBeGreaterThanOrEqual(3);
    } finally {
      await listener.close();
    }
  });
});

describe('/metrics is not exposed without a token or an address', () => {
  test('no settings: 404 on the main port, even with metrics collected', async () => {
    const server = await startTestServer('sqlite', { metrics: true });
    try {
      expect((await fetch(`${server.url}/metrics`)).status).toBe(404);
    } finally {
      await server.close();
    }
  });

  test('TESSERA_METRICS_LISTEN set: not on the main port either', async () => {
    const server = await startTestServer('sqlite', { metrics: true, env: { TESSERA_METRICS_TOKEN: TOKEN, TESSERA_METRICS_LISTEN: '127.0.0.1:0' } });
    try {
      expect((await fetch(`${server.url}/metrics`, { headers: { authorization: `Bearer ${TOKEN}` } })).status).toBe(404);
    } finally {
      await server.close();
    }
  });
});
