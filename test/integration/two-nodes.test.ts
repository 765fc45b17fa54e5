import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { postForm, startTestServer, type TestServer } from '../support/server.ts';
import { SYSTEM } from '../../src/audit/actor.ts';

async function eventually<T>(fn: () => Promise<T>, ok: (v: T) => boolean, ms: number): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    const v = await fn();
    if (ok(v) || Date.now() > deadline) return v;
    await new Promise((r) => setTimeout(r, 50));
  }
}

// DESIGN.md "Scaling out": nodes share only PostgreSQL; a change made through one node
// reaches the others within the change-feed poll interval.
describe('two nodes on one PostgreSQL', () => {
  let a: TestServer;
  let b: TestServer;
  let app: { client_id: string; client_secret: string };

  beforeAll(async () => {
    a = await startTestServer('postgres', { env: { TESSERA_CHANGE_POLL_MS: '200' } });
    b = await startTestServer('postgres', {
      databaseUrl: a.databaseUrl,
      env: { TESSERA_CHANGE_POLL_MS: '200', TESSERA_KEY_ENCRYPTION_KEY_FILE: a.env.TESSERA_KEY_ENCRYPTION_KEY_FILE! },
    });
    // Both nodes must present one issuer, as behind a load balancer.
    b.tessera.setIssuer(a.url);
    a.tessera.setIssuer(a.url);
    const created = await a.tessera.services.clients.create({ name: 'Batch', grantTypes: ['client_credentials'] }, SYSTEM);
    app = { client_id: created.client_id, client_secret: created.client_secret! };
  });
  afterAll(async () => {
    await b?.close();
    await a?.close();
  });

  const token = async (node: TestServer) =>
    ((await (await postForm(`${node.url}/connect/token`, { grant_type: 'client_credentials', ...app })).json()) as { access_token: string }).access_token;
  const introspect = async (node: TestServer, t: string) => (await (await postForm(`${node.url}/connect/introspect`, { token: t, ...app })).json()) as { active: boolean };

  test('a token issued by one node is accepted by the other', async () => {
    const t = await token(a);
    expect(await introspect(b, t)).toMatchObject({ active: true });
  });

  test('a token revoked through one node is refused by the other within 1 s', async () => {
    const t = await token(b);
    expect(await introspect(b, t)).toMatchObject({ active: true });
    expect((await postForm(`${a.url}/connect/revocation`, { token: t, ...app })).status).toBe(200);
    const started = Date.now();
    const seen = await eventually(() => introspect(b, t), (r) => r.active === false, 2000);
    expect(seen).toEqual({ active: false });
    expect(Date.now() - started).toBeLessThan(1000);
  });

  test('a secret regenerated through one node is refused by the other', async () => {
    const old = { ...app };
    const rotated = await a.tessera.services.clients.rotateSecret(app.client_id, SYSTEM);
    app = { client_id: app.client_id, client_secret: rotated.client_secret! };
    const res = await eventually(
      () => postForm(`${b.url}/connect/token`, { grant_type: 'client_credentials', ...old }),
      (r) => r.status === 401,
      2000,
    );
    expect(res.status).toBe(401);
    expect((await postForm(`${b.url}/connect/token`, { grant_type: 'client_credentials', ...app })).status).toBe(200);
  });

  test('keys rotated through one node are published and used by the other', async () => {
    const before = JSON.parse(b.tessera.keyRing.jwksJson()).keys.length;
    await a.tessera.services.keys.rotate(SYSTEM);
    await eventually(async () => JSON.parse(b.tessera.keyRing.jwksJson()).keys.length, (n) => n > before, 2000);
    const t = await token(b);
    const kid = JSON.parse(Buffer.from(t.split('.')[0]!, 'base64url').toString()).kid;
    expect(JSON.parse(a.tessera.keyRing.jwksJson()).keys.map((k: { kid: string }) => k.kid)).toContain(kid);
    expect(await introspect(a, t)).toMatchObject({ active: true });
  });
});
