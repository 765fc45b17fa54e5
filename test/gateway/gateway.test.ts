import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { generateKeyPairSync, createSign } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { DIALECTS } from '../support/databases.ts';
import { basic, postForm, startTestServer, type TestServer } from '../support/server.ts';
import { SYSTEM } from '../../src/audit/actor.ts';

/**
 * The gateway end to end, on SQLite and PostgreSQL: a real upstream records what reaches it;
 * Tessera admits requests by route and scope, forwards them with identity headers, and
 * answers per RFC 6750 without touching the upstream when it refuses.
 */
interface Seen {
  method: string;
  url: string;
  headers: IncomingHttpHeaders;
  bodyLength: number;
  body: string;
}

function movableClock() {
  let offset = 0;
  return { now: () => Date.now() + offset, advance: (s: number) => void (offset += s * 1000) };
}

async function startUpstream(): Promise<{ url: string; seen: Seen[]; server: Server; slow: Set<string>; closed: string[] }> {
  const seen: Seen[] = [];
  const slow = new Set<string>();
  const closed: string[] = [];
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const body = Buffer.concat(chunks);
      seen.push({ method: req.method!, url: req.url!, headers: req.headers, bodyLength: body.length, body: body.length < 10_000 ? body.toString() : '' });
      if (slow.has(req.url!)) return; // never answers
      if (req.url === '/odata/Stream') {
        // Starts an answer and never finishes it; records when the gateway hangs up.
        res.writeHead(200, { 'content-type': 'text/plain' });
        res.write('first chunk\n');
        res.on('close', () => closed.push(req.url!));
        return;
      }
      const payload = JSON.stringify({ '@odata.context': '$metadata#Account', value: [{ id: 1 }], echo: { method: req.method, url: req.url, length: body.length } });
      res.writeHead(req.method === 'POST' ? 201 : 200, { 'content-type': 'application/json', connection: 'keep-alive', 'x-upstream': 'yes' });
      res.end(payload);
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, seen, server, slow, closed };
}

