import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { KyselySettingsStore } from '../../src/admin/settings-store.ts';
import { KyselyAuditStore, type AuditRow } from '../../src/audit/audit-store.ts';
import type { Client } from '../../src/clients/client.ts';
import { KyselyClientStore } from '../../src/clients/client-store.ts';
import { KyselyApiStore, type ApiDefinition } from '../../src/gateway/api-store.ts';
import { KyselyConsentStore } from '../../src/identity/consent-store.ts';
import { KyselySessionStore } from '../../src/identity/session-store.ts';
import { KyselyUserStore } from '../../src/identity/user-store.ts';
import type { User } from '../../src/identity/user.ts';
import { KyselyRefreshStore } from '../../src/oauth/refresh-store.ts';
import { migrateToLatest, openDatabase, type DatabaseHandle } from '../../src/storage/database.ts';
import { createTestDatabase, DIALECTS, type TestDatabase } from '../support/databases.ts';

/**
 * The stores behind the admin services (audit log, settings, gateway APIs, and what
 * AccessService reads and revokes: consents, refresh families, sessions), on SQLite and
 * PostgreSQL alike.
 */
const NOW = 1_770_000_000;

function makeUser(username: string): User {
  return {
    id: randomUUID(),
    username,
    email: null,
    emailVerified: false,
    name: null,
    givenName: null,
    familyName: null,
    passwordHash: null,
    passwordChangedAt: null,
    disabled: false,
    tokensValidAfter: 0,
    createdAt: NOW,
    updatedAt: NOW,
  };
}

function makeClient(name: string): Client {
  return {
    id: randomUUID(),
    name,
    description: '',
    secretHash: null,
    secretUpdatedAt: null,
    previousSecretHash: null,
    previousSecretExpiresAt: null,
    public: true,
    grantTypes: ['authorization_code'],
    redirectUris: ['https://app.example.com/cb'],
    postLogoutRedirectUris: [],
    scopes: ['openid'],
    defaultScopes: [],
    onBehalfOfUserId: null,
    accessTokenTtl: null,
    refreshTokenTtl: null,
    requirePermission: 'developer_api',
    idTokenSignedResponseAlg: null,
    tokensValidAfter: 0,
    createdAt: NOW,
    updatedAt: NOW,
  };
}

