import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { visitor } from '../../src/audit/actor.ts';
import { AuditLog } from '../../src/audit/audit-log.ts';
import { KyselyAuditStore } from '../../src/audit/audit-store.ts';
import type { Clock } from '../../src/clock.ts';
import { PasskeyRefused, PasskeyService } from '../../src/identity/passkey-service.ts';
import { KyselyPasskeyStore, type Passkey } from '../../src/identity/passkey-store.ts';
import { KyselyUserStore } from '../../src/identity/user-store.ts';
import type { User } from '../../src/identity/user.ts';
import { sha256 } from '../../src/lib/crypto.ts';
import { migrateToLatest, openDatabase, type DatabaseHandle } from '../../src/storage/database.ts';
import { createTestDatabase, DIALECTS, type TestDatabase } from '../support/databases.ts';
import { SoftAuthenticator } from '../support/soft-authenticator.ts';

/**
 * Passkeys on SQLite and PostgreSQL: the store's contract (credentials, single-use challenges
 * under concurrency, cascade on user deletion) and PasskeyService's ceremonies against a
 * software authenticator, including what a browser never sends: another origin or rpID, a
 * replayed challenge, a forged credential id, a counter that went back, a removed passkey.
 */
const NOW = 1_760_000_000;
const ISSUER = 'https://id.example.com';
const ORIGIN = 'https://id.example.com';
const RP_ID = 'id.example.com';

