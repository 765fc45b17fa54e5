import { PostgresIntrospector, sql, type Kysely, type Transaction } from 'kysely';
import { backoffMs, FailureLog, type Logger } from '../lib/logger.ts';
import { pickBatch } from './batch-delete.ts';
import { CHANGE_CHANNEL, type ChangeNotificationListener } from './change-notifications.ts';
import type { Database } from './schema.ts';

/**
 * Cross-node (and CLI → server) cache invalidation. A write that must reach in-memory caches
 * appends a change event in its own transaction; every server node reads the events after
 * its cursor and tells its listeners. On PostgreSQL the append also NOTIFYs, delivered when
 * the transaction commits, and each node LISTENs on a connection of its own and applies the
 * notified event at once: a change reaches the other nodes in milliseconds. Polling every
 * `changePollMs` stays as the fallback; while LISTEN is in effect it slows to every
 * `LISTENING_POLL_MS`, and it is back at its normal rate as soon as the listening connection
 * is lost. On SQLite there is no NOTIFY, but the node can ask its connection every
 * `COMMIT_CHECK_MS` whether another connection committed (`PRAGMA data_version`,
 * sqlite-data-version.ts) and poll at once when one did: a change made by the CLI reaches a
 * running server in milliseconds, not at the next poll. A failed poll (database down) is logged and retried with
 * backoff; the cursor stays put, so the events written meanwhile are delivered once the
 * database is back.
 */
export type ChangeKind = 'client' | 'user' | 'role' | 'keys' | 'revoked_jti' | 'api' | 'settings' | 'branding';

export type ChangeListener = (kind: ChangeKind, key: string) => void;

/** Longer keys are not sent in a notification (PostgreSQL caps a payload at 8000 bytes). */
const MAX_NOTIFIED_KEY_BYTES = 1000;

/**
 * Appends a change event. On PostgreSQL the same statement NOTIFYs `CHANGE_CHANNEL` with
 * the event itself (`<id> <kind> <key>`, or `<id>` alone for a long key): in a transaction,
 * PostgreSQL delivers it at commit, so no node hears of an event before it is there, and a
 * rollback notifies nobody. A listening node applies the event from the payload without a
 * round trip to the database.
 */
export async function publishChange(db: Kysely<Database> | Transaction<Database>, kind: ChangeKind, key: string, now: number): Promise<void> {
  if (db.introspection instanceof PostgresIntrospector) {
    const payload = Buffer.byteLength(key) <= MAX_NOTIFIED_KEY_BYTES ? sql`id || ' ' || ${kind} || ' ' || ${key}` : sql`id::text`;
    await sql`with appended as (insert into change_events (kind, key, at) values (${kind}, ${key}, ${now}) returning id)
      select pg_notify(${CHANGE_CHANNEL}, ${payload}) from appended`.execute(db);
    return;
  }
  await db.insertInto('change_events').values({ kind, key, at: now }).execute();
}

const CHANGE_KINDS: ReadonlySet<string> = new Set<ChangeKind>(['client', 'user', 'role', 'keys', 'revoked_jti', 'api', 'settings', 'branding']);

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
/** Events applied from notifications that the cursor has not passed yet, at most. */
const MAX_AHEAD = 10_000;
/** SQLite: how often the node asks whether another connection committed (a read of a few µs). */
export const COMMIT_CHECK_MS = 20;

/** Longest wait between polls while the database keeps failing. */
const MAX_RETRY_MS = 5000;
/**
 * How often the feed still polls while LISTEN is in effect (or every `changePollMs`, if that
 * is longer): a safety net for a notification lost with a connection that died silently.
 */
export const LISTENING_POLL_MS = 5000;
/**
 * A node that has not read the feed for this long (its database unreachable, its process
 * paused) may have missed events: the cleanup deletes them after a day whether every node read
 * them or not. Its next successful poll then tells the `onResync` listeners to reload
 * everything they hold instead of trusting the events (an hour: well inside the day).
 */
export const RESYNC_AFTER_MS = 3_600_000;

