import { randomUUID } from 'node:crypto';
import { DatabaseSync } from 'node:sqlite';
import { sql } from 'kysely';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import type { Client } from '../../src/clients/client.ts';
import { KyselyClientStore } from '../../src/clients/client-store.ts';
import { KyselyUserStore } from '../../src/identity/user-store.ts';
import { codeStoreFor, type AuthorizationCode, type ConsumeResult } from '../../src/oauth/code-store.ts';
import { refreshStoreFor, type RefreshFamily, type RefreshStore } from '../../src/oauth/refresh-store.ts';
import { migrateToLatest, openDatabase, type DatabaseHandle } from '../../src/storage/database.ts';
import { DatabaseUnavailableError, isConnectionError, PgGroupCommit } from '../../src/storage/pg-group-commit.ts';
import { createTestDatabase, DIALECTS, type TestDatabase, type TestDialect } from '../support/databases.ts';

/**
 * Group commit (issue 16): writes submitted in one event-loop turn share a transaction —
 * on PostgreSQL (src/storage/pg-group-commit.ts) one COMMIT per batch on a pooled
 * connection, on SQLite (src/storage/sqlite-statements.ts `write`) one COMMIT (one fsync
 * with synchronous = FULL) per batch on the one connection. A failed batch fails only its
 * own callers, and correctly. The shared contract runs on both dialects; what only one
 * dialect can do wrong (a terminated backend; the write lock, a failed COMMIT) below it.
 */

const NOW = 1_770_000_000;

function webClient(): Client {
  return {
    id: randomUUID(), name: 'Web', description: '', secretHash: 'x', secretUpdatedAt: NOW, previousSecretHash: null, previousSecretExpiresAt: null,
    public: false, grantTypes: ['authorization_code'], redirectUris: ['https://app.example.com/cb'], postLogoutRedirectUris: [], scopes: ['openid', 'offline_access'],
    defaultScopes: [], onBehalfOfUserId: null, accessTokenTtl: null, refreshTokenTtl: null, requirePermission: 'developer_api', idTokenSignedResponseAlg: null,
    tokensValidAfter: 0, createdAt: NOW, updatedAt: NOW,
  };
}

/** A second connection to the same database: it sees committed rows only. */
interface Observer {
  usedAt(hash: string): Promise<number | null | 'missing'>;
  close(): Promise<void>;
}

async function observe(dialect: TestDialect, url: string): Promise<Observer> {
  if (dialect === 'sqlite') {
    const other = new DatabaseSync(url.slice('sqlite:'.length));
    const stmt = other.prepare('select used_at from refresh_tokens where token_hash = ?');
    return {
      usedAt: async (hash) => {
        const row = stmt.get(hash) as { used_at: number | null } | undefined;
        return row ? row.used_at : 'missing';
      },
      close: async () => other.close(),
    };
  }
  const other = new pg.Client({ connectionString: url });
  await other.connect();
  return {
    usedAt: async (hash) => {
      const row = (await other.query<{ used_at: string | null }>('select used_at from refresh_tokens where token_hash = $1', [hash])).rows[0];
      return row ? (row.used_at === null ? null : Number(row.used_at)) : 'missing';
    },
    close: () => other.end(),
  };
}

