import { closeSync, existsSync, openSync, rmSync, statSync } from 'node:fs';
import { sql } from 'kysely';
import { DatabaseAccessError, fsReason, type DatabaseHandle } from './database.ts';

/**
 * A consistent copy of a live SQLite database in one new file. `VACUUM INTO` reads inside a
 * single transaction, so it sees every committed write, including those still in the -wal
 * file that a plain `cp` of the database file would miss, and never half of a transaction,
 * while the server keeps serving (readers and writers are not blocked in WAL mode).
 * The file is created first with mode 0600: it holds password hashes and encrypted keys.
 */
export async function backupSqlite(handle: DatabaseHandle, out: string): Promise<{ bytes: number }> {
  if (handle.dialect !== 'sqlite') throw new Error('backupSqlite needs an SQLite database');
  try {
    closeSync(openSync(out, 'wx', 0o600));
  } catch (error) {
    const code = (error as { code?: string }).code;
    throw new DatabaseAccessError(code === 'EEXIST' ? `${out} already exists; choose a new file for the backup` : `cannot create ${out}: ${fsReason(error)}`);
  }
  try {
    await sql`vacuum into ${out}`.execute(handle.db);
  } catch (error) {
    rmSync(out, { force: true });
    throw error;
  }
  return { bytes: statSync(out).size };
}

/** Whether an SQLite database (or a leftover of one) is at `path`. */
export function sqliteFilesExist(path: string): boolean {
  return [path, `${path}-wal`, `${path}-shm`].some((p) => existsSync(p));
}
