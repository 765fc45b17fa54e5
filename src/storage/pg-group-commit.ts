import type pg from 'pg';

/**
 * The database did not confirm a write: the connection failed before or during its commit,
 * so whether it committed is unknown (or it surely did not). The caller answers "try again"
 * (503 temporarily_unavailable), never that the write happened.
 */
export class DatabaseUnavailableError extends Error {
  constructor(cause: unknown) {
    super('the database did not confirm the write', { cause });
    this.name = 'DatabaseUnavailableError';
  }
}

/** One statement as Kysely compiles it, or a fixed text with a `name`. */
export interface CompiledStatement {
  readonly sql: string;
  readonly parameters: readonly unknown[];
  /**
   * A name for a fixed text: PostgreSQL then parses and plans it once per connection
   * (a named prepared statement) instead of on every execution. One name, one text, and
   * never `SELECT *` / `RETURNING *`: a column added by a migration under a running node
   * would make the cached plan fail.
   */
  readonly name?: string;
}

function config(statement: CompiledStatement): pg.QueryConfig {
  return { text: statement.sql, values: statement.parameters as unknown[], ...(statement.name ? { name: statement.name } : {}) };
}

interface Pending {
  statement: CompiledStatement;
  resolve(result: pg.QueryResult): void;
  reject(error: unknown): void;
}

/** Failure counts shared with the Kysely path (database.ts `DatabaseStats`). */
interface ErrorCounter {
  queryErrors: number;
}

/**
 * Group commit for PostgreSQL (issue 16): the writes that requests submit in the same
 * event-loop turn run in one transaction on one connection, so N concurrent refreshes cost
 * one commit (one WAL flush) instead of N. Each caller's promise settles only after the
 * COMMIT that carries its statement succeeded: an answer still means its write is durable.
 *
 * When the batch fails:
 * - a statement error (a constraint, a deadlock with another batch, a serialization
 *   failure): the transaction is rolled back for sure, so every statement runs again on its
 *   own; only those that fail alone fail, each with its own error;
 * - a connection error (lost, terminated, refused): whether the COMMIT happened is unknown
 *   and nothing is retried (a retried rotation could spend a token twice); every caller of
 *   the batch gets DatabaseUnavailableError.
 *
 * Statements in one batch see each other's effects in submission order, as they would
 * autocommitted one after the other: of two rotations of one token, the second finds it
 * spent. Only single statements whose result their caller needs alone belong here.
 */
export class PgGroupCommit {
  readonly #pool: pg.Pool;
  readonly #errors: ErrorCounter;
  #queue: Pending[] = [];
  #scheduled = false;
  /** Batches committed and statements they carried, for tests and the performance notes. */
  readonly stats = { batches: 0, statements: 0, retriedAlone: 0 };

  constructor(pool: pg.Pool, errors: ErrorCounter) {
    this.#pool = pool;
    this.#errors = errors;
  }

  /** Runs `statement` in the next batch; resolves with its result once its batch committed. */
  query<R extends pg.QueryResultRow = pg.QueryResultRow>(statement: CompiledStatement): Promise<pg.QueryResult<R>> {
    return new Promise((resolve, reject) => {
      this.#queue.push({ statement, resolve: resolve as Pending['resolve'], reject });
      if (!this.#scheduled) {
        this.#scheduled = true;
        // After the I/O callbacks of this turn: every request parsed in it has queued its write.
        setImmediate(() => this.#flush());
      }
    });
  }

  #flush(): void {
    this.#scheduled = false;
    const batch = this.#queue;
    this.#queue = [];
    // #commit settles every promise of the batch itself; should it throw regardless, the
    // batch fails as unconfirmed (settling twice is a no-op).
    this.#commit(batch).catch((error: unknown) => this.#failAll(batch, error));
  }

