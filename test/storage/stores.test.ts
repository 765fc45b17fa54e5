import { randomUUID } from 'node:crypto';
import { sql } from 'kysely';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, test, vi } from 'vitest';
import type { Client } from '../../src/clients/client.ts';
import { KyselyClientStore } from '../../src/clients/client-store.ts';
import { KyselyUserStore } from '../../src/identity/user-store.ts';
import type { User } from '../../src/identity/user.ts';
import { KyselyKeyStore, type StoredKey } from '../../src/keys/key-store.ts';
import { KyselyRevocationStore } from '../../src/oauth/revocation-store.ts';
import { ChangeFeed, publishChange, type ChangeKind } from '../../src/storage/change-feed.ts';
import { CHANGE_CHANNEL, ChangeNotificationListener } from '../../src/storage/change-notifications.ts';
import { LISTENER_APPLICATION_NAME, migrateToLatest, openDatabase, type DatabaseHandle } from '../../src/storage/database.ts';
import { StaticMigrationProvider } from '../../src/storage/migrations/index.ts';
import { createTestDatabase, DIALECTS, type TestDatabase } from '../support/databases.ts';
import { recordingLogger } from '../support/logger.ts';

/**
 * The store contract, run on SQLite and PostgreSQL alike: what one dialect does, the other
 * must do too. Each dialect gets its own fresh database, migrated once.
 */

const NOW = 1_750_000_000;

function makeUser(username: string, overrides: Partial<User> = {}): User {
  return {
    id: randomUUID(),
    username,
    email: `${username.toLowerCase()}@example.com`,
    emailVerified: false,
    name: null,
    givenName: null,
    familyName: null,
    passwordHash: '$argon2id$v=19$m=19456,t=2,p=1$c2FsdA$aGFzaA',
    passwordChangedAt: NOW,
    disabled: false,
    tokensValidAfter: 0,
    createdAt: NOW,
    updatedAt: NOW,
    ...overrides,
  };
}

function makeClient(overrides: Partial<Client> = {}): Client {
  return {
    id: randomUUID(),
    name: 'Reporting',
    description: 'Nightly exports',
    secretHash: 'q1YzR3Y2bW9ja19zaGEyNTZfaGFzaF9vZl9zZWNyZXQ',
    secretUpdatedAt: NOW,
    previousSecretHash: null,
    previousSecretExpiresAt: null,
    public: false,
    grantTypes: ['client_credentials'],
    redirectUris: [],
    postLogoutRedirectUris: [],
    scopes: ['accounts.read'],
    defaultScopes: [],
    onBehalfOfUserId: null,
    accessTokenTtl: null,
    refreshTokenTtl: null,
    requirePermission: 'developer_api',
    idTokenSignedResponseAlg: null,
    requireMfa: false,
    logoUri: null,
    clientUri: null,
    policyUri: null,
    tosUri: null,
    logoHash: null,
    registrationTokenHash: null,
    tokenEndpointAuthMethod: null,
    dpopBoundAccessTokens: false,
    jwks: null,
    jwksUri: null,
    requirePushedAuthorizationRequests: false,
    nameTranslations: {},
    tokenExchange: null,
    tokensValidAfter: 0,
    createdAt: NOW,
    updatedAt: NOW,
    ...overrides,
  };
}

function makeKey(alg: 'ES256' | 'RS256', createdAt: number): StoredKey {
  const kid = `${alg.toLowerCase()}-${randomUUID()}`;
  return {
    kid,
    alg,
    status: 'active',
    public_jwk: JSON.stringify({ kid, alg, kty: alg === 'ES256' ? 'EC' : 'RSA', use: 'sig' }),
    private_key: 'v1.iv.tag.body',
    created_at: createdAt,
    activated_at: createdAt,
    deactivated_at: null,
  };
}

