import type { DatabaseSync, SQLInputValue, StatementSync } from 'node:sqlite';
import type { Kysely } from 'kysely';
import { DatabaseUnavailableError } from './pg-group-commit.ts';
import type { Database } from './schema.ts';

/** Failure counts shared with the Kysely path (database.ts `DatabaseStats`). */
interface ErrorCounter {
  queryErrors: number;
}

interface PendingWrite {
  work: () => unknown;
  resolve(value: unknown): void;
  reject(error: unknown): void;
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
 *
 * Group commit (`write`): the writes that requests submit in one event-loop turn run, in
 * submission order, in one transaction, so they share one COMMIT — with
 * `synchronous = FULL` one fsync of the WAL instead of one per request, which node:sqlite
 * does on the event loop. Each caller's promise settles after that COMMIT. The work itself
 * runs at the flush, not when submitted, so nothing uncommitted is ever visible to a read
 * on the connection, and of two rotations of one token in a batch the second finds it
 * spent, as it would one after the other.
 */
export class SqliteStatements {
  readonly #raw: DatabaseSync;
  readonly #db: Kysely<Database>;
  readonly #errors: ErrorCounter;
  readonly #prepared = new Map<string, StatementSync>();
  #queue: PendingWrite[] = [];
  #scheduled = false;
  /** Batches committed and the writes they carried, for tests and the performance notes. */
  readonly stats = { batches: 0, statements: 0, retriedAlone: 0 };
  /** Called once per `#committedEvery` committed batches (the WAL checkpoint thread's nudge); none by default. */
  #afterCommits: (() => void) | undefined;
  #committedEvery = 0;
  #untilCall = 0;
  #paused = false;

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

  /**
   * Calls `callback` once per `every` committed batches (undefined: never again). For the WAL
   * checkpoint thread (sqlite-checkpointer.ts): a counter per batch, nothing per request.
   */
  afterCommits(every: number, callback: (() => void) | undefined): void {
    if (callback && (!Number.isInteger(every) || every < 1)) throw new RangeError(`afterCommits needs a positive whole number of batches (got ${every})`);
    this.#afterCommits = callback;
    this.#committedEvery = every;
    this.#untilCall = every;
  }

  /**
   * Holds group-commit flushes until resumeFlushes(): writes submitted meanwhile queue (their
   * callers wait; the event loop does not), and commit together at the resume. For the WAL
   * checkpoint thread's last pass (sqlite-checkpointer.ts), a few ms at most.
   */
  pauseFlushes(): void {
    this.#paused = true;
  }

  resumeFlushes(): void {
    this.#paused = false;
    if (this.#queue.length && !this.#scheduled) {
      this.#scheduled = true;
      setImmediate(() => this.#flush());
    }
  }

  /** Runs synchronous `work` on the connection, outside any transaction Kysely holds open. */
  run<T>(work: () => T): Promise<T> {
    if (!this.#raw.isTransaction) {
      try {
        return Promise.resolve(this.#counted(work));
      } catch (error) {
        return Promise.reject(error as Error);
      }
    }
    return this.#db.connection().execute(async () => this.#counted(work));
  }

  /**
   * Like run(), for synchronous `work` that reads more than once: in one read transaction, so
   * every read sees the same commit (another process's write cannot fall between them), and
   * SQLite takes its WAL read lock once rather than once per statement (each lock is a pair of
   * fcntl calls, ~1 µs apiece on a VM; docs/performance.md, run O).
   */
  snapshot<T>(work: () => T): Promise<T> {
    // run() decides when: at once, or after a transaction Kysely holds open has ended.
    return this.run(() => {
      this.statement('BEGIN').run();
      try {
        return work();
      } finally {
        // A read transaction's COMMIT only releases its read lock.
        this.statement('COMMIT').run();
      }
    });
  }

  /**
   * Synchronous `work` that writes, in the next group-commit batch: resolves with its result
   * once the batch's COMMIT succeeded. Work that throws is rolled back alone and rejects
   * with its own error; a batch whose COMMIT (or BEGIN) fails rejects its callers with
   * DatabaseUnavailableError (nothing of it was stored). Work is all or nothing, like a
   * transaction of its own.
   */
  write<T>(work: () => T): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      this.#queue.push({ work, resolve: resolve as PendingWrite['resolve'], reject });
      if (!this.#scheduled && !this.#paused) {
        this.#scheduled = true;
        // After the I/O callbacks of this turn: every request parsed in it has queued its write.
        setImmediate(() => this.#flush());
      }
    });
  }

  #flush(): void {
    this.#scheduled = false;
    // Paused after this flush was scheduled: the queue waits for resumeFlushes().
    if (this.#paused) return;
    const batch = this.#queue;
    this.#queue = [];
    const commit = (): void => this.#commit(batch);
    if (!this.#raw.isTransaction) return commit();
    // Kysely holds a transaction open across an await: wait for it to end.
    this.#db
      .connection()
      .execute(async () => commit())
      .catch((error: unknown) => this.#failAll(batch, error));
  }

  #commit(batch: PendingWrite[]): void {
    const results: unknown[] = [];
    try {
      this.statement('BEGIN IMMEDIATE').run();
    } catch (error) {
      // The write lock was not granted within busy_timeout (another process writes).
      this.#errors.queryErrors++;
      return this.#failAll(batch, error);
    }
    let failed = false;
    for (const p of batch) {
      try {
        results.push(p.work());
      } catch {
        failed = true;
        break;
      }
    }
    if (!failed) {
      try {
        this.statement('COMMIT').run();
      } catch (error) {
        // Disk full, an I/O error: not committed. Nothing is retried.
        this.#errors.queryErrors++;
        this.#rollback();
        return this.#failAll(batch, error);
      }
      this.stats.batches++;
      this.stats.statements += batch.length;
      batch.forEach((p, i) => p.resolve(results[i]));
      this.#committed();
      return;
    }
    // One work threw: roll the whole batch back (partial effects of the failed work
    // included), then run each alone, so only those that fail alone fail, with their own error.
    this.#errors.queryErrors++;
    this.#rollback();
    this.stats.retriedAlone += batch.length;
    for (const p of batch) this.#alone(p);
  }

  #alone(p: PendingWrite): void {
    try {
      this.statement('BEGIN IMMEDIATE').run();
    } catch (error) {
      this.#errors.queryErrors++;
      return p.reject(new DatabaseUnavailableError(error));
    }
    let result: unknown;
    try {
      result = p.work();
    } catch (error) {
      this.#errors.queryErrors++;
      this.#rollback();
      return p.reject(error);
    }
    try {
      this.statement('COMMIT').run();
    } catch (error) {
      this.#errors.queryErrors++;
      this.#rollback();
      return p.reject(new DatabaseUnavailableError(error));
    }
    this.stats.batches++;
    this.stats.statements++;
    p.resolve(result);
    this.#committed();
  }

  #committed(): void {
    if (this.#afterCommits !== undefined && --this.#untilCall === 0) {
      this.#untilCall = this.#committedEvery;
      this.#afterCommits();
    }
  }

  /** Ends a failed transaction; a ROLLBACK that fails too leaves SQLite to end it (it did, if it cannot). */
  #rollback(): void {
    try {
      if (this.#raw.isTransaction) this.statement('ROLLBACK').run();
    } catch {
      this.#errors.queryErrors++;
    }
  }

  #failAll(batch: PendingWrite[], error: unknown): void {
    const unavailable = new DatabaseUnavailableError(error);
    for (const p of batch) p.reject(unavailable);
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
