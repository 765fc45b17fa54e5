import type { Kysely, Transaction } from 'kysely';
import { backoffMs, FailureLog, type Logger } from '../lib/logger.ts';
import { pickBatch } from './batch-delete.ts';
import type { Database } from './schema.ts';

/**
 * Cross-node (and CLI → server) cache invalidation. A write that must reach in-memory caches
 * appends a change event in its own transaction; every server node polls the table every
 * `changePollMs` and tells its listeners. That bounds staleness on every dialect without
 * needing pub/sub. A failed poll (database down) is logged and retried with backoff; the
 * cursor stays put, so the events written meanwhile are delivered once the database is back.
 */
export type ChangeKind = 'client' | 'user' | 'role' | 'keys' | 'revoked_jti' | 'api' | 'settings';

export type ChangeListener = (kind: ChangeKind, key: string) => void;

export async function publishChange(db: Kysely<Database> | Transaction<Database>, kind: ChangeKind, key: string, now: number): Promise<void> {
  await db.insertInto('change_events').values({ kind, key, at: now }).execute();
}

/**
 * Deletes up to `limit` change events written before `before`; returns how many. Nodes read
 * only events newer than their cursor, which starts at the newest event when they start, so
 * old events serve no one once every running node has polled past them.
 */
export async function purgeChanges(db: Kysely<Database>, before: number, limit: number): Promise<number> {
  const r = await db
    .deleteFrom('change_events')
    .where('id', 'in', pickBatch(db, db.selectFrom('change_events').select('id').where('at', '<', before).limit(limit)))
    .executeTakeFirst();
  return Number(r.numDeletedRows);
}

/**
 * PostgreSQL assigns a change's id when the row is inserted, not when its transaction
 * commits, so a lower id can become visible after a higher one the feed has already passed.
 * Ids skipped by the cursor are looked for again until they appear or this long has passed
 * (a rolled-back transaction leaves a gap that never fills).
 */
const GAP_GRACE_MS = 60_000;
const MAX_GAPS = 1000;
/** Longest wait between polls while the database keeps failing. */
const MAX_RETRY_MS = 5000;

export class ChangeFeed {
  readonly #db: Kysely<Database>;
  readonly #log: Logger;
  readonly #failures: FailureLog;
  readonly #listeners: ChangeListener[] = [];
  #cursor = 0;
  /** Ids below the cursor not seen yet → when the gap was noticed (ms). */
  readonly #gaps = new Map<number, number>();
  #timer: NodeJS.Timeout | undefined;
  #polling: Promise<void> | undefined;
  #intervalMs = 0;
  /** Consecutive failed polls, and when the timer may try again. */
  #failed = 0;
  #retryAt = 0;

  constructor(db: Kysely<Database>, log: Logger) {
    this.#db = db;
    this.#log = log;
    this.#failures = new FailureLog(log, 'change feed poll');
  }

  subscribe(listener: ChangeListener): void {
    this.#listeners.push(listener);
  }

  /** Local writes call this so the writing node does not wait for its own poll. */
  notifyLocal(kind: ChangeKind, key: string): void {
    this.#deliver(kind, key);
  }

  async start(intervalMs: number): Promise<void> {
    const last = await this.#db.selectFrom('change_events').select((eb) => eb.fn.max('id').as('id')).executeTakeFirst();
    this.#cursor = Number(last?.id ?? 0);
    this.#intervalMs = intervalMs;
    this.#timer = setInterval(() => {
      if (Date.now() >= this.#retryAt) void this.poll();
    }, intervalMs);
    this.#timer.unref();
  }

  async stop(): Promise<void> {
    if (this.#timer) clearInterval(this.#timer);
    this.#timer = undefined;
    await this.#polling;
  }

  /** Polls now (the timer calls this; tests too). Never rejects: a failure is logged. */
  poll(): Promise<void> {
    this.#polling ??= this.#pollOnce().finally(() => {
      this.#polling = undefined;
    });
    return this.#polling;
  }

  async #pollOnce(): Promise<void> {
    try {
      const cursor = this.#cursor;
      const gaps = [...this.#gaps.keys()];
      const rows = await this.#db
        .selectFrom('change_events')
        .select(['id', 'kind', 'key'])
        .where((eb) => (gaps.length ? eb.or([eb('id', '>', cursor), eb('id', 'in', gaps)]) : eb('id', '>', cursor)))
        .orderBy('id')
        .limit(1000)
        .execute();
      const now = Date.now();
      for (const row of rows) {
        const id = Number(row.id);
        if (id <= this.#cursor) {
          // A late commit filling a gap (delivered once).
          if (!this.#gaps.delete(id)) continue;
        } else {
          for (let missing = this.#cursor + 1; missing < id && this.#gaps.size < MAX_GAPS; missing++) this.#gaps.set(missing, now);
          this.#cursor = id;
        }
        this.#deliver(row.kind as ChangeKind, row.key);
      }
      for (const [id, since] of this.#gaps) if (now - since > GAP_GRACE_MS) this.#gaps.delete(id);
      this.#failed = 0;
      this.#retryAt = 0;
      this.#failures.succeeded();
    } catch (error) {
      const delay = backoffMs(++this.#failed, Math.max(this.#intervalMs, 50), Math.max(this.#intervalMs, MAX_RETRY_MS));
      this.#retryAt = Date.now() + delay;
      this.#failures.failed(error, delay);
    }
  }

  /** One failing listener must not keep the others (or the rest of a batch) from their events. */
  #deliver(kind: ChangeKind, key: string): void {
    for (const l of this.#listeners) {
      try {
        l(kind, key);
      } catch (error) {
        this.#log.error({ err: error, kind, key }, 'a change listener failed');
      }
    }
  }
}
