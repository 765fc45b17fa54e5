import { sql } from 'kysely';
import { randomBytes, randomUUID } from 'node:crypto';
import { AuditLog } from '../../src/audit/audit-log.ts';
import { KyselyAuditStore } from '../../src/audit/audit-store.ts';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import type { Client } from '../../src/clients/client.ts';
import { KyselyClientStore } from '../../src/clients/client-store.ts';
import type { Clock } from '../../src/clock.ts';
import { KyselyConsentStore } from '../../src/identity/consent-store.ts';
import { DeviceCookies } from '../../src/identity/device-cookie.ts';
import { countersFor, GUESS_POLICIES, type BackoffPolicy, type Counter } from '../../src/identity/guess-throttle.ts';
import { KyselyGuessThrottleStore } from '../../src/identity/guess-throttle-store.ts';
import { PasswordHasher, PasswordHashingUnavailableError } from '../../src/identity/password-hasher.ts';
import type { Passwords } from '../../src/identity/passwords.ts';
import { SessionService } from '../../src/identity/session-service.ts';
import { KyselySessionStore, SqliteSessionStore, sessionStoreFor, type Session, type SessionStore } from '../../src/identity/session-store.ts';
import { KyselyUserStore } from '../../src/identity/user-store.ts';
import { usernameKey, type User } from '../../src/identity/user.ts';
import { sha256 } from '../../src/lib/crypto.ts';
import { silentLogger } from '../../src/lib/logger.ts';
import { codeStoreFor, KyselyCodeStore, SqliteCodeStore, type AuthorizationCode } from '../../src/oauth/code-store.ts';
import { KyselyRefreshStore, refreshStoreFor, SqliteRefreshStore, type NewFamily, type RefreshFamily } from '../../src/oauth/refresh-store.ts';
import { mintRefreshToken, newFamilyKey, parseRefreshToken } from '../../src/oauth/refresh-token-format.ts';
import { RegistryCache } from '../../src/oauth/registry-cache.ts';
import { KyselyRevocationStore } from '../../src/oauth/revocation-store.ts';
import { ChangeFeed } from '../../src/storage/change-feed.ts';
import { migrateToLatest, openDatabase, type DatabaseHandle } from '../../src/storage/database.ts';
import { createTestDatabase, DIALECTS, type TestDatabase } from '../support/databases.ts';
import { recordingLogger } from '../support/logger.ts';

/**
 * The sign-in stores' contract, on SQLite and PostgreSQL alike: authorization codes consumed
 * exactly once (also under concurrency), refresh tokens rotated exactly once (also under
 * concurrency), sessions, consents, the login throttle, and SessionService on top of them.
 * Time is a fixed clock moved by hand; nothing sleeps.
 */

const NOW = 1_760_000_000;
const PASSWORD = 'correct horse battery staple';
const SESSION_TTL = 3600;
/** Enough concurrent callers to occupy several pooled PostgreSQL connections at once. */
const RACERS = 10;

// argon2 is deliberately slow: hash the one real password once for the whole file.
const passwords = new PasswordHasher({ log: silentLogger });
let passwordHash: string;
beforeAll(async () => {
  passwordHash = await passwords.hash(PASSWORD);
});
afterAll(() => passwords.close());

