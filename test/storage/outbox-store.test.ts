import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, beforeEach, describe, expect, test } from 'vitest';
import { KyselyOutboxStore, type OutboxEntry } from '../../src/email/outbox-store.ts';
import { migrateToLatest, openDatabase, type DatabaseHandle } from '../../src/storage/database.ts';
import { createTestDatabase, DIALECTS, type TestDatabase } from '../support/databases.ts';
import { recordingLogger } from '../support/logger.ts';

/**
 * The email outbox's store on SQLite and PostgreSQL (migration 0024): due messages oldest
 * first, each held by one claimer at a time (two nodes' connections claiming at once get
 * disjoint sets), released by a failure for a later attempt, free again when a lease runs out.
 */
const NOW = 1_760_000_000;

describe.each(DIALECTS)('email outbox store on %s', (dialect) => {
  let database: TestDatabase;
  let one: DatabaseHandle;
  let two: DatabaseHandle;
  let a: KyselyOutboxStore;
  let b: KyselyOutboxStore;

  beforeAll(async () => {
    database = await createTestDatabase(dialect);
    one = openDatabase(database.url, { poolSize: 10, log: recordingLogger() });
    await migrateToLatest(one);
    // A second node: its own connection(s) to the same database.
    two = openDatabase(database.url, { poolSize: 10, log: recordingLogger() });
    a = new KyselyOutboxStore(one.db);
    b = new KyselyOutboxStore(two.db);
  });
  afterAll(async () => {
    await one?.close();
    await two?.close();
    await database?.drop();
  });
  beforeEach(async () => {
    await one.db.deleteFrom('email_outbox').execute();
  });

  const entry = (createdAt: number, overrides: Partial<OutboxEntry> = {}): OutboxEntry => ({
    id: randomUUID(),
    message: 'invite',
    userId: null,
    sealed: `v1.sealed-${randomUUID()}`,
    attempts: 0,
    createdAt,
    nextAttemptAt: createdAt,
    ...overrides,
  });

  test('due messages come oldest first, with what was stored; later ones and held ones are left', async () => {
    const first = entry(NOW - 30);
    const second = entry(NOW - 10, { userId: randomUUID(), message: 'password_reset' });
    const later = entry(NOW - 5, { nextAttemptAt: NOW + 60, attempts: 2 });
    await a.insert([second, later, first]);
    expect(await a.count()).toBe(3);
    expect(await a.nextDue(NOW)).toBe(NOW - 30);
    expect(await a.claim(NOW, 120, 10)).toEqual([first, second]);
    // Held now: nobody else gets them, and they are not "due" for anyone until the lease ends.
    expect(await b.claim(NOW, 120, 10)).toEqual([]);
    expect(await b.nextDue(NOW)).toBe(NOW + 60);
    expect(await b.claim(NOW + 60, 120, 10)).toEqual([later]);
    // A lease that ran out (the node died while sending): another node takes the message.
    expect((await b.claim(NOW + 121, 120, 10)).map((e) => e.id)).toEqual([first.id, second.id]);
  });

  test('a failure releases the message for a later attempt; remove ends it; claims can be limited to ids', async () => {
    const m = entry(NOW);
    const other = entry(NOW);
    await a.insert([m, other]);
    expect(await a.claim(NOW, 120, 10, [m.id])).toEqual([m]);
    expect(await a.claim(NOW, 120, 10, [])).toEqual([]);
    await a.retryLater(m.id, 1, NOW + 2);
    expect(await b.claim(NOW + 1, 120, 10, [m.id])).toEqual([]);
    expect(await b.nextDue(NOW + 1, [m.id])).toBe(NOW + 2);
    expect(await b.claim(NOW + 2, 120, 10, [m.id])).toEqual([{ ...m, attempts: 1, nextAttemptAt: NOW + 2 }]);
    await b.remove(m.id);
    expect(await a.count()).toBe(1);
    expect(await a.nextDue(NOW, [m.id])).toBeUndefined();
  });

  test('two nodes claiming the same backlog at once get disjoint sets that cover it', async () => {
    const backlog = Array.from({ length: 60 }, (_, i) => entry(NOW - 100 + i));
    await a.insert(backlog);
    const claims = await Promise.all([a.claim(NOW, 120, 20), b.claim(NOW, 120, 20), a.claim(NOW, 120, 20), b.claim(NOW, 120, 20)]);
    const ids = claims.flat().map((e) => e.id);
    expect(new Set(ids).size).toBe(ids.length);
    expect(ids.length).toBe(60);
    expect(claims.every((c) => c.length <= 20)).toBe(true);
  });
});
