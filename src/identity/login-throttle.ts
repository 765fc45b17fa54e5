import type { Kysely } from 'kysely';
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
export class LoginThrottle {
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
    const row = await this.#db.selectFrom('login_throttle').selectAll().where('key', '=', key).executeTakeFirst();
    let values: { failures: number; window_started_at: number; locked_until: number };
    if (!row || now - row.window_started_at > policy.windowSeconds) {
      values = { failures: 1, window_started_at: now, locked_until: 0 };
    } else {
      const failures = row.failures + 1;
      values = {
        failures,
        window_started_at: row.window_started_at,
        locked_until: failures >= policy.maxFailures ? now + policy.lockSeconds : row.locked_until,
      };
    }
    // An upsert, so two first failures at once cannot collide on the primary key.
    await this.#db
      .insertInto('login_throttle')
      .values({ key, ...values })
      .onConflict((oc) => oc.column('key').doUpdateSet(values))
      .execute();
  }

  async reset(key: string): Promise<void> {
    await this.#db.deleteFrom('login_throttle').where('key', '=', key).execute();
  }
}
