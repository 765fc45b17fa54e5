import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import { connect, type AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { SYSTEM } from '../../src/audit/actor.ts';
import { DIALECTS } from '../support/databases.ts';
import { basic, postForm, startTestServer, type TestServer } from '../support/server.ts';

/**
 * The gateway's edges (issue 12), on SQLite and PostgreSQL: `Expect: 100-continue` uploads
 * from real curl, Tessera's own cookies kept from upstreams both ways, the per-API
 * `Authorization` forwarding and body limit, and the body and idle timeouts.
 */
interface Seen {
  url: string;
  headers: IncomingHttpHeaders;
  bodyLength: number;
}

async function startUpstream(): Promise<{ url: string; seen: Seen[]; server: Server }> {
  const seen: Seen[] = [];
  const server = createServer((req, res) => {
    let length = 0;
    req.on('data', (c: Buffer) => (length += c.length));
    req.on('end', () => {
      seen.push({ url: req.url!, headers: req.headers, bodyLength: length });
      res.writeHead(200, {
        'content-type': 'application/json',
        'set-cookie': ['tessera_session=from-upstream; Path=/; HttpOnly', 'tessera_csrf=x; Path=/', 'app_pref=dark; Path=/'],
      });
      res.end(JSON.stringify({ length }));
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, seen, server };
}

/** Sends `head` and then `chunks` (one every `everyMs`) on a raw connection; resolves with what came back when the server closes it. */
function rawExchange(url: string, head: string, chunks: string[], everyMs: number): Promise<{ answer: string; closedAfterMs: number }> {
  const { hostname, port } = new URL(url);
  const started = Date.now();
  return new Promise((resolve, reject) => {
    const socket = connect(Number(port), hostname);
    let answer = '';
    const timers: NodeJS.Timeout[] = [];
    socket.on('data', (d) => (answer += d.toString()));
    socket.on('error', () => {}); // a reset after the answer is what we expect
    socket.on('close', () => {
      timers.forEach(clearTimeout);
      resolve({ answer, closedAfterMs: Date.now() - started });
    });
    socket.on('connect', () => {
      socket.write(head);
      chunks.forEach((c, i) => timers.push(setTimeout(() => !socket.destroyed && socket.write(c), (i + 1) * everyMs)));
    });
    setTimeout(() => reject(new Error('the server kept the connection open')), 20_000).unref();
  });
}

describe.each(DIALECTS)('gateway edges (%s)', (dialect) => {
  let server: TestServer;
  let upstream: Awaited<ReturnType<typeof startUpstream>>;
  let app: { id: string; secret: string };
  let tmp: string;

  async function token(): Promise<string> {
    const res = await postForm(`${server.url}/connect/token`, { grant_type: 'client_credentials', scope: 'files.write sealed.write' }, { authorization: basic(app.id, app.secret) });
    return ((await res.json()) as { access_token: string }).access_token;
  }

  beforeAll(async () => {
    tmp = mkdtempSync(join(tmpdir(), 'tessera-edges-'));
    upstream = await startUpstream();
    server = await startTestServer(dialect, { env: { TESSERA_GATEWAY_BODY_TIMEOUT_MS: '2000', TESSERA_GATEWAY_IDLE_TIMEOUT_MS: '1000' } });
    const { services } = server.tessera;
    const files = { scopes: [{ name: 'files.write' }], routes: [{ methods: ['GET', 'POST', 'PUT'], path: '/**', scopes: ['files.write'] }] };
    await services.apis.create({ name: 'Files', basePath: '/files', upstream: `${upstream.url}/files`, ...files }, SYSTEM);
    await services.apis.create({ name: 'Sealed', basePath: '/sealed', upstream: `${upstream.url}/sealed`, forwardAuthorization: false, maxBodyBytes: 1000, scopes: [{ name: 'sealed.write' }], routes: [{ methods: ['GET', 'POST'], path: '/**', scopes: ['sealed.write'] }] }, SYSTEM);
    const c = await services.clients.create({ name: 'uploader', grantTypes: ['client_credentials'], scopes: ['files.write', 'sealed.write'] }, SYSTEM);
    app = { id: c.client_id, secret: c.client_secret! };
    for (let i = 0; i < 60 && server.tessera.gateway.size < 2; i++) await new Promise((r) => setTimeout(r, 50));
    expect(server.tessera.gateway.size).toBe(2);
  });
  afterAll(async () => {
    await server?.close();
    await new Promise((r) => upstream?.server.close(r));
    rmSync(tmp, { recursive: true, force: true });
  });

  test('a 2 MB upload from real curl (which sends Expect: 100-continue) reaches the upstream whole', async () => {
    const file = join(tmp, 'upload.bin');
    writeFileSync(file, Buffer.alloc(2 * 1024 * 1024, 5));
    const t = await token();
    upstream.seen.length = 0;
    const { stdout, stderr } = await promisify(execFile)('curl', ['-sS', '-v', '-X', 'PUT', '--data-binary', `@${file}`, '-H', `authorization: Bearer ${t}`, '-H', 'content-type: application/octet-stream', '-o', join(tmp, 'answer'), '-w', '%{http_code}', `${server.url}/files/upload.bin`]);
    expect(stderr).toMatch(/^> Expect: 100-continue/im);
    expect(stdout).toBe('200');
    expect(upstream.seen).toHaveLength(1);
    expect(upstream.seen[0]).toMatchObject({ url: '/files/upload.bin', bodyLength: 2 * 1024 * 1024 });
    expect(upstream.seen[0]!.headers.expect).toBeUndefined();
  });

  test("Tessera's own cookies never reach the upstream, and the upstream cannot set them", async () => {
    const t = await token();
    upstream.seen.length = 0;
    const res = await fetch(`${server.url}/files/x`, { headers: { authorization: `Bearer ${t}`, cookie: 'tessera_session=sid.sig; app_pref=light; tessera_csrf=c; tessera_upstream=u' } });
    expect(res.status).toBe(200);
    expect(upstream.seen[0]!.headers.cookie).toBe('app_pref=light');
    expect(res.headers.getSetCookie()).toEqual(['app_pref=dark; Path=/']);

    await fetch(`${server.url}/files/x`, { headers: { authorization: `Bearer ${t}`, cookie: 'tessera_session=sid.sig' } });
    expect(upstream.seen[1]!.headers.cookie).toBeUndefined();
  });

  test('Authorization reaches the upstream by default, and not from an API that turns it off (changes apply without a restart)', async () => {
    const t = await token();
    upstream.seen.length = 0;
    await fetch(`${server.url}/files/a`, { headers: { authorization: `Bearer ${t}` } });
    await fetch(`${server.url}/sealed/a`, { headers: { authorization: `Bearer ${t}` } });
    expect(upstream.seen.map((s) => [s.url, s.headers.authorization])).toEqual([
      ['/files/a', `Bearer ${t}`],
      ['/sealed/a', undefined],
    ]);
    expect(upstream.seen[1]!.headers['x-tessera-client-id']).toBe(app.id);
    const { services } = server.tessera;
    expect((await services.apis.show('Files')).forward_authorization).toBe(true);
    expect((await services.apis.update('Files', { forwardAuthorization: false }, SYSTEM)).forward_authorization).toBe(false);
    await expect
      .poll(async () => {
        upstream.seen.length = 0;
        await fetch(`${server.url}/files/a`, { headers: { authorization: `Bearer ${t}` } });
        return upstream.seen[0]?.headers.authorization ?? null;
      }, { timeout: 2000 })
      .toBeNull();
    await services.apis.update('Files', { forwardAuthorization: true }, SYSTEM);
  });

  test('a body over the API’s limit is refused with 413, announced or chunked; at the limit it passes', async () => {
    const t = await token();
    upstream.seen.length = 0;
    const announced = await fetch(`${server.url}/sealed/a`, { method: 'POST', headers: { authorization: `Bearer ${t}` }, body: Buffer.alloc(1001, 1) });
    expect(announced.status).toBe(413);
    expect(((await announced.json()) as { error: string }).error).toBe('payload_too_large');
    expect(upstream.seen).toHaveLength(0);

    const chunks = [Buffer.alloc(600, 1), Buffer.alloc(600, 2)];
    const stream = new ReadableStream<Uint8Array>({
      pull(controller) {
        const next = chunks.shift();
        if (next) controller.enqueue(next);
        else controller.close();
      },
    });
    const chunked = await fetch(`${server.url}/sealed/a`, { method: 'POST', headers: { authorization: `Bearer ${t}` }, body: stream, duplex: 'half' } as RequestInit);
    expect(chunked.status).toBe(413);
    expect(upstream.seen.filter((s) => s.bodyLength > 1000)).toHaveLength(0);

    const exact = await fetch(`${server.url}/sealed/a`, { method: 'POST', headers: { authorization: `Bearer ${t}` }, body: Buffer.alloc(1000, 1) });
    expect(exact.status).toBe(200);
    expect(upstream.seen.at(-1)!.bodyLength).toBe(1000);
    const { services } = server.tessera;
    await expect(services.apis.update('Sealed', { maxBodyBytes: 0 }, SYSTEM)).rejects.toThrow(/max_body_bytes/);
  });

  test('a body trickling in is cut at the body timeout, a stalled one at the idle timeout: 408 and the connection closed', async () => {
    const t = await token();
    const host = new URL(server.url).host;
    const head = `PUT /files/slow HTTP/1.1\r\nHost: ${host}\r\nAuthorization: Bearer ${t}\r\nContent-Length: 100\r\n\r\n`;
    // One byte every 400 ms: never idle for 1 s, but 100 bytes would take 40 s.
    const trickle = await rawExchange(server.url, head, Array.from({ length: 100 }, () => 'x'), 400);
    expect(trickle.answer).toMatch(/^HTTP\/1\.1 408 /);
    expect(trickle.answer).toContain('"error":"request_timeout"');
    expect(trickle.closedAfterMs).toBeGreaterThanOrEqual(1900);
    expect(trickle.closedAfterMs).toBeLessThan(5000);

    const stalled = await rawExchange(server.url, head, ['0123456789'], 50);
    expect(stalled.answer).toMatch(/^HTTP\/1\.1 408 /);
    expect(stalled.closedAfterMs).toBeGreaterThanOrEqual(900);
    expect(stalled.closedAfterMs).toBeLessThan(1900);
    expect(upstream.seen.filter((s) => s.url === '/files/slow')).toHaveLength(0);
  });
});