describe.each(DIALECTS)('group commit (%s)', (dialect) => {
  let database: TestDatabase;
  let handle: DatabaseHandle;
  let stats: { batches: number; statements: number; retriedAlone: number };
  let refresh: RefreshStore;
  let clientId: string;
  let observer: Observer;

  beforeAll(async () => {
    database = await createTestDatabase(dialect);
    handle = openDatabase(database.url);
    await migrateToLatest(handle);
    stats = (handle.sqlite ?? handle.groupCommit)!.stats;
    refresh = refreshStoreFor(handle);
    const client = webClient();
    await new KyselyClientStore(handle.db).insert(client);
    clientId = client.id;
    observer = await observe(dialect, database.url);
  });

  afterAll(async () => {
    await observer?.close();
    await handle?.close();
    await database?.drop();
  });

  const family = (overrides: Partial<RefreshFamily> = {}): RefreshFamily => ({
    id: randomUUID(), clientId, userId: null, scope: 'openid offline_access', sessionId: null, authTime: NOW, amr: ['pwd'], createdAt: NOW, expiresAt: NOW + 600, revokedAt: null, ...overrides,
  });

  async function seed(prefix: string, n: number): Promise<RefreshFamily[]> {
    const out: RefreshFamily[] = [];
    for (let i = 0; i < n; i++) {
      const f = family();
      await refresh.createFamily(f, `${prefix}-${i}`, NOW + 600);
      out.push(f);
    }
    return out;
  }

  test('rotations requested in one turn commit in one transaction, and each is visible to another connection once its promise resolves', async () => {
    const families = await seed('gc-one', 12);
    const before = { ...stats };
    const results = await Promise.all(families.map((f, i) => refresh.rotate(`gc-one-${i}`, `gc-one-next-${i}`, f.id, 'openid', NOW + 1, NOW + 600)));
    expect(results.every((r) => r.status === 'rotated')).toBe(true);
    expect(stats.batches - before.batches).toBe(1);
    expect(stats.statements - before.statements).toBe(12);
    for (let i = 0; i < 12; i++) {
      expect(await observer.usedAt(`gc-one-${i}`)).toBe(NOW + 1);
      expect(await observer.usedAt(`gc-one-next-${i}`)).toBeNull();
    }
  });

  test('find reads back the token and its whole family (two lookups on SQLite, a join on PostgreSQL): after rotation, revocation, for an unknown hash', async () => {
    const f = family({ sessionId: 'session-1', amr: ['pwd', 'otp'], resource: 'https://api.example.com', dpopJkt: 'jkt-1', expiresAt: NOW + 900 });
    await refresh.createFamily(f, 'gc-find-0', NOW + 300);
    expect(await refresh.find('gc-find-0')).toEqual({ family: f, scope: f.scope, expiresAt: NOW + 300, usedAt: null });
    expect(await refresh.rotate('gc-find-0', 'gc-find-1', f.id, 'openid', NOW + 5, NOW + 400)).toEqual({ status: 'rotated' });
    expect(await refresh.find('gc-find-0')).toMatchObject({ usedAt: NOW + 5, family: { id: f.id } });
    expect(await refresh.find('gc-find-1')).toEqual({ family: f, scope: 'openid', expiresAt: NOW + 400, usedAt: null });
    await refresh.revokeFamily(f.id, NOW + 6);
    expect((await refresh.find('gc-find-1'))?.family.revokedAt).toBe(NOW + 6);
    expect(await refresh.find('gc-find-unknown')).toBeUndefined();
  });

  test('concurrent rotations of one token in one batch: exactly one wins, only its successor exists', async () => {
    const [f] = await seed('gc-race', 1);
    const before = { ...stats };
    const results = await Promise.all(Array.from({ length: 8 }, (_, i) => refresh.rotate('gc-race-0', `gc-race-next-${i}`, f!.id, 'openid', NOW + 2, NOW + 600)));
    expect(stats.batches - before.batches).toBe(1);
    expect(results.filter((r) => r.status === 'rotated')).toHaveLength(1);
    const winner = results.findIndex((r) => r.status === 'rotated');
    for (let i = 0; i < 8; i++) expect(await observer.usedAt(`gc-race-next-${i}`)).toBe(i === winner ? null : 'missing');
  });

  test('one bad row fails only its own caller, with its own error; the rest of the batch commits', async () => {
    const families = await seed('gc-bad', 6);
    const before = { ...stats };
    const rotations = families.map((f, i) => refresh.rotate(`gc-bad-${i}`, `gc-bad-next-${i}`, f.id, 'openid', NOW + 3, NOW + 600));
    // A family for an app that does not exist: a foreign-key violation inside the batch.
    const bad = refresh.createFamily(family({ clientId: randomUUID() }), 'gc-bad-orphan', NOW + 600);
    const [badResult, ...results] = await Promise.allSettled([bad, ...rotations]);
    expect(badResult!.status).toBe('rejected');
    const reason = (badResult as PromiseRejectedResult).reason as Error & { code?: string };
    expect(reason).not.toBeInstanceOf(DatabaseUnavailableError);
    if (dialect === 'postgres') expect(reason).toMatchObject({ code: '23503' });
    else expect(reason.message).toMatch(/FOREIGN KEY constraint failed/);
    expect(results.map((r) => (r.status === 'fulfilled' ? r.value.status : r.reason))).toEqual(Array(6).fill('rotated'));
    expect(stats.retriedAlone - before.retriedAlone).toBe(7);
    for (let i = 0; i < 6; i++) expect(await observer.usedAt(`gc-bad-next-${i}`)).toBeNull();
    expect(await observer.usedAt('gc-bad-orphan')).toBe('missing');
  });
});

