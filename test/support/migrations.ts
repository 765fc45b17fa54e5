import { Migrator } from 'kysely';
import { afterAll, beforeAll } from 'vitest';
import { openDatabase, type DatabaseHandle } from '../../src/storage/database.ts';
import { MIGRATION_NAMES, StaticMigrationProvider } from '../../src/storage/migrations/index.ts';
import { createTestDatabase, type TestDatabase, type TestDialect } from './databases.ts';

/**
 * A fresh, unmigrated database of `dialect` for the tests of one describe block (created before
 * them, closed and dropped after): returns a getter for its handle. For tests of a migration.
 */
export function freshDatabase(dialect: TestDialect): () => DatabaseHandle {
  let database: TestDatabase | undefined;
  let handle: DatabaseHandle | undefined;
  beforeAll(async () => {
    database = await createTestDatabase(dialect);
    handle = openDatabase(database.url);
  });
  afterAll(async () => {
    await handle?.close();
    await database?.drop();
  });
  return () => {
    if (handle === undefined) throw new Error('freshDatabase: used outside its describe block’s tests');
    return handle;
  };
}

/**
 * Brings a database to the state an earlier release left it in: every migration before
 * `name` (or, without one, all but the last). For tests of a migration on existing rows.
 */
export async function migrateToBefore(handle: DatabaseHandle, dialect: TestDialect, name?: string): Promise<void> {
  const previous = name === undefined ? MIGRATION_NAMES.at(-2)! : MIGRATION_NAMES[MIGRATION_NAMES.indexOf(name) - 1];
  if (previous === undefined) throw new Error(`no migration before ${name}`);
  const { error } = await new Migrator({
    db: handle.db,
    provider: new StaticMigrationProvider({ dialect }),
    migrationTableName: 'tessera_migrations',
    migrationLockTableName: 'tessera_migrations_lock',
  }).migrateTo(previous);
  if (error) throw error;
}
