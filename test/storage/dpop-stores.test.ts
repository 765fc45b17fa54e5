import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { KyselyDpopReplayStore } from '../../src/oauth/dpop-replay-store.ts';
import { migrateToLatest, openDatabase, type DatabaseHandle } from '../../src/storage/database.ts';
import { createTestDatabase, DIALECTS, type TestDatabase } from '../support/databases.ts';

/**
 * The DPoP replay cache (RFC 9449 §11.1) on SQLite and PostgreSQL: a key is remembered once,
 * also when many callers race (two nodes seeing one proof), and expired keys are purged in
 * batches. The refresh-family and code columns are covered in sign-in-stores.test.ts, the
 * app's flag in stores.test.ts.
 */
const NOW = 1_760_000_000;

describe.each(DIALECTS)('DPoP replay store on %s', (dialect) => {
  let database: TestDatabase;
  let handle: DatabaseHandle;
  let store: KyselyDpopReplayStore;

  beforeAll(async () => {
    database = await createTestDatabase(dialect);
    handle = openDatabase(database.url);
    await migrateToLatest(handle);
    store = new KyselyDpopReplayStore(handle.db);
  });
  afterAll(async () => {
    await handle?.close();
    await database?.drop();
  });

  test('a key is new once; the second time it is a replay', async () => {
    expect(await store.remember('k1', NOW + 70)).toBe(true);
    expect(await store.remember('k1', NOW + 70)).toBe(false);
    expect(await store.remember('k2', NOW + 70)).toBe(true);
  });

  test('of many concurrent callers with one key exactly one wins', async () => {
    const results = await Promise.all(Array.from({ length: 10 }, () => store.remember('race', NOW + 70)));
    expect(results.filter(Boolean)).toHaveLength(1);
  });

  test('purgeExpired deletes expired keys in batches, and only those', async () => {
    for (let i = 0; i < 7; i++) await store.remember(`old-${i}`, NOW - 10);
    await store.remember('live', NOW + 60);
    expect(await store.purgeExpired(NOW, 5)).toBe(5);
    expect(await store.purgeExpired(NOW, 5)).toBe(2);
    expect(await store.purgeExpired(NOW, 5)).toBe(0);
    expect(await store.remember('live', NOW + 60)).toBe(false);
    // A purged key could be remembered again (its proof is too old to get this far by then).
    expect(await store.remember('old-0', NOW + 60)).toBe(true);
  });
});