describe('group commit (SQLite): the batch itself fails', () => {
  let database: TestDatabase;
  let handle: DatabaseHandle;
  let refresh: RefreshStore;
  let clientId: string;
  let observer: Observer;
  let path: string;

  beforeAll(async () => {
    database = await createTestDatabase('sqlite');
    path = database.url.slice('sqlite:'.length);
    handle = openDatabase(database.url);
    await migrateToLatest(handle);
    // Waiting 5 s for a lock held by another process would only slow the test down.
    await sql`PRAGMA busy_timeout = 200`.execute(handle.db);
    refresh = refreshStoreFor(handle);
    const client = webClient();
    await new KyselyClientStore(handle.db).insert(client);
    clientId = client.id;
    observer = await observe('sqlite', database.url);
  });

  afterAll(async () => {
    await observer?.close();
    await handle?.close();
    await database?.drop();
  });

  const family = (): RefreshFamily => ({
    id: randomUUID(), clientId, userId: null, scope: 'openid offline_access', sessionId: null, authTime: NOW, amr: ['pwd'], createdAt: NOW, expiresAt: NOW + 600, revokedAt: null,
  });

  async function seed(prefix: string, n: number): Promise<RefreshFamily[]> {
    const out: RefreshFamily[] = [];
    for (let i = 0; i < n; i++) {
      const f = family();
      await refresh.createFamily(f, `${prefix}-${i}`, NOW + 600);
      out.push(f);
    }
    return out;
  }

  test('work runs at the flush: a read before it finds nothing of the batch, nothing half-done is ever visible', async () => {
    const families = await seed('gc-vis', 3);
    const pending = families.map((f, i) => refresh.rotate(`gc-vis-${i}`, `gc-vis-next-${i}`, f.id, 'openid', NOW + 1, NOW + 600));
    // Submitted, not yet flushed: a read on the same store still finds every token unspent.
    for (let i = 0; i < 3; i++) expect((await refresh.find(`gc-vis-${i}`))?.usedAt).toBeNull();
    await Promise.all(pending);
    for (let i = 0; i < 3; i++) expect(await observer.usedAt(`gc-vis-next-${i}`)).toBeNull();
  });


  test('another process holds the write lock: every caller gets DatabaseUnavailableError, nothing is stored, the next batch works', async () => {
    const families = await seed('gc-lock', 4);
    const other = new DatabaseSync(path);
    other.exec('BEGIN IMMEDIATE');
    try {
      const results = await Promise.allSettled(families.map((f, i) => refresh.rotate(`gc-lock-${i}`, `gc-lock-next-${i}`, f.id, 'openid', NOW + 4, NOW + 600)));
      expect(results.every((r) => r.status === 'rejected' && r.reason instanceof DatabaseUnavailableError)).toBe(true);
    } finally {
      other.exec('ROLLBACK');
      other.close();
    }
    for (let i = 0; i < 4; i++) expect(await observer.usedAt(`gc-lock-${i}`)).toBeNull();
    const again = await Promise.all(families.map((f, i) => refresh.rotate(`gc-lock-${i}`, `gc-lock-next-${i}`, f.id, 'openid', NOW + 5, NOW + 600)));
    expect(again.every((r) => r.status === 'rotated')).toBe(true);
  });

  test('a code exchange in one work (consumeAndDecide): consume, decision and record in one commit; rerun whole when its batch is rolled back; a refusal leaves the code consumed', async () => {
    const users = new KyselyUserStore(handle.db);
    const userId = randomUUID();
    await users.insert({ id: userId, username: 'gc-code-user', email: null, emailVerified: false, name: null, givenName: null, familyName: null, passwordHash: null, passwordChangedAt: NOW, disabled: false, tokensValidAfter: 0, createdAt: NOW, updatedAt: NOW }, []);
    const codes = codeStoreFor(handle);
    const code = (hash: string): AuthorizationCode => ({
      codeHash: hash, clientId, userId, sessionId: null, redirectUri: 'https://app.example.com/cb', redirectUriInRequest: true, scope: 'openid offline_access',
      nonce: null, codeChallenge: null, codeChallengeMethod: null, authTime: NOW, amr: ['pwd'], createdAt: NOW, expiresAt: NOW + 600,
    });
    await Promise.all(['gc-code-a', 'gc-code-b'].map((h) => codes.insert(code(h))));
    const seen: ConsumeResult['status'][] = [];
    const exchangeA = (f: RefreshFamily) =>
      codes.consumeAndDecide!('gc-code-a', NOW + 1, (result) => {
        seen.push(result.status);
        return { value: result.status, record: { issued: { accessTokenJti: 'jti-a', accessTokenExpiresAt: NOW + 300, refreshFamilyId: f.id }, family: { family: f, firstTokenHash: 'gc-code-a-rt', tokenExpiresAt: NOW + 600 } } };
      });
    const f = { ...family(), userId };
    const stats = handle.sqlite!.stats;
    const before = { ...stats };
    // In the same batch, a write that fails (a family for an app that does not exist): the
    // batch is rolled back and each work runs again alone — the decision too.
    const [exchanged, bad] = await Promise.allSettled([exchangeA(f), refresh.createFamily({ ...family(), clientId: randomUUID() }, 'gc-code-orphan', NOW + 600)]);
    expect(exchanged).toEqual({ status: 'fulfilled', value: 'consumed' });
    expect(bad.status).toBe('rejected');
    expect(seen).toEqual(['consumed', 'consumed']);
    expect(stats.retriedAlone - before.retriedAlone).toBe(2);
    expect(await observer.usedAt('gc-code-a-rt')).toBeNull();
    const row = (await sql<{ consumed_at: number; access_token_jti: string; refresh_family_id: string }>`select consumed_at, access_token_jti, refresh_family_id from authorization_codes where code_hash = 'gc-code-a'`.execute(handle.db)).rows[0];
    expect(row).toEqual({ consumed_at: NOW + 1, access_token_jti: 'jti-a', refresh_family_id: f.id });
    // Used again: decide sees the replay with what the first exchange recorded.
    const replay = await codes.consumeAndDecide!('gc-code-a', NOW + 2, (result) => ({ value: result }));
    expect(replay).toMatchObject({ status: 'replayed', accessTokenJti: 'jti-a', refreshFamilyId: f.id });
    // A refusal records nothing, and the code stays consumed.
    const refused = await codes.consumeAndDecide!('gc-code-b', NOW + 3, (result) => ({ value: result.status }));
    expect(refused).toBe('consumed');
    expect(await codes.find('gc-code-b')).toMatchObject({ consumed: true });
    expect(await codes.consumeAndDecide!('gc-code-unknown', NOW + 3, (result) => ({ value: result.status }))).toBe('unknown');
  });

  test('a COMMIT that fails: every caller of the batch gets DatabaseUnavailableError and nothing of it is stored', async () => {
    const families = await seed('gc-commit', 4);
    const statements = handle.sqlite!;
    const rotations = families.map((f, i) => refresh.rotate(`gc-commit-${i}`, `gc-commit-next-${i}`, f.id, 'openid', NOW + 6, NOW + 600));
    // A foreign-key check deferred to COMMIT (defer_foreign_keys lasts one transaction)
    // makes the batch's COMMIT itself fail, as a full disk or an I/O error would.
    const saboteur = statements.write(() => {
      statements.statement('PRAGMA defer_foreign_keys = ON').run();
      statements.statement('INSERT INTO refresh_tokens (token_hash, family_id, scope, created_at, expires_at, used_at) VALUES (?, ?, ?, ?, ?, NULL)').run('gc-commit-orphan', randomUUID(), 'openid', NOW, NOW + 600);
    });
    const results = await Promise.allSettled([saboteur, ...rotations]);
    expect(results.every((r) => r.status === 'rejected' && r.reason instanceof DatabaseUnavailableError)).toBe(true);
    for (let i = 0; i < 4; i++) {
      expect(await observer.usedAt(`gc-commit-${i}`)).toBeNull();
      expect(await observer.usedAt(`gc-commit-next-${i}`)).toBe('missing');
    }
    expect(await observer.usedAt('gc-commit-orphan')).toBe('missing');
    // The connection is usable again (no transaction left open).
    const again = await Promise.all(families.map((f, i) => refresh.rotate(`gc-commit-${i}`, `gc-commit-next-${i}`, f.id, 'openid', NOW + 7, NOW + 600)));
    expect(again.every((r) => r.status === 'rotated')).toBe(true);
  });
  test('snapshot(): reads more than once in one read transaction — a commit by another connection between them is not seen; run() sees it', async () => {
    const statements = handle.sqlite!;
    const other = new DatabaseSync(path);
    try {
      other.exec('PRAGMA busy_timeout = 200');
      const count = () => (statements.statement('SELECT count(*) AS n FROM refresh_tokens').get() as { n: number }).n;
      const [family] = await seed('gc-snapshot', 1);
      // Another process's write lands between the two reads.
      const between = (reads: () => number) => {
        const first = reads();
        other.prepare('INSERT INTO refresh_tokens (token_hash, family_id, scope, created_at, expires_at, used_at) VALUES (?, ?, ?, ?, ?, NULL)').run(`gc-snapshot-${first}`, family!.id, 'openid', NOW, NOW + 600);
        return [first, reads()] as const;
      };
      const [a, b] = await statements.snapshot(() => between(count));
      expect(b).toBe(a);
      const [c, d] = await statements.run(() => between(count));
      expect(c).toBe(b + 1);
      expect(d).toBe(c + 1);
      // No transaction is left open: a write still commits, and a throwing read rejects alone.
      await expect(statements.snapshot(() => { throw new Error('read failed'); })).rejects.toThrow('read failed');
      expect((await refresh.rotate('gc-snapshot-0', 'gc-snapshot-next', family!.id, 'openid', NOW + 8, NOW + 600)).status).toBe('rotated');
      expect(await observer.usedAt('gc-snapshot-0')).toBe(NOW + 8);
    } finally {
      other.close();
    }
  });
});

