import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { sha256 } from '../../src/lib/crypto.ts';
import { KyselyClientAssertionJtiStore } from '../../src/oauth/client-assertion-store.ts';
import { KyselyPushedRequestStore } from '../../src/oauth/pushed-request-store.ts';
import { migrateToLatest, openDatabase, type DatabaseHandle } from '../../src/storage/database.ts';
import { createTestDatabase, DIALECTS, type TestDatabase } from '../support/databases.ts';
import { recordingLogger } from '../support/logger.ts';

/**
 * On SQLite and PostgreSQL: the jti of client assertions (private_key_jwt) is accepted once
 * until it expires, also when many nodes see it at once; pushed authorization requests
 * (RFC 9126) are found while they live, started once (with a longer life), used once.
 */
const NOW = 1_760_000_000;

describe.each(DIALECTS)('client assertion and pushed request stores on %s', (dialect) => {
  let database: TestDatabase;
  let handle: DatabaseHandle;
  let jtis: KyselyClientAssertionJtiStore;
  let pushed: KyselyPushedRequestStore;

  beforeAll(async () => {
    database = await createTestDatabase(dialect);
    handle = openDatabase(database.url, { poolSize: 10, log: recordingLogger() });
    await migrateToLatest(handle);
    jtis = new KyselyClientAssertionJtiStore(handle.db);
    pushed = new KyselyPushedRequestStore(handle.db);
  });
  afterAll(async () => {
    await handle?.close();
    await database?.drop();
  });

  test('a jti is accepted once until it expires; after that (not yet purged) it is not a replay', async () => {
    const h = sha256(randomUUID());
    expect(await jtis.remember(h, NOW + 60, NOW)).toBe(true);
    expect(await jtis.remember(h, NOW + 90, NOW + 30)).toBe(false);
    expect(await jtis.remember(h, NOW + 200, NOW + 60)).toBe(true);
    expect(await jtis.remember(h, NOW + 200, NOW + 61)).toBe(false);
  });

  test('of many nodes seeing one jti at the same moment, exactly one accepts it', async () => {
    const h = sha256(randomUUID());
    const results = await Promise.all(Array.from({ length: 8 }, () => jtis.remember(h, NOW + 60, NOW)));
    expect(results.filter(Boolean)).toHaveLength(1);
  });

  test('expired jtis are purged in batches; live ones stay', async () => {
    const live = sha256(randomUUID());
    await jtis.remember(live, NOW + 1000, NOW);
    for (let i = 0; i < 5; i++) await jtis.remember(sha256(randomUUID()), NOW - 10, NOW - 100);
    let purged = 0;
    for (let n; (n = await jtis.purgeExpired(NOW, 2)) > 0; ) purged += n;
    expect(purged).toBeGreaterThanOrEqual(5);
    expect(await jtis.remember(live, NOW + 1000, NOW)).toBe(false);
  });

  test('a pushed request: found while it lives, started once with a longer life, used once', async () => {
    const h = sha256(randomUUID());
    const params = { client_id: 'app', response_type: 'code', redirect_uri: 'https://app.example/cb', state: 'x' };
    await pushed.insert({ requestUriHash: h, clientId: 'app', params, createdAt: NOW, expiresAt: NOW + 60 });
    expect(await pushed.start(sha256('other'), NOW, NOW + 1800)).toBeUndefined();
    const started = await pushed.start(h, NOW + 10, NOW + 1810);
    expect(started).toEqual({ requestUriHash: h, clientId: 'app', params, createdAt: NOW, startedAt: NOW + 10, expiresAt: NOW + 1810 });
    // A reload during sign-in finds it again; starting twice does not extend it again.
    expect(await pushed.start(h, NOW + 100, NOW + 1900)).toMatchObject({ startedAt: NOW + 10, expiresAt: NOW + 1810 });
    const uses = await Promise.all([pushed.consume(h, NOW + 200), pushed.consume(h, NOW + 200)]);
    expect(uses.filter(Boolean)).toHaveLength(1);
    expect(await pushed.start(h, NOW + 201, NOW + 2000)).toBeUndefined();
  });

  test('a pushed request not brought to the authorization endpoint in time is gone', async () => {
    const h = sha256(randomUUID());
    await pushed.insert({ requestUriHash: h, clientId: 'app', params: { client_id: 'app' }, createdAt: NOW, expiresAt: NOW + 60 });
    expect(await pushed.start(h, NOW + 60, NOW + 1860)).toBeUndefined();
    expect(await pushed.consume(h, NOW + 61)).toBe(false);
    expect(await pushed.purgeExpired(NOW + 61, 100)).toBeGreaterThanOrEqual(1);
  });
});
