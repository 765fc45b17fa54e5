import { sql, type Kysely, type RawBuilder } from 'kysely';
import { pickBatch } from '../storage/batch-delete.ts';
import type { Database } from '../storage/schema.ts';
import { waitTable, type BackoffPolicy, type Counter } from './guess-throttle.ts';

/** A counter's state after a failure was counted on it. */
export interface Counted {
  failures: number;
  /** When the next attempt on the counter may come (epoch seconds; ≤ now: at once). */
  blockedUntil: number;
}

/**
 * The counters of failed guesses (src/identity/guess-throttle.ts), in the database so every
 * node counts together. An attempt is counted BEFORE the secret is checked (`reserve`, one
 * atomic statement per counter, refused while the counter waits), so a burst of parallel
 * guesses cannot all slip past one check, and a waiting counter never costs a password hash.
 * A right guess then gives the attempt back (`refund`) or clears its counter (`reset`).
 */
export interface GuessThrottleStore {
  /** Those of `keys` that must still wait at `now`, with until when. */
  waiting(keys: string[], now: number): Promise<Array<{ key: string; blockedUntil: number }>>;
  /** Counts an attempt on `counter`; undefined (nothing counted) while the counter must wait. */
  reserve(counter: Counter, now: number): Promise<Counted | undefined>;
  /** Gives back one counted attempt (it was right), shortening the wait it set. */
  refund(counter: Counter, now: number): Promise<void>;
  /** Forgets a counter (a right guess from that device or client). */
  reset(key: string): Promise<void>;
  /** Every counter of one account (device, client and account-wide): what is counted now. */
  listForAccount(account: string): Promise<Array<{ key: string; failures: number; blockedUntil: number; expiresAt: number }>>;
  /** Forgets every counter of one account (an admin's unlock); how many there were. */
  clearAccount(account: string): Promise<number>;
  /** Removes up to `batchSize` counters forgotten by `now` (not waiting any more); how many. */
  deleteExpired(now: number, batchSize: number): Promise<number>;
}

/** A trusted integer as an SQL literal: PostgreSQL cannot type a bare parameter inside CASE. */
function int(n: number): RawBuilder<number> {
  if (!Number.isSafeInteger(n)) throw new Error(`not an integer: ${n}`);
  return sql.lit(n) as RawBuilder<number>;
}

/** The policy's wait after `count` failures, as SQL over an integer expression. */
function waitExpr(policy: BackoffPolicy, count: RawBuilder<number>): RawBuilder<number> {
  const whens = [sql`when ${count} <= ${int(policy.free)} then 0`];
  waitTable(policy).forEach((wait, i) => {
    if (i + 1 > policy.free) whens.push(sql`when ${count} <= ${int(i + 1)} then ${int(wait)}`);
  });
  return sql<number>`(case ${sql.join(whens, sql` `)} else ${int(policy.maxDelay)} end)`;
}

export class KyselyGuessThrottleStore implements GuessThrottleStore {
  readonly #db: Kysely<Database>;
  constructor(db: Kysely<Database>) {
    this.#db = db;
  }

  async waiting(keys: string[], now: number): Promise<Array<{ key: string; blockedUntil: number }>> {
    if (!keys.length) return [];
    const rows = await this.#db
      .selectFrom('guess_throttle')
      .select(['key', 'blocked_until'])
      .where('key', 'in', keys)
      .where('blocked_until', '>', now)
      .execute();
    return rows.map((r) => ({ key: r.key, blockedUntil: Number(r.blocked_until) }));
  }

  async reserve(counter: Counter, now: number): Promise<Counted | undefined> {
    const { policy } = counter;
    const t = int(now);
    // SET expressions read the row as it was before the update, on both dialects. A counter
    // past its quiet period starts again from one.
    const forgotten = sql<boolean>`${sql.ref('guess_throttle.expires_at')} <= ${t}`;
    const count = sql<number>`(case when ${forgotten} then 1 else ${sql.ref('guess_throttle.failures')} + 1 end)`;
    const row = await this.#db
      .insertInto('guess_throttle')
      .values({
        key: counter.key,
        account: counter.account,
        failures: 1,
        last_failure_at: now,
        blocked_until: now + waitTable(policy)[0]!,
        expires_at: now + policy.forgetAfter,
      })
      .onConflict((oc) =>
        oc
          .column('key')
          .doUpdateSet({
            failures: count,
            last_failure_at: t,
            blocked_until: sql<number>`${t} + ${waitExpr(policy, count)}`,
            expires_at: int(now + policy.forgetAfter),
          })
          // While the counter waits nothing is updated, and nothing is returned.
          .where(sql<boolean>`${sql.ref('guess_throttle.blocked_until')} <= ${t}`),
      )
      .returning(['failures', 'blocked_until'])
      .executeTakeFirst();
    return row ? { failures: Number(row.failures), blockedUntil: Number(row.blocked_until) } : undefined;
  }

  async refund(counter: Counter, now: number): Promise<void> {
    const failures = sql.ref('failures');
    const remaining = sql<number>`(case when ${failures} > 1 then ${failures} - 1 else 0 end)`;
    const shorter = sql<number>`${int(now)} + ${waitExpr(counter.policy, remaining)}`;
    await this.#db
      .updateTable('guess_throttle')
      .set({
        failures: remaining,
        blocked_until: sql<number>`(case when ${sql.ref('blocked_until')} < ${shorter} then ${sql.ref('blocked_until')} else ${shorter} end)`,
      })
      .where('key', '=', counter.key)
      .execute();
    // Nothing left to count: forget the counter (a concurrent failure since keeps it).
    await this.#db.deleteFrom('guess_throttle').where('key', '=', counter.key).where('failures', '=', 0).execute();
  }

  async reset(key: string): Promise<void> {
    await this.#db.deleteFrom('guess_throttle').where('key', '=', key).execute();
  }

  async listForAccount(account: string): Promise<Array<{ key: string; failures: number; blockedUntil: number; expiresAt: number }>> {
    const rows = await this.#db
      .selectFrom('guess_throttle')
      .select(['key', 'failures', 'blocked_until', 'expires_at'])
      .where('account', '=', account)
      .orderBy('key')
      .execute();
    return rows.map((r) => ({ key: r.key, failures: Number(r.failures), blockedUntil: Number(r.blocked_until), expiresAt: Number(r.expires_at) }));
  }

  async clearAccount(account: string): Promise<number> {
    const result = await this.#db.deleteFrom('guess_throttle').where('account', '=', account).executeTakeFirst();
    return Number(result.numDeletedRows);
  }

  async deleteExpired(now: number, batchSize: number): Promise<number> {
    // A bounded batch through the primary key: short statements, no long lock on either dialect.
    // (FOR UPDATE SKIP LOCKED on PostgreSQL: nodes purging at once take different rows.)
    const db = this.#db;
    const result = await db
      .deleteFrom('guess_throttle')
      .where('key', 'in', pickBatch(db, db.selectFrom('guess_throttle').select('key').where('expires_at', '<=', now).where('blocked_until', '<=', now).limit(batchSize)))
      .executeTakeFirst();
    return Number(result.numDeletedRows);
  }
}
