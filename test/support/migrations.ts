import { Migrator } from 'kysely';
import type { DatabaseHandle } from '../../src/storage/database.ts';
import { MIGRATION_NAMES, StaticMigrationProvider } from '../../src/storage/migrations/index.ts';
import type { TestDialect } from './databases.ts';

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
