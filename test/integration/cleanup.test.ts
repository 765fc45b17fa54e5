import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { SYSTEM } from '../../src/audit/actor.ts';
import { DIALECTS } from '../support/databases.ts';
import { basic, postForm, startTestServer, type TestServer } from '../support/server.ts';

/**
 * The cleanup runs by itself on a serving node (issue 12): with a one-second interval, expired
 * rows written behind the server's back disappear, live ones stay, and the node logs what it
 * removed.
 */
describe.each(DIALECTS)('the cleanup job on a running server (%s)', (dialect) => {
  let server: TestServer;

  beforeAll(async () => {
    server = await startTestServer(dialect, { env: { TESSERA_CLEANUP_INTERVAL_SECONDS: '1', TESSERA_AUDIT_RETENTION_DAYS: '7' } });
  });
  afterAll(async () => server?.close());

  async function until<T>(what: string, check: () => Promise<T | undefined> | T | undefined, timeoutMs = 15_000): Promise<T> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const value = await check();
      if (value !== undefined) return value;
      if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
      await new Promise((r) => setTimeout(r, 100));
    }
  }

  test('removes expired rows, keeps live ones, logs how many it removed', async () => {
    const { db } = server.tessera.database;
    const now = Math.floor(Date.now() / 1000);
    const user = await server.tessera.services.users.create({ username: 'cleanup-user', password: 'correct horse battery staple', roles: ['developer'] }, SYSTEM);
    const session = (id: string, expiresAt: number) => ({
      id_hash: id, sid: randomUUID(), user_id: user.id, auth_time: expiresAt - 3600, created_at: expiresAt - 3600, expires_at: expiresAt, last_seen_at: expiresAt - 3600, revoked_at: null, ip: null, user_agent: null,
    });
    await db.insertInto('sessions').values([session('expired-1', now - 2 * 86_400), session('expired-2', now - 3 * 86_400), session('live', now + 3600)]).execute();
    await db.insertInto('revoked_tokens').values([{ jti: 'old-jti', client_id: null, expires_at: now - 3600, revoked_at: now - 7200 }]).execute();
    await db
      .insertInto('audit_events')
      .values({ id: `${String((now - 8 * 86_400) * 1000).padStart(15, '0')}-${randomUUID()}`, at: now - 8 * 86_400, actor: 'system', action: 'user.update', target_type: 'user', target_id: user.id, ip: null, details: '{}' })
      .execute();

    // A token revoked through the protocol stays on the denylist: it has not expired.
    const job = await server.tessera.services.clients.create({ name: 'cleanup job', grantTypes: ['client_credentials'], onBehalfOf: 'cleanup-user' }, SYSTEM);
    const auth = { authorization: basic(job.client_id, job.client_secret!) };
    const token = ((await (await postForm(`${server.url}/connect/token`, { grant_type: 'client_credentials' }, auth)).json()) as { access_token: string }).access_token;
    expect((await postForm(`${server.url}/connect/revocation`, { token }, auth)).status).toBe(200);

    // The rows may go in one run or (written between two runs) in two: add up what the log says.
    const removed = () => {
      const total: Record<string, number> = {};
      for (const e of server.log.entries.filter((e) => e.level === 'info' && /^cleanup removed \d+ expired rows$/.test(e.message))) {
        for (const [table, n] of Object.entries(e.context.removed as Record<string, number>)) total[table] = (total[table] ?? 0) + n;
      }
      return total;
    };
    await until('the cleanup log lines', () => (removed().sessions === 2 && removed().revoked_tokens === 1 && removed().audit_events === 1 ? true : undefined));
    expect(removed()).toEqual({ sessions: 2, revoked_tokens: 1, audit_events: 1 });
    const sessions = await db.selectFrom('sessions').select('id_hash').execute();
    expect(sessions.map((s) => s.id_hash)).toEqual(['live']);
    expect(await db.selectFrom('revoked_tokens').select('jti').where('jti', '=', 'old-jti').executeTakeFirst()).toBeUndefined();
    expect((await db.selectFrom('revoked_tokens').select('jti').execute()).length).toBe(1);
    // The audit trail keeps what is newer than the retention (the user's creation, the revocation).
    expect((await server.tessera.services.audit.list({ targetId: user.id })).items.map((e) => e.action)).toEqual(['user.create']);
    // The revoked token is still refused, and nothing failed.
    expect(await (await postForm(`${server.url}/connect/introspect`, { token }, auth)).json()).toEqual({ active: false });
    expect(server.log.messages('error')).toEqual([]);
  });
});
