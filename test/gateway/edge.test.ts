import { createServer, type IncomingHttpHeaders, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { connect, type AddressInfo } from 'node:net';
import { Writable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { SYSTEM } from '../../src/audit/actor.ts';
import { createLogger } from '../../src/observability/logging.ts';
import { basic, postForm, startTestServer, type TestServer } from '../support/server.ts';

/**
 * Gateway requests are served in front of Fastify (src/http/gateway-edge.ts); requests the
 * edge leaves to Fastify (a `%` in the path, Tessera closing) take the `onRequest` hook. Both
 * ways must answer alike, with what Fastify gave gateway requests before the edge: the request
 * id, nosniff on Tessera's own answers, the request log lines, the client through trusted
 * proxies, and Fastify's 503 while closing.
 */
interface Seen {
  url: string;
  headers: IncomingHttpHeaders;
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

async function startUpstream(): Promise<{ url: string; seen: Seen[]; server: Server; hold: Set<string>; release: () => void }> {
  const seen: Seen[] = [];
  const hold = new Set<string>();
  const held: Array<() => void> = [];
  const server = createServer((req, res) => {
    req.resume();
    req.on('end', () => {
      seen.push({ url: req.url!, headers: req.headers });
      const answer = () => {
        res.writeHead(200, { 'content-type': 'application/json' });
        res.end(JSON.stringify({ url: req.url }));
      };
      if (hold.has(req.url!)) held.push(answer);
      else answer();
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, seen, server, hold, release: () => held.splice(0).forEach((f) => f()) };
}

/** Raw HTTP/1.1 over one socket: what a client sends, byte for byte, and everything it gets back. */
function exchange(url: string, text: string, waitMs = 1500): Promise<string> {
  const { port } = new URL(url);
  return new Promise((resolve) => {
    const socket = connect(Number(port), '127.0.0.1', () => socket.write(text));
    let out = '';
    socket.on('data', (d) => (out += d));
    const timer = setTimeout(() => socket.destroy(), waitMs);
    socket.on('close', () => {
      clearTimeout(timer);
      resolve(out);
    });
  });
}

async function setUp(env: Record<string, string>, lines?: string[], level: 'info' | 'error' = 'info') {
  const upstream = await startUpstream();
  const logger = lines
    ? createLogger(
        level,
        new Writable({
          write(chunk, _encoding, callback) {
            lines.push(...String(chunk).split('\n').filter(Boolean));
            callback();
          },
        }),
      )
    : undefined;
  const server = await startTestServer('sqlite', { env, ...(logger ? { logger } : {}) });
  const { services } = server.tessera;
  await services.apis.create(
    { name: 'Echo', basePath: '/echo', upstream: `${upstream.url}/up`, scopes: [{ name: 'echo.read' }], routes: [{ methods: ['GET'], path: '/**', scopes: ['echo.read'] }] },
    SYSTEM,
  );
  await services.users.create({ username: 'svc', password: 'correct horse battery', roles: ['developer'] }, SYSTEM);
  const app = await services.clients.create({ name: 'echo', grantTypes: ['client_credentials'], onBehalfOf: 'svc', scopes: ['echo.read'] }, SYSTEM);
  for (let i = 0; i < 60 && server.tessera.gateway.size < 1; i++) await new Promise((r) => setTimeout(r, 50));
  const res = await postForm(`${server.url}/connect/token`, { grant_type: 'client_credentials', scope: 'echo.read' }, { authorization: basic(app.client_id, app.client_secret!) });
  const { access_token } = (await res.json()) as { access_token: string };
  return { upstream, server, token: access_token };
}

describe('the gateway in front of Fastify', () => {
  let server: TestServer;
  let upstream: Awaited<ReturnType<typeof startUpstream>>;
  let token: string;
  const lines: string[] = [];
  const logged = () => lines.map((l) => JSON.parse(l) as { level: number; msg: string; reqId?: string; req?: unknown; res?: unknown; responseTime?: number; err?: { message: string } });

  beforeAll(async () => {
    ({ server, upstream, token } = await setUp({}, lines));
  });
  afterAll(async () => {
    await server?.close();
    await new Promise((r) => upstream?.server.close(r));
  });

  test("Tessera's own answers carry nosniff and the request id; a forwarded answer carries the id the upstream got", async () => {
    const refused = await fetch(`${server.url}/echo/items`, { headers: { 'x-request-id': 'trace-42' } });
    expect(refused.status).toBe(401);
    expect(refused.headers.get('x-content-type-options')).toBe('nosniff');
    expect(refused.headers.get('x-request-id')).toBe('trace-42');
    expect(refused.headers.get('cache-control')).toBe('no-store');
    expect(refused.headers.get('content-type')).toBe('application/json; charset=utf-8');
    expect(refused.headers.get('www-authenticate')).toMatch(/^Bearer realm="tessera", scope="echo.read"/);
    expect(await refused.json()).toEqual({ error: 'invalid_token', error_description: 'an access token is required' });

    // A HEAD refusal: the same headers, no body.
    const head = await fetch(`${server.url}/echo/items`, { method: 'HEAD', headers: { authorization: `Bearer ${token}` } });
    expect(head.status).toBe(405);
    expect(head.headers.get('allow')).toBe('GET');
    expect(head.headers.get('x-content-type-options')).toBe('nosniff');
    expect(await head.text()).toBe('');

    const forwarded = await fetch(`${server.url}/echo/items?x=1`, { headers: { authorization: `Bearer ${token}`, 'x-request-id': 'not a sane id' } });
    expect(forwarded.status).toBe(200);
    expect(await forwarded.json()).toEqual({ url: '/up/items?x=1' });
    const id = forwarded.headers.get('x-request-id')!;
    expect(id).toMatch(UUID);
    // The upstream owns its answer's content type: no nosniff added to it.
    expect(forwarded.headers.get('x-content-type-options')).toBeNull();
    const seen = upstream.seen.at(-1)!;
    expect(seen.headers['x-request-id']).toBe(id);
    // No trusted proxy: the peer is the client, whatever the client wrote.
    expect(seen.headers['x-forwarded-for']).toBe('127.0.0.1');
    expect(seen.headers['x-forwarded-proto']).toBe('http');
  });

  test('a % in the path takes Fastify’s way: a malformed escape is its 400, a valid one is served alike', async () => {
    const bad = await exchange(server.url, `GET /echo/a%zz HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${token}\r\nConnection: close\r\n\r\n`);
    expect(bad).toMatch(/^HTTP\/1\.1 400 /);
    expect(bad).toContain('FST_ERR_BAD_URL');

    const refused = await fetch(`${server.url}/echo/a%2Fb`, { headers: { authorization: `Bearer ${token}`, 'x-request-id': 'pct-1' } });
    expect(refused.status).toBe(400);
    expect(refused.headers.get('x-content-type-options')).toBe('nosniff');
    expect(refused.headers.get('x-request-id')).toBe('pct-1');
    expect(refused.headers.get('cache-control')).toBe('no-store');

    const ok = await fetch(`${server.url}/echo/a%20b`, { headers: { authorization: `Bearer ${token}`, 'x-request-id': 'pct-2' } });
    expect(ok.status).toBe(200);
    expect(ok.headers.get('x-request-id')).toBe('pct-2');
    expect(ok.headers.get('x-content-type-options')).toBeNull();
    expect(upstream.seen.at(-1)!.url).toBe('/up/a%20b');
    expect(upstream.seen.at(-1)!.headers['x-request-id']).toBe('pct-2');
  });

  test('request log lines as Fastify writes them: incoming and completed, bound to the request id, paths without queries', async () => {
    lines.length = 0;
    expect((await fetch(`${server.url}/echo/logged?secret=1`, { headers: { authorization: `Bearer ${token}`, 'x-request-id': 'log-1' } })).status).toBe(200);
    expect((await fetch(`${server.url}/echo/logged`, { headers: { 'x-request-id': 'log-2' } })).status).toBe(401);
    await expect.poll(() => logged().filter((l) => l.msg === 'request completed').length).toBe(2);
    const mine = logged().filter((l) => l.reqId === 'log-1' || l.reqId === 'log-2');
    expect(mine).toMatchObject([
      { level: 30, reqId: 'log-1', msg: 'incoming request', req: { method: 'GET', path: '/echo/logged', ip: '127.0.0.1' } },
      { level: 30, reqId: 'log-1', msg: 'request completed', res: { statusCode: 200 } },
      { level: 30, reqId: 'log-2', msg: 'incoming request', req: { method: 'GET', path: '/echo/logged', ip: '127.0.0.1' } },
      { level: 30, reqId: 'log-2', msg: 'request completed', res: { statusCode: 401 } },
    ]);
    expect(typeof mine[1]!.responseTime).toBe('number');
    expect(lines.join('\n')).not.toContain('secret=1');
  });

  test('a decision that fails answers 502 (never a 500) and logs the failure with the request id', async () => {
    const { gateway } = server.tessera;
    const decide = gateway.decide.bind(gateway);
    try {
      lines.length = 0;
      gateway.decide = () => {
        throw new Error('store unreachable (thrown)');
      };
      const thrown = await fetch(`${server.url}/echo/x`, { headers: { authorization: `Bearer ${token}`, 'x-request-id': 'fail-1' } });
      expect(thrown.status).toBe(502);
      expect(thrown.headers.get('x-content-type-options')).toBe('nosniff');
      expect(thrown.headers.get('x-request-id')).toBe('fail-1');
      expect(await thrown.json()).toEqual({ error: 'bad_gateway', error_description: 'the gateway could not complete the request' });
      gateway.decide = () => Promise.reject(new Error('store unreachable (rejected)'));
      const rejected = await fetch(`${server.url}/echo/x`, { headers: { authorization: `Bearer ${token}`, 'x-request-id': 'fail-2' } });
      expect(rejected.status).toBe(502);
      await expect.poll(() => logged().filter((l) => l.msg === 'gateway failure').map((l) => [l.reqId, l.err?.message])).toEqual([
        ['fail-1', 'store unreachable (thrown)'],
        ['fail-2', 'store unreachable (rejected)'],
      ]);
    } finally {
      gateway.decide = decide;
    }
  });
});

describe('the edge at log level error (no metrics)', () => {
  // Only a failed answer is logged then; the edge listens for nothing else on the answer.
  test('successful answers write no line; an answer that errors is logged as "request errored" with its request id, at the token edge and the gateway', async () => {
    const lines: string[] = [];
    const { server, upstream, token } = await setUp({ TESSERA_LOG_LEVEL: 'error' }, lines, 'error');
    try {
      const logged = () => lines.map((l) => JSON.parse(l) as { level: number; msg: string; reqId?: string; err?: { message: string } });
      expect((await fetch(`${server.url}/echo/quiet`, { headers: { authorization: `Bearer ${token}` } })).status).toBe(200);
      await new Promise((r) => setTimeout(r, 100));
      expect(lines).toEqual([]);
      // A write error on the answer (the socket failed, say), raised on the response as node:http does.
      server.app.server.on('request', (req: IncomingMessage, res: ServerResponse) => {
        if (req.headers['x-fail-write'] === '1') res.emit('error', new Error(`write failed: ${req.url}`));
      });
      expect((await fetch(`${server.url}/echo/broken`, { headers: { authorization: `Bearer ${token}`, 'x-request-id': 'err-gw', 'x-fail-write': '1' } })).status).toBe(200);
      const form = { grant_type: 'client_credentials', scope: 'echo.read' };
      const tokenRes = await fetch(`${server.url}/connect/token`, {
        method: 'POST',
        body: new URLSearchParams(form).toString(),
        headers: { 'content-type': 'application/x-www-form-urlencoded', authorization: 'Basic bm9ib2R5Om5vdGhpbmc=', 'x-request-id': 'err-token', 'x-fail-write': '1' },
      });
      expect(tokenRes.status).toBe(401);
      await expect.poll(() => logged().map((l) => [l.level, l.msg, l.reqId, l.err?.message])).toEqual([
        [50, 'request errored', 'err-gw', 'write failed: /echo/broken'],
        [50, 'request errored', 'err-token', 'write failed: /connect/token'],
      ]);
    } finally {
      await server.close();
      await new Promise((r) => upstream.server.close(r));
    }
  });
});

describe('the gateway in front of Fastify, behind a trusted proxy and while closing', () => {
  test('X-Forwarded-Proto and -For are taken from a trusted proxy only', async () => {
    const { server, upstream, token } = await setUp({ TESSERA_TRUST_PROXY: '127.0.0.1/32' });
    try {
      const res = await fetch(`${server.url}/echo/x`, { headers: { authorization: `Bearer ${token}`, 'x-forwarded-for': '6.6.6.6, 198.51.100.7', 'x-forwarded-proto': 'http, https' } });
      expect(res.status).toBe(200);
      expect(upstream.seen.at(-1)!.headers['x-forwarded-for']).toBe('198.51.100.7, 127.0.0.1');
      expect(upstream.seen.at(-1)!.headers['x-forwarded-proto']).toBe('https');
    } finally {
      await server.close();
      await new Promise((r) => upstream.server.close(r));
    }
  });

  test('a request that arrives while Tessera closes gets Fastify’s 503, and the one in flight completes', async () => {
    const { server, upstream, token } = await setUp({});
    try {
      upstream.hold.add('/up/slow');
      const auth = `Authorization: Bearer ${token}\r\n`;
      const socket = connect(Number(new URL(server.url).port), '127.0.0.1');
      let text = '';
      socket.on('data', (d) => (text += d));
      const ended = new Promise((r) => socket.on('close', r));
      socket.write(`GET /echo/slow HTTP/1.1\r\nHost: x\r\n${auth}\r\n`);
      await expect.poll(() => upstream.seen.some((s) => s.url === '/up/slow')).toBe(true);
      // The connection is busy, so the close leaves it open; the next request on it arrives
      // after the close has begun.
      const closing = server.app.close();
      await new Promise((r) => setTimeout(r, 50));
      socket.write(`GET /echo/after HTTP/1.1\r\nHost: x\r\n${auth}\r\n`);
      await new Promise((r) => setTimeout(r, 50));
      upstream.release();
      await closing;
      await Promise.race([ended, new Promise((r) => setTimeout(r, 3000))]);
      socket.destroy();
      expect(text).toMatch(/^HTTP\/1\.1 200 /);
      expect(text).toMatch(/HTTP\/1\.1 503 Service Unavailable\r\n/);
      expect(upstream.seen.map((s) => s.url)).not.toContain('/up/after');
    } finally {
      await server.close().catch(() => undefined);
      await new Promise((r) => upstream.server.close(r));
    }
  });
});
