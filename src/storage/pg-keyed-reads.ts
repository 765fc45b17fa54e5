import type pg from 'pg';
import type { CompiledStatement, PgGroupCommit } from './pg-group-commit.ts';

interface Waiter<T> {
  resolve(value: T | undefined): void;
  reject(error: unknown): void;
}

/**
 * Reads by key on PostgreSQL, batched per event-loop turn (issue 16): the lookups that
 * requests start in one turn run as one statement (`WHERE key = ANY($1)`) instead of one
 * each, so N concurrent refreshes cost the database one execution and Tessera one round trip.
 * A key asked for twice in a turn is read once; each caller gets its own value (`map` runs per
 * caller), or undefined when there is no row. A failed statement fails that turn's callers,
 * each with its error (DatabaseUnavailableError for a lost connection, see PgGroupCommit.read).
 *
 * Reads only: nothing here commits, so it adds no guarantee and takes none away; a read
 * still sees every write whose answer was sent before it started.
 */
export class PgKeyedReads<R extends pg.QueryResultRow, T> {
  readonly #group: PgGroupCommit;
  readonly #statement: (keys: string | string[]) => CompiledStatement;
  readonly #keyOf: (row: R) => string;
  readonly #map: (row: R) => T;
  #pending: Map<string, Waiter<T>[]> | undefined;
  /** Statements run and keys they carried, for tests and the performance notes. */
  readonly stats = { statements: 0, keys: 0 };

  /**
   * `statement` reads the rows of one key (a string) or of several (an array): two named
   * statements, `= $1` and `= ANY($1)`, so the common turn of one lookup keeps the plan of a
   * single-row read whatever the table's statistics say. `keyOf` says which key a row
   * answers; `map` makes a caller's value of it.
   */
  constructor(group: PgGroupCommit, statement: (keys: string | string[]) => CompiledStatement, keyOf: (row: R) => string, map: (row: R) => T) {
    this.#group = group;
    this.#statement = statement;
    this.#keyOf = keyOf;
    this.#map = map;
  }

  get(key: string): Promise<T | undefined> {
    return new Promise((resolve, reject) => {
      let pending = this.#pending;
      if (pending === undefined) {
        pending = this.#pending = new Map();
        // After the I/O callbacks of this turn, as group commit: every request parsed in it has asked.
        setImmediate(() => void this.#flush());
      }
      const waiters = pending.get(key);
      if (waiters) waiters.push({ resolve, reject });
      else pending.set(key, [{ resolve, reject }]);
    });
  }

  async #flush(): Promise<void> {
    const pending = this.#pending!;
    this.#pending = undefined;
    let rows: R[];
    try {
      rows = (await this.#group.read<R>(this.#statement(pending.size === 1 ? pending.keys().next().value! : [...pending.keys()]))).rows;
    } catch (error) {
      for (const waiters of pending.values()) for (const w of waiters) w.reject(error);
      return;
    }
    this.stats.statements++;
    this.stats.keys += pending.size;
    for (const row of rows) {
      const key = this.#keyOf(row);
      const waiters = pending.get(key);
      if (waiters === undefined) continue;
      pending.delete(key);
      for (const w of waiters) {
        try {
          w.resolve(this.#map(row));
        } catch (error) {
          w.reject(error);
        }
      }
    }
    for (const waiters of pending.values()) for (const w of waiters) w.resolve(undefined);
  }
}
