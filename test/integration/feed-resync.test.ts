import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { SYSTEM } from '../../src/audit/actor.ts';
import { sha256 } from '../../src/lib/crypto.ts';
import { RESYNC_AFTER_MS } from '../../src/storage/change-feed.ts';
import { DIALECTS } from '../support/databases.ts';
import { basic, postForm, startTestServer, type TestServer } from '../support/server.ts';

/**
 * A node that has not read the change feed for longer than RESYNC_AFTER_MS (its database
 * unreachable, its process paused) may have missed events: the cleanup deletes them after a
 * day. Its next successful poll reloads every cache instead of trusting the events. Here the
 * "missed" events are changes written without one (as if purged): a new app secret and a
 * revoked token id.
 */
describe.each(DIALECTS)('change feed resync after a long gap (%s)', (dialect) => {
  let server: TestServer;
  let app: { client_id: string; client_secret: string };

  beforeAll(async () => {
    server = await startTestServer(dialect);
    const created = await server.tessera.services.clients.create({ name: 'svc', grantTypes: ['client_credentials'] }, SYSTEM);
    app = { client_id: created.client_id, client_secret: created.client_secret! };
    // The feed's own timers off: the tests poll by hand, so that the gaps they make are the only ones.
    await server.tessera.feed.stop();
  });
  afterAll(async () => server?.close());

  // Each test measures a gap and restores the threshold.
  const withThresholdRestored = async (body: () => Promise<void>) => {
    try {
      await body();
    } finally {
      server.tessera.feed.resyncAfterMs = RESYNC_AFTER_MS;
    }
  };

  const token = (secret: string) => postForm(`${server.url}/connect/token`, { grant_type: 'client_credentials' }, { authorization: basic(app.client_id, secret) });
  const active = async (accessToken: string, secret: string) =>
    ((await (await postForm(`${server.url}/connect/introspect`, { token: accessToken }, { authorization: basic(app.client_id, secret) })).json()) as { active: boolean }).active;

  test('a poll after a gap longer than RESYNC_AFTER_MS reloads the apps and revoked token ids it held; a short pause does not', () =>
    withThresholdRestored(async () => {
      const { feed } = server.tessera;
      expect(feed.resyncAfterMs).toBe(RESYNC_AFTER_MS);
      const issued = (await (await token(app.client_secret)).json()) as { access_token: string };
      expect(await active(issued.access_token, app.client_secret)).toBe(true);
      const jti = JSON.parse(Buffer.from(issued.access_token.split('.')[1]!, 'base64url').toString()).jti as string;

      // Written without change events, as if the events had been purged while the node was away.
      const { db } = server.tessera.database;
      const oldSecret = app.client_secret;
      app.client_secret = `new-${randomUUID()}`;
      await db.updateTable('clients').set({ secret_hash: sha256(app.client_secret) }).where('id', '=', app.client_id).execute();
      const now = Math.floor(Date.now() / 1000);
      await db.insertInto('revoked_tokens').values({ jti, client_id: app.client_id, expires_at: now + 3600, revoked_at: now }).execute();

      // Polls as usual: nothing to deliver, so the node still holds what it had.
      await feed.poll();
      expect(feed.resyncs).toBe(0);
      expect((await token(oldSecret)).status).toBe(200);
      expect(await active(issued.access_token, oldSecret)).toBe(true);

      // The same after a gap longer than the threshold (shortened here: the test cannot wait an hour).
      feed.resyncAfterMs = 50;
      await new Promise((r) => setTimeout(r, 120));
      await feed.poll();
      expect(feed.resyncs).toBe(1);
      expect(server.log.messages('warn')).toContain('change feed: not read for longer than events are certain to be kept; reloading every cache');
      expect((await token(oldSecret)).status).toBe(401);
      expect((await token(app.client_secret)).status).toBe(200);
      expect(await active(issued.access_token, app.client_secret)).toBe(false);
  }));

  test('a cache that fails to reload is tried again at the next poll', () =>
    withThresholdRestored(async () => {
      const { feed } = server.tessera;
      let calls = 0;
      feed.onResync(() => {
        calls++;
        if (calls === 1) throw new Error('database went away again');
      });
      const before = feed.resyncs;
      feed.resyncAfterMs = 50;
      await new Promise((r) => setTimeout(r, 120));
      await feed.poll();
      expect(server.log.messages('error')).toContain('change feed: a cache could not reload after a gap; trying again at the next poll');
      await feed.poll();
      expect([feed.resyncs - before, calls]).toEqual([2, 2]);
      await feed.poll();
      expect(feed.resyncs - before).toBe(2);
  }));
});
