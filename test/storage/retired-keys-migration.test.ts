import { describe, expect, test } from 'vitest';
import { migrateToLatest } from '../../src/storage/database.ts';
import { DIALECTS } from '../support/databases.ts';
import { freshDatabase, migrateToBefore } from '../support/migrations.ts';

/**
 * Migration 0025 on a database an earlier release left: keys retired before it lose their
 * encrypted private part (as keys retiring from now on do); active and published keys keep it.
 */
describe.each(DIALECTS)('migration 0025 on existing keys (%s)', (dialect) => {
  const database = freshDatabase(dialect);

  test('retired keys lose their private part; the others keep it', async () => {
    const handle = database();
    await migrateToBefore(handle, dialect, '0025-destroy-retired-private-keys');
    const now = 1_700_000_000;
    const key = (kid: string, status: 'active' | 'published' | 'retired') => ({ kid, alg: 'ES256', status, public_jwk: '{}', private_key: `v1.sealed-${kid}`, created_at: now, activated_at: now, deactivated_at: status === 'active' ? null : now });
    await handle.db.insertInto('signing_keys').values([key('a', 'active'), key('p', 'published'), key('r', 'retired')]).execute();

    expect(await migrateToLatest(handle)).toContain('0025-destroy-retired-private-keys');
    const rows = await handle.db.selectFrom('signing_keys').select(['kid', 'status', 'private_key']).orderBy('kid').execute();
    expect(rows).toEqual([
      { kid: 'a', status: 'active', private_key: 'v1.sealed-a' },
      { kid: 'p', status: 'published', private_key: 'v1.sealed-p' },
      { kid: 'r', status: 'retired', private_key: '' },
    ]);
  });
});