describe.each(DIALECTS)('stores on %s', (dialect) => {
  let database: TestDatabase;
  let handle: DatabaseHandle;
  let firstRun: string[];
  const extraHandles: DatabaseHandle[] = [];

  beforeAll(async () => {
    database = await createTestDatabase(dialect);
    handle = openDatabase(database.url);
    firstRun = await migrateToLatest(handle);
  });

  afterAll(async () => {
    for (const h of extraHandles) await h.close();
    await handle?.close();
    await database?.drop();
  });

  /** Another connection (pool) to the same database: what a second node or the CLI has. */
  function secondHandle(): DatabaseHandle {
    const h = openDatabase(database.url);
    extraHandles.push(h);
    return h;
  }

  async function changeEvents(kind: ChangeKind, key?: string): Promise<Array<{ kind: string; key: string; at: number }>> {
    let q = handle.db.selectFrom('change_events').select(['kind', 'key', 'at']).where('kind', '=', kind).orderBy('id');
    if (key !== undefined) q = q.where('key', '=', key);
    return (await q.execute()).map((r) => ({ kind: r.kind, key: r.key, at: Number(r.at) }));
  }

  describe('migrations', () => {
    test('the first run applies every migration, in order', async () => {
      const all = Object.keys(await new StaticMigrationProvider({ dialect }).getMigrations());
      expect(all.length).toBeGreaterThan(0);
      expect(firstRun).toEqual(all);
      expect(handle.dialect).toBe(dialect);
    });

    test('running again applies nothing, on the same and on another handle', async () => {
      expect(await migrateToLatest(handle)).toEqual([]);
      expect(await migrateToLatest(secondHandle())).toEqual([]);
      const recorded = await handle.db
        .selectFrom('tessera_migrations' as never)
        .select('name' as never)
        .execute();
      expect(recorded).toHaveLength(firstRun.length);
    });

    test('the built-in roles and permission are seeded once', async () => {
      const users = new KyselyUserStore(handle.db);
      const roles = await users.listRoles();
      expect(roles.filter((r) => r.builtin).map((r) => r.name)).toEqual(['admin', 'developer']);
      expect(await users.findRole('admin')).toMatchObject({ allPermissions: true, builtin: true });
      expect(await users.findRole('developer')).toMatchObject({ allPermissions: false, permissions: ['developer_api'] });
      expect(await users.findPermission('developer_api')).toEqual({ name: 'developer_api', description: 'Developer API', builtin: true });
    });
  });

  describe('KyselyClientStore', () => {
    test('insert and findById round-trip every field', async () => {
      const store = new KyselyClientStore(handle.db);
      const users = new KyselyUserStore(handle.db);
      const owner = makeUser(`owner-${randomUUID().slice(0, 8)}`);
      await users.insert(owner, []);
      const client = makeClient({
        name: 'Ünïcode app ✓',
        description: "it's \"quoted\"",
        grantTypes: ['client_credentials', 'authorization_code'],
        redirectUris: ['https://app.example/cb', 'https://app.example/cb2?x=1'],
        postLogoutRedirectUris: ['https://app.example/bye'],
        scopes: ['accounts.read', 'accounts.write'],
        defaultScopes: ['accounts.read'],
        onBehalfOfUserId: owner.id,
        accessTokenTtl: 180,
        refreshTokenTtl: 172_800,
        requirePermission: 'reports_api',
        idTokenSignedResponseAlg: 'ES256',
        logoUri: 'https://cdn.app.example/logo.png',
        clientUri: 'https://app.example/',
        policyUri: 'https://app.example/privacy',
        tosUri: 'https://app.example/terms',
        logoHash: 'a'.repeat(64),
        dpopBoundAccessTokens: true,
        tokenEndpointAuthMethod: 'private_key_jwt',
        jwks: { keys: [{ kty: 'EC', crv: 'P-256', x: 'f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU', y: 'x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0', kid: 'k1' }] },
        requirePushedAuthorizationRequests: true,
        nameTranslations: { de: 'Ünïcode-App ✓', es: "l'app \"citada\"" },
        tokenExchange: { audiences: ['https://api.example/orders', 'inventory-service'], scopes: ['accounts.read'], subjectClients: [randomUUID()] },
        tokensValidAfter: NOW + 5,
        createdAt: NOW - 10,
        updatedAt: NOW,
      });
      await store.insert(client);
      const found = await store.findById(client.id);
      expect(found).toEqual(client);
      expect(typeof found!.createdAt).toBe('number');
      expect(typeof found!.tokensValidAfter).toBe('number');
    });

    test('a token-exchange policy is saved, changed and removed (RFC 8693)', async () => {
      const store = new KyselyClientStore(handle.db);
      const client = makeClient({ tokenExchange: { audiences: ['urn:example:a'], scopes: null, subjectClients: null } });
      await store.insert(client);
      expect((await store.findById(client.id))!.tokenExchange).toEqual({ audiences: ['urn:example:a'], scopes: null, subjectClients: null });
      const changed = { ...client, tokenExchange: { audiences: ['urn:example:b'], scopes: ['accounts.read'], subjectClients: null }, updatedAt: NOW + 1 };
      await store.save(changed);
      expect(await store.findById(client.id)).toEqual(changed);
      await store.save({ ...changed, tokenExchange: null, updatedAt: NOW + 2 });
      expect((await store.findById(client.id))!.tokenExchange).toBeNull();
    });

    test('a public client keeps a null secret', async () => {
      const store = new KyselyClientStore(handle.db);
      const spa = makeClient({ public: true, secretHash: null, secretUpdatedAt: null, grantTypes: ['authorization_code'] });
      await store.insert(spa);
      expect(await store.findById(spa.id)).toEqual(spa);
    });

    test('unknown ids, including ones PostgreSQL text cannot hold, find nothing', async () => {
      const store = new KyselyClientStore(handle.db);
      expect(await store.findById(randomUUID())).toBeUndefined();
      expect(await store.findById('')).toBeUndefined();
      expect(await store.findById('a\u0000b')).toBeUndefined();
      expect(await store.findById("' or 1=1 --")).toBeUndefined();
    });

    test('a duplicate id is refused', async () => {
      const store = new KyselyClientStore(handle.db);
      const client = makeClient();
      await store.insert(client);
      await expect(store.insert({ ...client, name: 'Other' })).rejects.toThrow();
      expect((await store.findById(client.id))!.name).toBe('Reporting');
    });

    test('an on-behalf user that does not exist is refused (foreign key)', async () => {
      const store = new KyselyClientStore(handle.db);
      const client = makeClient({ onBehalfOfUserId: randomUUID() });
      await expect(store.insert(client)).rejects.toThrow();
      expect(await store.findById(client.id)).toBeUndefined();
    });

    test('save replaces the app (not its creation time) and publishes a change', async () => {
      const store = new KyselyClientStore(handle.db);
      const client = makeClient();
      await store.insert(client);
      const changed: Client = {
        ...client,
        name: 'Renamed',
        secretHash: 'new-hash',
        secretUpdatedAt: NOW + 60,
        scopes: [],
        accessTokenTtl: 600,
        tokensValidAfter: NOW + 60,
        createdAt: NOW + 999,
        updatedAt: NOW + 60,
      };
      await store.save(changed);
      expect(await store.findById(client.id)).toEqual({ ...changed, createdAt: NOW });
      expect(await changeEvents('client', client.id)).toEqual([{ kind: 'client', key: client.id, at: NOW + 60 }]);
    });

    test('delete removes the app once, and publishes a change', async () => {
      const store = new KyselyClientStore(handle.db);
      const client = makeClient();
      await store.insert(client);
      expect(await store.delete(client.id, NOW + 1)).toBe(true);
      expect(await store.findById(client.id)).toBeUndefined();
      expect(await store.delete(client.id, NOW + 2)).toBe(false);
      expect((await changeEvents('client', client.id)).map((e) => e.at)).toEqual([NOW + 1, NOW + 2]);
    });

    test('list orders by creation time, then name; countByOnBehalfOf counts', async () => {
      const store = new KyselyClientStore(handle.db);
      const users = new KyselyUserStore(handle.db);
      const owner = makeUser(`lister-${randomUUID().slice(0, 8)}`);
      await users.insert(owner, []);
      const t = NOW - 100_000;
      const b = makeClient({ name: 'b', createdAt: t, onBehalfOfUserId: owner.id });
      const a = makeClient({ name: 'a', createdAt: t, onBehalfOfUserId: owner.id });
      const earliest = makeClient({ name: 'z', createdAt: t - 1 });
      for (const c of [b, a, earliest]) await store.insert(c);
      const ids = (await store.list()).map((c) => c.id);
      expect(ids.slice(0, 3)).toEqual([earliest.id, a.id, b.id]);
      expect(await store.countByOnBehalfOf(owner.id)).toBe(2);
      expect(await store.countByOnBehalfOf(randomUUID())).toBe(0);
    });
  });

  describe('KyselyUserStore', () => {
    test('insert and findById round-trip every field', async () => {
      const store = new KyselyUserStore(handle.db);
      const user = makeUser(`Round-${randomUUID().slice(0, 8)}`, {
        email: null,
        emailVerified: true,
        name: 'Ada Lovelace',
        givenName: 'Ada',
        familyName: 'Lovelace',
        passwordHash: null,
        passwordChangedAt: null,
        disabled: true,
        tokensValidAfter: NOW + 3,
      });
      await store.insert(user, ['developer']);
      expect(await store.findById(user.id)).toEqual(user);
      expect(await store.rolesOf(user.id)).toEqual(['developer']);
      expect(await store.findById(randomUUID())).toBeUndefined();
    });

    test('the locale: written at insert and by setLocale (not by save, which may hold an older read), cleared with null', async () => {
      const store = new KyselyUserStore(handle.db);
      const user = makeUser(`Locale-${randomUUID().slice(0, 8)}`, { locale: 'de' });
      await store.insert(user, []);
      expect(await store.findById(user.id)).toEqual(user);
      await store.setLocale(user.id, 'fr');
      expect((await store.findById(user.id))?.locale).toBe('fr');
      await store.save({ ...user, name: 'Renamed', updatedAt: NOW + 1 });
      expect(await store.findById(user.id)).toMatchObject({ name: 'Renamed', locale: 'fr' });
      await store.setLocale(user.id, null);
      expect((await store.findById(user.id))?.locale).toBeUndefined();
      const other = makeUser(`Nolocale-${randomUUID().slice(0, 8)}`);
      await store.insert(other, []);
      expect((await store.findById(other.id))?.locale).toBeUndefined();
    });

    test('usernames are found case-insensitively (and NFKC-normalised), keeping their spelling', async () => {
      const store = new KyselyUserStore(handle.db);
      const tag = randomUUID().slice(0, 8);
      const user = makeUser(`Alice-${tag}`);
      await store.insert(user, []);
      for (const spelling of [`Alice-${tag}`, `alice-${tag}`, `ALICE-${tag}`, `Ａｌｉｃｅ-${tag}`]) {
        const found = await store.findByUsername(spelling);
        expect(found?.id, spelling).toBe(user.id);
        expect(found?.username).toBe(`Alice-${tag}`);
      }
      expect(await store.findByUsername(`alice-${tag}x`)).toBeUndefined();
    });

    test('a username differing only in case is a unique violation, and nothing is half-written', async () => {
      const store = new KyselyUserStore(handle.db);
      const tag = randomUUID().slice(0, 8);
      await store.insert(makeUser(`bob-${tag}`), []);
      const twin = makeUser(`BOB-${tag}`);
      await expect(store.insert(twin, ['developer'])).rejects.toThrow();
      expect(await store.findById(twin.id)).toBeUndefined();
      expect(await store.rolesOf(twin.id)).toEqual([]);
    });

    test('an unknown role is refused, and the user is not created', async () => {
      const store = new KyselyUserStore(handle.db);
      const user = makeUser(`norole-${randomUUID().slice(0, 8)}`);
      await expect(store.insert(user, ['no-such-role'])).rejects.toThrow();
      expect(await store.findById(user.id)).toBeUndefined();
    });

    test('save updates and publishes; setRoles replaces the roles and publishes', async () => {
      const store = new KyselyUserStore(handle.db);
      const user = makeUser(`carol-${randomUUID().slice(0, 8)}`);
      await store.insert(user, ['developer']);
      await store.save({ ...user, disabled: true, tokensValidAfter: NOW + 9, updatedAt: NOW + 9, createdAt: 1 });
      expect(await store.findById(user.id)).toEqual({ ...user, disabled: true, tokensValidAfter: NOW + 9, updatedAt: NOW + 9 });

      await store.setRoles(user.id, ['admin', 'developer'], NOW + 10);
      expect(await store.rolesOf(user.id)).toEqual(['admin', 'developer']);
      await store.setRoles(user.id, [], NOW + 11);
      expect(await store.rolesOf(user.id)).toEqual([]);
      expect((await store.findById(user.id))!.updatedAt).toBe(NOW + 11);
      expect((await changeEvents('user', user.id)).map((e) => e.at)).toEqual([NOW + 9, NOW + 10, NOW + 11]);
    });

    test('list orders by username, case-insensitively', async () => {
      const store = new KyselyUserStore(handle.db);
      const tag = `list${randomUUID().slice(0, 6)}`;
      for (const name of [`${tag}-b`, `${tag}-C`, `${tag}-a`]) await store.insert(makeUser(name), []);
      const names = (await store.list()).map((u) => u.username).filter((n) => n.startsWith(tag));
      expect(names).toEqual([`${tag}-a`, `${tag}-b`, `${tag}-C`]);
    });

    describe('principal: roles → permissions', () => {
      let store: KyselyUserStore;
      const tag = randomUUID().slice(0, 6);
      const perm = (name: string) => `${name}_${tag}`;

      beforeAll(async () => {
        store = new KyselyUserStore(handle.db);
        await store.createPermission({ name: perm('reports'), description: 'Reports' }, NOW);
        await store.createPermission({ name: perm('billing'), description: 'Billing' }, NOW);
        await store.createRole({ name: `auditor_${tag}`, description: 'Reads reports' }, NOW);
        await store.grantPermission(`auditor_${tag}`, perm('reports'), NOW);
        await store.grantPermission(`auditor_${tag}`, 'developer_api', NOW);
        await store.createRole({ name: `finance_${tag}`, description: 'Billing' }, NOW);
        await store.grantPermission(`finance_${tag}`, perm('billing'), NOW);
        await store.grantPermission(`finance_${tag}`, perm('reports'), NOW);
      });

      test('no roles → no permissions', async () => {
        const user = makeUser(`p0-${tag}`);
        await store.insert(user, []);
        expect(await store.principal(user.id)).toEqual({ user, roles: [], permissions: [] });
      });

      test('developer → developer_api', async () => {
        const user = makeUser(`p1-${tag}`);
        await store.insert(user, ['developer']);
        expect(await store.principal(user.id)).toEqual({ user, roles: ['developer'], permissions: ['developer_api'] });
      });

      test('several roles → the union of their permissions, each once, sorted', async () => {
        const user = makeUser(`p2-${tag}`);
        await store.insert(user, [`finance_${tag}`, `auditor_${tag}`, 'developer']);
        const principal = await store.principal(user.id);
        expect(principal!.roles).toEqual([`auditor_${tag}`, 'developer', `finance_${tag}`]);
        expect(principal!.permissions).toEqual([perm('billing'), perm('reports'), 'developer_api'].sort());
      });

      test("admin's all_permissions → every permission, including ones created later", async () => {
        const user = makeUser(`p3-${tag}`);
        await store.insert(user, ['admin']);
        const every = (await store.listPermissions()).map((p) => p.name);
        expect(every).toEqual(expect.arrayContaining(['developer_api', perm('reports'), perm('billing')]));
        expect((await store.principal(user.id))!.permissions).toEqual(every);

        await store.createPermission({ name: perm('later'), description: 'Later' }, NOW);
        expect((await store.principal(user.id))!.permissions).toContain(perm('later'));
      });

      test('a permission granted to a role reaches its users; granting twice is harmless', async () => {
        const user = makeUser(`p4-${tag}`);
        await store.insert(user, [`auditor_${tag}`]);
        await store.createPermission({ name: perm('export'), description: 'Export' }, NOW);
        await store.grantPermission(`auditor_${tag}`, perm('export'), NOW + 1);
        await store.grantPermission(`auditor_${tag}`, perm('export'), NOW + 2);
        expect((await store.principal(user.id))!.permissions).toContain(perm('export'));
        expect((await store.findRole(`auditor_${tag}`))!.permissions.filter((p) => p === perm('export'))).toHaveLength(1);
        expect((await changeEvents('role', `auditor_${tag}`)).length).toBeGreaterThanOrEqual(2);
      });

      test('concurrent grants of the same permission all succeed and store it once', async () => {
        await store.createPermission({ name: perm('race'), description: 'Race' }, NOW);
        const results = await Promise.allSettled(Array.from({ length: 8 }, (_, i) => store.grantPermission(`auditor_${tag}`, perm('race'), NOW + i)));
        expect(results.filter((r) => r.status === 'rejected')).toEqual([]);
        expect((await store.findRole(`auditor_${tag}`))!.permissions.filter((p) => p === perm('race'))).toHaveLength(1);
      });

      test('unknown user → undefined', async () => {
        expect(await store.principal(randomUUID())).toBeUndefined();
      });

      test('duplicate role or permission names are refused', async () => {
        await expect(store.createRole({ name: `auditor_${tag}`, description: '' }, NOW)).rejects.toThrow();
        await expect(store.createPermission({ name: 'developer_api', description: '' }, NOW)).rejects.toThrow();
      });
    });
  });

  describe('KyselyRevocationStore', () => {
    test('revoke is idempotent: one row, one change event, the first expiry kept', async () => {
      const store = new KyselyRevocationStore(handle.db);
      const jti = randomUUID();
      await store.revoke(jti, 'client-1', NOW + 3600, NOW);
      await store.revoke(jti, 'client-1', NOW + 7200, NOW + 1);
      await store.revoke(jti, null, NOW + 7200, NOW + 2);
      expect(await store.isRevoked(jti)).toBe(true);
      const rows = await handle.db.selectFrom('revoked_tokens').selectAll().where('jti', '=', jti).execute();
      expect(rows.map((r) => ({ ...r, expires_at: Number(r.expires_at), revoked_at: Number(r.revoked_at) }))).toEqual([
        { jti, client_id: 'client-1', expires_at: NOW + 3600, revoked_at: NOW },
      ]);
      expect(await changeEvents('revoked_jti', `${jti} ${NOW + 3600}`)).toHaveLength(1);
    });

    test('revoking concurrently succeeds every time and leaves one row, one change event', async () => {
      const store = new KyselyRevocationStore(handle.db);
      const jti = randomUUID();
      const results = await Promise.allSettled(Array.from({ length: 8 }, () => store.revoke(jti, null, NOW + 60, NOW)));
      // Two nodes revoking one token at once: both succeed (RFC 7009 answers 200 either way).
      expect(results.filter((r) => r.status === 'rejected').map((r) => String((r as PromiseRejectedResult).reason))).toEqual([]);
      expect(await changeEvents('revoked_jti', `${jti} ${NOW + 60}`)).toHaveLength(1);
      expect(await handle.db.selectFrom('revoked_tokens').select('jti').where('jti', '=', jti).execute()).toHaveLength(1);
    });

    test('isRevoked is false for unknown ids', async () => {
      expect(await new KyselyRevocationStore(handle.db).isRevoked(randomUUID())).toBe(false);
    });

    test('listUnexpired and purgeExpired split at expires_at', async () => {
      const store = new KyselyRevocationStore(handle.db);
      const base = NOW + 1_000_000; // far from the other tests' rows
      const past = randomUUID();
      const boundary = randomUUID();
      const future = randomUUID();
      await store.revoke(past, null, base - 1, NOW);
      await store.revoke(boundary, null, base, NOW);
      await store.revoke(future, null, base + 1, NOW);

      const unexpired = await store.listUnexpired(base);
      const ids = unexpired.map((r) => r.jti);
      expect(ids).toContain(future);
      expect(ids).not.toContain(boundary);
      expect(ids).not.toContain(past);
      expect(unexpired.find((r) => r.jti === future)).toEqual({ jti: future, expiresAt: base + 1 });

      const purged = await store.purgeExpired(base, 500);
      expect(purged).toBeGreaterThanOrEqual(2);
      expect(await store.isRevoked(past)).toBe(false);
      expect(await store.isRevoked(boundary)).toBe(false);
      expect(await store.isRevoked(future)).toBe(true);
      expect(await store.purgeExpired(base, 500)).toBe(0);
    });
  });

  describe('KyselyKeyStore', () => {
    /**
     * Each test uses its own time window, earlier than the previous test's, so a cut-off in
     * one test never reaches keys that an earlier test demoted.
     */
    let window = NOW + 100_000_000;
    const nextWindow = () => (window -= 1_000_000);

    test('activate demotes the previous active key of the same algorithm only', async () => {
      const store = new KyselyKeyStore(handle.db);
      const t = nextWindow();
      const es1 = makeKey('ES256', t);
      const rs1 = makeKey('RS256', t);
      await store.activate(es1, t);
      await store.activate(rs1, t);
      const es2 = makeKey('ES256', t + 10);
      await store.activate(es2, t + 10);

      const byKid = new Map((await store.listAll()).map((k) => [k.kid, k]));
      expect(byKid.get(es1.kid)).toMatchObject({ status: 'published', deactivated_at: t + 10 });
      expect(byKid.get(rs1.kid)).toMatchObject({ status: 'active', deactivated_at: null });
      expect(byKid.get(es2.kid)).toMatchObject({ status: 'active', deactivated_at: null, activated_at: t + 10 });
      expect(byKid.get(es2.kid)).toEqual(es2);

      const active = (await store.listUnretired()).filter((k) => k.status === 'active');
      expect(active.filter((k) => k.alg === 'ES256')).toHaveLength(1);
      expect(active.filter((k) => k.alg === 'RS256')).toHaveLength(1);
      expect(await changeEvents('keys', es2.kid)).toEqual([{ kind: 'keys', key: es2.kid, at: t + 10 }]);
    });

    test('listUnretired is newest first', async () => {
      const store = new KyselyKeyStore(handle.db);
      const rows = await store.listUnretired();
      const created = rows.map((r) => Number(r.created_at));
      expect(created).toEqual([...created].sort((a, b) => b - a));
    });

    test('retireDeactivatedBefore retires only keys demoted before the cut-off, never active ones', async () => {
      const store = new KyselyKeyStore(handle.db);
      const t = nextWindow();
      const old = makeKey('RS256', t);
      const middle = makeKey('RS256', t + 100);
      const current = makeKey('RS256', t + 200);
      await store.activate(old, t);
      // Activating `old` demoted an earlier test's RS256 key at t: retire it to count only ours.
      await store.retireDeactivatedBefore(t + 1, t);
      await store.activate(middle, t + 100); // old demoted at t+100
      await store.activate(current, t + 200); // middle demoted at t+200

      expect(await store.retireDeactivatedBefore(t + 100, t + 300)).toBe(0); // strictly before
      expect(await store.retireDeactivatedBefore(t + 101, t + 300)).toBe(1);
      const statuses = Object.fromEntries((await store.listAll()).map((k) => [k.kid, k.status]));
      expect([statuses[old.kid], statuses[middle.kid], statuses[current.kid]]).toEqual(['retired', 'published', 'active']);
      // A retired key's private part is destroyed; the others keep theirs.
      const privateKeys = Object.fromEntries((await store.listAll()).map((k) => [k.kid, k.private_key]));
      expect([privateKeys[old.kid], privateKeys[middle.kid], privateKeys[current.kid]]).toEqual(['', middle.private_key, current.private_key]);

      const unretired = (await store.listUnretired()).map((k) => k.kid);
      expect(unretired).not.toContain(old.kid);
      expect(unretired).toEqual(expect.arrayContaining([middle.kid, current.kid]));
      expect((await store.listAll()).map((k) => k.kid)).toContain(old.kid);

      expect(await store.retireDeactivatedBefore(t + 101, t + 301)).toBe(0);
      expect(await changeEvents('keys', 'retired')).not.toHaveLength(0);
      // Far in the future: everything published goes, the active key of each algorithm stays.
      await store.retireDeactivatedBefore(Number.MAX_SAFE_INTEGER, t + 400);
      const left = await store.listUnretired();
      expect(left.every((k) => k.status === 'active')).toBe(true);
      expect(left.map((k) => k.kid)).toContain(current.kid);
    });

    test('retire retires the named keys whatever their status, keeps a demotion time, and publishes a change', async () => {
      const store = new KyselyKeyStore(handle.db);
      const t = nextWindow();
      const published = makeKey('ES256', t);
      const active = makeKey('ES256', t + 10);
      const other = makeKey('RS256', t + 10);
      await store.activate(published, t);
      await store.activate(active, t + 10); // demotes `published` at t+10
      await store.activate(other, t + 10);
      await store.retire([published.kid, active.kid], t + 20);
      const byKid = new Map((await store.listAll()).map((k) => [k.kid, k]));
      expect(byKid.get(published.kid)).toMatchObject({ status: 'retired', deactivated_at: t + 10 });
      expect(byKid.get(active.kid)).toMatchObject({ status: 'retired', deactivated_at: t + 20 });
      expect(byKid.get(other.kid)).toMatchObject({ status: 'active', deactivated_at: null });
      expect(await changeEvents('keys', 'retired')).toContainEqual({ kind: 'keys', key: 'retired', at: t + 20 });
      await store.retire([], t + 30); // nothing to do
    });

    test('a duplicate kid is refused and leaves the previous active key active', async () => {
      const store = new KyselyKeyStore(handle.db);
      const t = nextWindow();
      const key = makeKey('ES256', t);
      await store.activate(key, t);
      await expect(store.activate({ ...key }, t + 1)).rejects.toThrow();
      expect((await store.listAll()).find((k) => k.kid === key.kid)).toMatchObject({ status: 'active', deactivated_at: null });
    });
  });

  describe('ChangeFeed', () => {
    test('a write published through one handle is seen by a feed polling on a second handle', async () => {
      const writer = handle;
      const reader = secondHandle();
      const seen: Array<[ChangeKind, string]> = [];
      const log = recordingLogger();
      const feed = new ChangeFeed(reader.db, log);
      feed.subscribe((kind, key) => seen.push([kind, key]));

      // Written before the feed starts: not replayed.
      const before = makeClient();
      const clients = new KyselyClientStore(writer.db);
      await clients.insert(before);
      await clients.save({ ...before, name: 'before start' });

      await feed.start(50);
      try {
        const client = makeClient();
        await clients.insert(client);
        await clients.save({ ...client, name: 'changed' });
        const jti = randomUUID();
        await new KyselyRevocationStore(writer.db).revoke(jti, client.id, NOW + 60, NOW);
        await clients.delete(client.id, NOW);

        const expected: Array<[ChangeKind, string]> = [
          ['client', client.id],
          ['revoked_jti', `${jti} ${NOW + 60}`],
          ['client', client.id],
        ];
        await vi.waitFor(() => expect(seen).toEqual(expected), { timeout: 5000, interval: 20 });
        expect(seen.some(([, key]) => key === before.id)).toBe(false);

        // Each event is delivered once.
        await feed.poll();
        await feed.poll();
        expect(seen).toEqual(expected);
        expect(log.entries).toEqual([]);
      } finally {
        await feed.stop();
      }
    });

    test('two feeds see the same events, in order; notifyLocal reaches only local listeners', async () => {
      const a = new ChangeFeed(secondHandle().db, recordingLogger());
      const b = new ChangeFeed(secondHandle().db, recordingLogger());
      const seenA: string[] = [];
      const seenB: string[] = [];
      a.subscribe((kind, key) => seenA.push(`${kind}:${key}`));
      b.subscribe((kind, key) => seenB.push(`${kind}:${key}`));
      await a.start(60_000);
      await b.start(60_000);
      try {
        const users = new KyselyUserStore(handle.db);
        const user = makeUser(`feed-${randomUUID().slice(0, 8)}`);
        await users.insert(user, []);
        await users.setRoles(user.id, ['developer'], NOW);
        await users.save({ ...user, disabled: true, updatedAt: NOW + 1 });
        a.notifyLocal('settings', 'local-only');

        await a.poll();
        await b.poll();
        expect(seenB).toEqual([`user:${user.id}`, `user:${user.id}`]);
        expect(seenA).toEqual(['settings:local-only', `user:${user.id}`, `user:${user.id}`]);
      } finally {
        await a.stop();
        await b.stop();
      }
    });

    // SQLite has one writer at a time, so ids are always committed in order there. PostgreSQL
    // hands out ids when a row is inserted, not when its transaction commits.
    test.runIf(dialect === 'postgres')('an event committed after a later-numbered one is still delivered', async () => {
      const feed = new ChangeFeed(secondHandle().db, recordingLogger());
      const seen: string[] = [];
      feed.subscribe((kind, key) => seen.push(`${kind}:${key}`));
      await feed.start(60_000);
      try {
        let release!: () => void;
        const gate = new Promise<void>((resolve) => (release = resolve));
        let inserted!: () => void;
        const slowInserted = new Promise<void>((resolve) => (inserted = resolve));
        // A slow writer takes the lower id and commits late…
        const slow = handle.db.transaction().execute(async (trx) => {
          await publishChange(trx, 'client', 'slow', NOW);
          inserted();
          await gate;
        });
        await slowInserted;
        // …a fast writer on another connection takes the next id and commits first…
        await publishChange(secondHandle().db, 'client', 'fast', NOW);
        await feed.poll();
        expect(seen).toEqual(['client:fast']);
        // …and the slow one's event must still reach the feed once it commits.
        release();
        await slow;
        await feed.poll();
        expect(seen).toEqual(['client:fast', 'client:slow']);
      } finally {
        await feed.stop();
      }
    });

    test('a rolled-back change is never delivered; later ones are', async () => {
      const feed = new ChangeFeed(secondHandle().db, recordingLogger());
      const seen: string[] = [];
      feed.subscribe((kind, key) => seen.push(`${kind}:${key}`));
      await feed.start(60_000);
      try {
        await expect(
          handle.db.transaction().execute(async (trx) => {
            await publishChange(trx, 'client', 'rolled-back', NOW);
            throw new Error('abort');
          }),
        ).rejects.toThrow('abort');
        await publishChange(handle.db, 'client', 'after', NOW);
        await feed.poll();
        await feed.poll();
        await publishChange(handle.db, 'user', 'later', NOW);
        await feed.poll();
        expect(seen).toEqual(['client:after', 'user:later']);
      } finally {
        await feed.stop();
      }
    });

    test('a failing poll is logged once, not thrown; the feed recovers and delivers what was written meanwhile', async () => {
      const log = recordingLogger();
      const feed = new ChangeFeed(secondHandle().db, log);
      const seen: string[] = [];
      feed.subscribe((kind, key) => seen.push(`${kind}:${key}`));
      await feed.start(60_000);
      try {
        // The table vanishes under the feed (as good as an unreachable database for its query).
        await handle.db.schema.alterTable('change_events').renameTo('change_events_away').execute();
        try {
          await feed.poll();
          await feed.poll();
        } finally {
          await handle.db.schema.alterTable('change_events_away').renameTo('change_events').execute();
        }
        expect(log.entries).toMatchObject([{ level: 'error', message: 'change feed poll failed; retrying', context: { job: 'change feed poll' } }]);
        await publishChange(handle.db, 'client', 'after-outage', NOW);
        await feed.poll();
        expect(seen).toEqual(['client:after-outage']);
        expect(log.entries.slice(1)).toMatchObject([{ level: 'info', message: 'change feed poll works again', context: { failures: 2 } }]);
      } finally {
        await feed.stop();
      }
    });

    test('a throwing listener is logged and neither stops the others nor the rest of a batch', async () => {
      const log = recordingLogger();
      const feed = new ChangeFeed(secondHandle().db, log);
      const seen: string[] = [];
      feed.subscribe((_kind, key) => {
        if (key === 'first') throw new Error('listener bug');
      });
      feed.subscribe((kind, key) => seen.push(`${kind}:${key}`));
      await feed.start(60_000);
      try {
        await publishChange(handle.db, 'client', 'first', NOW);
        await publishChange(handle.db, 'client', 'second', NOW);
        await feed.poll();
        expect(seen).toEqual(['client:first', 'client:second']);
        expect(log.entries).toMatchObject([{ level: 'error', message: 'a change listener failed', context: { kind: 'client', key: 'first' } }]);
      } finally {
        await feed.stop();
      }
    });

    test('a poll on a closed database is logged, not thrown', async () => {
      const broken = openDatabase(database.url);
      const log = recordingLogger();
      const feed = new ChangeFeed(broken.db, log);
      await feed.start(60_000);
      await feed.stop();
      await broken.close();
      await feed.poll();
      expect(log.messages('error')).toEqual(['change feed poll failed; retrying']);
    });

    test('refresh delivers what was committed before it; callers share polls', async () => {
      const feed = new ChangeFeed(secondHandle().db, recordingLogger());
      const seen: string[] = [];
      feed.subscribe((kind, key) => seen.push(`${kind}:${key}`));
      await feed.start(60_000);
      const polls = vi.spyOn(feed, 'poll');
      try {
        await publishChange(handle.db, 'client', 'before-refresh', NOW);
        await feed.refresh();
        expect(seen).toEqual(['client:before-refresh']);
        // A poll already running may have read too early: the callers wait for one more,
        // and share it, however many they are.
        polls.mockClear();
        const running = feed.poll();
        const waiting = Array.from({ length: 100 }, () => feed.refresh());
        expect(polls).toHaveBeenCalledTimes(1);
        await Promise.all([running, ...waiting]);
        expect(polls).toHaveBeenCalledTimes(2);
        expect(seen).toEqual(['client:before-refresh']);
      } finally {
        polls.mockRestore();
        await feed.stop();
      }
    });

    // LISTEN/NOTIFY: the fast path between PostgreSQL nodes (issue 12).
    test.runIf(dialect === 'postgres')('publishChange notifies the event at commit, never before, never for a rollback', async () => {
      const listener = new pg.Client({ connectionString: database.url });
      await listener.connect();
      const heard: string[] = [];
      listener.on('notification', (m) => heard.push(`${m.channel}|${m.payload}`));
      await listener.query(`LISTEN ${CHANGE_CHANNEL}`);
      try {
        const ids = async () => (await handle.db.selectFrom('change_events').select('id').where('key', 'like', 'notify-%').orderBy('id').execute()).map((r) => Number(r.id));
        let release!: () => void;
        const gate = new Promise<void>((resolve) => (release = resolve));
        let inserted!: () => void;
        const written = new Promise<void>((resolve) => (inserted = resolve));
        const committed = handle.db.transaction().execute(async (trx) => {
          await publishChange(trx, 'revoked_jti', 'notify-jti 1750000060', NOW);
          await publishChange(trx, 'user', 'notify-user', NOW);
          inserted();
          await gate;
        });
        await written;
        await new Promise((r) => setTimeout(r, 100));
        expect(heard).toEqual([]); // not before the commit
        release();
        await committed;
        await expect(
          handle.db.transaction().execute(async (trx) => {
            await publishChange(trx, 'client', 'notify-rolled-back', NOW);
            throw new Error('abort');
          }),
        ).rejects.toThrow('abort');
        const long = `notify-${'x'.repeat(2000)}`;
        await publishChange(handle.db, 'api', long, NOW);
        await vi.waitFor(() => expect(heard).toHaveLength(3), { timeout: 5000, interval: 10 });
        const [jti, user, api] = await ids();
        expect(heard).toEqual([
          `${CHANGE_CHANNEL}|${jti} revoked_jti notify-jti 1750000060`,
          `${CHANGE_CHANNEL}|${user} user notify-user`,
          // Too long for a payload: the id alone, and the feed reads the rest.
          `${CHANGE_CHANNEL}|${api}`,
        ]);
        await new Promise((r) => setTimeout(r, 100));
        expect(heard).toHaveLength(3); // nothing for the rollback
      } finally {
        await listener.end();
      }
    });

    test.runIf(dialect === 'postgres')('LISTEN through which notifications do not come back is not trusted: logged, retried, stop ends it', async () => {
      const log = recordingLogger();
      const listener = new ChangeNotificationListener(secondHandle().listenerClient!, log, { probeTimeoutMs: 1000 });
      let listening = 0;
      // As behind a transaction-mode pooler: LISTEN is accepted, the probe never comes back.
      listener.start({ onNotify: () => {}, onListening: () => listening++, probe: async () => {} });
      try {
        await vi.waitFor(() => expect(log.messages('error')).toEqual(['change notification listener failed; retrying']), { timeout: 10_000, interval: 20 });
        expect(String((log.entries[0]!.context.err as Error).message)).toMatch(/did not come back within 1000 ms/);
        expect(listener.listening).toBe(false);
        expect(listening).toBe(0);
      } finally {
        const stopping = Date.now();
        await listener.stop();
        expect(Date.now() - stopping).toBeLessThan(1000);
      }
    });

    test.runIf(dialect === 'postgres')('a listening feed applies changes as they commit, without polling, each once; stop closes its connection', async () => {
      const reader = secondHandle();
      const log = recordingLogger();
      const feed = new ChangeFeed(reader.db, log, new ChangeNotificationListener(reader.listenerClient!, log));
      const seen: string[] = [];
      feed.subscribe((kind, key) => seen.push(`${kind}:${key}`));
      const polls = vi.spyOn(feed, 'poll');
      await feed.start(60_000);
      const listeners = async () =>
        Number(
          (
            await sql<{ n: number }>`select count(*)::int as n from pg_stat_activity where datname = current_database() and application_name = ${LISTENER_APPLICATION_NAME}`.execute(handle.db)
          ).rows[0]!.n,
        );
      try {
        await vi.waitFor(() => expect(feed.listening).toBe(true), { timeout: 5000, interval: 10 });
        expect(await listeners()).toBe(1);
        // LISTEN established: one catch-up read, then none while notifications arrive.
        await vi.waitFor(() => expect(polls).toHaveBeenCalledTimes(1), { timeout: 5000, interval: 10 });
        await new KyselyRevocationStore(handle.db).revoke('listened-jti', null, NOW + 60, NOW);
        await publishChange(handle.db, 'keys', `long-${'k'.repeat(1500)}`, NOW);
        await publishChange(handle.db, 'settings', 'access_token_ttl', NOW);
        // (Not necessarily in order: the long one comes by a read of the table.)
        const expected = ['revoked_jti:listened-jti 1750000060', `keys:long-${'k'.repeat(1500)}`, 'settings:access_token_ttl'];
        await vi.waitFor(() => expect([...seen].sort()).toEqual([...expected].sort()), { timeout: 5000, interval: 5 });
        // Only the event too long for its notification was read from the table.
        expect(polls).toHaveBeenCalledTimes(2);
        // Later polls pass over the events already delivered.
        await feed.poll();
        await feed.poll();
        expect(seen).toHaveLength(3);
        expect(log.entries).toEqual([]);
      } finally {
        polls.mockRestore();
        await feed.stop();
      }
      expect(feed.listening).toBe(false);
      await vi.waitFor(async () => expect(await listeners()).toBe(0), { timeout: 5000, interval: 20 });
    });
  });
});
