import { Migrator, sql, type Migration, type MigrationProvider } from 'kysely';
import { afterEach, describe, expect, test } from 'vitest';
import { migrateToLatest, migrationStatus, openDatabase, type DatabaseHandle } from '../../src/storage/database.ts';
import { StaticMigrationProvider } from '../../src/storage/migrations/index.ts';
import { createTestDatabase, DIALECTS, type TestDatabase } from '../support/databases.ts';

/**
 * Migration numbers are handed out to work done in parallel, so one can land after a higher
 * one (0019 landed after 0020–0022). A database migrated in between has the higher ones
 * recorded and lacks the lower: `migrateToLatest` must still apply it, not refuse the
 * database as "corrupted".
 */
const SKIPPED = '0019-user-locale';

class AllBut implements MigrationProvider {
  readonly #inner: MigrationProvider;
  constructor(inner: MigrationProvider) {
    this.#inner = inner;
  }
  async getMigrations(): Promise<Record<string, Migration>> {
    const all = await this.#inner.getMigrations();
    delete all[SKIPPED];
    return all;
  }
}

describe.each(DIALECTS)('migrations landed out of number order (%s)', (dialect) => {
  let database: TestDatabase | undefined;
  let handle: DatabaseHandle | undefined;
  afterEach(async () => {
    await handle?.close();
    await database?.drop();
  });

  test('a pending migration numbered below applied ones is applied, and the schema is then complete', async () => {
    database = await createTestDatabase(dialect);
    handle = openDatabase(database.url);
    // The database as an intermediate build left it: every migration but 0019.
    const earlier = new Migrator({
      db: handle.db,
      provider: new AllBut(new StaticMigrationProvider({ dialect: handle.dialect })),
      migrationTableName: 'tessera_migrations',
      migrationLockTableName: 'tessera_migrations_lock',
    });
    const first = await earlier.migrateToLatest();
    expect(first.error).toBeUndefined();
    expect((await migrationStatus(handle)).pending).toEqual([SKIPPED]);

    const applied = await migrateToLatest(handle);
    expect(applied).toEqual([SKIPPED]);
    expect((await migrationStatus(handle)).pending).toEqual([]);
    // 0019's column is there.
    await expect(sql`select locale from users where 1 = 0`.execute(handle.db)).resolves.toBeDefined();
  });
});
