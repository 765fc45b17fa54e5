import type { DatabaseSync, SQLInputValue, StatementSync } from 'node:sqlite';
import type { Kysely } from 'kysely';
import type { Database } from './schema.ts';

/** Failure counts shared with the Kysely path (database.ts `DatabaseStats`). */
interface ErrorCounter {
  queryErrors: number;
}

/**
 * Prepared statements on the SQLite hot write paths (refresh rotation, code exchange,
 * session touch), prepared once: on a refresh, Kysely building the queries cost ~120 µs
 * and node:sqlite ~140 µs of main-thread time (issue 16). Stores use this for a handful of
 * fixed statements behind their usual interfaces; everything else stays on Kysely.
 *
 * Sharing the one connection with Kysely: node:sqlite runs every statement synchronously,
 * so a statement of ours can only ever interleave with Kysely *between* the statements of
 * one of its transactions (Kysely awaits between them). Ours would then become part of that
 * transaction and vanish with its rollback. So work runs at once only when no transaction
 * is open; otherwise it waits for Kysely's connection (its mutex), i.e. for that
 * transaction to end. Work passed here must be synchronous: it then runs whole, with
 * nothing else in between.
 */
export class SqliteStatements {
  readonly #raw: DatabaseSync;
  readonly #db: Kysely<Database>;
  readonly #errors: ErrorCounter;
  readonly #prepared = new Map<string, StatementSync>();

  constructor(raw: DatabaseSync, db: Kysely<Database>, errors: ErrorCounter) {
    this.#raw = raw;
    this.#db = db;
    this.#errors = errors;
  }

  /** The statement for `sql`, prepared on first use and kept (a fixed set of texts). */
  statement(sql: string): StatementSync {
    let stmt = this.#prepared.get(sql);
    if (stmt === undefined) {
      stmt = this.#raw.prepare(sql);
      this.#prepared.set(sql, stmt);
    }
    return stmt;
  }

  /** Runs synchronous `work` on the connection, outside any transaction Kysely holds open. */
  async run<T>(work: () => T): Promise<T> {
    if (!this.#raw.isTransaction) return this.#counted(work);
    return this.#db.connection().execute(async () => this.#counted(work));
  }

  /** `work` in one transaction (BEGIN IMMEDIATE: the write lock first, no upgrade deadlock), rolled back if it throws. */
  transaction<T>(work: () => T): Promise<T> {
    return this.run(() => {
      this.statement('BEGIN IMMEDIATE').run();
      try {
        const result = work();
        this.statement('COMMIT').run();
        return result;
      } catch (error) {
        if (this.#raw.isTransaction) this.statement('ROLLBACK').run();
        throw error;
      }
    });
  }

  #counted<T>(work: () => T): T {
    try {
      return work();
    } catch (error) {
      this.#errors.queryErrors++;
      throw error;
    }
  }
}

export type { SQLInputValue };
