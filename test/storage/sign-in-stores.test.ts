import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import type { Client } from '../../src/clients/client.ts';
import { KyselyClientStore } from '../../src/clients/client-store.ts';
import { KyselyConsentStore } from '../../src/identity/consent-store.ts';
import { LoginThrottle, type ThrottlePolicy } from '../../src/identity/login-throttle.ts';
import { KyselySessionStore, type Session } from '../../src/identity/session-store.ts';
import { KyselyUserStore } from '../../src/identity/user-store.ts';
import { KyselyCodeStore, type AuthorizationCode } from '../../src/oauth/code-store.ts';
import { KyselyRefreshStore } from '../../src/oauth/refresh-store.ts';
import { migrateToLatest, openDatabase, type DatabaseHandle } from '../../src/storage/database.ts';
import { createTestDatabase, DIALECTS, type TestDatabase } from '../support/databases.ts';

/**
 * The sign-in stores' contract on SQLite and PostgreSQL: codes consumed exactly once,
 * refresh tokens rotated exactly once (also under concurrency), sessions, consents and the
 * login throttle.
 */
const NOW = 1_760_000_000;

describe.each(DIALECTS)('sign-in stores on %s', (dialect) => {
  let database: TestDatabase;
  let handle: DatabaseHandle;
  let userId: string;
  let clientId: string;

  beforeAll(async () => {
    database = await createTestDatabase(dialect);
    handle = openDatabase(database.url);
    await migrateToLatest(handle);
    const users = new KyselyUserStore(handle.db);
    userId = randomUUID();
    await users.insert(
      { id: userId, username: 'alice', email: null, emailVerified: false, name: null, givenName: null, familyName: null, passwordHash: 'x', passwordChangedAt: NOW, disabled: false, tokensValidAfter: 0, createdAt: NOW, updatedAt: NOW },
      [],
    );
    const client: Client = {
      id: randomUUID(), name: 'App', description: '', secretHash: 'h', secretUpdatedAt: NOW, public: false, grantTypes: ['authorization_code'],
      redirectUris: ['https://app.example.com/cb'], postLogoutRedirectUris: [], scopes: ['openid'], defaultScopes: [], onBehalfOfUserId: null,
      accessTokenTtl: null, refreshTokenTtl: null, requirePermission: 'developer_api', idTokenSignedResponseAlg: null, tokensValidAfter: 0, createdAt: NOW, updatedAt: NOW,
    };
    await new KyselyClientStore(handle.db).insert(client);
    clientId = client.id;
  });
  afterAll(async () => {
    await handle?.close();
    await database?.drop();
  });

  function code(hash: string, overrides: Partial<AuthorizationCode> = {}): AuthorizationCode {
    return {
      codeHash: hash, clientId, userId, sessionId: 'sid-1', redirectUri: 'https://app.example.com/cb', redirectUriInRequest: true,
      scope: 'openid offline_access', nonce: 'n', codeChallenge: 'c'.repeat(43), codeChallengeMethod: 'S256', authTime: NOW - 10,
      createdAt: NOW, expiresAt: NOW + 1800, ...overrides,
    };
  }

  test('codes: stored fields round-trip; consumed once; a replay reports what was issued', async () => {
    const codes = new KyselyCodeStore(handle.db);
    await codes.insert(code('code-1'));
    const first = await codes.consume('code-1', NOW + 1);
    expect(first.status).toBe('consumed');
    if (first.status !== 'consumed') throw new Error();
    expect(first.code).toMatchObject({ clientId, userId, sessionId: 'sid-1', redirectUriInRequest: true, nonce: 'n', authTime: NOW - 10, expiresAt: NOW + 1800 });
    await codes.recordIssued('code-1', { accessTokenJti: 'jti-1', accessTokenExpiresAt: NOW + 3600, refreshFamilyId: null });
    const again = await codes.consume('code-1', NOW + 2);
    expect(again).toMatchObject({ status: 'replayed', accessTokenJti: 'jti-1', accessTokenExpiresAt: NOW + 3600, refreshFamilyId: null });
    expect((await codes.consume('no-such-code', NOW)).status).toBe('unknown');
  });

  test('codes: of N concurrent consumers exactly one wins', async () => {
    const codes = new KyselyCodeStore(handle.db);
    await codes.insert(code('code-race'));
    const results = await Promise.all(Array.from({ length: 8 }, () => codes.consume('code-race', NOW + 1)));
    expect(results.filter((r) => r.status === 'consumed')).toHaveLength(1);
    expect(results.filter((r) => r.status === 'replayed')).toHaveLength(7);
  });

  test('codes: purgeExpired removes only codes expired before the cut-off', async () => {
    const codes = new KyselyCodeStore(handle.db);
    await codes.insert(code('code-old', { expiresAt: NOW - 100 }));
    await codes.insert(code('code-new', { expiresAt: NOW + 100 }));
    expect(await codes.purgeExpired(NOW)).toBeGreaterThanOrEqual(1);
    expect((await codes.consume('code-old', NOW)).status).toBe('unknown');
    expect((await codes.consume('code-new', NOW)).status).toBe('consumed');
  });

  test('refresh: a family, rotation exactly once, revocation of the family, purge', async () => {
    const refresh = new KyselyRefreshStore(handle.db);
    const familyId = randomUUID();
    await refresh.createFamily(
      { id: familyId, clientId, userId, scope: 'openid offline_access', sessionId: 'sid-1', authTime: NOW, createdAt: NOW, expiresAt: NOW + 600, revokedAt: null },
      'rt-1',
      NOW + 600,
    );
    const found = await refresh.find('rt-1');
    expect(found).toMatchObject({ scope: 'openid offline_access', usedAt: null, expiresAt: NOW + 600 });
    expect(found!.family).toMatchObject({ id: familyId, clientId, userId, sessionId: 'sid-1', revokedAt: null });

    expect(await refresh.rotate('rt-1', 'rt-2', familyId, 'openid', NOW + 1, NOW + 601)).toEqual({ status: 'rotated' });
    expect(await refresh.rotate('rt-1', 'rt-3', familyId, 'openid', NOW + 2, NOW + 602)).toEqual({ status: 'already_used' });
    expect((await refresh.find('rt-1'))!.usedAt).toBe(NOW + 1);
    expect(await refresh.find('rt-3')).toBeUndefined();
    const second = await refresh.find('rt-2');
    expect(second).toMatchObject({ scope: 'openid', usedAt: null });

    // Concurrent rotation of the same token: one winner.
    const results = await Promise.all(Array.from({ length: 6 }, (_, i) => refresh.rotate('rt-2', `rt-race-${i}`, familyId, 'openid', NOW + 3, NOW + 603)));
    expect(results.filter((r) => r.status === 'rotated')).toHaveLength(1);

    await refresh.revokeFamily(familyId, NOW + 5);
    expect((await refresh.find('rt-2'))!.family.revokedAt).toBe(NOW + 5);
    expect(await refresh.purgeExpired(NOW + 10_000)).toBeGreaterThanOrEqual(1);
    expect(await refresh.find('rt-2')).toBeUndefined();
  });

  test('sessions: insert, find, touch, revoke one, revoke all, list, purge', async () => {
    const sessions = new KyselySessionStore(handle.db);
    const make = (n: number, expiresAt = NOW + 3600): Session => ({ idHash: `sess-${n}`, sid: randomUUID(), userId, authTime: NOW, createdAt: NOW + n, expiresAt, revokedAt: null });
    const s1 = make(1);
    await sessions.insert(s1, { ip: '203.0.113.7', userAgent: 'Firefox' });
    await sessions.insert(make(2), { ip: null, userAgent: null });
    await sessions.insert(make(3, NOW - 1), { ip: null, userAgent: null });
    expect(await sessions.find('sess-1')).toMatchObject({ sid: s1.sid, userId, authTime: NOW, expiresAt: NOW + 3600, revokedAt: null });
    await sessions.touch('sess-1', NOW + 50);
    expect((await sessions.listForUser(userId, NOW)).map((s) => s.idHash).sort()).toEqual(['sess-1', 'sess-2']);
    await sessions.revoke('sess-1', NOW + 60);
    expect((await sessions.find('sess-1'))!.revokedAt).toBe(NOW + 60);
    expect(await sessions.revokeAllForUser(userId, NOW + 70)).toBe(2);
    expect(await sessions.listForUser(userId, NOW)).toEqual([]);
    expect(await sessions.purgeExpired(NOW + 100_000)).toBeGreaterThanOrEqual(3);
    expect(await sessions.find('sess-2')).toBeUndefined();
    expect(await sessions.find('never')).toBeUndefined();
  });

  test('consents: grant merges scopes per user and app; revoke forgets', async () => {
    const consents = new KyselyConsentStore(handle.db);
    expect(await consents.granted(userId, clientId)).toEqual([]);
    await consents.grant(userId, clientId, ['openid', 'profile'], NOW);
    await consents.grant(userId, clientId, ['profile', 'email'], NOW + 1);
    expect((await consents.granted(userId, clientId)).sort()).toEqual(['email', 'openid', 'profile']);
    await consents.revoke(userId, clientId);
    expect(await consents.granted(userId, clientId)).toEqual([]);
  });

  test('login throttle: locks after the allowed failures, for the lock time; a new window resets; reset clears', async () => {
    const throttle = new LoginThrottle(handle.db);
    const policy: ThrottlePolicy = { maxFailures: 3, windowSeconds: 60, lockSeconds: 120 };
    for (let i = 0; i < 2; i++) await throttle.recordFailure('user:bob', policy, NOW + i);
    expect(await throttle.lockedUntil(['user:bob'], NOW + 2)).toBe(0);
    await throttle.recordFailure('user:bob', policy, NOW + 2);
    const until = await throttle.lockedUntil(['user:bob', 'ip:198.51.100.1'], NOW + 3);
    expect(until).toBeGreaterThan(NOW + 3);
    expect(until).toBeLessThanOrEqual(NOW + 2 + 120);
    expect(await throttle.lockedUntil(['user:bob'], until)).toBe(0);

    // Failures spread beyond the window never lock.
    for (let i = 0; i < 5; i++) await throttle.recordFailure('user:carol', policy, NOW + i * 61);
    expect(await throttle.lockedUntil(['user:carol'], NOW + 5 * 61)).toBe(0);

    await throttle.recordFailure('user:dan', policy, NOW);
    await throttle.recordFailure('user:dan', policy, NOW);
    await throttle.reset('user:dan');
    await throttle.recordFailure('user:dan', policy, NOW);
    expect(await throttle.lockedUntil(['user:dan'], NOW)).toBe(0);
    expect(await throttle.lockedUntil([], NOW)).toBe(0);
  });
});
