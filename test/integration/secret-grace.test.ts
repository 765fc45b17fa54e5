import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { SYSTEM } from '../../src/audit/actor.ts';
import type { Clock } from '../../src/clock.ts';
import { DIALECTS } from '../support/databases.ts';
import { basic, postForm, startTestServer, type TestServer } from '../support/server.ts';

/**
 * Secret rotation (issue 12): immediate by default — the old secret and every earlier token
 * stop working — or with a grace period during which the old secret still authenticates the
 * app and earlier tokens stay valid. On SQLite and PostgreSQL, through the running server.
 */
describe.each(DIALECTS)('rotating an app secret (%s)', (dialect) => {
  let server: TestServer;
  let offset = 0;
  const clock: Clock = { now: () => Date.now() + offset };

  beforeAll(async () => {
    server = await startTestServer(dialect, { clock });
    await server.tessera.services.users.create({ username: 'svc-batch', password: 'correct horse battery', roles: ['developer'] }, SYSTEM);
  });
  afterAll(async () => server?.close());

  async function newApp(name: string): Promise<{ id: string; secret: string }> {
    const created = await server.tessera.services.clients.create({ name, grantTypes: ['client_credentials'], onBehalfOf: 'svc-batch' }, SYSTEM);
    return { id: created.client_id, secret: created.client_secret! };
  }
  const tokenWith = (id: string, secret: string) => postForm(`${server.url}/connect/token`, { grant_type: 'client_credentials' }, { authorization: basic(id, secret) });
  async function accessToken(id: string, secret: string): Promise<string> {
    const res = await tokenWith(id, secret);
    expect(res.status).toBe(200);
    return ((await res.json()) as { access_token: string }).access_token;
  }
  async function active(token: string, id: string, secret: string): Promise<boolean> {
    const res = await postForm(`${server.url}/connect/introspect`, { token }, { authorization: basic(id, secret) });
    expect(res.status).toBe(200);
    return ((await res.json()) as { active: boolean }).active;
  }

  test('by default the old secret and every earlier token stop working at once', async () => {
    const app = await newApp('immediate');
    const before = await accessToken(app.id, app.secret);
    offset += 1000; // a later second than the token's iat
    const rotated = await server.tessera.services.clients.rotateSecret(app.id, SYSTEM);
    expect(rotated.previous_secret_expires_at).toBeNull();
    expect((await tokenWith(app.id, app.secret)).status).toBe(401);
    expect(await active(before, app.id, rotated.client_secret)).toBe(false);
    await accessToken(app.id, rotated.client_secret);
  });

  test('with a grace period the old secret works until it ends, earlier tokens stay valid, then only the new one works', async () => {
    const app = await newApp('graceful');
    const before = await accessToken(app.id, app.secret);
    offset += 1000;
    // The rotation reads the clock itself: the second it saw lies between the two readings here
    // (a CI run crossed a second boundary between the call and a reading taken after it).
    const startedAt = Math.floor(clock.now() / 1000) * 1000;
    const rotated = await server.tessera.services.clients.rotateSecret(app.id, SYSTEM, { graceSeconds: 600 });
    const endedAt = Math.floor(clock.now() / 1000) * 1000;
    const graceEnds = Date.parse(rotated.previous_secret_expires_at!);
    expect(graceEnds).toBeGreaterThanOrEqual(startedAt + 600_000);
    expect(graceEnds).toBeLessThanOrEqual(endedAt + 600_000);
    expect(graceEnds % 1000).toBe(0);
    // Both secrets authenticate during the grace, at the token and introspection endpoints.
    const withOld = await accessToken(app.id, app.secret);
    await accessToken(app.id, rotated.client_secret);
    expect(await active(before, app.id, rotated.client_secret)).toBe(true);
    expect(await active(withOld, app.id, app.secret)).toBe(true);
    expect((await tokenWith(app.id, 'not-the-secret')).status).toBe(401);

    offset += 601_000;
    expect((await tokenWith(app.id, app.secret)).status).toBe(401);
    await accessToken(app.id, rotated.client_secret);
    // The app's view no longer shows a grace once a later immediate rotation ends it.
    const again = await server.tessera.services.clients.rotateSecret(app.id, SYSTEM);
    expect(again.previous_secret_expires_at).toBeNull();
    expect((await tokenWith(app.id, rotated.client_secret)).status).toBe(401);
  });

  test('a second grace rotation keeps only the secret just replaced; a grace out of range is refused', async () => {
    const app = await newApp('twice');
    const second = await server.tessera.services.clients.rotateSecret(app.id, SYSTEM, { graceSeconds: 600 });
    const third = await server.tessera.services.clients.rotateSecret(app.id, SYSTEM, { graceSeconds: 600 });
    expect((await tokenWith(app.id, app.secret)).status).toBe(401);
    await accessToken(app.id, second.client_secret);
    await accessToken(app.id, third.client_secret);
    await expect(server.tessera.services.clients.rotateSecret(app.id, SYSTEM, { graceSeconds: 31 * 86_400 })).rejects.toMatchObject({ field: 'grace_seconds' });
    await expect(server.tessera.services.clients.rotateSecret(app.id, SYSTEM, { graceSeconds: -1 })).rejects.toMatchObject({ field: 'grace_seconds' });
    await accessToken(app.id, third.client_secret);
  });
});
