import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { KyselyFactorStore, type TotpFactor } from '../../src/identity/mfa/factor-store.ts';
import { KyselySecondStepStore } from '../../src/identity/mfa/second-step-store.ts';
import { migrateToLatest, openDatabase, type DatabaseHandle } from '../../src/storage/database.ts';
import { createTestDatabase, DIALECTS, type TestDatabase } from '../support/databases.ts';

/** Second-factor storage (migration 0009) on both dialects: TOTP factors, recovery codes, pending second steps, roles requiring MFA. */
const NOW = 1_800_000_000;

describe.each(DIALECTS)('second-factor stores on %s', (dialect) => {
  let database: TestDatabase;
  let handle: DatabaseHandle;
  let factors: KyselyFactorStore;
  let steps: KyselySecondStepStore;
  const users: string[] = [];

  beforeAll(async () => {
    database = await createTestDatabase(dialect);
    handle = openDatabase(database.url);
    await migrateToLatest(handle);
    factors = new KyselyFactorStore(handle.db);
    steps = new KyselySecondStepStore(handle.db);
    for (const name of ['ada', 'bo']) {
      const id = randomUUID();
      await handle.db
        .insertInto('users')
        .values({ id, username: name, username_key: name, email: null, email_verified: 0, name: null, given_name: null, family_name: null, password_hash: null, password_changed_at: null, disabled: 0, tokens_valid_after: 0, created_at: NOW, updated_at: NOW } as never)
        .execute();
      users.push(id);
    }
  });
  afterAll(async () => {
    await handle?.close();
    await database?.drop();
  });

  const totp = (id: string, userId: string, createdAt = NOW): TotpFactor => ({ id, userId, name: 'Authenticator app', sealedSecret: `v1.${id}`, lastUsedStep: null, createdAt, confirmedAt: null, lastUsedAt: null });

  test('an unconfirmed factor replaces the previous unconfirmed one; the first used step confirms it', async () => {
    const [ada] = users;
    await factors.insertUnconfirmedTotp(totp('t-1', ada!));
    await factors.insertUnconfirmedTotp(totp('t-2', ada!, NOW + 1));
    expect((await factors.listTotp(ada!)).map((f) => [f.id, f.confirmedAt])).toEqual([['t-2', null]]);
    expect(await factors.useStep('t-2', 100, NOW + 5)).toBe(true);
    expect(await factors.listTotp(ada!)).toEqual([{ ...totp('t-2', ada!, NOW + 1), lastUsedStep: 100, confirmedAt: NOW + 5, lastUsedAt: NOW + 5 }]);
    // A later enrolment attempt never replaces the confirmed factor.
    await factors.insertUnconfirmedTotp(totp('t-3', ada!, NOW + 9));
    expect((await factors.listTotp(ada!)).map((f) => f.id)).toEqual(['t-2', 't-3']);
  });

  test('a step is used once: the same or an earlier step is refused, even by concurrent uses', async () => {
    const [, bo] = users;
    await factors.insertUnconfirmedTotp(totp('b-1', bo!));
    expect(await factors.useStep('b-1', 200, NOW)).toBe(true);
    expect(await factors.useStep('b-1', 200, NOW)).toBe(false);
    expect(await factors.useStep('b-1', 199, NOW)).toBe(false);
    const raced = await Promise.all([factors.useStep('b-1', 201, NOW), factors.useStep('b-1', 201, NOW), factors.useStep('b-1', 201, NOW)]);
    expect(raced.filter(Boolean)).toHaveLength(1);
    expect(await factors.deleteTotp(users[0]!, 'b-1')).toBe(false); // another user's factor
    expect(await factors.deleteAllTotp(bo!)).toBe(1);
    expect(await factors.listTotp(bo!)).toEqual([]);
  });

  test('recovery codes: replaced as a set, each used once (concurrent uses: one wins), counted, deleted', async () => {
    const [ada, bo] = users;
    await factors.replaceRecoveryCodes(ada!, ['h1', 'h2', 'h3'], NOW);
    await factors.replaceRecoveryCodes(bo!, ['h1'], NOW);
    expect(await factors.remainingRecoveryCodes(ada!)).toBe(3);
    const raced = await Promise.all([factors.useRecoveryCode(ada!, 'h2', NOW), factors.useRecoveryCode(ada!, 'h2', NOW)]);
    expect(raced.filter(Boolean)).toHaveLength(1);
    expect(await factors.useRecoveryCode(ada!, 'h2', NOW)).toBe(false);
    expect(await factors.useRecoveryCode(ada!, 'nope', NOW)).toBe(false);
    expect(await factors.remainingRecoveryCodes(ada!)).toBe(2);
    expect(await factors.remainingRecoveryCodes(bo!)).toBe(1);
    await factors.replaceRecoveryCodes(ada!, ['n1', 'n2'], NOW + 1);
    expect(await factors.useRecoveryCode(ada!, 'h1', NOW)).toBe(false);
    expect(await factors.remainingRecoveryCodes(ada!)).toBe(2);
    expect(await factors.deleteRecoveryCodes(ada!)).toBe(2);
    expect(await factors.remainingRecoveryCodes(bo!)).toBe(1);
  });

  test('pending second steps: found by hash, consumed once, purged when expired', async () => {
    const [ada] = users;
    const step = { idHash: 'p-1', userId: ada!, amr: ['pwd'], browserHash: 'b', returnTo: '/connect/authorize?x=1', enrol: true, createdAt: NOW, expiresAt: NOW + 600, consumedAt: null };
    await steps.insert(step);
    await steps.insert({ ...step, idHash: 'p-old', expiresAt: NOW - 1 });
    expect(await steps.find('p-1')).toEqual(step);
    const raced = await Promise.all([steps.consume('p-1', NOW + 1), steps.consume('p-1', NOW + 1)]);
    expect(raced.filter(Boolean)).toHaveLength(1);
    expect((await steps.find('p-1'))?.consumedAt).toBe(NOW + 1);
    expect(await steps.purgeExpired(NOW, 100)).toBe(1);
    expect(await steps.find('p-old')).toBeUndefined();
  });

  test('roles requiring MFA are listed', async () => {
    expect(await factors.rolesRequiringMfa()).toEqual([]);
    await handle.db.updateTable('roles').set({ require_mfa: 1 }).where('name', '=', 'admin').execute();
    expect(await factors.rolesRequiringMfa()).toEqual(['admin']);
  });
});