export class ChangeFeed {
  readonly #db: Kysely<Database>;
  readonly #log: Logger;
  readonly #failures: FailureLog;
  readonly #listeners: ChangeListener[] = [];
  readonly #resyncListeners: Array<() => void | Promise<void>> = [];
  #cursor = 0;
  /** Ids below the cursor not seen yet → when the gap was noticed (ms). */
  readonly #gaps = new Map<number, number>();
  /** Ids above the cursor already delivered from their notification: the poll skips them. */
  readonly #ahead = new Set<number>();
  readonly #listener: ChangeNotificationListener | undefined;
  readonly #othersCommitted: (() => boolean) | undefined;
  #timer: NodeJS.Timeout | undefined;
  #commitCheck: NodeJS.Timeout | undefined;
  #polling: Promise<void> | undefined;
  /** A poll queued behind the running one, shared by everyone who asked meanwhile. */
  #next: Promise<void> | undefined;
  #lastPollAt = 0;
  #intervalMs = 0;
  /** Consecutive failed polls, and when the timer may try again. */
  #failed = 0;
  #retryAt = 0;
  /** When the last poll succeeded (ms since the epoch; 0 before the feed started), for the metrics' lag. */
  lastPolledAt = 0;
  /** Polls that failed (database unreachable), for the metrics. */
  pollFailures = 0;
  /** Reloads everything after this long without a successful poll (RESYNC_AFTER_MS; tests set less). */
  resyncAfterMs = RESYNC_AFTER_MS;
  /** Times the feed told its listeners to reload everything, for the tests and the logs. */
  resyncs = 0;

  /**
   * `listener` (PostgreSQL): the fast path. `othersCommitted` (SQLite, `commitsByOthers`):
   * asked every COMMIT_CHECK_MS, a yes polls at once. With neither the feed only polls.
   */
  constructor(db: Kysely<Database>, log: Logger, listener?: ChangeNotificationListener, othersCommitted?: () => boolean) {
    this.#db = db;
    this.#log = log;
    this.#failures = new FailureLog(log, 'change feed poll');
    this.#listener = listener;
    this.#othersCommitted = othersCommitted;
  }

  /** True while the last poll failed (the database is unreachable). */
  get failing(): boolean {
    return this.#failed > 0;
  }

  /** True while notifications arrive (PostgreSQL's LISTEN is in effect). */
  get listening(): boolean {
    return this.#listener?.listening ?? false;
  }

  subscribe(listener: ChangeListener): void {
    this.#listeners.push(listener);
  }

  /** Called after a gap in reading the feed long enough to have missed purged events (RESYNC_AFTER_MS): reload everything held. */
  onResync(listener: () => void | Promise<void>): void {
    this.#resyncListeners.push(listener);
  }

  /** Local writes call this so the writing node does not wait for its own poll. */
  notifyLocal(kind: ChangeKind, key: string): void {
    this.#deliver(kind, key);
  }