describe.each(DIALECTS)('gateway (%s)', (dialect) => {
  let server: TestServer;
  let upstream: Awaited<ReturnType<typeof startUpstream>>;
  const clock = movableClock();
  let reader: { id: string; secret: string };
  let writer: { id: string; secret: string };
  let userId: string;

  async function token(c: { id: string; secret: string }, scope?: string): Promise<string> {
    const res = await postForm(`${server.url}/connect/token`, { grant_type: 'client_credentials', ...(scope ? { scope } : {}) }, { authorization: basic(c.id, c.secret) });
    const body = (await res.json()) as { access_token: string };
    return body.access_token;
  }

  const call = (path: string, init: RequestInit & { bearer?: string } = {}) =>
    fetch(`${server.url}${path}`, { ...init, headers: { ...(init.bearer ? { authorization: `Bearer ${init.bearer}` } : {}), ...(init.headers as Record<string, string>) } });

  beforeAll(async () => {
    upstream = await startUpstream();
    server = await startTestServer(dialect, { clock });
    const { services } = server.tessera;
    await services.apis.create({
      name: 'Accounts',
      basePath: '/0/odata',
      upstream: `${upstream.url}/odata`,
      timeoutMs: 500,
      scopes: [
        { name: 'accounts.read', description: 'Read your accounts' },
        { name: 'accounts.write', description: 'Create and change accounts' },
      ],
      routes: [
        { methods: ['GET', 'HEAD'], path: '/Account', scopes: ['accounts.read', 'accounts.write'] },
        { methods: ['GET'], path: '/Account({id})', scopes: ['accounts.read'] },
        { methods: ['POST'], path: '/Account', scopes: ['accounts.write'] },
        { methods: ['PUT'], path: '/Upload/**', scopes: ['accounts.write'] },
        { methods: ['GET'], path: '/Slow', scopes: ['accounts.read'] },
        { methods: ['GET'], path: '/Stream', scopes: ['accounts.read'] },
      ],
    }, SYSTEM);
    await services.apis.create({ name: 'Down', basePath: '/down', upstream: 'http://127.0.0.1:9', scopes: [{ name: 'down.read' }], routes: [{ methods: ['GET'], path: '/**', scopes: ['down.read'] }] }, SYSTEM);
    await services.apis.create({ name: 'Billing', basePath: '/billing', upstream: upstream.url, audience: 'https://billing.example.com', scopes: [{ name: 'billing.read' }], routes: [{ methods: ['GET'], path: '/**', scopes: ['billing.read'] }] }, SYSTEM);
    const user = await services.users.create({ username: 'svc', password: 'correct horse battery', roles: ['developer'] }, SYSTEM);
    userId = user.id;
    const r = await services.clients.create({ name: 'reader', grantTypes: ['client_credentials'], onBehalfOf: 'svc', scopes: ['accounts.read', 'down.read', 'billing.read'] }, SYSTEM);
    reader = { id: r.client_id, secret: r.client_secret! };
    const w = await services.clients.create({ name: 'writer', grantTypes: ['client_credentials'], onBehalfOf: 'svc', scopes: ['accounts.write'] }, SYSTEM);
    writer = { id: w.client_id, secret: w.client_secret! };
    // The in-memory table picks the APIs up through the change feed.
    for (let i = 0; i < 60 && server.tessera.gateway.size < 3; i++) await new Promise((r) => setTimeout(r, 50));
    expect(server.tessera.gateway.size).toBe(3);
  });
  afterAll(async () => {
    await server?.close();
    await new Promise((r) => upstream?.server.close(r));
  });

  test('GET is forwarded with path and query; identity headers set; spoofed ones removed', async () => {
    const t = await token(reader, 'accounts.read');
    upstream.seen.length = 0;
    const res = await call("/0/odata/Account('a%20b')?$top=5&$filter=name%20eq%20%27x%27", { bearer: t, headers: { 'x-tessera-subject': 'admin', 'x-tessera-scope': 'all', 'x-forwarded-for': '198.51.100.7' } });
    expect(res.status).toBe(200);
    expect(res.headers.get('x-upstream')).toBe('yes');
    const body = (await res.json()) as { value: unknown[] };
    expect(body.value).toHaveLength(1);
    const seen = upstream.seen.at(-1)!;
    expect(seen.url).toBe("/odata/Account('a%20b')?$top=5&$filter=name%20eq%20%27x%27");
    expect(seen.headers['x-tessera-subject']).toBe(userId);
    expect(seen.headers['x-tessera-client-id']).toBe(reader.id);
    expect(seen.headers['x-tessera-scope']).toBe('accounts.read');
    // Tessera trusts no proxy here: the client's own X-Forwarded-For is not passed on.
    expect(seen.headers['x-forwarded-for']).toBe('127.0.0.1');
    expect(seen.headers['x-forwarded-proto']).toBe('http');
    expect(seen.headers['x-forwarded-host']).toBe(new URL(server.url).host);
  });

  test('POST bodies stream through unchanged, beyond the protocol endpoints’ body limit', async () => {
    const t = await token(writer, 'accounts.write');
    const json = JSON.stringify({ name: 'Acme', note: 'ü€😀' });
    const created = await call('/0/odata/Account', { method: 'POST', bearer: t, body: json, headers: { 'content-type': 'application/json' } });
    expect(created.status).toBe(201);
    expect(upstream.seen.at(-1)!.body).toBe(json);
    const big = Buffer.alloc(3 * 1024 * 1024, 7);
    const put = await call('/0/odata/Upload/a/b.bin', { method: 'PUT', bearer: t, body: big, headers: { 'content-type': 'application/octet-stream' } });
    expect(put.status).toBe(200);
    expect(upstream.seen.at(-1)!).toMatchObject({ method: 'PUT', url: '/odata/Upload/a/b.bin', bodyLength: big.length });
  });

  test('refusals never reach the upstream: 401, 403 with scope, 404, 405, 400', async () => {
    const before = upstream.seen.length;
    const missing = await call('/0/odata/Account');
    expect(missing.status).toBe(401);
    const prm = `${server.url}/.well-known/oauth-protected-resource/0/odata`;
    // RFC 9728 §5.1: the challenge names the route's scopes and where the resource's metadata is.
    // RFC 9449 §7.1: beside the Bearer challenge, a DPoP one with the algorithms proofs may use.
    expect(missing.headers.get('www-authenticate')).toBe(`Bearer realm="tessera", scope="accounts.read accounts.write", resource_metadata="${prm}", DPoP algs="ES256 ES384 ES512 PS256 PS384 PS512 RS256 RS384 RS512 EdDSA Ed25519"`);

    const writerToken = await token(writer, 'accounts.write');
    const forbidden = await call('/0/odata/Account(1)', { bearer: writerToken });
    expect(forbidden.status).toBe(403);
    expect(forbidden.headers.get('www-authenticate')).toBe(`Bearer realm="tessera", error="insufficient_scope", error_description="the access token lacks a scope this resource requires", scope="accounts.read", resource_metadata="${prm}", DPoP algs="ES256 ES384 ES512 PS256 PS384 PS512 RS256 RS384 RS512 EdDSA Ed25519"`);
    expect(((await forbidden.json()) as { error: string }).error).toBe('insufficient_scope');
    // Any one of a route's scopes admits: the writer may list.
    expect((await call('/0/odata/Account', { bearer: writerToken })).status).toBe(200);
    const after200 = upstream.seen.length;

    const t = await token(reader, 'accounts.read');
    expect((await call('/0/odata/Nope', { bearer: t })).status).toBe(404);
    expect((await call('/0/odata/Account/', { bearer: t })).status).toBe(404);
    expect((await call('/0/odata', { bearer: t })).status).toBe(404);
    const wrongMethod = await call('/0/odata/Account(1)', { method: 'DELETE', bearer: t });
    expect(wrongMethod.status).toBe(405);
    expect(wrongMethod.headers.get('allow')).toBe('GET');
    expect((await call('/0/odata/Upload/../Account', { method: 'PUT', bearer: t })).status).toBeGreaterThanOrEqual(400);
    expect((await call('/0/odata/Upload/a%2F..%2F..%2Fx', { method: 'PUT', bearer: t })).status).toBe(400);
    const notBearer = await call('/0/odata/Account', { headers: { authorization: 'Basic abc' } });
    expect(notBearer.status).toBe(400);
    // The challenge is one valid header: the description's quotes are not left inside the quoted-string (RFC 6750 §3).
    expect(notBearer.headers.get('www-authenticate')).toBe(
      `Bearer realm="tessera", error="invalid_request", error_description="the Authorization header must be 'Bearer <token>' or 'DPoP <token>'", resource_metadata="${prm}", DPoP algs="ES256 ES384 ES512 PS256 PS384 PS512 RS256 RS384 RS512 EdDSA Ed25519"`,
    );
    expect(upstream.seen.length).toBe(after200);
    expect(after200).toBe(before + 1);
  });

  test('forged tokens: alg none, another key, tampered signature, wrong typ', async () => {
    const t = await token(reader, 'accounts.read');
    const [h, p] = t.split('.') as [string, string, string];
    const b64 = (o: object) => Buffer.from(JSON.stringify(o)).toString('base64url');
    const header = JSON.parse(Buffer.from(h, 'base64url').toString()) as Record<string, unknown>;
    const payload = JSON.parse(Buffer.from(p, 'base64url').toString()) as Record<string, unknown>;

    const none = `${b64({ ...header, alg: 'none' })}.${p}.`;
    const tampered = `${h}.${b64({ ...payload, scope: 'accounts.read accounts.write' })}.${t.split('.')[2]}`;
    const { privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    const foreignInput = `${h}.${b64({ ...payload, sub: 'someone-else' })}`;
    const foreignSig = createSign('SHA256').update(foreignInput).sign({ key: privateKey, dsaEncoding: 'ieee-p1363' }).toString('base64url');
    const foreign = `${foreignInput}.${foreignSig}`;
    const wrongTyp = `${b64({ ...header, typ: 'JWT' })}.${p}.${t.split('.')[2]}`;

    for (const [name, forged] of [['none', none], ['tampered', tampered], ['foreign key', foreign], ['typ', wrongTyp], ['garbage', 'x.y.z']] as const) {
      const res = await call('/0/odata/Account', { bearer: forged });
      expect(res.status, name).toBe(401);
      expect(res.headers.get('www-authenticate'), name).toContain('error="invalid_token"');
    }
  });

  test('revocation takes effect at the gateway within 1 s; expired tokens are refused', async () => {
    const t = await token(reader, 'accounts.read');
    expect((await call('/0/odata/Account', { bearer: t })).status).toBe(200);
    const revoked = await postForm(`${server.url}/connect/revocation`, { token: t }, { authorization: basic(reader.id, reader.secret) });
    expect(revoked.status).toBe(200);
    const started = Date.now();
    await expect.poll(async () => (await call('/0/odata/Account', { bearer: t })).status, { timeout: 1000, interval: 50 }).toBe(401);
    expect(Date.now() - started).toBeLessThan(1000);

    const short = await token(reader, 'accounts.read');
    clock.advance(3601);
    expect((await call('/0/odata/Account', { bearer: short })).status).toBe(401);
    clock.advance(-3601);
  });

  test('a secret regenerated or a user disabled stops tokens at the gateway', async () => {
    const t = await token(writer, 'accounts.write');
    expect((await call('/0/odata/Account', { bearer: t })).status).toBe(200);
    const rotated = await server.tessera.services.clients.rotateSecret(writer.id, SYSTEM);
    writer = { id: writer.id, secret: rotated.client_secret! };
    expect((await call('/0/odata/Account', { bearer: t })).status).toBe(401);
  });

  test('upstream down → 502, slow → 504, both JSON', async () => {
    const t = await token(reader, 'down.read');
    const down = await call('/down/anything', { bearer: t });
    expect(down.status).toBe(502);
    expect(((await down.json()) as { error: string }).error).toBe('bad_gateway');
    // Tessera's own answer, written like its refusals: nosniff, no-store and the request id.
    expect(down.headers.get('x-content-type-options')).toBe('nosniff');
    expect(down.headers.get('cache-control')).toBe('no-store');
    expect(down.headers.get('x-request-id')).toBeTruthy();
    upstream.slow.add('/odata/Slow');
    const rt = await token(reader, 'accounts.read');
    const started = Date.now();
    const slow = await call('/0/odata/Slow', { bearer: rt });
    expect(slow.status).toBe(504);
    expect(((await slow.json()) as { error: string }).error).toBe('gateway_timeout');
    expect(slow.headers.get('x-content-type-options')).toBe('nosniff');
    expect(slow.headers.get('x-request-id')).toBeTruthy();
    expect(Date.now() - started).toBeLessThan(3000);
  });

  test('answers stream to the client as they come; a client that hangs up stops the upstream request', async () => {
    const t = await token(reader, 'accounts.read');
    const abort = new AbortController();
    const res = await fetch(`${server.url}/0/odata/Stream`, { headers: { authorization: `Bearer ${t}` }, signal: abort.signal });
    expect(res.status).toBe(200);
    const reader_ = res.body!.getReader();
    expect(new TextDecoder().decode((await reader_.read()).value)).toBe('first chunk\n');
    abort.abort();
    const deadline = Date.now() + 3000;
    while (!upstream.closed.includes('/odata/Stream') && Date.now() < deadline) await new Promise((r) => setTimeout(r, 25));
    expect(upstream.closed).toContain('/odata/Stream');
  });

  test('an API with an audience admits only tokens meant for it', async () => {
    const withBilling = await token(reader, 'billing.read');
    const payload = JSON.parse(Buffer.from(withBilling.split('.')[1]!, 'base64url').toString()) as { aud: string[] };
    expect(payload.aud).toEqual([server.url, 'https://billing.example.com']);
    expect((await call('/billing/invoices', { bearer: withBilling })).status).toBe(200);
  });

  test('changes to an API apply without a restart; deleted APIs answer 404 from Tessera itself', async () => {
    const { services } = server.tessera;
    await services.apis.update('Accounts', { routes: [{ methods: ['GET'], path: '/Account', scopes: ['accounts.write'] }] }, SYSTEM);
    const t = await token(reader, 'accounts.read');
    await expect.poll(async () => (await call('/0/odata/Account', { bearer: t })).status, { timeout: 2000 }).toBe(403);
    await services.apis.delete('Down', SYSTEM);
    await expect.poll(async () => (await call('/down/x')).status, { timeout: 2000 }).toBe(404);
  });
});

describe('gateway behind a trusted proxy: X-Forwarded-For', () => {
  test('the upstream gets the client Tessera recorded and the trusted hops, never entries the client wrote beyond them', async () => {
    const upstream = await startUpstream();
    const server = await startTestServer('sqlite', { env: { TESSERA_TRUST_PROXY: '127.0.0.1/32' } });
    try {
      const { services } = server.tessera;
      await services.apis.create({ name: 'Echo', basePath: '/echo', upstream: upstream.url, scopes: [{ name: 'echo.read' }], routes: [{ methods: ['GET'], path: '/**', scopes: ['echo.read'] }] }, SYSTEM);
      await services.users.create({ username: 'svc', password: 'correct horse battery', roles: ['developer'] }, SYSTEM);
      const app = await services.clients.create({ name: 'echo', grantTypes: ['client_credentials'], onBehalfOf: 'svc', scopes: ['echo.read'] }, SYSTEM);
      for (let i = 0; i < 60 && server.tessera.gateway.size < 1; i++) await new Promise((r) => setTimeout(r, 50));
      const tok = await postForm(`${server.url}/connect/token`, { grant_type: 'client_credentials', scope: 'echo.read' }, { authorization: basic(app.client_id, app.client_secret!) });
      const { access_token } = (await tok.json()) as { access_token: string };
      // The proxy at 127.0.0.1 (trusted) says the client is 198.51.100.7; what the client
      // claimed before that (6.6.6.6) is its own word and is dropped.
      const res = await fetch(`${server.url}/echo/x`, { headers: { authorization: `Bearer ${access_token}`, 'x-forwarded-for': '6.6.6.6, 198.51.100.7' } });
      expect(res.status).toBe(200);
      expect(upstream.seen.at(-1)!.headers['x-forwarded-for']).toBe('198.51.100.7, 127.0.0.1');
    } finally {
      await server.close();
      await new Promise((r) => upstream.server.close(r));
    }
  });
});