describe.each(DIALECTS)('admin stores on %s', (dialect) => {
  let database: TestDatabase;
  let handle: DatabaseHandle;

  async function changes(kind: string): Promise<string[]> {
    const rows = await handle.db.selectFrom('change_events').select('key').where('kind', '=', kind).orderBy('id').execute();
    return rows.map((r) => r.key);
  }

  beforeAll(async () => {
    database = await createTestDatabase(dialect);
    handle = openDatabase(database.url);
    await migrateToLatest(handle);
  });
  afterAll(async () => {
    await handle?.close();
    await database?.drop();
  });

  test('audit: append, then list newest first with every filter and the id cursor', async () => {
    const audit = new KyselyAuditStore(handle.db);
    const row = (n: number, overrides: Partial<AuditRow> = {}): AuditRow => ({
      id: `${String(NOW * 1000 + n).padStart(15, '0')}-${randomUUID()}`,
      at: NOW + n,
      actor: 'cli:root',
      action: 'app.create',
      target_type: 'app',
      target_id: `app-${n}`,
      ip: null,
      details: '{}',
      ...overrides,
    });
    const rows = [row(1), row(2, { actor: 'user:alice', ip: '203.0.113.9' }), row(3, { action: 'keys.rotate', target_type: 'keys', target_id: null }), row(4)];
    for (const r of rows) await audit.append(r);
    expect((await audit.list({ limit: 10 })).map((r) => r.id)).toEqual(rows.map((r) => r.id).reverse());
    expect(await audit.list({ limit: 10, actor: 'user:alice' })).toEqual([rows[1]]);
    expect((await audit.list({ limit: 10, action: 'keys.rotate' })).map((r) => r.target_id)).toEqual([null]);
    expect((await audit.list({ limit: 10, targetType: 'app', targetId: 'app-4' })).map((r) => r.id)).toEqual([rows[3]!.id]);
    expect((await audit.list({ limit: 10, since: NOW + 2, until: NOW + 3 })).map((r) => r.at)).toEqual([NOW + 3, NOW + 2]);
    expect((await audit.list({ limit: 2 })).map((r) => r.id)).toEqual([rows[3]!.id, rows[2]!.id]);
    expect((await audit.list({ limit: 10, before: rows[2]!.id })).map((r) => r.id)).toEqual([rows[1]!.id, rows[0]!.id]);
  });

  test('settings: save upserts every entry and announces one change; all reads them back', async () => {
    const settings = new KyselySettingsStore(handle.db);
    expect(await settings.all()).toEqual([]);
    await settings.save([{ key: 'code_ttl', value: '60' }, { key: 'access_token_ttl', value: '600' }], NOW);
    await settings.save([{ key: 'code_ttl', value: '90' }], NOW + 1);
    const all = await settings.all();
    expect(Object.fromEntries(all.map((r) => [r.key, r.value]))).toEqual({ code_ttl: '90', access_token_ttl: '600' });
    expect(await changes('settings')).toEqual(['code_ttl,access_token_ttl', 'code_ttl']);
  });

  test('APIs: save creates and replaces scopes and routes in order; scope descriptions; delete removes everything', async () => {
    const apis = new KyselyApiStore(handle.db);
    const api: ApiDefinition = {
      id: randomUUID(),
      name: 'Accounts',
      basePath: '/accounts',
      upstream: 'http://accounts.internal',
      audience: null,
      timeoutMs: 30_000,
      upstreamToken: 'none',
      upstreamAudience: null,
      maxBodyBytes: 5_000_000_000,
      scopes: [
        { name: 'accounts.read', description: 'Read accounts', descriptionTranslations: { de: 'Konten lesen', fr: 'Lire les comptes « ✓ »' } },
        { name: 'accounts.write', description: 'Change accounts', descriptionTranslations: {} },
      ],
      routes: [
        { methods: ['GET'], path: '/b', scopes: ['accounts.read'] },
        { methods: ['POST', 'PUT'], path: '/a', scopes: ['accounts.write'] },
      ],
      createdAt: NOW,
      updatedAt: NOW,
    };
    await apis.save(api, true, NOW);
    expect(await apis.loadAll()).toEqual([api]);
    expect(await apis.scopeDescriptions()).toEqual(
      new Map([
        ['accounts.read', { description: 'Read accounts', descriptionTranslations: { de: 'Konten lesen', fr: 'Lire les comptes « ✓ »' } }],
        ['accounts.write', { description: 'Change accounts', descriptionTranslations: {} }],
      ]),
    );
    expect(await apis.scopeDescriptions(['accounts.write', 'unknown'])).toEqual(new Map([['accounts.write', { description: 'Change accounts', descriptionTranslations: {} }]]));
    expect(await apis.scopeDescriptions([])).toEqual(new Map());

    const changed: ApiDefinition = { ...api, audience: 'https://accounts.example.com', timeoutMs: 5000, upstreamToken: 'exchange', upstreamAudience: 'urn:example:accounts-upstream', maxBodyBytes: null, scopes: [api.scopes[0]!], routes: [api.routes[0]!], updatedAt: NOW + 5 };
    await apis.save(changed, false, NOW + 5);
    expect(await apis.loadAll()).toEqual([changed]);
    // A second create with a taken name is refused by the unique index, and writes nothing.
    await expect(apis.save({ ...api, id: randomUUID(), basePath: '/other', scopes: [], routes: [] }, true, NOW + 6)).rejects.toThrow();
    expect(await apis.loadAll()).toHaveLength(1);

    await apis.delete(api.id, NOW + 7);
    expect(await apis.loadAll()).toEqual([]);
    expect(await apis.scopeDescriptions()).toEqual(new Map());
    expect(await changes('api')).toEqual([api.id, api.id, api.id]);
  });

  describe('what AccessService reads and revokes', () => {
    let alice: User;
    let bob: User;
    let books: Client;
    let notes: Client;

    beforeAll(async () => {
      const users = new KyselyUserStore(handle.db);
      [alice, bob] = [makeUser('alice'), makeUser('bob')];
      await users.insert(alice, []);
      await users.insert(bob, []);
      const clients = new KyselyClientStore(handle.db);
      [books, notes] = [makeClient('Books'), makeClient('Notes')];
      await clients.insert(books);
      await clients.insert(notes);
    });

    test('consents: list with names, filtered, most recently changed first; revoke says whether there was one', async () => {
      const consents = new KyselyConsentStore(handle.db);
      await consents.grant(alice.id, books.id, ['openid'], NOW);
      await consents.grant(alice.id, notes.id, ['openid', 'profile'], NOW + 10);
      await consents.grant(bob.id, books.id, ['openid'], NOW + 5);
      expect(await consents.list({ userId: alice.id })).toEqual([
        { clientId: notes.id, clientName: 'Notes', userId: alice.id, username: 'alice', scopes: ['openid', 'profile'], createdAt: NOW + 10, updatedAt: NOW + 10 },
        { clientId: books.id, clientName: 'Books', userId: alice.id, username: 'alice', scopes: ['openid'], createdAt: NOW, updatedAt: NOW },
      ]);
      expect((await consents.list({ clientId: books.id })).map((c) => c.username)).toEqual(['bob', 'alice']);
      expect((await consents.list({ userId: bob.id, clientId: notes.id }))).toEqual([]);
      expect(await consents.revoke(bob.id, books.id)).toBe(true);
      expect(await consents.revoke(bob.id, books.id)).toBe(false);
      expect((await consents.list({ clientId: books.id })).map((c) => c.username)).toEqual(['alice']);
    });

    test('refresh families: countLive per user and app; revokeForGrant ends only that user and app', async () => {
      const refresh = new KyselyRefreshStore(handle.db, handle.dialect);
      const family = async (userId: string, clientId: string, expiresAt = NOW + 600) => {
        const id = randomUUID();
        await refresh.createFamily({ id, clientId, userId, scope: 'openid offline_access', sessionId: null, authTime: NOW, amr: ['pwd'], createdAt: NOW, expiresAt, revokedAt: null }, `rt-${id}`, expiresAt);
        return id;
      };
      await family(alice.id, books.id);
      await family(alice.id, books.id);
      await family(alice.id, books.id, NOW - 1); // expired: not live
      const revokedAlready = await family(alice.id, notes.id);
      await refresh.revokeFamily(revokedAlready, NOW - 5);
      await family(alice.id, notes.id);
      await family(bob.id, books.id);

      expect(await refresh.countLive({ userId: alice.id }, NOW)).toEqual(new Map([[`${alice.id}|${books.id}`, 2], [`${alice.id}|${notes.id}`, 1]]));
      expect(await refresh.countLive({ clientId: books.id }, NOW)).toEqual(new Map([[`${alice.id}|${books.id}`, 2], [`${bob.id}|${books.id}`, 1]]));

      // Every unrevoked family counts, expired ones too; the one revoked before keeps its time.
      expect(await refresh.revokeForGrant(alice.id, books.id, NOW + 1)).toBe(3);
      expect(await refresh.revokeForGrant(alice.id, books.id, NOW + 2)).toBe(0);
      expect(await refresh.countLive({}, NOW)).toEqual(new Map([[`${alice.id}|${notes.id}`, 1], [`${bob.id}|${books.id}`, 1]]));
      const revokedAt = await handle.db.selectFrom('refresh_token_families').select('revoked_at').where('id', '=', revokedAlready).executeTakeFirstOrThrow();
      expect(revokedAt.revoked_at).toBe(NOW - 5);
    });

    test('sessions: listForUser carries ip and user agent; revokeBySid ends one live session of that user only', async () => {
      const sessions = new KyselySessionStore(handle.db);
      const session = (n: string, userId: string) => ({ idHash: `adm-${n}`, sid: `sid-${n}`, userId, authTime: NOW, amr: ['pwd'], createdAt: NOW, expiresAt: NOW + 3600, lastSeenAt: NOW, revokedAt: null });
      await sessions.insert(session('a1', alice.id), { ip: '198.51.100.4', userAgent: 'Firefox' });
      await sessions.insert(session('b1', bob.id), { ip: null, userAgent: null });
      expect(await sessions.listForUser(alice.id, NOW)).toEqual([{ ...session('a1', alice.id), ip: '198.51.100.4', userAgent: 'Firefox' }]);

      expect(await sessions.revokeBySid(alice.id, 'sid-b1', NOW + 1)).toBe(false); // bob's session, not alice's
      expect(await sessions.revokeBySid(alice.id, 'sid-a1', NOW + 1)).toBe(true);
      expect(await sessions.revokeBySid(alice.id, 'sid-a1', NOW + 2)).toBe(false);
      expect((await sessions.find('adm-a1'))!.revokedAt).toBe(NOW + 1);
      expect((await sessions.find('adm-b1'))!.revokedAt).toBeNull();
      expect(await sessions.listForUser(alice.id, NOW)).toEqual([]);
    });
  });

  test('users: delete takes sessions, consents, refresh tokens, provider links and roles with the user, nothing of anyone else, and announces it', async () => {
    const users = new KyselyUserStore(handle.db);
    const [carol, dave] = [makeUser('carol'), makeUser('dave')];
    await users.insert(carol, ['admin']);
    await users.insert(dave, ['admin']);
    const app = makeClient('Deletion');
    await new KyselyClientStore(handle.db).insert(app);
    const consents = new KyselyConsentStore(handle.db);
    const sessions = new KyselySessionStore(handle.db);
    const refresh = new KyselyRefreshStore(handle.db, handle.dialect);
    const providerId = randomUUID();
    await handle.db
      .insertInto('identity_providers')
      .values({ id: providerId, slug: `del-${providerId.slice(0, 8)}`, name: 'Del', kind: 'oauth2', issuer: null, endpoints: '{}', claim_mapping: null, client_id: 'x', client_secret: null, scopes: '[]', trust_email: 0, enabled: 1, created_at: NOW, updated_at: NOW })
      .execute();
    for (const u of [carol, dave]) {
      await consents.grant(u.id, app.id, ['openid'], NOW);
      await sessions.insert({ idHash: `del-${u.username}`, sid: `del-sid-${u.username}`, userId: u.id, authTime: NOW, amr: ['pwd'], createdAt: NOW, expiresAt: NOW + 3600, lastSeenAt: NOW, revokedAt: null }, { ip: null, userAgent: null });
      const id = randomUUID();
      await refresh.createFamily({ id, clientId: app.id, userId: u.id, scope: 'openid offline_access', sessionId: null, authTime: NOW, amr: ['pwd'], createdAt: NOW, expiresAt: NOW + 600, revokedAt: null }, `rt-${id}`, NOW + 600);
      await handle.db.insertInto('identity_links').values({ provider_id: providerId, subject: `sub-${u.username}`, user_id: u.id, email: null, created_at: NOW, last_sign_in_at: null }).execute();
    }
    expect(await users.countActiveWithRole('admin', carol.id)).toBeGreaterThanOrEqual(1);
    const before = await users.countActiveWithRole('admin', dave.id);
    const announced = (await changes('user')).filter((k) => k === carol.id).length;

    expect(await users.delete(carol.id, NOW + 1)).toBe(true);
    expect(await users.delete(carol.id, NOW + 2)).toBe(false);
    expect(await users.findById(carol.id)).toBeUndefined();
    const left = async (table: 'sessions' | 'consents' | 'refresh_token_families' | 'identity_links' | 'user_roles', userId: string) =>
      (await handle.db.selectFrom(table).select('user_id').where('user_id', '=', userId).execute()).length;
    for (const table of ['sessions', 'consents', 'refresh_token_families', 'identity_links', 'user_roles'] as const) {
      expect(await left(table, carol.id), table).toBe(0);
      expect(await left(table, dave.id), table).toBe(1);
    }
    expect((await changes('user')).filter((k) => k === carol.id)).toHaveLength(announced + 2);
    // carol no longer counts as another active admin for dave.
    expect(await users.countActiveWithRole('admin', dave.id)).toBe(before - 1);
    expect(await users.appsActingFor(dave.id)).toEqual([]);
  });
});
