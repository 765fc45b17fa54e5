import { sql, type Kysely } from 'kysely';
import { pickBatch } from '../storage/batch-delete.ts';
import type { Database } from '../storage/schema.ts';

export interface ThrottlePolicy {
  /** Failures allowed in `windowSeconds` before the key is locked. */
  maxFailures: number;
  windowSeconds: number;
  lockSeconds: number;
}

/** Per account: 5 failures in 15 min lock it for 15 min. Per client IP: 20. */
export const ACCOUNT_POLICY: ThrottlePolicy = { maxFailures: 5, windowSeconds: 900, lockSeconds: 900 };
export const IP_POLICY: ThrottlePolicy = { maxFailures: 20, windowSeconds: 900, lockSeconds: 900 };

/**
 * Throttling of failed sign-ins, in the database so every node counts together. A locked
 * key is refused before the password is even hashed, so an attacker cannot burn CPU either.
 */
export interface LoginThrottleStore {
  /** The latest lock still running on any of `keys` (epoch seconds), or 0. */
  lockedUntil(keys: string[], now: number): Promise<number>;
  /** Counts a failure against `key`, locking it once the policy's limit is reached. */
  recordFailure(key: string, policy: ThrottlePolicy, now: number): Promise<void>;
  /** Forgets `key`'s failures (a successful sign-in), unlocking it. */
  reset(key: string): Promise<void>;
  /**
   * Deletes up to `limit` rows that no longer count as of `now`: their window is over (a new
   * failure would start a new one) and their lock has ended. Returns how many.
   */
  purgeExpired(now: number, limit: number): Promise<number>;
}

/** Longest window of any policy: a row whose window started before `now` minus this counts for nothing. */
const LONGEST_WINDOW = Math.max(ACCOUNT_POLICY.windowSeconds, IP_POLICY.windowSeconds);

export class KyselyLoginThrottleStore implements LoginThrottleStore {
  readonly #db: Kysely<Database>;
  constructor(db: Kysely<Database>) {
    this.#db = db;
  }

  async lockedUntil(keys: string[], now: number): Promise<number> {
    if (!keys.length) return 0;
    const rows = await this.#db.selectFrom('login_throttle').select('locked_until').where('key', 'in', keys).execute();
    const until = Math.max(0, ...rows.map((r) => r.locked_until));
    return until > now ? until : 0;
  }

  async recordFailure(key: string, policy: ThrottlePolicy, now: number): Promise<void> {
    // One atomic upsert that computes from the stored row: concurrent failures (parallel
    // guesses) must each count, which a read-then-write would lose. SET expressions read the
    // row as it was before the update, on both dialects.
    const newWindow = sql<boolean>`${now} - ${sql.ref('login_throttle.window_started_at')} > ${policy.windowSeconds}`;
    const failures = sql.ref('login_throttle.failures');
    await this.#db
      .insertInto('login_throttle')
      .values({ key, failures: 1, window_started_at: now, locked_until: 0 })
      .onConflict((oc) =>
        oc.column('key').doUpdateSet({
          failures: sql<number>`case when ${newWindow} then 1 else ${failures} + 1 end`,
          window_started_at: sql<number>`case when ${newWindow} then ${now} else ${sql.ref('login_throttle.window_started_at')} end`,
          locked_until: sql<number>`case when ${newWindow} then 0 when ${failures} + 1 >= ${policy.maxFailures} then ${now + policy.lockSeconds} else ${sql.ref('login_throttle.locked_until')} end`,
        }),
      )
      .execute();
  }

  async reset(key: string): Promise<void> {
    await this.#db.deleteFrom('login_throttle').where('key', '=', key).execute();
  }

  async purgeExpired(now: number, limit: number): Promise<number> {
    const db = this.#db;
    const r = await db
      .deleteFrom('login_throttle')
      .where(
        'key',
        'in',
        pickBatch(
          db,
          db
            .selectFrom('login_throttle')
            .select('key')
            .where('window_started_at', '<', now - LONGEST_WINDOW)
            .where('locked_until', '<', now)
            .limit(limit),
        ),
      )
      .executeTakeFirst();
    return Number(r.numDeletedRows);
  }
}
