import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { KyselyClientStore } from '../../src/clients/client-store.ts';
import type { Client } from '../../src/clients/client.ts';
import { KyselySessionStore, type Session } from '../../src/identity/session-store.ts';
import { KyselyUserStore } from '../../src/identity/user-store.ts';
import type { User } from '../../src/identity/user.ts';
import { KyselyRefreshStore } from '../../src/oauth/refresh-store.ts';
import { migrateToLatest, openDatabase, type DatabaseHandle } from '../../src/storage/database.ts';
import { createTestDatabase, DIALECTS, type TestDatabase } from '../support/databases.ts';

/**
 * What the account page changes in storage, on SQLite and PostgreSQL alike: "sign out
 * everywhere else" (every session of the user but the asking one) and a password change
 * (every refresh-token family of the user, whatever the app).
 */
const NOW = 1_770_000_000;

const user = (username: string): User => ({
  id: randomUUID(), username, email: null, emailVerified: false, name: null, givenName: null, familyName: null,
  passwordHash: null, passwordChangedAt: null, disabled: false, tokensValidAfter: 0, createdAt: NOW, updatedAt: NOW,
});

const client = (name: string): Client => ({
  id: randomUUID(), name, description: '', secretHash: null, secretUpdatedAt: null, previousSecretHash: null, previousSecretExpiresAt: null,
  public: true, grantTypes: ['authorization_code'], redirectUris: ['https://app.example.com/cb'], postLogoutRedirectUris: [], scopes: ['openid'],
  defaultScopes: [], onBehalfOfUserId: null, accessTokenTtl: null, refreshTokenTtl: null, requirePermission: 'developer_api',
  idTokenSignedResponseAlg: null, tokensValidAfter: 0, createdAt: NOW, updatedAt: NOW,
});

describe.each(DIALECTS)('account stores on %s', (dialect) => {
  let database: TestDatabase;
  let handle: DatabaseHandle;
  const alice = user('alice');
  const bob = user('bob');
  const books = client('Books');
  const notes = client('Notes');

  beforeAll(async () => {
    database = await createTestDatabase(dialect);
    handle = openDatabase(database.url);
    await migrateToLatest(handle);
    const users = new KyselyUserStore(handle.db);
    for (const u of [alice, bob]) await users.insert(u, []);
    const clients = new KyselyClientStore(handle.db);
    for (const c of [books, notes]) await clients.insert(c);
  });
  afterAll(async () => {
    await handle?.close();
    await database?.drop();
  });

  test('sessions: revokeOthers ends every live session of the user but the asking one, none of anyone else', async () => {
    const sessions = new KyselySessionStore(handle.db);
    const session = (n: string, userId: string): Session => ({ idHash: `acc-${n}`, sid: `sid-${n}`, userId, authTime: NOW, amr: ['pwd'], createdAt: NOW, expiresAt: NOW + 3600, lastSeenAt: NOW, revokedAt: null });
    for (const [n, u] of [['a1', alice], ['a2', alice], ['a3', alice], ['b1', bob]] as const) await sessions.insert(session(n, u.id), { ip: null, userAgent: null });
    await sessions.revoke('acc-a3', NOW - 10); // ended before: keeps its time
    // A session from before public ids: no sid, named by its hash.
    await handle.db.insertInto('sessions').values({ id_hash: 'acc-old', sid: null, user_id: alice.id, auth_time: NOW, created_at: NOW, expires_at: NOW + 3600, last_seen_at: NOW, revoked_at: null, ip: null, user_agent: null }).execute();

    expect(await sessions.revokeOthers(alice.id, 'sid-a1', NOW + 1)).toBe(2);
    expect(await sessions.revokeOthers(alice.id, 'sid-a1', NOW + 2)).toBe(0);
    expect((await sessions.find('acc-a1'))!.revokedAt).toBeNull();
    expect((await sessions.find('acc-a2'))!.revokedAt).toBe(NOW + 1);
    expect((await sessions.find('acc-old'))!.revokedAt).toBe(NOW + 1);
    expect((await sessions.find('acc-a3'))!.revokedAt).toBe(NOW - 10);
    expect((await sessions.find('acc-b1'))!.revokedAt).toBeNull();
    expect((await sessions.listForUser(alice.id, NOW)).map((s) => s.sid)).toEqual(['sid-a1']);
  });

  test('refresh families: revokeForUser ends every live family of the user across apps, none of anyone else', async () => {
    const refresh = new KyselyRefreshStore(handle.db, handle.dialect);
    const family = async (userId: string, clientId: string) => {
      const id = randomUUID();
      await refresh.createFamily({ id, clientId, userId, scope: 'openid offline_access', sessionId: null, authTime: NOW, amr: ['pwd'], createdAt: NOW, expiresAt: NOW + 600, revokedAt: null }, `rt-${id}`, NOW + 600);
      return id;
    };
    await family(alice.id, books.id);
    await family(alice.id, notes.id);
    const before = await family(alice.id, notes.id);
    await refresh.revokeFamily(before, NOW - 5);
    await family(bob.id, books.id);

    expect(await refresh.revokeForUser(alice.id, NOW + 1)).toBe(2);
    expect(await refresh.revokeForUser(alice.id, NOW + 2)).toBe(0);
    expect(await refresh.countLive({}, NOW)).toEqual(new Map([[`${bob.id}|${books.id}`, 1]]));
    const kept = await handle.db.selectFrom('refresh_token_families').select('revoked_at').where('id', '=', before).executeTakeFirstOrThrow();
    expect(kept.revoked_at).toBe(NOW - 5);
  });
});
