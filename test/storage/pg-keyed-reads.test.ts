import { randomUUID } from 'node:crypto';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import type { Client } from '../../src/clients/client.ts';
import { KyselyClientStore } from '../../src/clients/client-store.ts';
import { PostgresRefreshStore, refreshStoreFor, type RefreshFamily } from '../../src/oauth/refresh-store.ts';
import { migrateToLatest, openDatabase, type DatabaseHandle } from '../../src/storage/database.ts';
import { DatabaseUnavailableError, PgGroupCommit } from '../../src/storage/pg-group-commit.ts';
import { PgKeyedReads } from '../../src/storage/pg-keyed-reads.ts';
import { createTestDatabase, type TestDatabase } from '../support/databases.ts';

/**
 * Reads batched per event-loop turn on PostgreSQL (src/storage/pg-keyed-reads.ts): the refresh
 * lookups of concurrent requests run as one `= ANY($1)` statement. Each caller still gets
 * exactly its own row (or nothing), and a failed statement fails that turn's callers only.
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

describe('keyed reads batched per turn (PostgreSQL)', () => {
  let database: TestDatabase;
  let handle: DatabaseHandle;
  let refresh: PostgresRefreshStore;
  let clientId: string;

  beforeAll(async () => {
    database = await createTestDatabase('postgres');
    handle = openDatabase(database.url);
    await migrateToLatest(handle);
    refresh = refreshStoreFor(handle) as PostgresRefreshStore;
    expect(refresh).toBeInstanceOf(PostgresRefreshStore);
    const client = webClient();
    await new KyselyClientStore(handle.db).insert(client);
    clientId = client.id;
  });

  afterAll(async () => {
    await handle?.close();
    await database?.drop();
  });

  const family = (overrides: Partial<RefreshFamily> = {}): RefreshFamily => ({
    id: randomUUID(), clientId, userId: null, scope: 'openid offline_access', sessionId: null, authTime: NOW, amr: ['pwd'], createdAt: NOW, expiresAt: NOW + 600, revokedAt: null, ...overrides,
  });

  test('many lookups in one turn are one statement; each caller gets its own token, unknown ones nothing, duplicates each their own copy', async () => {
    const families: RefreshFamily[] = [];
    for (let i = 0; i < 20; i++) {
      const f = family({ scope: `openid offline_access s${i}` });
      await refresh.createFamily(f, `kr-${i}`, NOW + 600 + i);
      families.push(f);
    }
    const before = { ...refresh.finds.stats };
    const asked = [...families.map((_, i) => `kr-${i}`), 'kr-missing-1', 'kr-3', 'kr-missing-2', 'kr-3'];
    const found = await Promise.all(asked.map((h) => refresh.find(h)));
    expect(refresh.finds.stats.statements - before.statements).toBe(1);
    expect(refresh.finds.stats.keys - before.keys).toBe(22); // kr-3 once
    for (let i = 0; i < 20; i++) {
      expect(found[i]).toMatchObject({ family: { id: families[i]!.id, scope: `openid offline_access s${i}` }, expiresAt: NOW + 600 + i, usedAt: null });
    }
    expect(found[20]).toBeUndefined();
    expect(found[22]).toBeUndefined();
    expect(found[21]).toEqual(found[3]);
    expect(found[23]).toEqual(found[3]);
    expect(found[21]).not.toBe(found[3]);
  });

  test('lookups in different turns are different statements, and each sees the writes answered before it', async () => {
    const f = family();
    await refresh.createFamily(f, 'kr-turns', NOW + 600);
    const before = { ...refresh.finds.stats };
    expect((await refresh.find('kr-turns'))?.usedAt).toBeNull();
    expect(await refresh.rotate('kr-turns', 'kr-turns-next', f.id, 'openid', NOW + 1, NOW + 600)).toEqual({ status: 'rotated' });
    expect((await refresh.find('kr-turns'))?.usedAt).toBe(NOW + 1);
    expect((await refresh.find('kr-turns-next'))?.scope).toBe('openid');
    expect(refresh.finds.stats.statements - before.statements).toBe(3);
  });

  test('a failing statement fails every caller of its turn with its own error, the next turn works', async () => {
    const reads = new PgKeyedReads<{ k: string }, string>(
      handle.groupCommit!,
      (keys) => ({ name: 'tessera_test_keyed_broken', sql: 'SELECT k FROM no_such_table WHERE k = ANY($1::text[])', parameters: [typeof keys === 'string' ? [keys] : keys] }),
      (row) => row.k,
      (row) => row.k,
    );
    const results = await Promise.allSettled(['a', 'b', 'a'].map((k) => reads.get(k)));
    for (const r of results) {
      expect(r.status).toBe('rejected');
      const reason = (r as PromiseRejectedResult).reason as { code?: string };
      expect(reason).not.toBeInstanceOf(DatabaseUnavailableError);
      expect(reason.code).toBe('42P01');
    }
    const f = family();
    await refresh.createFamily(f, 'kr-after-failure', NOW + 600);
    expect((await refresh.find('kr-after-failure'))?.family.id).toBe(f.id);
  });

  test('a turn with one lookup reads it by the one-key statement, a turn with several by the array one', async () => {
    const seen: (string | string[])[] = [];
    const reads = new PgKeyedReads<{ k: string }, string>(
      handle.groupCommit!,
      (keys) => {
        seen.push(keys);
        return typeof keys === 'string'
          ? { name: 'tessera_test_keyed_one', sql: 'SELECT $1::text AS k', parameters: [keys] }
          : { name: 'tessera_test_keyed_many', sql: 'SELECT k FROM unnest($1::text[]) AS k', parameters: [keys] };
      },
      (row) => row.k,
      (row) => row.k,
    );
    expect(await reads.get('solo')).toBe('solo');
    expect(await Promise.all([reads.get('p'), reads.get('q'), reads.get('p')])).toEqual(['p', 'q', 'p']);
    expect(await Promise.all([reads.get('twice'), reads.get('twice')])).toEqual(['twice', 'twice']);
    expect(seen).toEqual(['solo', ['p', 'q'], 'twice']);
  });

  test('a caller whose row cannot be mapped fails alone', async () => {
    const reads = new PgKeyedReads<{ k: string }, string>(
      handle.groupCommit!,
      (keys) => ({ name: 'tessera_test_keyed_unnest', sql: 'SELECT k FROM unnest($1::text[]) AS k', parameters: [typeof keys === 'string' ? [keys] : keys] }),
      (row) => row.k,
      (row) => {
        if (row.k === 'bad') throw new Error('cannot map');
        return row.k.toUpperCase();
      },
    );
    const results = await Promise.allSettled(['x', 'bad', 'y'].map((k) => reads.get(k)));
    expect(results.map((r) => (r.status === 'fulfilled' ? r.value : (r.reason as Error).message))).toEqual(['X', 'cannot map', 'Y']);
  });

  test('a database that cannot be reached fails the turn’s callers as unavailable', async () => {
    const unreachable = new pg.Pool({ connectionString: 'postgres://postgres@127.0.0.1:1/none', connectionTimeoutMillis: 2000 });
    const reads = new PgKeyedReads<{ k: string }, string>(
      new PgGroupCommit(unreachable, { queryErrors: 0 }),
      (keys) => ({ sql: 'SELECT k FROM unnest($1::text[]) AS k', parameters: [typeof keys === 'string' ? [keys] : keys] }),
      (row) => row.k,
      (row) => row.k,
    );
    const results = await Promise.allSettled([reads.get('a'), reads.get('b')]);
    expect(results.every((r) => r.status === 'rejected' && r.reason instanceof DatabaseUnavailableError)).toBe(true);
    await unreachable.end();
  });
});