  async #commit(batch: Pending[]): Promise<void> {
    if (batch.length === 1) return this.#alone(batch[0]!);
    let client: pg.PoolClient;
    try {
      client = await this.#pool.connect();
    } catch (error) {
      return this.#failAll(batch, error);
    }
    // One round trip instead of one per statement: BEGIN, the statements and COMMIT are
    // written at once and answered in order (see `pipelined`). The server still runs each
    // after the one before it, in the one transaction.
    const settled = await pipelined(client, () => {
      const queries = [client.query('BEGIN')];
      for (const p of batch) queries.push(client.query(config(p.statement)));
      queries.push(client.query('COMMIT'));
      return queries;
    });
    const began = settled[0]!;
    const committed = settled[settled.length - 1]!;
    const results = settled.slice(1, -1);
    const failure = [began, committed, ...results].find((r) => r.status === 'rejected')?.reason as unknown;
    // PostgreSQL answers the COMMIT of a transaction a statement aborted with "ROLLBACK", not an error.
    const rolledBackQuietly = committed.status === 'fulfilled' && committed.value.command !== 'COMMIT';
    if (failure === undefined && !rolledBackQuietly) {
      client.release();
      this.stats.batches++;
      this.stats.statements += batch.length;
      batch.forEach((p, i) => p.resolve((results[i] as PromiseFulfilledResult<pg.QueryResult>).value));
      return;
    }
    this.#errors.queryErrors++;
    // A failed BEGIN or a connection error: what committed is unknown, nothing is retried (a
    // retried rotation could spend a token twice). Otherwise a statement (or the COMMIT itself)
    // failed and the transaction is over, rolled back: each statement runs again on its own.
    const unknown = began.status === 'rejected' || [committed, ...results].some((r) => r.status === 'rejected' && isConnectionError(r.reason));
    const idle = client.getTransactionStatus() === 'I';
    client.release(unknown || !idle);
    if (unknown || !idle) return this.#failAll(batch, failure ?? new Error('the batch ended outside its transaction'));
    this.stats.retriedAlone += batch.length;
    await Promise.all(batch.map((p) => this.#alone(p)));
  }

  async #alone(p: Pending): Promise<void> {
    try {
      p.resolve(await this.#pool.query(config(p.statement)));
      this.stats.batches++;
      this.stats.statements++;
    } catch (error) {
      this.#errors.queryErrors++;
      p.reject(isConnectionError(error) ? new DatabaseUnavailableError(error) : error);
    }
  }

  /**
   * A read on the pool at once (not batched: it commits nothing), with the same named
   * statements; a lost connection is DatabaseUnavailableError here too.
   */
  async read<R extends pg.QueryResultRow = pg.QueryResultRow>(statement: CompiledStatement): Promise<pg.QueryResult<R>> {
    try {
      return await this.#pool.query<R>(config(statement));
    } catch (error) {
      this.#errors.queryErrors++;
      throw isConnectionError(error) ? new DatabaseUnavailableError(error) : error;
    }
  }

  #failAll(batch: Pending[], error: unknown): void {
    const unavailable = new DatabaseUnavailableError(error);
    for (const p of batch) p.reject(unavailable);
  }
}

/**
 * Runs the queries `submit` makes on `client` in pipeline mode (node-postgres ≥ 8.21): each is
 * written at once, without waiting for the answer to the one before, and keeps its own Sync,
 * so its result or error is its own. The pool's clients are not pipelined otherwise (Kysely
 * expects one query at a time), so the mode is on only until every answer of the batch has
 * arrived — pg matches answers to queries by this flag. Were a pg release to stop reading
 * `pipeline` per query, the queries would queue and run one after the other: slower, still
 * correct.
 */
async function pipelined(client: pg.PoolClient, submit: () => Promise<pg.QueryResult>[]): Promise<PromiseSettledResult<pg.QueryResult>[]> {
  const c = client as { pipeline: boolean };
  c.pipeline = true;
  try {
    return await Promise.allSettled(submit());
  } finally {
    c.pipeline = false;
  }
}

/**
 * A failure of the connection rather than of a statement: no SQLSTATE (socket errors,
 * "Connection terminated"), or class 08 (connection exception) or 57 (operator
 * intervention: the backend was terminated, the server shuts down).
 */
export function isConnectionError(error: unknown): boolean {
  const code = (error as { code?: unknown } | null)?.code;
  if (typeof code !== 'string' || !/^[0-9A-Z]{5}$/.test(code)) return true;
  return code.startsWith('08') || code.startsWith('57');
}