describe.each(DIALECTS)('sign-in stores on %s', (dialect) => {
  let database: TestDatabase;
  let handle: DatabaseHandle;
  let users: KyselyUserStore;
  /** Owner of the codes, refresh families, sessions and consents below. */
  let alice: User;
  let bob: User;
  let clientId: string;
  let otherClientId: string;

  function makeUser(username: string, overrides: Partial<User> = {}): User {
    return {
      id: randomUUID(),
      username,
      email: `${username}@example.com`,
      emailVerified: false,
      name: null,
      givenName: null,
      familyName: null,
      passwordHash,
      passwordChangedAt: NOW - 86_400,
      disabled: false,
      tokensValidAfter: 0,
      createdAt: NOW - 86_400,
      updatedAt: NOW - 86_400,
      ...overrides,
    };
  }

  function makeClient(overrides: Partial<Client> = {}): Client {
    return {
      id: randomUUID(),
      name: 'Web app',
      description: '',
      secretHash: 'q1YzR3Y2bW9ja19zaGEyNTZfaGFzaF9vZl9zZWNyZXQ',
      secretUpdatedAt: NOW,
      previousSecretHash: null,
      previousSecretExpiresAt: null,
      public: false,
      grantTypes: ['authorization_code'],
      redirectUris: ['https://app.example.com/cb'],
      postLogoutRedirectUris: [],
      scopes: ['openid', 'profile', 'email', 'offline_access'],
      defaultScopes: [],
      onBehalfOfUserId: null,
      accessTokenTtl: null,
      refreshTokenTtl: null,
      requirePermission: 'developer_api',
      idTokenSignedResponseAlg: null,
      tokensValidAfter: 0,
      createdAt: NOW,
      updatedAt: NOW,
      ...overrides,
    };
  }

  async function addUser(username: string, overrides: Partial<User> = {}): Promise<User> {
    const user = makeUser(username, overrides);
    await users.insert(user, ['developer']);
    return user;
  }

  beforeAll(async () => {
    database = await createTestDatabase(dialect);
    handle = openDatabase(database.url);
    await migrateToLatest(handle);
    users = new KyselyUserStore(handle.db);
    alice = await addUser('alice');
    bob = await addUser('bob');
    const clients = new KyselyClientStore(handle.db);
    const client = makeClient();
    const other = makeClient({ name: 'Other app', redirectUris: ['https://other.example.org/cb'] });
    await clients.insert(client);
    await clients.insert(other);
    clientId = client.id;
    otherClientId = other.id;
  });

  afterAll(async () => {
    await handle?.close();
    await database?.drop();
  });

  describe('authorization codes', () => {
    function code(hash: string, overrides: Partial<AuthorizationCode> = {}): AuthorizationCode {
      return {
        codeHash: hash,
        clientId,
        userId: alice.id,
        sessionId: 'sid-1',
        redirectUri: 'https://app.example.com/cb',
        redirectUriInRequest: true,
        scope: 'openid offline_access',
        nonce: 'nonce-1',
        codeChallenge: 'E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM',
        codeChallengeMethod: 'S256',
        authTime: NOW - 10,
        amr: ['pwd', 'otp', 'mfa'],
        createdAt: NOW,
        expiresAt: NOW + 1800,
        resource: null,
        dpopJkt: null,
        ...overrides,
      };
    }

    test('every stored field comes back on consume', async () => {
      const codes = codeStoreFor(handle);
      const full = code('code-full', { resource: 'https://api.example.com/mcp', dpopJkt: 'NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs' });
      const sparse = code('code-sparse', { sessionId: null, redirectUriInRequest: false, nonce: null, codeChallenge: null, codeChallengeMethod: null, scope: '' });
      await codes.insert(full);
      await codes.insert(sparse);
      expect(await codes.consume('code-full', NOW + 1)).toEqual({ status: 'consumed', code: full });
      expect(await codes.consume('code-sparse', NOW + 1)).toEqual({ status: 'consumed', code: sparse });
    });

    test('consumed once; a replay reports the code and what recordIssued stored', async () => {
      const codes = codeStoreFor(handle);
      const c = code('code-once');
      await codes.insert(c);
      expect((await codes.consume('code-once', NOW + 1)).status).toBe('consumed');
      // Replayed before the exchange recorded anything: nothing to revoke yet.
      expect(await codes.consume('code-once', NOW + 2)).toEqual({
        status: 'replayed',
        code: c,
        accessTokenJti: null,
        accessTokenExpiresAt: null,
        refreshFamilyId: null,
      });
      // …so recording afterwards tells the first exchange that a replay came first.
      expect(await codes.recordIssued('code-once', { accessTokenJti: 'jti-1', accessTokenExpiresAt: NOW + 3600, refreshFamilyId: 'family-1' })).toEqual({ replayed: true });
      expect(await codes.consume('code-once', NOW + 3)).toEqual({
        status: 'replayed',
        code: c,
        accessTokenJti: 'jti-1',
        accessTokenExpiresAt: NOW + 3600,
        refreshFamilyId: 'family-1',
      });
      // The first consumption time is kept; replays do not move it.
      const row = await handle.db.selectFrom('authorization_codes').select('consumed_at').where('code_hash', '=', 'code-once').executeTakeFirstOrThrow();
      expect(row.consumed_at).toBe(NOW + 1);
    });

    test('recordIssued without a refresh family stores null', async () => {
      const codes = codeStoreFor(handle);
      await codes.insert(code('code-no-refresh'));
      await codes.consume('code-no-refresh', NOW);
      expect(await codes.recordIssued('code-no-refresh', { accessTokenJti: 'jti-2', accessTokenExpiresAt: NOW + 60, refreshFamilyId: null })).toEqual({ replayed: false });
      expect(await codes.consume('code-no-refresh', NOW)).toMatchObject({ status: 'replayed', accessTokenJti: 'jti-2', accessTokenExpiresAt: NOW + 60, refreshFamilyId: null });
    });

    function newFamily(id: string = randomUUID()): NewFamily {
      return {
        family: { id, clientId, userId: alice.id, scope: 'openid offline_access', sessionId: null, authTime: NOW - 10, amr: ['pwd'], resource: null, dpopJkt: null, createdAt: NOW, expiresAt: NOW + 86_400, revokedAt: null },
        firstTokenHash: `refresh-${randomUUID()}`,
        tokenExpiresAt: NOW + 86_400,
      };
    }

    test('find reads the code and whether it was consumed, and changes nothing', async () => {
      const codes = codeStoreFor(handle);
      const c = code('code-find', { resource: 'https://api.example.com/mcp', dpopJkt: 'NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs' });
      await codes.insert(c);
      expect(await codes.find('code-find')).toEqual({ code: c, consumed: false });
      expect(await codes.find('code-find')).toEqual({ code: c, consumed: false });
      expect((await codes.consume('code-find', NOW + 1)).status).toBe('consumed');
      expect(await codes.find('code-find')).toEqual({ code: c, consumed: true });
      expect(await codes.find('no-such-code')).toBeUndefined();
    });

    test('exchange consumes the code, records what it gave and creates the family in one write; after it, an exchange writes nothing and a replay finds the first', async () => {
      const codes = codeStoreFor(handle);
      const refresh = refreshStoreFor(handle);
      await codes.insert(code('code-exchange'));
      const first = newFamily();
      const issued = { accessTokenJti: 'jti-x1', accessTokenExpiresAt: NOW + 3600, refreshFamilyId: first.family.id };
      expect(await codes.exchange('code-exchange', NOW + 1, issued, first)).toBe(true);
      expect((await refresh.find(first.firstTokenHash))?.family).toEqual(first.family);
      expect(await codes.find('code-exchange')).toMatchObject({ consumed: true });

      const second = newFamily();
      expect(await codes.exchange('code-exchange', NOW + 2, { accessTokenJti: 'jti-x2', accessTokenExpiresAt: NOW + 3600, refreshFamilyId: second.family.id }, second)).toBe(false);
      expect(await refresh.find(second.firstTokenHash)).toBeUndefined();
      expect(await codes.exchange('code-exchange', NOW + 2, { accessTokenJti: 'jti-x3', accessTokenExpiresAt: NOW + 3600, refreshFamilyId: null }, undefined)).toBe(false);
      expect(await codes.consume('code-exchange', NOW + 3)).toMatchObject({ status: 'replayed', ...issued });
      const row = await handle.db.selectFrom('authorization_codes').select('consumed_at').where('code_hash', '=', 'code-exchange').executeTakeFirstOrThrow();
      expect(row.consumed_at).toBe(NOW + 1);
    });

    test('exchange without a family records null; a code consumed otherwise, or unknown, is not exchanged', async () => {
      const codes = codeStoreFor(handle);
      await codes.insert(code('code-exchange-plain'));
      expect(await codes.exchange('code-exchange-plain', NOW, { accessTokenJti: 'jti-p', accessTokenExpiresAt: NOW + 60, refreshFamilyId: null }, undefined)).toBe(true);
      expect(await codes.consume('code-exchange-plain', NOW)).toMatchObject({ status: 'replayed', accessTokenJti: 'jti-p', accessTokenExpiresAt: NOW + 60, refreshFamilyId: null });
      await codes.insert(code('code-consumed-first'));
      await codes.consume('code-consumed-first', NOW);
      const family = newFamily();
      expect(await codes.exchange('code-consumed-first', NOW, { accessTokenJti: 'jti-c', accessTokenExpiresAt: NOW + 60, refreshFamilyId: family.family.id }, family)).toBe(false);
      expect(await refreshStoreFor(handle).find(family.firstTokenHash)).toBeUndefined();
      expect(await codes.consume('code-consumed-first', NOW)).toMatchObject({ status: 'replayed', accessTokenJti: null, refreshFamilyId: null });
      expect(await codes.exchange('no-such-code', NOW, { accessTokenJti: 'jti-u', accessTokenExpiresAt: NOW + 60, refreshFamilyId: null }, undefined)).toBe(false);
    });

    test('an exchange whose family cannot be written fails and leaves the code unconsumed', async () => {
      const codes = codeStoreFor(handle);
      const taken = newFamily();
      await refreshStoreFor(handle).createFamily(taken.family, taken.firstTokenHash, taken.tokenExpiresAt);
      await codes.insert(code('code-exchange-fails'));
      const clash = newFamily(taken.family.id);
      await expect(codes.exchange('code-exchange-fails', NOW, { accessTokenJti: 'jti-f', accessTokenExpiresAt: NOW + 60, refreshFamilyId: clash.family.id }, clash)).rejects.toThrow();
      expect(await codes.find('code-exchange-fails')).toMatchObject({ consumed: false });
      expect(await refreshStoreFor(handle).find(clash.firstTokenHash)).toBeUndefined();
    });

    test(`of ${RACERS} concurrent exchanges of one code exactly one wins, and only its family exists`, async () => {
      const codes = codeStoreFor(handle);
      const refresh = refreshStoreFor(handle);
      await codes.insert(code('code-exchange-race'));
      const families = Array.from({ length: RACERS }, () => newFamily());
      const won = await Promise.all(
        families.map((f, i) => codes.exchange('code-exchange-race', NOW + 1 + i, { accessTokenJti: `jti-r${i}`, accessTokenExpiresAt: NOW + 3600, refreshFamilyId: f.family.id }, f)),
      );
      expect(won.filter(Boolean)).toHaveLength(1);
      const winner = won.indexOf(true);
      for (const [i, f] of families.entries()) expect(await refresh.find(f.firstTokenHash), `family ${i}`).toEqual(i === winner ? expect.objectContaining({ family: f.family }) : undefined);
      expect(await codes.consume('code-exchange-race', NOW + 100)).toMatchObject({ status: 'replayed', accessTokenJti: `jti-r${winner}` });
    });

    test('an unknown code is unknown, also after a consumed code of another hash', async () => {
      const codes = codeStoreFor(handle);
      expect(await codes.consume('no-such-code', NOW)).toEqual({ status: 'unknown' });
      expect(await codes.consume(`${'code-once'.toUpperCase()}`, NOW)).toEqual({ status: 'unknown' });
    });

    test(`of ${RACERS} concurrent consumers exactly one gets the code`, async () => {
      const codes = codeStoreFor(handle);
      await codes.insert(code('code-race'));
      const results = await Promise.all(Array.from({ length: RACERS }, (_, i) => codes.consume('code-race', NOW + 1 + i)));
      expect(results.filter((r) => r.status === 'consumed')).toHaveLength(1);
      expect(results.filter((r) => r.status === 'replayed')).toHaveLength(RACERS - 1);
    });

    test('purgeExpired deletes codes expired before the cut-off, consumed or not, and keeps the rest', async () => {
      const codes = codeStoreFor(handle);
      await codes.insert(code('code-old-1', { createdAt: NOW - 4000, expiresAt: NOW - 2200 }));
      await codes.insert(code('code-old-2', { createdAt: NOW - 4000, expiresAt: NOW - 2100 }));
      await codes.consume('code-old-2', NOW - 3000);
      await codes.insert(code('code-edge', { createdAt: NOW - 4000, expiresAt: NOW - 2000 }));
      expect(await codes.purgeExpired(NOW - 2000, 500)).toBe(2);
      expect(await codes.consume('code-old-1', NOW)).toEqual({ status: 'unknown' });
      expect(await codes.consume('code-old-2', NOW)).toEqual({ status: 'unknown' });
      // Expiring exactly at the cut-off is not yet "before" it.
      expect((await codes.consume('code-edge', NOW)).status).toBe('consumed');
      // Unexpired consumed codes stay, so a replay is still recognised.
      expect((await codes.consume('code-once', NOW)).status).toBe('replayed');
      expect(await codes.purgeExpired(NOW - 2000, 500)).toBe(0);
    });
  });

  describe('refresh tokens', () => {
    function family(overrides: Partial<RefreshFamily> = {}): RefreshFamily {
      return {
        id: randomUUID(),
        clientId,
        userId: alice.id,
        scope: 'openid profile offline_access',
        sessionId: 'sid-1',
        authTime: NOW - 5,
        amr: ['fed'],
        resource: null,
        dpopJkt: null,
        createdAt: NOW,
        expiresAt: NOW + 600,
        revokedAt: null,
        ...overrides,
      };
    }

    test('createFamily, then find returns the family and the first token', async () => {
      const refresh = refreshStoreFor(handle);
      const f = family({ resource: 'https://api.example.com/mcp', dpopJkt: 'NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs' });
      await refresh.createFamily(f, 'rt-first', NOW + 600);
      expect(await refresh.find('rt-first')).toEqual({ family: f, scope: 'openid profile offline_access', expiresAt: NOW + 600, usedAt: null });
      expect(await refresh.find('rt-unknown')).toBeUndefined();
    });

    test('a family without user, session or auth time round-trips', async () => {
      const refresh = refreshStoreFor(handle);
      const f = family({ userId: null, sessionId: null, authTime: null });
      await refresh.createFamily(f, 'rt-bare', NOW + 600);
      expect((await refresh.find('rt-bare'))!.family).toEqual(f);
    });

    test('rotate: the old token is marked used, the new one joins the family, the family’s expiry never moves', async () => {
      const refresh = refreshStoreFor(handle);
      const f = family();
      await refresh.createFamily(f, 'rt-a1', NOW + 600);
      expect(await refresh.rotate('rt-a1', 'rt-a2', f.id, 'openid offline_access', NOW + 10, NOW + 610)).toEqual({ status: 'rotated' });

      // The family keeps the expiry of its first issue (absolute lifetime, issue 12).
      expect(await refresh.find('rt-a1')).toEqual({ family: f, scope: 'openid profile offline_access', expiresAt: NOW + 600, usedAt: NOW + 10 });
      expect(await refresh.find('rt-a2')).toEqual({ family: f, scope: 'openid offline_access', expiresAt: NOW + 610, usedAt: null });

      // Rotating the used token again fails and adds nothing.
      expect(await refresh.rotate('rt-a1', 'rt-a3', f.id, 'openid', NOW + 20, NOW + 620)).toEqual({ status: 'already_used' });
      expect(await refresh.find('rt-a3')).toBeUndefined();
      expect((await refresh.find('rt-a1'))!.usedAt).toBe(NOW + 10);
      // The chain goes on from the newest token.
      expect(await refresh.rotate('rt-a2', 'rt-a3', f.id, 'openid', NOW + 30, NOW + 630)).toEqual({ status: 'rotated' });
      expect((await refresh.find('rt-a3'))!.family.expiresAt).toBe(f.expiresAt);
    });

    test('rotating an unknown token fails and adds nothing', async () => {
      const refresh = refreshStoreFor(handle);
      const f = family();
      await refresh.createFamily(f, 'rt-known', NOW + 600);
      expect(await refresh.rotate('rt-never-issued', 'rt-forged-next', f.id, 'openid', NOW, NOW + 600)).toEqual({ status: 'already_used' });
      expect(await refresh.find('rt-forged-next')).toBeUndefined();
    });

    test(`of ${RACERS} concurrent rotations of one token exactly one wins, and only its new token exists`, async () => {
      const refresh = refreshStoreFor(handle);
      const f = family();
      await refresh.createFamily(f, 'rt-race', NOW + 600);
      const results = await Promise.all(
        Array.from({ length: RACERS }, (_, i) => refresh.rotate('rt-race', `rt-race-next-${i}`, f.id, 'openid', NOW + 1, NOW + 601)),
      );
      expect(results.filter((r) => r.status === 'rotated')).toHaveLength(1);
      expect(results.filter((r) => r.status === 'already_used')).toHaveLength(RACERS - 1);
      const winner = results.findIndex((r) => r.status === 'rotated');
      for (let i = 0; i < RACERS; i++) {
        const found = await refresh.find(`rt-race-next-${i}`);
        if (i === winner) expect(found).toMatchObject({ usedAt: null, family: { id: f.id } });
        else expect(found, `loser ${i}`).toBeUndefined();
      }
      const count = await handle.db.selectFrom('refresh_tokens').select((eb) => eb.fn.countAll<number>().as('n')).where('family_id', '=', f.id).executeTakeFirstOrThrow();
      expect(Number(count.n)).toBe(2);
    });

    test('a family with a token key keeps its current token on its row: found by key, generation and hash; rotated in place; spent generations found as used', async () => {
      for (const refresh of [refreshStoreFor(handle), new KyselyRefreshStore(handle.db, dialect)]) {
        const key = newFamilyKey();
        const f = family({ tokenKey: key });
        const t0 = mintRefreshToken(key, 0);
        await refresh.createFamily(f, sha256(t0), NOW + 600);
        expect(await refresh.find(sha256(t0), parseRefreshToken(t0))).toEqual({ family: f, scope: 'openid profile offline_access', expiresAt: NOW + 600, usedAt: null, generation: 0 });
        // Another secret for the same generation, a later generation, an unknown family: nothing.
        const forged = mintRefreshToken(key, 0);
        expect(await refresh.find(sha256(forged), parseRefreshToken(forged))).toBeUndefined();
        const later = mintRefreshToken(key, 1);
        expect(await refresh.find(sha256(later), parseRefreshToken(later))).toBeUndefined();
        const stranger = mintRefreshToken(newFamilyKey(), 0);
        expect(await refresh.find(sha256(stranger), parseRefreshToken(stranger))).toBeUndefined();
        // A forged hash cannot rotate the family.
        expect(await refresh.rotate(sha256(forged), sha256('x'), f.id, 'openid', NOW + 5, NOW + 600, 0)).toEqual({ status: 'already_used' });

        const t1 = mintRefreshToken(key, 1);
        expect(await refresh.rotate(sha256(t0), sha256(t1), f.id, 'openid offline_access', NOW + 10, NOW + 600, 0)).toEqual({ status: 'rotated' });
        expect(await refresh.find(sha256(t1), parseRefreshToken(t1))).toEqual({ family: f, scope: 'openid offline_access', expiresAt: NOW + 600, usedAt: null, generation: 1 });
        // The spent token: used (since its successor's issue), whatever secret it shows.
        expect(await refresh.find(sha256(t0), parseRefreshToken(t0))).toMatchObject({ family: { id: f.id }, usedAt: NOW + 10, generation: 0 });
        expect(await refresh.rotate(sha256(t0), sha256('y'), f.id, 'openid', NOW + 20, NOW + 600, 0)).toEqual({ status: 'already_used' });

        // Of concurrent rotations of the current token, exactly one wins.
        const next = Array.from({ length: RACERS }, () => mintRefreshToken(key, 2));
        const results = await Promise.all(next.map((t) => refresh.rotate(sha256(t1), sha256(t), f.id, 'openid', NOW + 30, NOW + 600, 1)));
        expect(results.filter((r) => r.status === 'rotated')).toHaveLength(1);
        const winner = next[results.findIndex((r) => r.status === 'rotated')]!;
        expect((await refresh.find(sha256(winner), parseRefreshToken(winner)))!.usedAt).toBeNull();

        // A family revoked after its token was found is not rotated, and says so.
        expect(await refresh.revokeFamily(f.id, NOW + 40)).toBe(true);
        expect(await refresh.rotate(sha256(winner), sha256('z'), f.id, 'openid', NOW + 41, NOW + 600, 2)).toEqual({ status: 'revoked' });
        const row = await handle.db.selectFrom('refresh_token_families').select(['token_generation', 'token_hash']).where('id', '=', f.id).executeTakeFirstOrThrow();
        expect(row).toEqual({ token_generation: 2, token_hash: sha256(winner) });
        // No refresh_tokens rows for such a family.
        expect(await handle.db.selectFrom('refresh_tokens').select('token_hash').where('family_id', '=', f.id).execute()).toEqual([]);
      }
    });

    test('revokeFamily marks the family revoked for every token in it, once, and no other family', async () => {
      const refresh = refreshStoreFor(handle);
      const f = family();
      const other = family();
      await refresh.createFamily(f, 'rt-r1', NOW + 600);
      await refresh.rotate('rt-r1', 'rt-r2', f.id, 'openid', NOW + 1, NOW + 601);
      await refresh.createFamily(other, 'rt-other', NOW + 600);

      await refresh.revokeFamily(f.id, NOW + 5);
      expect((await refresh.find('rt-r1'))!.family.revokedAt).toBe(NOW + 5);
      expect((await refresh.find('rt-r2'))!.family.revokedAt).toBe(NOW + 5);
      expect((await refresh.find('rt-other'))!.family.revokedAt).toBeNull();
      // Revoking again keeps the first revocation time.
      await refresh.revokeFamily(f.id, NOW + 50);
      expect((await refresh.find('rt-r2'))!.family.revokedAt).toBe(NOW + 5);
      // Revoking an unknown family is harmless.
      await refresh.revokeFamily(randomUUID(), NOW);
    });

    test('purgeExpiredTokens then purgeExpiredFamilies delete families that expired before the cut-off, with all their tokens', async () => {
      const refresh = refreshStoreFor(handle);
      const old = family({ createdAt: NOW - 9000, expiresAt: NOW - 5000 });
      const edge = family({ createdAt: NOW - 9000, expiresAt: NOW - 4000 });
      await refresh.createFamily(old, 'rt-old-1', NOW - 5000);
      await refresh.rotate('rt-old-1', 'rt-old-2', old.id, 'openid', NOW - 8000, NOW - 5000);
      await refresh.createFamily(edge, 'rt-edge', NOW - 4000);

      expect(await refresh.purgeExpiredTokens(NOW - 4000, 500)).toBe(2);
      expect(await refresh.purgeExpiredTokens(NOW - 4000, 500)).toBe(0);
      expect(await refresh.purgeExpiredFamilies(NOW - 4000, 500)).toBe(1);
      expect(await refresh.find('rt-old-1')).toBeUndefined();
      expect(await refresh.find('rt-old-2')).toBeUndefined();
      const orphans = await handle.db.selectFrom('refresh_tokens').select('token_hash').where('family_id', '=', old.id).execute();
      expect(orphans).toEqual([]);
      expect(await refresh.find('rt-edge')).toBeDefined();
      expect(await refresh.find('rt-first')).toBeDefined();
    });
  });

  describe('hot paths on prepared statements (SQLite) beside Kysely', () => {
    test('SQLite gets the prepared-statement stores, PostgreSQL the Kysely ones', () => {
      const sqlite = dialect === 'sqlite';
      expect(refreshStoreFor(handle)).toBeInstanceOf(sqlite ? SqliteRefreshStore : KyselyRefreshStore);
      expect(codeStoreFor(handle) instanceof SqliteCodeStore).toBe(sqlite);
      expect(codeStoreFor(handle)).toBeInstanceOf(KyselyCodeStore);
      expect(sessionStoreFor(handle) instanceof SqliteSessionStore).toBe(sqlite);
      expect(sessionStoreFor(handle)).toBeInstanceOf(KyselySessionStore);
    });

    test('a write made while a Kysely transaction waits across an await is not part of it: the rollback keeps it', async () => {
      const refresh = refreshStoreFor(handle);
      const sessions = sessionStoreFor(handle);
      const familyId = randomUUID();
      await refresh.createFamily(
        { id: familyId, clientId, userId: alice.id, scope: 'openid offline_access', sessionId: null, authTime: NOW, amr: ['pwd'], createdAt: NOW, expiresAt: NOW + 600, revokedAt: null },
        'rt-beside-1',
        NOW + 600,
      );
      await sessions.insert({ idHash: 'sess-beside', sid: randomUUID(), userId: alice.id, authTime: NOW, amr: ['pwd'], createdAt: NOW, expiresAt: NOW + 3600, lastSeenAt: NOW, revokedAt: null }, { ip: null, userAgent: null });

      let release!: () => void;
      const gate = new Promise<void>((r) => (release = r));
      let entered!: () => void;
      const inside = new Promise<void>((r) => (entered = r));
      const rolledBack = handle.db.transaction().execute(async (trx) => {
        await trx.updateTable('users').set({ name: 'Temporary' }).where('id', '=', alice.id).execute();
        entered();
        await gate;
        throw new Error('rolled back on purpose');
      });
      await inside;
      const rotated = refresh.rotate('rt-beside-1', 'rt-beside-2', familyId, 'openid', NOW + 1, NOW + 600);
      const touched = sessions.touch('sess-beside', NOW + 120);
      await new Promise((r) => setTimeout(r, 20));
      release();
      await expect(rolledBack).rejects.toThrow('rolled back on purpose');
      expect(await rotated).toEqual({ status: 'rotated' });
      await touched;
      // The transaction's own write is gone; the two writes made meanwhile are not.
      expect((await users.findById(alice.id))!.name).toBeNull();
      expect(await refresh.find('rt-beside-2')).toMatchObject({ usedAt: null, family: { id: familyId } });
      expect((await refresh.find('rt-beside-1'))!.usedAt).toBe(NOW + 1);
      expect((await sessions.find('sess-beside'))!.lastSeenAt).toBe(NOW + 120);
    });
  });

  describe('sessions', () => {
    function session(n: string, overrides: Partial<Session> = {}): Session {
      return { idHash: `sess-${n}`, sid: randomUUID(), userId: alice.id, authTime: NOW - 30, amr: ['pwd', 'otp', 'mfa'], createdAt: NOW, expiresAt: NOW + 3600, lastSeenAt: NOW, revokedAt: null, ...overrides };
    }

    async function row(idHash: string) {
      return handle.db.selectFrom('sessions').selectAll().where('id_hash', '=', idHash).executeTakeFirstOrThrow();
    }

    test('insert and find: every field, plus ip, user agent (capped at 400) and last seen', async () => {
      const sessions = sessionStoreFor(handle);
      const s = session('find');
      await sessions.insert(s, { ip: '203.0.113.7', userAgent: `Mozilla/5.0 ${'x'.repeat(500)}` });
      expect(await sessions.find('sess-find')).toEqual(s);
      const r = await row('sess-find');
      expect(r.ip).toBe('203.0.113.7');
      expect(r.user_agent).toHaveLength(400);
      expect(r.user_agent!.startsWith('Mozilla/5.0 ')).toBe(true);
      expect(r.last_seen_at).toBe(NOW);
      await sessions.insert(session('no-meta'), { ip: null, userAgent: null });
      expect((await row('sess-no-meta')).user_agent).toBeNull();
      expect(await sessions.find('sess-none')).toBeUndefined();
    });

    test('touch moves last seen only', async () => {
      const sessions = sessionStoreFor(handle);
      const s = session('touch');
      await sessions.insert(s, { ip: null, userAgent: null });
      await sessions.touch('sess-touch', NOW + 120);
      expect((await row('sess-touch')).last_seen_at).toBe(NOW + 120);
      expect(await sessions.find('sess-touch')).toEqual({ ...s, lastSeenAt: NOW + 120 });
    });

    test('revoke sets revokedAt once; a later revoke keeps the first time', async () => {
      const sessions = sessionStoreFor(handle);
      await sessions.insert(session('revoke'), { ip: null, userAgent: null });
      await sessions.revoke('sess-revoke', NOW + 60);
      expect((await sessions.find('sess-revoke'))!.revokedAt).toBe(NOW + 60);
      await sessions.revoke('sess-revoke', NOW + 90);
      expect((await sessions.find('sess-revoke'))!.revokedAt).toBe(NOW + 60);
    });

    test('listForUser: the user’s live sessions only, newest first; revokeAllForUser counts and touches only that user', async () => {
      const sessions = sessionStoreFor(handle);
      const carol = await addUser('carol-sessions');
      const t = NOW + 10_000;
      await sessions.insert(session('c-old', { userId: carol.id, createdAt: t - 300, expiresAt: t + 3600 }), { ip: null, userAgent: null });
      await sessions.insert(session('c-new', { userId: carol.id, createdAt: t - 100, expiresAt: t + 3600 }), { ip: null, userAgent: null });
      await sessions.insert(session('c-mid', { userId: carol.id, createdAt: t - 200, expiresAt: t + 3600 }), { ip: null, userAgent: null });
      await sessions.insert(session('c-expired', { userId: carol.id, createdAt: t - 7200, expiresAt: t - 1 }), { ip: null, userAgent: null });
      await sessions.insert(session('c-edge', { userId: carol.id, createdAt: t - 3600, expiresAt: t }), { ip: null, userAgent: null });
      await sessions.insert(session('c-revoked', { userId: carol.id, createdAt: t - 50 }), { ip: null, userAgent: null });
      await sessions.revoke('sess-c-revoked', t - 10);
      await sessions.insert(session('b-1', { userId: bob.id, createdAt: t - 100, expiresAt: t + 3600 }), { ip: null, userAgent: null });

      expect((await sessions.listForUser(carol.id, t)).map((s) => s.idHash)).toEqual(['sess-c-new', 'sess-c-mid', 'sess-c-old']);
      expect((await sessions.listForUser(carol.id, t))[0]).toMatchObject({ userId: carol.id, createdAt: t - 100, revokedAt: null });

      // Every not-yet-revoked session counts (expired ones too); the one revoked before keeps its time.
      expect(await sessions.revokeAllForUser(carol.id, t + 5)).toBe(5);
      expect(await sessions.listForUser(carol.id, t)).toEqual([]);
      expect((await sessions.find('sess-c-new'))!.revokedAt).toBe(t + 5);
      expect((await sessions.find('sess-c-revoked'))!.revokedAt).toBe(t - 10);
      expect(await sessions.revokeAllForUser(carol.id, t + 6)).toBe(0);
      // Bob is untouched.
      expect((await sessions.listForUser(bob.id, t)).map((s) => s.idHash)).toEqual(['sess-b-1']);
      expect((await sessions.find('sess-b-1'))!.revokedAt).toBeNull();
    });

    test('purgeExpired deletes sessions expired before the cut-off, revoked or not', async () => {
      const sessions = sessionStoreFor(handle);
      const t = NOW - 50_000;
      await sessions.insert(session('p-old', { createdAt: t - 7200, expiresAt: t - 10 }), { ip: null, userAgent: null });
      await sessions.insert(session('p-old-revoked', { createdAt: t - 7200, expiresAt: t - 5 }), { ip: null, userAgent: null });
      await sessions.revoke('sess-p-old-revoked', t - 100);
      await sessions.insert(session('p-edge', { createdAt: t - 7200, expiresAt: t }), { ip: null, userAgent: null });
      expect(await sessions.purgeExpired(t, 500)).toBe(2);
      expect(await sessions.find('sess-p-old')).toBeUndefined();
      expect(await sessions.find('sess-p-old-revoked')).toBeUndefined();
      expect(await sessions.find('sess-p-edge')).toBeDefined();
      expect(await sessions.find('sess-find')).toBeDefined();
    });
  });

  describe('consents', () => {
    test('grant merges scopes per user and app; granted reads them; revoke forgets one app', async () => {
      const consents = new KyselyConsentStore(handle.db);
      expect(await consents.granted(alice.id, clientId)).toEqual([]);
      await consents.grant(alice.id, clientId, ['openid', 'profile'], NOW);
      expect(await consents.granted(alice.id, clientId)).toEqual(['openid', 'profile']);
      await consents.grant(alice.id, clientId, ['profile', 'email'], NOW + 1);
      expect(await consents.granted(alice.id, clientId)).toEqual(['openid', 'profile', 'email']);
      // Granting nothing new changes nothing.
      await consents.grant(alice.id, clientId, ['openid'], NOW + 2);
      expect(await consents.granted(alice.id, clientId)).toEqual(['openid', 'profile', 'email']);

      // Other app, other user: separate.
      expect(await consents.granted(alice.id, otherClientId)).toEqual([]);
      expect(await consents.granted(bob.id, clientId)).toEqual([]);
      await consents.grant(alice.id, otherClientId, ['openid'], NOW);
      await consents.grant(bob.id, clientId, ['email'], NOW);
      expect(await consents.granted(bob.id, clientId)).toEqual(['email']);

      await consents.revoke(alice.id, clientId);
      expect(await consents.granted(alice.id, clientId)).toEqual([]);
      expect(await consents.granted(alice.id, otherClientId)).toEqual(['openid']);
      expect(await consents.granted(bob.id, clientId)).toEqual(['email']);
      await consents.revoke(alice.id, clientId);

      // After a revoke, consent starts afresh.
      await consents.grant(alice.id, clientId, ['email'], NOW + 10);
      expect(await consents.granted(alice.id, clientId)).toEqual(['email']);
    });

    test('the timestamps: created once, updated on every grant', async () => {
      const consents = new KyselyConsentStore(handle.db);
      const dora = await addUser('dora-consent');
      await consents.grant(dora.id, clientId, ['openid'], NOW);
      await consents.grant(dora.id, clientId, ['email'], NOW + 30);
      const r = await handle.db.selectFrom('consents').selectAll().where('user_id', '=', dora.id).executeTakeFirstOrThrow();
      expect(r.created_at).toBe(NOW);
      expect(r.updated_at).toBe(NOW + 30);
    });

    test('concurrent grants (a double-submitted consent form) all succeed and all count', async () => {
      const consents = new KyselyConsentStore(handle.db);
      const eve = await addUser('eve-consent');
      // First consent, submitted twice at once: neither may fail on the primary key.
      await Promise.all(Array.from({ length: RACERS }, () => consents.grant(eve.id, clientId, ['openid', 'profile'], NOW)));
      expect(await consents.granted(eve.id, clientId)).toEqual(['openid', 'profile']);
      // Different scopes at once on an existing consent: none may be lost.
      const extra = ['email', 'offline_access', 'a', 'b', 'c'];
      await Promise.all(extra.map((s) => consents.grant(eve.id, clientId, [s], NOW + 1)));
      expect((await consents.granted(eve.id, clientId)).sort()).toEqual(['openid', 'profile', ...extra].sort());
    });
  });

  describe('guess throttle store', () => {
    // Two free failures, then waits of 10, 20, 40 (the cap) seconds; forgotten after 100 s.
    const policy: BackoffPolicy = { free: 2, baseDelay: 10, maxDelay: 40, forgetAfter: 100 };
    const counter = (key: string, account: string | null = 'acct', p: BackoffPolicy = policy): Counter => ({ key, kind: 'client', account, policy: p });

    test('free failures cost nothing; then each one makes the next attempt wait twice as long, up to the cap', async () => {
      const throttle = new KyselyGuessThrottleStore(handle.db);
      const c = counter('password:client:t1');
      expect(await throttle.reserve(c, NOW)).toEqual({ failures: 1, blockedUntil: NOW });
      expect(await throttle.reserve(c, NOW)).toEqual({ failures: 2, blockedUntil: NOW });
      expect(await throttle.waiting([c.key], NOW)).toEqual([]);
      expect(await throttle.reserve(c, NOW)).toEqual({ failures: 3, blockedUntil: NOW + 10 });
      // While it waits, an attempt is refused and counts nothing.
      expect(await throttle.waiting([c.key, 'password:client:none'], NOW + 9)).toEqual([{ key: c.key, blockedUntil: NOW + 10 }]);
      expect(await throttle.reserve(c, NOW + 9)).toBeUndefined();
      expect(await throttle.reserve(c, NOW + 10)).toEqual({ failures: 4, blockedUntil: NOW + 30 });
      expect(await throttle.reserve(c, NOW + 30)).toEqual({ failures: 5, blockedUntil: NOW + 70 });
      expect(await throttle.reserve(c, NOW + 70)).toEqual({ failures: 6, blockedUntil: NOW + 110 });
      expect(await throttle.reserve(c, NOW + 110)).toEqual({ failures: 7, blockedUntil: NOW + 150 });
      expect(await throttle.waiting([c.key], NOW + 150)).toEqual([]);
    });

    test('a counter quiet for forgetAfter seconds starts again from one', async () => {
      const throttle = new KyselyGuessThrottleStore(handle.db);
      const c = counter('password:client:t2');
      for (let i = 0; i < 3; i++) await throttle.reserve(c, NOW);
      expect(await throttle.reserve(c, NOW + 99)).toEqual({ failures: 4, blockedUntil: NOW + 99 + 20 });
      // Forgotten 100 s after the last failure.
      expect(await throttle.reserve(c, NOW + 199)).toEqual({ failures: 1, blockedUntil: NOW + 199 });
    });

    test('refund gives one attempt back and shortens the wait it set; reset forgets the counter', async () => {
      const throttle = new KyselyGuessThrottleStore(handle.db);
      const c = counter('password:account:t3');
      await throttle.reserve(c, NOW);
      await throttle.reserve(c, NOW);
      expect(await throttle.reserve(c, NOW)).toEqual({ failures: 3, blockedUntil: NOW + 10 });
      await throttle.refund(c, NOW);
      expect(await throttle.waiting([c.key], NOW)).toEqual([]);
      expect(await throttle.reserve(c, NOW)).toEqual({ failures: 3, blockedUntil: NOW + 10 });
      expect(await throttle.reserve(c, NOW + 10)).toEqual({ failures: 4, blockedUntil: NOW + 30 });
      await throttle.refund(c, NOW + 10);
      // Back to three failures: the wait after the third (10 s), from now.
      expect(await throttle.waiting([c.key], NOW + 10)).toEqual([{ key: c.key, blockedUntil: NOW + 20 }]);
      await throttle.reset(c.key);
      expect(await throttle.reserve(c, NOW + 10)).toEqual({ failures: 1, blockedUntil: NOW + 10 });
      await throttle.reset('password:client:never-failed');
      await throttle.refund(counter('password:client:never-failed'), NOW);
      expect(await throttle.waiting(['password:client:never-failed'], NOW)).toEqual([]);
    });

    test('clearAccount forgets every counter of one account, and only those; listForAccount shows them', async () => {
      const throttle = new KyselyGuessThrottleStore(handle.db);
      for (let i = 0; i < 3; i++) {
        await throttle.reserve(counter('password:client:192.0.2.1:carla', 'carla'), NOW);
        await throttle.reserve(counter('password:account:carla', 'carla'), NOW);
        await throttle.reserve(counter('password:ip:192.0.2.1', null), NOW);
        await throttle.reserve(counter('password:account:carlos', 'carlos'), NOW);
      }
      expect(await throttle.listForAccount('carla')).toEqual([
        { key: 'password:account:carla', failures: 3, blockedUntil: NOW + 10, expiresAt: NOW + 100 },
        { key: 'password:client:192.0.2.1:carla', failures: 3, blockedUntil: NOW + 10, expiresAt: NOW + 100 },
      ]);
      expect(await throttle.clearAccount('carla')).toBe(2);
      expect(await throttle.clearAccount('carla')).toBe(0);
      expect(await throttle.listForAccount('carla')).toEqual([]);
      const keys = ['password:client:192.0.2.1:carla', 'password:account:carla', 'password:ip:192.0.2.1', 'password:account:carlos'];
      expect((await throttle.waiting(keys, NOW)).map((w) => w.key).sort()).toEqual(['password:account:carlos', 'password:ip:192.0.2.1']);
    });

    test('deleteExpired removes forgotten counters in batches, never one still counting', async () => {
      const throttle = new KyselyGuessThrottleStore(handle.db);
      const old = NOW - 10_000;
      for (let i = 0; i < 5; i++) await throttle.reserve(counter(`password:client:purge-${i}`, 'purge'), old);
      await throttle.reserve(counter('password:client:purge-live', 'purge'), NOW - 50);
      // Forgotten at old + 100: expired by NOW; the live one at NOW + 50.
      expect(await throttle.deleteExpired(NOW, 2)).toBe(2);
      expect(await throttle.deleteExpired(NOW, 2)).toBe(2);
      expect(await throttle.deleteExpired(NOW, 2)).toBe(1);
      expect(await throttle.deleteExpired(NOW, 2)).toBe(0);
      expect((await throttle.listForAccount('purge')).map((r) => r.key)).toEqual(['password:client:purge-live']);
      expect(await throttle.deleteExpired(NOW + 50, 10)).toBe(1);
    });

    test('parallel attempts: exactly the free ones and the one that starts the wait get through', async () => {
      const throttle = new KyselyGuessThrottleStore(handle.db);
      const c = counter('password:client:race', 'race', { free: 3, baseDelay: 10, maxDelay: 40, forgetAfter: 100 });
      const results = await Promise.all(Array.from({ length: RACERS }, () => throttle.reserve(c, NOW)));
      expect(results.filter(Boolean).map((r) => r!.failures).sort()).toEqual([1, 2, 3, 4]);
      expect(await throttle.waiting([c.key], NOW)).toEqual([{ key: c.key, blockedUntil: NOW + 10 }]);
    });
  });

  describe('SessionService', () => {
    let nowMs = NOW * 1000;
    const clock: Clock = { now: () => nowMs };
    const setNow = (seconds: number) => {
      nowMs = seconds * 1000;
    };
    let service: SessionService;
    let sessions: SessionStore;
    let throttle: KyselyGuessThrottleStore;
    const devices = new DeviceCookies([randomBytes(32)]);
    let feed: ChangeFeed;
    let cache: RegistryCache;
    let audit: AuditLog;
    const log = recordingLogger();

    beforeAll(async () => {
      sessions = sessionStoreFor(handle);
      throttle = new KyselyGuessThrottleStore(handle.db);
      feed = new ChangeFeed(handle.db, log);
      cache = new RegistryCache(new KyselyClientStore(handle.db), users, new KyselyRevocationStore(handle.db));
      await cache.load(NOW, feed);
      audit = new AuditLog(new KyselyAuditStore(handle.db), clock);
      service = new SessionService({ sessions, users, cache, throttle, devices, passwords, clock, sessionTtl: SESSION_TTL, log, audit });
    });

    /** Saves a changed user the way UserService does: store, then tell this node's caches. */
    async function saveUser(user: User): Promise<void> {
      await users.save(user);
      feed.notifyLocal('user', user.id);
    }

    async function sessionCount(userId: string): Promise<number> {
      const r = await handle.db.selectFrom('sessions').select((eb) => eb.fn.countAll<number>().as('n')).where('user_id', '=', userId).executeTakeFirstOrThrow();
      return Number(r.n);
    }

    const noMeta = { ip: null, userAgent: null };

    test('signIn with the right password: a stored session, only its hash as the key; resolve finds it', async () => {
      setNow(NOW);
      const erin = await addUser('erin');
      const result = await service.signIn('erin', PASSWORD, { ip: '198.51.100.20', userAgent: 'Firefox/140' });
      if (!result.ok) throw new Error(`sign-in failed: ${result.reason}`);
      expect(result.cookieValue).toMatch(/^[A-Za-z0-9_-]{43}$/);
      expect(result.session).toMatchObject({ idHash: sha256(result.cookieValue), userId: erin.id, authTime: NOW, createdAt: NOW, expiresAt: NOW + SESSION_TTL, revokedAt: null });
      expect(result.session.idHash).not.toBe(result.cookieValue);
      expect(result.session.sid).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/);
      expect(await sessions.find(result.session.idHash)).toEqual(result.session);
      const r = await handle.db.selectFrom('sessions').select(['ip', 'user_agent']).where('id_hash', '=', result.session.idHash).executeTakeFirstOrThrow();
      expect(r).toEqual({ ip: '198.51.100.20', user_agent: 'Firefox/140' });

      const resolved = await service.resolve(result.cookieValue);
      expect(resolved?.session).toEqual(result.session);
      expect(resolved?.principal.user.id).toBe(erin.id);
      expect(resolved?.principal.permissions).toContain('developer_api');
    });

    test('resolve records "last seen" at most once a minute', async () => {
      setNow(NOW);
      await addUser('gil');
      const result = await service.signIn('gil', PASSWORD, noMeta);
      if (!result.ok) throw new Error(`sign-in failed: ${result.reason}`);
      // resolve awaits its write, so the row is current as soon as resolve returns.
      const lastSeen = async () =>
        Number((await handle.db.selectFrom('sessions').select('last_seen_at').where('id_hash', '=', result.session.idHash).executeTakeFirstOrThrow()).last_seen_at);
      setNow(NOW + 59);
      await service.resolve(result.cookieValue);
      expect(await lastSeen()).toBe(NOW);
      setNow(NOW + 60);
      expect((await service.resolve(result.cookieValue))?.session.lastSeenAt).toBe(NOW + 60);
      expect(await lastSeen()).toBe(NOW + 60);
    });

    test('a failed "last seen" write is logged and does not cost the sign-in', async () => {
      setNow(NOW);
      await addUser('touchy');
      const result = await service.signIn('touchy', PASSWORD, noMeta);
      if (!result.ok) throw new Error(`sign-in failed: ${result.reason}`);
      const failing: SessionStore = {
        insert: (...a) => sessions.insert(...a),
        find: (idHash) => sessions.find(idHash),
        touch: () => Promise.reject(new Error('database unreachable')),
        revoke: (...a) => sessions.revoke(...a),
        revokeAllForUser: (...a) => sessions.revokeAllForUser(...a),
        revokeBySid: (...a) => sessions.revokeBySid(...a),
        revokeOthers: (...a) => sessions.revokeOthers(...a),
        listForUser: (...a) => sessions.listForUser(...a),
        purgeExpired: (...a) => sessions.purgeExpired(...a),
      };
      const flaky = new SessionService({ sessions: failing, users, cache, throttle, devices, passwords, clock, sessionTtl: SESSION_TTL, log, audit });
      const logged = log.entries.length;
      setNow(NOW + 60);
      expect((await flaky.resolve(result.cookieValue))?.session.userId).toBe(result.session.userId);
      expect(log.entries.slice(logged)).toMatchObject([{ level: 'warn', message: 'recording when a session was last seen failed', context: { err: { message: 'database unreachable' } } }]);
    });

    test('usernames are matched case-insensitively; every sign-in is a new session', async () => {
      setNow(NOW);
      const fay = await addUser('fay');
      const a = await service.signIn('FAY', PASSWORD, noMeta);
      const b = await service.signIn('fay', PASSWORD, noMeta);
      if (!a.ok || !b.ok) throw new Error('sign-in failed');
      expect(a.session.userId).toBe(fay.id);
      expect(a.cookieValue).not.toBe(b.cookieValue);
      expect(a.session.sid).not.toBe(b.session.sid);
      expect(await sessionCount(fay.id)).toBe(2);
    });

    test('a wrong password and an unknown user give the same result, and no session', async () => {
      setNow(NOW);
      const gus = await addUser('gus');
      const wrong = await service.signIn('gus', `${PASSWORD}!`, noMeta);
      const unknown = await service.signIn('nobody-here', PASSWORD, noMeta);
      expect(wrong).toEqual({ ok: false, reason: 'invalid_credentials' });
      expect(unknown).toEqual(wrong);
      expect(await service.signIn('gus', '', noMeta)).toEqual(wrong);
      expect(await service.signIn('gus', 'x'.repeat(1025), noMeta)).toEqual(wrong);
      expect(await service.signIn('g\u0000us', PASSWORD, noMeta)).toEqual(wrong);
      expect(await sessionCount(gus.id)).toBe(0);
    });

    test('a user without a password cannot sign in', async () => {
      setNow(NOW);
      const hal = await addUser('hal', { passwordHash: null });
      expect(await service.signIn('hal', PASSWORD, noMeta)).toEqual({ ok: false, reason: 'invalid_credentials' });
      expect(await service.signIn('hal', '', noMeta)).toEqual({ ok: false, reason: 'invalid_credentials' });
      expect(await sessionCount(hal.id)).toBe(0);
    });

    test('a disabled user cannot sign in, even with the right password', async () => {
      setNow(NOW);
      const ida = await addUser('ida', { disabled: true });
      expect(await service.signIn('ida', PASSWORD, noMeta)).toEqual({ ok: false, reason: 'invalid_credentials' });
      expect(await sessionCount(ida.id)).toBe(0);
    });

    const { client: CLIENT, ip: IP, account: ACCOUNT, device: DEVICE } = GUESS_POLICIES;
    const at = (ip: string, deviceCookie?: string) => ({ ip, userAgent: null, deviceCookie });
    /** Signs in with the right password and returns the browser's device cookie. */
    async function knownBrowser(username: string, ip: string): Promise<string> {
      const r = await service.signIn(username, PASSWORD, at(ip));
      if (!r.ok) throw new Error(`sign-in failed: ${r.reason}`);
      return r.deviceCookie;
    }

    test('a client’s failures slow that client with doubling waits, never a lock; other clients are not slowed', async () => {
      const t = NOW + 1000;
      setNow(t);
      await addUser('jan');
      const ip = '198.51.100.10';
      for (let i = 0; i < CLIENT.free; i++) expect(await service.signIn('jan', 'wrong password', at(ip))).toEqual({ ok: false, reason: 'invalid_credentials' });
      // The first failure beyond the free ones: refused like the others, and the next attempt waits.
      expect(await service.signIn('JAN', 'wrong password', at(ip))).toEqual({ ok: false, reason: 'invalid_credentials' });
      expect(await service.signIn('jan', PASSWORD, at(ip))).toEqual({ ok: false, reason: 'throttled', retryAfter: 1 });
      // Another address (without a device cookie) with the right password is not slowed.
      expect((await service.signIn('jan', PASSWORD, at('198.51.100.11'))).ok).toBe(true);
      setNow(t + 1);
      expect(await service.signIn('jan', 'wrong password', at(ip))).toEqual({ ok: false, reason: 'invalid_credentials' });
      expect(await service.signIn('jan', PASSWORD, at(ip))).toEqual({ ok: false, reason: 'throttled', retryAfter: 2 });
      setNow(t + 3);
      expect(await service.signIn('jan', 'wrong password', at(ip))).toEqual({ ok: false, reason: 'invalid_credentials' });
      expect(await service.signIn('jan', PASSWORD, at(ip))).toEqual({ ok: false, reason: 'throttled', retryAfter: 4 });
      expect(await sessionCount((await users.findByUsername('jan'))!.id)).toBe(1);
      // Once the wait is over the right password works, and the client starts again from zero.
      setNow(t + 7);
      expect((await service.signIn('jan', PASSWORD, at(ip))).ok).toBe(true);
      for (let i = 0; i < CLIENT.free; i++) await service.signIn('jan', 'wrong password', at(ip));
      expect((await service.signIn('jan', PASSWORD, at(ip))).ok).toBe(true);
    });

    test('unknown usernames are throttled like real ones', async () => {
      setNow(NOW + 2000);
      for (let i = 0; i <= CLIENT.free; i++) await service.signIn('ghost', 'guess', at('198.51.100.20'));
      expect(await service.signIn('ghost', 'guess', at('198.51.100.20'))).toEqual({ ok: false, reason: 'throttled', retryAfter: 1 });
    });

    test('one address failing for many accounts is slowed only after a generous number, then for at most a minute; other addresses are not', async () => {
      const t = NOW + 4000;
      setNow(t);
      await addUser('lea');
      const ip = '198.51.100.77';
      const ipCounter = countersFor('password', { account: 'x', ip }).find((c) => c.kind === 'ip')!;
      for (let i = 0; i < IP.free - 1; i++) await throttle.reserve(ipCounter, t);
      // The last free failure, counted by signIn itself; then the first one that makes the address wait.
      expect(await service.signIn('someone-else', 'guess', at(ip))).toEqual({ ok: false, reason: 'invalid_credentials' });
      expect((await service.signIn('lea', PASSWORD, at(ip))).ok).toBe(true);
      expect(await service.signIn('someone-else', 'guess', at(ip))).toEqual({ ok: false, reason: 'invalid_credentials' });
      expect(await service.signIn('lea', PASSWORD, at(ip))).toEqual({ ok: false, reason: 'throttled', retryAfter: 1 });
      expect((await service.signIn('lea', PASSWORD, at('198.51.100.78'))).ok).toBe(true);
      // However long failures go on, the address waits at most IP.maxDelay between attempts.
      let when = t + 10;
      let waits: number[] = [];
      for (let i = 0; i < 120; i++) {
        const state = await throttle.reserve(ipCounter, when);
        if (!state) throw new Error('refused after its wait');
        waits.push(state.blockedUntil - when);
        when = state.blockedUntil;
      }
      waits = [...new Set(waits)];
      expect(waits).toEqual([2, 4, 8, 16, 32, IP.maxDelay]);
      setNow(when);
      expect((await service.signIn('lea', PASSWORD, at(ip))).ok).toBe(true);
    });

    test('an attacker guessing admin’s password at the maximum rate, from many addresses and in parallel, cannot keep admin’s known browser out', async () => {
      const t = NOW + 20_000;
      setNow(t);
      const admin = await addUser('admin');
      // Admin's browser signed in before, from the office NAT the attacker also sits behind.
      const office = '203.0.113.50';
      const cookie = await knownBrowser('admin', office);
      const attackers = [office, ...Array.from({ length: 15 }, (_, i) => `198.18.0.${i + 1}`)];
      let guessed = 0;
      let throttled = 0;
      // Twenty seconds of attack, every address sending five parallel guesses each second.
      for (let second = 0; second < 20; second++) {
        setNow(t + second);
        const results = await Promise.all(attackers.flatMap((ip) => Array.from({ length: 5 }, () => service.signIn('admin', 'letmein-guess', at(ip)))));
        guessed += results.filter((r) => !r.ok && r.reason === 'invalid_credentials').length;
        throttled += results.filter((r) => !r.ok && r.reason === 'throttled').length;
        expect(results.every((r) => !r.ok)).toBe(true);
        // Admin, on the known browser, with the right password: in at once, every time.
        const own = await service.signIn('admin', PASSWORD, at(office, cookie));
        expect(own.ok).toBe(true);
      }
      // The attack was slowed to a trickle: the account-wide counter let its free failures
      // through, then one guess per wait (which doubles up to its cap).
      expect(guessed).toBeLessThanOrEqual(ACCOUNT.free + 6);
      expect(throttled).toBe(20 * attackers.length * 5 - guessed);
      // A browser without the cookie is slowed (never locked): it waits at most ACCOUNT.maxDelay.
      const fresh = await service.signIn('admin', PASSWORD, at('192.0.2.99'));
      expect(fresh).toMatchObject({ ok: false, reason: 'throttled' });
      expect(fresh.ok === false && fresh.reason === 'throttled' && fresh.retryAfter).toBeLessThanOrEqual(ACCOUNT.maxDelay);
      expect(await sessionCount(admin.id)).toBe(21);
    });

    test('failures from a known browser slow that browser only; the account’s other browsers and clients go on', async () => {
      const t = NOW + 30_000;
      setNow(t);
      await addUser('meg');
      const home = await knownBrowser('meg', '198.51.100.30');
      const work = await knownBrowser('meg', '198.51.100.31');
      for (let i = 0; i <= DEVICE.free; i++) expect((await service.signIn('meg', 'wrong password', at('198.51.100.30', home))).ok).toBe(false);
      expect(await service.signIn('meg', PASSWORD, at('198.51.100.30', home))).toEqual({ ok: false, reason: 'throttled', retryAfter: 1 });
      // The same address without that cookie, and the other browser, are not slowed.
      expect((await service.signIn('meg', PASSWORD, at('198.51.100.30'))).ok).toBe(true);
      expect((await service.signIn('meg', PASSWORD, at('198.51.100.31', work))).ok).toBe(true);
      setNow(t + 1);
      expect((await service.signIn('meg', PASSWORD, at('198.51.100.30', home))).ok).toBe(true);
    });

    test('a device cookie of another user, forged, or expired is no device cookie', async () => {
      const t = NOW + 40_000;
      setNow(t);
      const nia = await addUser('nia');
      await addUser('nils');
      const nils = await knownBrowser('nils', '198.51.100.40');
      const own = await knownBrowser('nia', '198.51.100.40');
      // Make nia's client counter from this address wait.
      for (let i = 0; i <= CLIENT.free; i++) await service.signIn('nia', 'wrong password', at('198.51.100.40'));
      const forged = own.replace(/.$/, (c) => (c === 'A' ? 'B' : 'A'));
      for (const cookie of [nils, forged, `${nia.id}.dev.${t}.${'A'.repeat(43)}`, 'garbage', '']) {
        expect(await service.signIn('nia', PASSWORD, at('198.51.100.40', cookie))).toEqual({ ok: false, reason: 'throttled', retryAfter: 1 });
      }
      expect((await service.signIn('nia', PASSWORD, at('198.51.100.40', own))).ok).toBe(true);
      // A year later the cookie has expired: it counts as none.
      setNow(t + 366 * 86_400);
      for (let i = 0; i <= CLIENT.free; i++) await service.signIn('nia', 'wrong password', at('198.51.100.40'));
      expect(await service.signIn('nia', PASSWORD, at('198.51.100.40', own))).toEqual({ ok: false, reason: 'throttled', retryAfter: 1 });
    });

    test('a successful sign-in gives back a device cookie that holds this user first and keeps the browser’s other users', async () => {
      setNow(NOW + 45_000);
      const ola = await addUser('olaf');
      const pam = await addUser('pam');
      const first = await knownBrowser('olaf', '198.51.100.45');
      const r = await service.signIn('pam', PASSWORD, at('198.51.100.45', first));
      if (!r.ok) throw new Error('sign-in failed');
      expect(devices.entries(r.deviceCookie, NOW + 45_000).map((e) => e.userId)).toEqual([pam.id, ola.id]);
    });

    test('parallel wrong guesses from one client: only the free ones and the one that starts the wait reach the password check', async () => {
      setNow(NOW + 50_000);
      await addUser('pat');
      const results = await Promise.all(Array.from({ length: 30 }, () => service.signIn('pat', 'wrong password', at('198.51.100.50'))));
      expect(results.filter((r) => !r.ok && r.reason === 'invalid_credentials')).toHaveLength(CLIENT.free + 1);
      expect(results.filter((r) => !r.ok && r.reason === 'throttled')).toHaveLength(30 - CLIENT.free - 1);
    });

    test('hashing that gives no answer (its thread died) fails the sign-in with PasswordHashingUnavailableError and costs no guess', async () => {
      setNow(NOW + 52_000);
      const rae = await addUser('rae');
      const ip = '198.51.100.52';
      let failing = true;
      const unavailable = () => Promise.reject(new PasswordHashingUnavailableError('the password hashing thread stopped before it answered'));
      const flaky: Passwords = {
        hash: (password) => (failing ? unavailable() : passwords.hash(password)),
        verify: (stored, password) => (failing ? unavailable() : passwords.verify(stored, password)),
      };
      const flakyService = new SessionService({ sessions, users, cache, throttle, devices, passwords: flaky, clock, sessionTtl: SESSION_TTL, log, audit });
      // More failures than the client's free guesses: had they counted, the right password would now wait.
      for (let i = 0; i <= CLIENT.free + 1; i++) {
        await expect(flakyService.signIn('rae', PASSWORD, at(ip))).rejects.toBeInstanceOf(PasswordHashingUnavailableError);
        // An unknown user's check hashes a dummy password first: that failure is not kept either.
        await expect(flakyService.signIn('nobody-52', PASSWORD, at(ip))).rejects.toBeInstanceOf(PasswordHashingUnavailableError);
      }
      expect(await throttle.listForAccount(usernameKey('rae'))).toEqual([]);
      expect(await sessionCount(rae.id)).toBe(0);
      failing = false;
      expect((await flakyService.signIn('rae', PASSWORD, at(ip))).ok).toBe(true);
      expect(await flakyService.signIn('nobody-52', PASSWORD, at(ip))).toEqual({ ok: false, reason: 'invalid_credentials' });
    });

    test('failed sign-ins and the start of each wait are logged, without the password', async () => {
      setNow(NOW + 55_000);
      await addUser('quentin');
      const logged = log.entries.length;
      for (let i = 0; i <= CLIENT.free; i++) await service.signIn('quentin', 'wrong password', at('198.51.100.55'));
      await service.signIn('quentin', 'wrong password', at('198.51.100.55'));
      const entries = log.entries.slice(logged);
      expect(entries.filter((e) => e.message === 'sign-in refused')).toHaveLength(CLIENT.free + 1);
      expect(entries.filter((e) => e.message === 'sign-in throttled')).toMatchObject([
        { level: 'warn', context: { username: 'quentin', ip: '198.51.100.55', counter: 'client', failures: CLIENT.free + 1, waitSeconds: 1 } },
      ]);
      expect(JSON.stringify(entries)).not.toContain('wrong password');
    });

    test('resolve refuses a missing, unknown, oversized or signed-out cookie; signOut revokes the stored session', async () => {
      setNow(NOW + 5000);
      await addUser('max');
      const r = await service.signIn('max', PASSWORD, noMeta);
      if (!r.ok) throw new Error('sign-in failed');
      expect(await service.resolve(undefined)).toBeUndefined();
      expect(await service.resolve('')).toBeUndefined();
      expect(await service.resolve('not-a-session')).toBeUndefined();
      expect(await service.resolve(r.session.idHash)).toBeUndefined();
      expect(await service.resolve('x'.repeat(101))).toBeUndefined();
      expect(await service.resolve(r.cookieValue)).toBeDefined();

      setNow(NOW + 5010);
      await service.signOut(r.cookieValue, null);
      expect(await service.resolve(r.cookieValue)).toBeUndefined();
      expect((await sessions.find(r.session.idHash))!.revokedAt).toBe(NOW + 5010);
      await service.signOut(undefined, null);
      await service.signOut('not-a-session', null);
    });

    test('sign-ins, refused sign-ins (with the reason) and sign-outs are audited, with the IP', async () => {
      setNow(NOW + 5500);
      const oda = await addUser('oda');
      const ip = '203.0.113.9';
      const ok = await service.signIn('oda', PASSWORD, { ip, userAgent: null });
      if (!ok.ok) throw new Error('sign-in failed');
      setNow(NOW + 5501);
      await service.signIn('ODA', 'wrong password', { ip, userAgent: null });
      setNow(NOW + 5502);
      await service.signIn('nobody-here', 'wrong password', { ip, userAgent: null });
      setNow(NOW + 5503);
      await service.signOut(ok.cookieValue, ip);
      await service.signOut(ok.cookieValue, ip); // already ended: nothing more
      const events = (await audit.list({ since: NOW + 5500, limit: 500 })).items.filter((e) => e.action.startsWith('user.sign_') && Date.parse(e.at) <= (NOW + 5503) * 1000);
      expect(events.reverse().map(({ actor, action, target_id, ip: from, details }) => ({ actor, action, target_id, ip: from, details }))).toEqual([
        { actor: 'user:oda', action: 'user.sign_in', target_id: oda.id, ip, details: { sid: ok.session.sid, new_device: true } },
        { actor: 'anonymous', action: 'user.sign_in_failed', target_id: oda.id, ip, details: { username: 'ODA', reason: 'invalid_credentials' } },
        { actor: 'anonymous', action: 'user.sign_in_failed', target_id: null, ip, details: { username: 'nobody-here', reason: 'invalid_credentials' } },
        { actor: 'user:oda', action: 'user.sign_out', target_id: oda.id, ip, details: { sid: ok.session.sid } },
      ]);
      // The failure that makes a counter wait is recorded as such; attempts refused while it waits are not.
      setNow(NOW + 5504);
      // One failure from this address already; these make the client counter wait.
      for (let i = 0; i < GUESS_POLICIES.client.free; i++) await service.signIn('oda', 'wrong password', { ip, userAgent: null });
      setNow(NOW + 5504);
      expect((await service.signIn('oda', PASSWORD, { ip, userAgent: null })).ok).toBe(false);
      const throttledEvents = (await audit.list({ action: 'user.sign_in_throttled', targetId: oda.id })).items;
      expect(throttledEvents.map(({ actor, ip: from, details }) => ({ actor, ip: from, details }))).toEqual([
        { actor: 'anonymous', ip, details: { username: 'oda', counter: 'client', failures: GUESS_POLICIES.client.free + 1, wait_seconds: 1 } },
      ]);
      expect((await audit.list({ action: 'user.sign_in_failed', targetId: oda.id })).items).toHaveLength(1 + GUESS_POLICIES.client.free);
    });

    test('resolve refuses a session revoked in the store (e.g. all of a user’s sessions)', async () => {
      setNow(NOW + 6000);
      const ned = await addUser('ned');
      const r = await service.signIn('ned', PASSWORD, noMeta);
      if (!r.ok) throw new Error('sign-in failed');
      expect(await service.resolve(r.cookieValue)).toBeDefined();
      expect(await sessions.revokeAllForUser(ned.id, NOW + 6001)).toBe(1);
      expect(await service.resolve(r.cookieValue)).toBeUndefined();
    });

    test('resolve refuses an expired session: valid until the last second, not at expiresAt', async () => {
      setNow(NOW + 7000);
      await addUser('ola');
      const r = await service.signIn('ola', PASSWORD, noMeta);
      if (!r.ok) throw new Error('sign-in failed');
      setNow(r.session.expiresAt - 1);
      expect(await service.resolve(r.cookieValue)).toBeDefined();
      setNow(r.session.expiresAt);
      expect(await service.resolve(r.cookieValue)).toBeUndefined();
      setNow(r.session.expiresAt + 86_400);
      expect(await service.resolve(r.cookieValue)).toBeUndefined();
    });

    test('resolve refuses a session that began before the user’s password changed; a later one is fine', async () => {
      const t = NOW + 8000;
      setNow(t);
      const pia = await addUser('pia');
      const before = await service.signIn('pia', PASSWORD, noMeta);
      if (!before.ok) throw new Error('sign-in failed');
      expect(await service.resolve(before.cookieValue)).toBeDefined();

      // The password changes (here without revoking sessions, to test resolve's own check).
      setNow(t + 10);
      await saveUser({ ...pia, passwordChangedAt: t + 10, updatedAt: t + 10 });
      expect(await service.resolve(before.cookieValue)).toBeUndefined();
      expect((await sessions.find(before.session.idHash))!.revokedAt).toBeNull();

      setNow(t + 11);
      const after = await service.signIn('pia', PASSWORD, noMeta);
      if (!after.ok) throw new Error('sign-in failed');
      expect(await service.resolve(after.cookieValue)).toBeDefined();
    });

    test('resolve refuses the session of a user disabled after signing in', async () => {
      setNow(NOW + 9000);
      const quin = await addUser('quin');
      const r = await service.signIn('quin', PASSWORD, noMeta);
      if (!r.ok) throw new Error('sign-in failed');
      expect(await service.resolve(r.cookieValue)).toBeDefined();
      await saveUser({ ...quin, disabled: true, updatedAt: NOW + 9000 });
      expect(await service.resolve(r.cookieValue)).toBeUndefined();
      await saveUser({ ...quin, disabled: false, updatedAt: NOW + 9001 });
      expect(await service.resolve(r.cookieValue)).toBeDefined();
    });
  });
});

describe('SQLite durability setting (TESSERA_SQLITE_SYNCHRONOUS)', () => {
  test('the connection runs with synchronous NORMAL (1) by default and FULL (2) when asked', async () => {
    for (const [setting, expected] of [[undefined, 1], ['full', 2], ['normal', 1]] as const) {
      const database = await createTestDatabase('sqlite');
      const handle = openDatabase(database.url, setting ? { sqliteSynchronous: setting } : {});
      try {
        const { rows } = await sql<{ synchronous: number }>`PRAGMA synchronous`.execute(handle.db);
        expect(rows[0]!.synchronous, String(setting)).toBe(expected);
      } finally {
        await handle.close();
        await database.drop();
      }
    }
  });
});
