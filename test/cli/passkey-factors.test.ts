import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, test, vi } from 'vitest';
import { KyselyPasskeyStore } from '../../src/identity/passkey-store.ts';
import { openDatabase } from '../../src/storage/database.ts';
import { cliRunner } from '../support/cli-runner.ts';
import { createTestDatabase, DIALECTS, type TestDatabase } from '../support/databases.ts';

/** Passkeys in the admin's factor list and reset (`tessera users factors|reset-factors`), on both dialects. */
vi.setConfig({ testTimeout: 120_000 });

describe.each(DIALECTS)('passkeys in tessera users factors / reset-factors (%s)', (dialect) => {
  let database: TestDatabase;
  let env: Record<string, string>;
  const { tessera, json } = cliRunner(() => ({ databaseUrl: database.url, env }));

  beforeAll(async () => {
    database = await createTestDatabase(dialect);
    env = { TESSERA_KEY_ENCRYPTION_KEY_FILE: join(mkdtempSync(join(tmpdir(), 'tessera-cli-')), 'kek'), TESSERA_LOG_LEVEL: 'silent' };
  });
  afterAll(async () => database?.drop());

  test('a passkey is listed as a factor, and the reset removes it (audited with type passkey)', async () => {
    await json(['migrate']);
    const gus = await json(['users', 'create', '--username', 'gus', '--password', 'correct horse battery staple']);
    const handle = openDatabase(database.url);
    const now = Math.floor(Date.now() / 1000);
    try {
      await new KyselyPasskeyStore(handle.db).insert({
        id: 'cred-gus-1', userId: gus.id, publicKey: 'pk', counter: 0, transports: ['usb'], deviceType: 'singleDevice', backedUp: false, name: 'YubiKey', createdAt: now, lastUsedAt: null,
      });
    } finally {
      await handle.close();
    }
    expect(await json(['users', 'factors', 'gus'])).toMatchObject({
      username: 'gus',
      factors: [{ id: 'cred-gus-1', type: 'passkey', name: 'YubiKey', created_at: expect.any(String) }],
    });
    expect((await tessera(['users', 'factors', 'gus'])).stdout).toContain('passkey  YubiKey');
    const reset = await tessera(['users', 'reset-factors', 'gus']);
    expect([reset.code, reset.stdout.trim()]).toEqual([0, 'removed passkey of gus']);
    expect(await json(['users', 'factors', 'gus'])).toMatchObject({ factors: [] });
    const check = openDatabase(database.url);
    try {
      expect(await new KyselyPasskeyStore(check.db).find('cred-gus-1')).toBeUndefined();
    } finally {
      await check.close();
    }
    const audit = await json(['audit', 'list', '--action', 'user.factors_reset']);
    const items = Array.isArray(audit) ? audit : audit.items;
    expect(items.map((e: { details: unknown }) => e.details)).toEqual([{ types: ['passkey'] }]);
  });
});