  async start(intervalMs: number): Promise<void> {
    const last = await this.#db.selectFrom('change_events').select((eb) => eb.fn.max('id').as('id')).executeTakeFirst();
    this.#cursor = Number(last?.id ?? 0);
    this.#intervalMs = intervalMs;
    const listeningMs = Math.max(intervalMs, LISTENING_POLL_MS);
    this.lastPolledAt = Date.now();
    this.#timer = setInterval(() => {
      const now = Date.now();
      if (now < this.#retryAt) return;
      if (this.listening && now - this.#lastPollAt < listeningMs) return;
      void this.poll();
    }, intervalMs);
    this.#timer.unref();
    const othersCommitted = this.#othersCommitted;
    if (othersCommitted) {
      const checks = new FailureLog(this.#log, 'SQLite commit check');
      this.#commitCheck = setInterval(() => {
        // While polls fail (the database gone) the poll's own backoff decides when to try.
        if (this.#failed > 0) return;
        let committed: boolean;
        try {
          committed = othersCommitted();
          checks.succeeded();
        } catch (error) {
          checks.failed(error, COMMIT_CHECK_MS);
          return;
        }
        if (committed) void this.refresh();
      }, COMMIT_CHECK_MS);
      this.#commitCheck.unref();
    }
    // (Re)established LISTEN: changes committed while there was none were not notified.
    this.#listener?.start({
      onNotify: (payload) => this.#notified(payload),
      onListening: () => void this.refresh(),
      probe: (payload) => sql`select pg_notify(${CHANGE_CHANNEL}, ${payload})`.execute(this.#db),
    });
  }

  async stop(): Promise<void> {
    if (this.#timer) clearInterval(this.#timer);
    this.#timer = undefined;
    if (this.#commitCheck) clearInterval(this.#commitCheck);
    this.#commitCheck = undefined;
    await this.#listener?.stop();
    await this.#next;
    await this.#polling;
  }

  /** Polls now (the timer calls this; tests too). Never rejects: a failure is logged. */
  poll(): Promise<void> {
    this.#polling ??= this.#pollOnce().finally(() => {
      this.#polling = undefined;
    });
    return this.#polling;
  }

  /**
   * Delivers every change committed before this call: a poll that starts after it. A poll
   * already running may have read too early, so one more is queued behind it, shared by all
   * callers meanwhile: however many ask, at most one poll runs and one waits. Never rejects.
   */
  refresh(): Promise<void> {
    const running = this.#polling;
    if (!running) return this.poll();
    this.#next ??= running.then(() => {
      this.#next = undefined;
      return this.poll();
    });
    return this.#next;
  }

  /**
   * A notification: the committed event itself, applied at once. Each event is delivered
   * once, whichever comes first, the notification or the poll. A payload without the event
   * (a long key) makes the feed read the database now.
   */
  #notified(payload: string): void {
    const match = /^(\d+)(?: ([a-z_]+) ([\s\S]*))?$/.exec(payload);
    const id = Number(match?.[1]);
    const kind = match?.[2];
    const key = match?.[3];
    if (!match || !Number.isSafeInteger(id) || kind === undefined || key === undefined || !CHANGE_KINDS.has(kind)) {
      void this.refresh();
      return;
    }
    if (id > this.#cursor) {
      if (this.#ahead.has(id)) return;
      this.#ahead.add(id);
      if (this.#ahead.size >= MAX_AHEAD) void this.refresh();
    } else if (!this.#gaps.delete(id)) {
      return; // delivered by a poll already
    }
    this.#deliver(kind as ChangeKind, key);
  }

  /**
   * Tells every resync listener to reload what it holds. A listener's failure is logged and
   * the others still run; false then, and the caller makes the next poll resync again.
   */
  async #resync(gapMs: number): Promise<boolean> {
    this.resyncs++;
    this.#log.warn({ gapSeconds: Math.round(gapMs / 1000) }, 'change feed: not read for longer than events are certain to be kept; reloading every cache');
    let ok = true;
    for (const listener of this.#resyncListeners) {
      try {
        await listener();
      } catch (error) {
        ok = false;
        this.#log.error({ err: error }, 'change feed: a cache could not reload after a gap; trying again at the next poll');
      }
    }
    return ok;
  }

  async #pollOnce(): Promise<void> {
    this.#lastPollAt = Date.now();
    // Judged before reading: the events of the gap may be gone already.
    const previous = this.lastPolledAt;
    const gapMs = previous > 0 ? this.#lastPollAt - previous : 0;
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
          for (let missing = this.#cursor + 1; missing < id && this.#gaps.size < MAX_GAPS; missing++) {
            if (!this.#ahead.delete(missing)) this.#gaps.set(missing, now);
          }
          this.#cursor = id;
          if (this.#ahead.delete(id)) continue; // its notification delivered it
        }
        this.#deliver(row.kind as ChangeKind, row.key);
      }
      for (const [id, since] of this.#gaps) if (now - since > GAP_GRACE_MS) this.#gaps.delete(id);
      for (const id of this.#ahead) if (id <= this.#cursor) this.#ahead.delete(id);
      this.#failed = 0;
      this.#retryAt = 0;
      this.lastPolledAt = now;
      this.#failures.succeeded();
      // A failed reload: the next poll sees the same gap and tries again.
      if (gapMs > this.resyncAfterMs && !(await this.#resync(gapMs))) this.lastPolledAt = previous;
    } catch (error) {
      this.pollFailures++;
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