describe.each(DIALECTS)('passkeys on %s', (dialect) => {
  let database: TestDatabase;
  let handle: DatabaseHandle;
  let store: KyselyPasskeyStore;
  let service: PasskeyService;
  let audit: KyselyAuditStore;
  let alice: User;
  let bob: User;
  let now = NOW;
  const clock: Clock = { now: () => now * 1000 };
  const actor = visitor('alice', '127.0.0.1');

  function user(username: string): User {
    return {
      id: randomUUID(), username, email: null, emailVerified: false, name: null, givenName: null, familyName: null, passwordHash: null,
      passwordChangedAt: null, disabled: false, tokensValidAfter: 0, createdAt: NOW, updatedAt: NOW,
    } as User;
  }

  function passkey(id: string, userId: string, overrides: Partial<Passkey> = {}): Passkey {
    return { id, userId, publicKey: 'pk', counter: 0, transports: ['internal'], deviceType: 'singleDevice', backedUp: false, name: id, createdAt: NOW, lastUsedAt: null, ...overrides };
  }

  beforeAll(async () => {
    database = await createTestDatabase(dialect);
    handle = openDatabase(database.url);
    await migrateToLatest(handle);
    const users = new KyselyUserStore(handle.db);
    alice = user('alice');
    bob = user('bob');
    await users.insert(alice, []);
    await users.insert(bob, []);
    store = new KyselyPasskeyStore(handle.db);
    audit = new KyselyAuditStore(handle.db);
    service = new PasskeyService({ store, clock, audit: new AuditLog(audit, clock), issuer: () => ISSUER });
  });
  afterAll(async () => {
    await handle?.close();
    await database?.drop();
  });

  describe('store', () => {
    test('credentials: insert, find, list per user, rename, record use, delete', async () => {
      await store.insert(passkey('cred-a1', alice.id, { transports: ['usb', 'nfc'], deviceType: 'multiDevice', backedUp: true }));
      await store.insert(passkey('cred-a2', alice.id, { createdAt: NOW + 1 }));
      await store.insert(passkey('cred-b1', bob.id));
      expect(await store.find('cred-a1')).toEqual(passkey('cred-a1', alice.id, { transports: ['usb', 'nfc'], deviceType: 'multiDevice', backedUp: true }));
      expect(await store.find('nope')).toBeUndefined();
      expect((await store.listForUser(alice.id)).map((p) => p.id)).toEqual(['cred-a1', 'cred-a2']);
      // The same id twice is refused by the primary key (ids are unique across users).
      await expect(store.insert(passkey('cred-a1', bob.id))).rejects.toThrow();
      // Rename only one's own.
      expect(await store.rename(bob.id, 'cred-a1', 'stolen')).toBe(false);
      expect(await store.rename(alice.id, 'cred-a1', 'Laptop')).toBe(true);
      expect((await store.find('cred-a1'))!.name).toBe('Laptop');
      // Counter moves only from the value the caller saw.
      expect(await store.recordUse('cred-a1', 0, 5, NOW + 10)).toBe(true);
      expect(await store.recordUse('cred-a1', 0, 6, NOW + 11)).toBe(false);
      expect(await store.find('cred-a1')).toMatchObject({ counter: 5, lastUsedAt: NOW + 10 });
      expect(await store.delete(bob.id, 'cred-a2')).toBeUndefined();
      expect((await store.delete(alice.id, 'cred-a2'))?.id).toBe('cred-a2');
      expect(await store.find('cred-a2')).toBeUndefined();
      expect(await store.deleteAllForUser(alice.id)).toBe(1);
      expect(await store.deleteAllForUser(bob.id)).toBe(1);
    });

    test('a challenge is taken at most once, also by parallel callers; a new one replaces the old', async () => {
      const c = { idHash: 'h1', challenge: 'first', purpose: 'passwordless' as const, userId: null, expiresAt: NOW + 300 };
      await store.putChallenge(c);
      await store.putChallenge({ ...c, challenge: 'second' });
      const results = await Promise.all(Array.from({ length: 8 }, () => store.takeChallenge('h1')));
      const got = results.filter((r) => r !== undefined);
      expect(got).toEqual([{ ...c, challenge: 'second' }]);
      expect(await store.takeChallenge('h1')).toBeUndefined();
      await store.putChallenge({ ...c, idHash: 'old', expiresAt: NOW - 1 });
      expect(await store.purgeExpiredChallenges(NOW, 100)).toBe(1);
    });

    test("a user's deletion removes their passkeys", async () => {
      const carol = user('carol');
      const users = new KyselyUserStore(handle.db);
      await users.insert(carol, []);
      await store.insert(passkey('cred-c1', carol.id));
      await users.delete(carol.id, NOW);
      expect(await store.find('cred-c1')).toBeUndefined();
    });
  });

  describe('ceremonies', () => {
    async function register(auth: SoftAuthenticator, browser: string, owner = alice, name = 'My key'): Promise<Passkey> {
      const options = await service.startRegistration({ id: owner.id, username: owner.username, name: null }, browser);
      expect(options.rp.id).toBe(RP_ID);
      expect(options.authenticatorSelection).toMatchObject({ residentKey: 'required', userVerification: 'preferred' });
      return service.finishRegistration(owner.id, browser, auth.register({ challenge: options.challenge, origin: ORIGIN, rpId: RP_ID, userId: options.user.id }), name, actor);
    }

    async function passwordless(auth: SoftAuthenticator, browser: string, o: { origin?: string; rpId?: string; id?: string; counter?: number } = {}) {
      const options = await service.startAuthentication(browser, 'passwordless');
      expect(options.allowCredentials ?? []).toEqual([]);
      expect(options.userVerification).toBe('required');
      return service.finishAuthentication(browser, auth.assert({ challenge: options.challenge, origin: o.origin ?? ORIGIN, rpId: o.rpId ?? RP_ID, id: o.id, counter: o.counter }), 'passwordless');
    }

    const refused = async (p: Promise<unknown>, reason: string) => {
      const error = await p.then(() => undefined, (e: unknown) => e);
      expect(error).toBeInstanceOf(PasskeyRefused);
      expect((error as PasskeyRefused).reason).toBe(reason);
    };

    test('registration stores the passkey and audits user.factor_add; passwordless sign-in names its user with amr', async () => {
      const auth = new SoftAuthenticator();
      const stored = await register(auth, 'browser-1');
      expect(stored).toMatchObject({ id: auth.id, userId: alice.id, counter: 0, deviceType: 'singleDevice', backedUp: false, name: 'My key', transports: ['internal'] });
      const entries = await audit.list({ action: 'user.factor_add', limit: 100 });
      expect(JSON.stringify(entries)).toContain('passkey');
      const result = await passwordless(auth, 'browser-1');
      expect(result.userId).toBe(alice.id);
      expect(result.amr).toEqual(['hwk', 'mfa']);
      expect((await store.find(auth.id))!.counter).toBe(1);
      // A synced passkey without user verification: swk, no mfa (second factor only: passwordless requires UV).
      const synced = new SoftAuthenticator({ backupEligible: true, userVerifying: false });
      await register(synced, 'browser-1', alice, 'Phone');
      const opts = await service.startAuthentication('browser-1', 'second_factor', alice.id);
      expect(opts.allowCredentials!.map((c) => c.id).sort()).toEqual([auth.id, synced.id].sort());
      const second = await service.finishAuthentication('browser-1', synced.assert({ challenge: opts.challenge, origin: ORIGIN, rpId: RP_ID }), 'second_factor', alice.id);
      expect(second.amr).toEqual(['swk']);
      await refused(passwordless(synced, 'browser-1'), 'not_verified');
    });

    test('an assertion for another origin or another rpID is refused, and changes nothing', async () => {
      const auth = new SoftAuthenticator();
      await register(auth, 'browser-2');
      await refused(passwordless(auth, 'browser-2', { origin: 'https://evil.example.net' }), 'not_verified');
      await refused(passwordless(auth, 'browser-2', { origin: 'http://id.example.com' }), 'not_verified');
      await refused(passwordless(auth, 'browser-2', { rpId: 'evil.example.net' }), 'not_verified');
      expect((await store.find(auth.id))!.counter).toBe(0);
      // Registration made for another origin: refused, nothing stored.
      const other = new SoftAuthenticator();
      const options = await service.startRegistration({ id: alice.id, username: 'alice', name: null }, 'browser-2');
      await refused(service.finishRegistration(alice.id, 'browser-2', other.register({ challenge: options.challenge, origin: 'https://evil.example.net', rpId: RP_ID }), 'x', actor), 'not_verified');
      expect(await store.find(other.id)).toBeUndefined();
    });

    test('a challenge is single-use, bound to its browser and its ceremony, and expires', async () => {
      const auth = new SoftAuthenticator();
      await register(auth, 'browser-3');
      const options = await service.startAuthentication('browser-3', 'passwordless');
      const response = auth.assert({ challenge: options.challenge, origin: ORIGIN, rpId: RP_ID });
      // Another browser cannot answer it.
      await refused(service.finishAuthentication('browser-4', response, 'passwordless'), 'no_challenge');
      expect((await service.finishAuthentication('browser-3', response, 'passwordless')).userId).toBe(alice.id);
      // Replayed: the challenge is gone.
      await refused(service.finishAuthentication('browser-3', response, 'passwordless'), 'no_challenge');
      // A second-factor challenge does not serve a passwordless sign-in, nor another user's.
      await service.startAuthentication('browser-3', 'second_factor', alice.id);
      await refused(service.finishAuthentication('browser-3', response, 'passwordless'), 'no_challenge');
      await service.startAuthentication('browser-3', 'second_factor', alice.id);
      await refused(service.finishAuthentication('browser-3', response, 'second_factor', bob.id), 'no_challenge');
      // Expired.
      const late = await service.startAuthentication('browser-3', 'passwordless');
      now += 301;
      try {
        await refused(service.finishAuthentication('browser-3', auth.assert({ challenge: late.challenge, origin: ORIGIN, rpId: RP_ID }), 'passwordless'), 'no_challenge');
      } finally {
        now = NOW;
      }
      expect(await store.takeChallenge(sha256('browser-3'))).toBeUndefined();
    });

    test('a forged credential id, a counter that went back, a removed passkey, and garbage are refused', async () => {
      const auth = new SoftAuthenticator();
      const stored = await register(auth, 'browser-5');
      await refused(passwordless(auth, 'browser-5', { id: Buffer.from('forged-credential').toString('base64url') }), 'unknown_credential');
      expect((await passwordless(auth, 'browser-5', { counter: 10 })).passkey.counter).toBe(10);
      await refused(passwordless(auth, 'browser-5', { counter: 10 }), 'not_verified');
      await refused(passwordless(auth, 'browser-5', { counter: 3 }), 'not_verified');
      // Someone else's passkey is not a second factor for bob.
      const opts = await service.startAuthentication('browser-5', 'second_factor', bob.id);
      await refused(service.finishAuthentication('browser-5', auth.assert({ challenge: opts.challenge, origin: ORIGIN, rpId: RP_ID }), 'second_factor', bob.id), 'unknown_credential');
      await service.remove(alice.id, stored.id, actor);
      await refused(passwordless(auth, 'browser-5'), 'unknown_credential');
      for (const body of [null, 'x', 42, {}, { id: 'a', rawId: 'b', type: 'public-key', response: {} }, { id: 'a', rawId: 'a', type: 'public-key', response: { clientDataJSON: '!!' } }]) {
        await service.startAuthentication('browser-5', 'passwordless');
        await refused(service.finishAuthentication('browser-5', body, 'passwordless'), 'malformed');
      }
      const removals = JSON.stringify(await audit.list({ action: 'user.factor_remove', limit: 100 }));
      expect(removals).toContain('My key');
    });

    test('the same credential registered twice at once: one is stored, the other refused (never a database error)', async () => {
      const auth = new SoftAuthenticator();
      const [a, b] = await Promise.all(['race-1', 'race-2'].map((browser) => service.startRegistration({ id: bob.id, username: 'bob', name: null }, browser)));
      const results = await Promise.allSettled(
        [['race-1', a!], ['race-2', b!]].map(([browser, o]) =>
          service.finishRegistration(bob.id, browser as string, auth.register({ challenge: (o as { challenge: string }).challenge, origin: ORIGIN, rpId: RP_ID }), 'Twice', actor),
        ),
      );
      expect(results.filter((r) => r.status === 'fulfilled')).toHaveLength(1);
      const rejected = results.find((r) => r.status === 'rejected') as PromiseRejectedResult;
      expect(rejected.reason).toBeInstanceOf(PasskeyRefused);
      expect((await store.listForUser(bob.id)).map((p) => p.id)).toEqual([auth.id]);
      await store.deleteAllForUser(bob.id);
    });

    test('names are checked, rename is audited, and only the owner renames or removes', async () => {
      const auth = new SoftAuthenticator();
      const stored = await register(auth, 'browser-6');
      await expect(service.rename(alice.id, stored.id, '  ', actor)).rejects.toThrow(/name/);
      await expect(service.rename(alice.id, stored.id, 'x'.repeat(101), actor)).rejects.toThrow(/100/);
      await expect(service.rename(bob.id, stored.id, 'Mine now', actor)).rejects.toThrow(/no such passkey/);
      await expect(service.remove(bob.id, stored.id, actor)).rejects.toThrow(/no such passkey/);
      await service.rename(alice.id, stored.id, ' Work laptop\u0007 ', actor);
      expect((await store.find(stored.id))!.name).toBe('Work laptop');
      // The same authenticator again: excluded by the options, refused if it is registered anyway.
      const options = await service.startRegistration({ id: alice.id, username: 'alice', name: null }, 'browser-6');
      expect(options.excludeCredentials!.map((c) => c.id)).toContain(stored.id);
      await expect(
        service.finishRegistration(alice.id, 'browser-6', auth.register({ challenge: options.challenge, origin: ORIGIN, rpId: RP_ID }), 'again', actor),
      ).rejects.toBeInstanceOf(PasskeyRefused);
    });
  });
});
