import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createRemoteJWKSet, decodeJwt, jwtVerify } from 'jose';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { SYSTEM } from '../../src/audit/actor.ts';
import { DIALECTS } from '../support/databases.ts';
import { basic, postForm, startTestServer, type TestServer } from '../support/server.ts';

/**
 * An API whose `upstream_token` is `exchange` (issue #17, RFC 8693), on SQLite and
 * PostgreSQL: after the caller's token passes, the upstream gets a token minted for its own
 * audience — same user, the calling app in `act`, only this API's scopes, short-lived — and
 * never the caller's token. One is minted per caller token and reused while it lives.
 */
describe.each(DIALECTS)('gateway: exchange the caller’s token for an upstream token (%s)', (dialect) => {
  let server: TestServer;
  let upstream: Server;
  let upstreamUrl: string;
  const seen: IncomingHttpHeaders[] = [];
  let app: { id: string; secret: string };
  let aliceId: string;

  beforeAll(async () => {
    upstream = createServer((req, res) => {
      seen.push(req.headers);
      res.writeHead(200, { 'content-type': 'application/json' }).end('{"ok":true}');
    });
    await new Promise<void>((r) => upstream.listen(0, '127.0.0.1', r));
    upstreamUrl = `http://127.0.0.1:${(upstream.address() as AddressInfo).port}`;
    server = await startTestServer(dialect);
    const { services } = server.tessera;
    await services.apis.create(
      {
        name: 'Ledger',
        basePath: '/ledger',
        upstream: `${upstreamUrl}/ledger`,
        upstreamToken: 'exchange',
        upstreamAudience: 'urn:example:ledger-backend',
        scopes: [{ name: 'ledger.read' }, { name: 'ledger.write' }],
        routes: [{ methods: ['GET'], path: '/**', scopes: ['ledger.read'] }],
      },
      SYSTEM,
    );
    await services.apis.create({ name: 'Notes', basePath: '/notes', upstream: `${upstreamUrl}/notes`, scopes: [{ name: 'notes.read' }], routes: [{ methods: ['GET'], path: '/**', scopes: ['notes.read'] }] }, SYSTEM);
    aliceId = (await services.users.create({ username: 'alice', password: 'correct horse battery staple', roles: ['developer'] }, SYSTEM)).id;
    const created = await services.clients.create({ name: 'caller', grantTypes: ['client_credentials'], onBehalfOf: 'alice', scopes: ['ledger.read', 'notes.read'] }, SYSTEM);
    app = { id: created.client_id, secret: created.client_secret! };
    for (let i = 0; i < 60 && server.tessera.gateway.size < 2; i++) await new Promise((r) => setTimeout(r, 50));
  });
  afterAll(async () => {
    await server?.close();
    await new Promise((r) => upstream?.close(r));
  });

  async function clientToken(): Promise<string> {
    const res = await postForm(`${server.url}/connect/token`, { grant_type: 'client_credentials', scope: 'ledger.read notes.read' }, { authorization: basic(app.id, app.secret) });
    return ((await res.json()) as { access_token: string }).access_token;
  }
  async function call(path: string, token: string): Promise<{ status: number; headers: IncomingHttpHeaders | undefined }> {
    const before = seen.length;
    const res = await fetch(`${server.url}${path}`, { headers: { authorization: `Bearer ${token}` } });
    await res.arrayBuffer();
    return { status: res.status, headers: seen.length > before ? seen.at(-1) : undefined };
  }
  const bearer = (headers: IncomingHttpHeaders | undefined) => /^Bearer (.+)$/.exec(headers?.authorization ?? '')?.[1];

  test('the upstream gets a token for its audience, never the client’s', async () => {
    const token = await clientToken();
    const { status, headers } = await call('/ledger/entries', token);
    expect(status).toBe(200);
    const upstreamToken = bearer(headers)!;
    expect(upstreamToken).toBeDefined();
    expect(upstreamToken).not.toBe(token);
    // Nowhere in what reached the upstream.
    expect(JSON.stringify(headers)).not.toContain(token);

    // Signed by Tessera (the upstream verifies with the JWKS), for the upstream's audience.
    const jwks = createRemoteJWKSet(new URL(`${server.url}/.well-known/jwks.json`));
    const { payload, protectedHeader } = await jwtVerify(upstreamToken, jwks, { issuer: server.url, audience: 'urn:example:ledger-backend', typ: 'at+jwt' });
    expect(protectedHeader.alg).toBe('ES256');
    const original = decodeJwt(token);
    expect(payload.sub).toBe(aliceId);
    expect(payload.act).toEqual({ sub: app.id });
    expect(payload.client_id).toBe(app.id);
    // Only this API's scopes: notes.read stays behind.
    expect(payload.scope).toBe('ledger.read');
    expect(payload.exp!).toBeLessThanOrEqual(Math.min(original.exp!, payload.iat! + 300));
    expect(payload.jti).not.toBe(original.jti);
    expect(payload.exchanged_from).toEqual([original.jti]);
    expect(headers!['x-tessera-subject']).toBe(aliceId);

    // An upstream that introspects its token sees it end when the caller's token is revoked.
    const introspect = async () => ((await (await postForm(`${server.url}/connect/introspect`, { token: upstreamToken }, { authorization: basic(app.id, app.secret) })).json()) as { active: boolean }).active;
    expect(await introspect()).toBe(true);
    expect((await postForm(`${server.url}/connect/revocation`, { token }, { authorization: basic(app.id, app.secret) })).status).toBe(200);
    expect(await introspect()).toBe(false);
  });

  test('reused for the same caller token while it lives; another caller token gets its own', async () => {
    const token = await clientToken();
    const stats = server.tessera.gateway.upstreamTokens.stats;
    const misses = stats.misses;
    const first = bearer((await call('/ledger/a', token)).headers);
    const second = bearer((await call('/ledger/b', token)).headers);
    expect(second).toBe(first);
    expect(stats.misses).toBe(misses + 1);
    expect(stats.hits).toBeGreaterThanOrEqual(1);
    const other = bearer((await call('/ledger/a', await clientToken())).headers);
    expect(other).not.toBe(first);
  });

  test('the minted token opens no API at the gateway, and a revoked caller token reaches nothing', async () => {
    const token = await clientToken();
    const minted = bearer((await call('/ledger/x', token)).headers)!;
    // An upstream replaying what it got at another API behind the gateway: not meant for it.
    const replay = await fetch(`${server.url}/notes/x`, { headers: { authorization: `Bearer ${minted}` } });
    expect(replay.status).toBe(401);
    expect(replay.headers.get('www-authenticate')).toContain('invalid_token');

    expect((await postForm(`${server.url}/connect/revocation`, { token }, { authorization: basic(app.id, app.secret) })).status).toBe(200);
    const after = await call('/ledger/x', token);
    expect(after.status).toBe(401);
    expect(after.headers).toBeUndefined();
  });

  test('forward and none still do what they did; exchange without an audience names the upstream URL', async () => {
    const { services } = server.tessera;
    const token = await clientToken();
    // Forwarding is the default for Notes: the client's own token, as before.
    expect(bearer((await call('/notes/x', token)).headers)).toBe(token);

    await services.apis.update('Ledger', { upstreamToken: 'none' }, SYSTEM);
    await waitFor(() => server.tessera.gateway.resources.byBasePath('/ledger')?.api.upstreamToken === 'none');
    const none = await call('/ledger/x', token);
    expect(none.status).toBe(200);
    expect(none.headers!.authorization).toBeUndefined();
    expect((await services.apis.show('Ledger')).forward_authorization).toBe(false);

    await services.apis.update('Ledger', { upstreamToken: 'exchange', upstreamAudience: null }, SYSTEM);
    await waitFor(() => server.tessera.gateway.resources.byBasePath('/ledger')?.api.upstreamToken === 'exchange');
    const minted = bearer((await call('/ledger/x', token)).headers)!;
    expect(decodeJwt(minted).aud).toBe(`${upstreamUrl}/ledger`);
    expect(await services.apis.show('Ledger')).toMatchObject({ upstream_token: 'exchange', upstream_audience: null, forward_authorization: false });

    await expect(services.apis.update('Ledger', { upstreamToken: 'sometimes' }, SYSTEM)).rejects.toThrow(/upstream_token/);
    await expect(services.apis.update('Ledger', { upstreamToken: 'forward', forwardAuthorization: true }, SYSTEM)).rejects.toThrow(/not both/);
    await services.apis.update('Ledger', { upstreamAudience: 'urn:example:ledger-backend' }, SYSTEM);
  });
});

async function waitFor(condition: () => boolean): Promise<void> {
  for (let i = 0; i < 100 && !condition(); i++) await new Promise((r) => setTimeout(r, 50));
  expect(condition()).toBe(true);
}
