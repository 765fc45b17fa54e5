import { PostgresAdapter, type Kysely, type SelectQueryBuilder } from 'kysely';

/**
 * How the stores' purge methods pick one batch of rows to delete:
 * `DELETE FROM t WHERE key IN (<this select> LIMIT n)` — one short statement per batch, never
 * one DELETE of a whole backlog (which would hold its locks, and on SQLite the single writer
 * lock, for as long as it runs). On PostgreSQL the selected rows are locked with
 * `FOR UPDATE SKIP LOCKED`: nodes purging at the same moment take different rows instead of
 * waiting for (or deadlocking on) each other. SQLite has one writer at a time and no such
 * clause.
 */
export function pickBatch<DB, TB extends keyof DB, O>(db: Kysely<any>, select: SelectQueryBuilder<DB, TB, O>): SelectQueryBuilder<DB, TB, O> {
  return isPostgres(db) ? select.forUpdate().skipLocked() : select;
}

function isPostgres(db: Kysely<any>): boolean {
  // Kysely exposes the dialect only through its executor's adapter.
  return db.getExecutor().adapter instanceof PostgresAdapter;
}
