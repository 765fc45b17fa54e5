import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, test, vi } from 'vitest';
import { KyselyFactorStore } from '../../src/identity/mfa/factor-store.ts';
import { openDatabase } from '../../src/storage/database.ts';
import { cliRunner } from '../support/cli-runner.ts';
import { createTestDatabase, DIALECTS, type TestDatabase } from '../support/databases.ts';

/** `tessera users factors` and `tessera users reset-factors` (issue 14), on both dialects. */
vi.setConfig({ testTimeout: 120_000 });

describe.each(DIALECTS)('tessera users factors / reset-factors (%s)', (dialect) => {
  let database: TestDatabase;
  let env: Record<string, string>;
  const { tessera, json, fails } = cliRunner(() => ({ databaseUrl: database.url, env }));

  beforeAll(async () => {
    database = await createTestDatabase(dialect);
    env = { TESSERA_KEY_ENCRYPTION_KEY_FILE: join(mkdtempSync(join(tmpdir(), 'tessera-cli-')), 'kek'), TESSERA_LOG_LEVEL: 'silent' };
  });
  afterAll(async () => database?.drop());

  test('lists the factors and recovery codes left; reset removes them, is audited, and says what went', async () => {
    await json(['migrate']);
    const fay = await json(['users', 'create', '--username', 'fay', '--password', 'correct horse battery staple']);
    const handle = openDatabase(database.url);
    try {
      const store = new KyselyFactorStore(handle.db);
      const now = Math.floor(Date.now() / 1000);
      await store.insertUnconfirmedTotp({ id: 'f-1', userId: fay.id, name: 'Authenticator app', sealedSecret: 'v1.sealed', lastUsedStep: null, createdAt: now, confirmedAt: null, lastUsedAt: null });
      expect(await store.useStep('f-1', 1000, now)).toBe(true);
      await store.replaceRecoveryCodes(fay.id, ['h1', 'h2', 'h3'], now);
      expect(await store.useRecoveryCode(fay.id, 'h2', now)).toBe(true);
    } finally {
      await handle.close();
    }
    const view = await json(['users', 'factors', 'fay']);
    expect(view).toEqual({
      user_id: fay.id,
      username: 'fay',
      factors: [{ id: 'f-1', type: 'totp', name: 'Authenticator app', created_at: expect.any(String), last_used_at: expect.any(String) }],
      recovery_codes_remaining: 2,
    });
    const human = await tessera(['users', 'factors', fay.id]);
    expect(human.stdout).toMatch(/^fay: 1 second factor, 2 recovery codes left\nTYPE +NAME/);
    expect(human.stdout).toContain('totp  Authenticator app');

    const reset = await tessera(['users', 'reset-factors', 'fay']);
    expect([reset.code, reset.stdout.trim()]).toEqual([0, 'removed totp, recovery_codes of fay']);
    expect(await json(['users', 'factors', 'fay'])).toMatchObject({ factors: [], recovery_codes_remaining: 0 });
    expect((await tessera(['users', 'reset-factors', 'fay'])).stdout.trim()).toBe('fay had no second factor to remove');
    const audit = await json(['audit', 'list', '--action', 'user.factors_reset']);
    const items = Array.isArray(audit) ? audit : audit.items;
    expect(items.map((e: { details: unknown }) => e.details)).toEqual([{ types: [] }, { types: ['totp', 'recovery_codes'] }]);
    await fails(['users', 'factors', 'nobody'], /user "nobody" not found/);
    await fails(['users', 'reset-factors', 'nobody'], /user "nobody" not found/);
  });
});