describe('group commit (PostgreSQL): the connection fails', () => {
  let database: TestDatabase;
  let handle: DatabaseHandle;
  let group: PgGroupCommit;
  let refresh: RefreshStore;
  let clientId: string;
  let direct: pg.Client;

  beforeAll(async () => {
    database = await createTestDatabase('postgres');
    handle = openDatabase(database.url);
    await migrateToLatest(handle);
    group = handle.groupCommit!;
    refresh = refreshStoreFor(handle);
    const client = webClient();
    await new KyselyClientStore(handle.db).insert(client);
    clientId = client.id;
    direct = new pg.Client({ connectionString: database.url });
    await direct.connect();
  });

  afterAll(async () => {
    await direct?.end();
    await handle?.close();
    await database?.drop();
  });

  const family = (overrides: Partial<RefreshFamily> = {}): RefreshFamily => ({
    id: randomUUID(), clientId, userId: null, scope: 'openid offline_access', sessionId: null, authTime: NOW, amr: ['pwd'], createdAt: NOW, expiresAt: NOW + 600, revokedAt: null, ...overrides,
  });

  /** `n` families with one live token each, created one by one (not batched together). */
  async function seed(prefix: string, n: number): Promise<RefreshFamily[]> {
    const out: RefreshFamily[] = [];
    for (let i = 0; i < n; i++) {
      const f = family();
      await refresh.createFamily(f, `${prefix}-${i}`, NOW + 600);
      out.push(f);
    }
    return out;
  }

  /** What another connection sees: committed rows only. */
  const usedAt = async (hash: string) => {
    const row = (await direct.query<{ used_at: string | null }>('select used_at from refresh_tokens where token_hash = $1', [hash])).rows[0];
    return row ? row.used_at : 'missing';
  };

  test('the connection terminated in the middle of a batch: every caller gets DatabaseUnavailableError, nothing of it is stored, the next batch works', async () => {
    const families = await seed('gc-kill', 5);
    const slow = group.query({ sql: 'select pg_sleep(30)', parameters: [] });
    const rotations = families.map((f, i) => refresh.rotate(`gc-kill-${i}`, `gc-kill-next-${i}`, f.id, 'openid', NOW + 4, NOW + 600));
    const settled = Promise.allSettled([slow, ...rotations]);
    // Wait until the batch's connection runs the sleep, then terminate that backend.
    for (let i = 0; ; i++) {
      const r = await direct.query(`select pg_terminate_backend(pid) as killed from pg_stat_activity where datname = current_database() and query = 'select pg_sleep(30)' and pid <> pg_backend_pid()`);
      if (r.rows.length) break;
      if (i > 200) throw new Error('the batch never reached the sleep');
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
    const results = await settled;
    expect(results.every((r) => r.status === 'rejected' && r.reason instanceof DatabaseUnavailableError)).toBe(true);
    // The batch was one transaction that never committed: no token of it was spent.
    for (let i = 0; i < 5; i++) {
      expect(await usedAt(`gc-kill-${i}`)).toBeNull();
      expect(await usedAt(`gc-kill-next-${i}`)).toBe('missing');
    }
    // The pool replaced the connection: the same rotations now succeed.
    const again = await Promise.all(families.map((f, i) => refresh.rotate(`gc-kill-${i}`, `gc-kill-next-${i}`, f.id, 'openid', NOW + 5, NOW + 600)));
    expect(again.every((r) => r.status === 'rotated')).toBe(true);
  });

  test('a batch is pipelined: a statement failing in its middle rolls it back, the rest run again alone, and the connections are left fit for any use', async () => {
    const families = await seed('gc-mid', 6);
    const before = { ...group.stats };
    const rotations = families.slice(0, 3).map((f, i) => refresh.rotate(`gc-mid-${i}`, `gc-mid-next-${i}`, f.id, 'openid', NOW + 6, NOW + 600));
    // Between the rotations: a duplicate key on a named statement, which aborts the transaction
    // under the named statements written behind it in the same round trip.
    const bad = refresh.createFamily(family(), 'gc-mid-0', NOW + 600);
    const later = families.slice(3).map((f, i) => refresh.rotate(`gc-mid-${i + 3}`, `gc-mid-next-${i + 3}`, f.id, 'openid', NOW + 6, NOW + 600));
    const [badResult, ...results] = await Promise.allSettled([bad, ...rotations, ...later]);
    expect((badResult as PromiseRejectedResult).reason).toMatchObject({ code: '23505' });
    expect(results.map((r) => (r.status === 'fulfilled' ? r.value.status : r.reason))).toEqual(Array(6).fill('rotated'));
    expect(group.stats.retriedAlone - before.retriedAlone).toBe(7);
    for (let i = 0; i < 6; i++) expect(await usedAt(`gc-mid-next-${i}`)).toBeNull();
    // The same named statements in the next batches, on whichever connection: parsed again where needed.
    for (let round = 0; round < 3; round++) {
      const more = await seed(`gc-mid-r${round}`, 4);
      const again = await Promise.all(more.map((f, i) => refresh.rotate(`gc-mid-r${round}-${i}`, `gc-mid-r${round}-next-${i}`, f.id, 'openid', NOW + 7, NOW + 600)));
      expect(again.every((r) => r.status === 'rotated')).toBe(true);
    }
    // Every pooled connection is back to one query at a time: Kysely transactions on all of them work.
    await Promise.all(
      Array.from({ length: 10 }, (_, i) =>
        handle.db.transaction().execute(async (trx) => {
          await sql`select pg_sleep(0.01)`.execute(trx);
          expect((await sql<{ n: number }>`select ${i}::int as n`.execute(trx)).rows[0]!.n).toBe(i);
        }),
      ),
    );
  });

  test('the database refusing connections fails a batch as unavailable, not as a statement error', async () => {
    const unreachable = new pg.Pool({ connectionString: 'postgres://postgres@127.0.0.1:1/none', connectionTimeoutMillis: 2000 });
    const lonely = new PgGroupCommit(unreachable, { queryErrors: 0 });
    const results = await Promise.allSettled([lonely.query({ sql: 'select 1', parameters: [] }), lonely.query({ sql: 'select 2', parameters: [] })]);
    expect(results.every((r) => r.status === 'rejected' && r.reason instanceof DatabaseUnavailableError)).toBe(true);
    await unreachable.end();
    expect(isConnectionError({ code: '23505' })).toBe(false);
    expect(isConnectionError({ code: '40P01' })).toBe(false);
    expect(isConnectionError({ code: '57P01' })).toBe(true);
    expect(isConnectionError(new Error('Connection terminated unexpectedly'))).toBe(true);
  });
});

