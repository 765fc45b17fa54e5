import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { ChangeFeed, COMMIT_CHECK_MS, publishChange } from '../../src/storage/change-feed.ts';
import { migrateToLatest, openDatabase, type DatabaseHandle } from '../../src/storage/database.ts';
import { commitsByOthers } from '../../src/storage/sqlite-data-version.ts';
import { createTestDatabase, type TestDatabase } from '../support/databases.ts';
import { recordingLogger } from '../support/logger.ts';

/**
 * SQLite has no NOTIFY: a running server learns of a change made by another process (the CLI)
 * by asking its connection whether another one committed (`PRAGMA data_version`) every
 * COMMIT_CHECK_MS, and polls at once when one did — not at the next `changePollMs`.
 */
describe('SQLite change feed: commits by other connections', () => {
  let database: TestDatabase;
  let server: DatabaseHandle;
  let cli: DatabaseHandle;
  const now = () => Math.floor(Date.now() / 1000);

  beforeAll(async () => {
    database = await createTestDatabase('sqlite');
    server = openDatabase(database.url);
    await migrateToLatest(server);
    cli = openDatabase(database.url);
  });
  afterAll(async () => {
    await cli?.close();
    await server?.close();
    await database?.drop();
  });

  test('commitsByOthers: yes once after another connection commits; never for its own commits', async () => {
    const othersCommitted = commitsByOthers(server.sqlite!);
    expect(othersCommitted()).toBe(false);
    await publishChange(server.db, 'api', 'own', now());
    expect(othersCommitted()).toBe(false);
    await publishChange(cli.db, 'api', 'other', now());
    expect(othersCommitted()).toBe(true);
    expect(othersCommitted()).toBe(false);
  });

  test('a change committed by another connection reaches the feed within milliseconds, with the poll an hour away', async () => {
    const seen: Array<[string, string, number]> = [];
    const started = performance.now();
    const log = recordingLogger();
    const checked = new ChangeFeed(server.db, log, undefined, commitsByOthers(server.sqlite!));
    const pollOnly = new ChangeFeed(server.db, log, undefined);
    checked.subscribe((kind, key) => seen.push([kind, key, performance.now() - started]));
    pollOnly.subscribe((kind, key) => seen.push([`poll-only ${kind}`, key, performance.now() - started]));
    await checked.start(3_600_000);
    await pollOnly.start(3_600_000);
    try {
      await publishChange(cli.db, 'api', 'Accounts', now());
      const committedAt = performance.now() - started;
      for (let i = 0; i < 100 && seen.length === 0; i++) await new Promise((r) => setTimeout(r, 10));
      // The feed without the check still waits for its hourly poll: the check did the work.
      await new Promise((r) => setTimeout(r, 5 * COMMIT_CHECK_MS));
      expect(seen.map(([kind, key]) => [kind, key])).toEqual([['api', 'Accounts']]);
      expect(seen[0]![2] - committedAt).toBeLessThan(500);
      expect(log.entries).toEqual([]);
    } finally {
      await checked.stop();
      await pollOnly.stop();
    }
  });
});
