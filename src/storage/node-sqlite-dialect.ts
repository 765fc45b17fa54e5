import { DatabaseSync, type SQLInputValue, type StatementSync } from 'node:sqlite';
import { SqliteDialect, type SqliteDatabase, type SqliteStatement } from 'kysely';

/**
 * Kysely's SQLite dialect speaks the better-sqlite3 interface. Node ≥ 22 ships SQLite
 * itself (`node:sqlite`), which spares us a native addon that would have to be compiled
 * against the exact Node.js ABI. This adapter is the whole difference between the two APIs.
 */
class NodeSqliteStatement implements SqliteStatement {
  readonly reader: boolean;
  readonly #stmt: StatementSync;

  constructor(stmt: StatementSync) {
    this.#stmt = stmt;
    this.reader = stmt.columns().length > 0;
  }

  all(parameters: ReadonlyArray<unknown>): unknown[] {
    return this.#stmt.all(...toSqlite(parameters));
  }

  run(parameters: ReadonlyArray<unknown>): { changes: number | bigint; lastInsertRowid: number | bigint } {
    return this.#stmt.run(...toSqlite(parameters));
  }

  iterate(parameters: ReadonlyArray<unknown>): IterableIterator<unknown> {
    return this.#stmt.iterate(...toSqlite(parameters)) as IterableIterator<unknown>;
  }
}

/** node:sqlite binds only null, numbers, bigints, strings and bytes. */
function toSqlite(parameters: ReadonlyArray<unknown>): SQLInputValue[] {
  return parameters.map((value) => {
    if (typeof value === 'boolean') return value ? 1 : 0;
    if (value === undefined) return null;
    return value as SQLInputValue;
  });
}

/**
 * Kysely prepares every query it runs; preparing costs more than running most of ours (a
 * refresh-token rotation spent ~6 % of its CPU in prepare). Queries are built from a fixed
 * set of shapes with bound parameters, so a small cache keyed by SQL text holds them all.
 * Reuse is safe: every call runs a statement to completion synchronously.
 */
const STATEMENT_CACHE_SIZE = 500;

class NodeSqliteDatabase implements SqliteDatabase {
  readonly #db: DatabaseSync;
  readonly #statements = new Map<string, NodeSqliteStatement>();
  constructor(db: DatabaseSync) {
    this.#db = db;
  }
  close(): void {
    this.#statements.clear();
    if (this.#db.isOpen) this.#db.close();
  }
  prepare(sql: string): SqliteStatement {
    let statement = this.#statements.get(sql);
    if (statement === undefined) {
      statement = new NodeSqliteStatement(this.#db.prepare(sql));
      // Schema changes (migrations) run before traffic; an unbounded variety of SQL never
      // comes from our code, but stay bounded anyway.
      if (this.#statements.size >= STATEMENT_CACHE_SIZE) this.#statements.clear();
      this.#statements.set(sql, statement);
    }
    return statement;
  }
}

/**
 * `synchronous`: NORMAL (in WAL mode a process crash loses nothing committed; a power loss
 * may lose the last commits) or FULL (each commit synced to disk first). Configured by
 * TESSERA_SQLITE_SYNCHRONOUS; docs/performance.md measures the cost.
 */
export function openSqlite(path: string, synchronous: 'normal' | 'full' = 'normal'): DatabaseSync {
  const db = new DatabaseSync(path);
  // WAL lets the server read while a CLI process writes; busy_timeout makes the two wait
  // for each other instead of failing with SQLITE_BUSY. busy_timeout comes first: switching
  // to (or confirming) WAL takes a lock, and several processes opening the file at once
  // (the server and CLI commands) would otherwise fail with "database is locked" at once.
  db.exec('PRAGMA busy_timeout = 5000');
  db.exec('PRAGMA journal_mode = WAL');
  db.exec('PRAGMA foreign_keys = ON');
  db.exec(synchronous === 'full' ? 'PRAGMA synchronous = FULL' : 'PRAGMA synchronous = NORMAL');
  return db;
}

export function nodeSqliteDialect(db: DatabaseSync): SqliteDialect {
  return new SqliteDialect({ database: new NodeSqliteDatabase(db) });
}
