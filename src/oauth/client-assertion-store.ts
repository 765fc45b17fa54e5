import type { Kysely } from 'kysely';
import { pickBatch } from '../storage/batch-delete.ts';
import type { Database } from '../storage/schema.ts';

/**
 * The `jti` of every client assertion accepted (RFC 7523 §3 item 7: the server may keep the
 * jti values it has seen to refuse a replay), stored as a hash and kept until the assertion
 * expires: after that, the assertion is refused for its `exp` anyway.
 */
export interface ClientAssertionJtiStore {
  /**
   * Records a jti hash until `expiresAt`; false when it is already recorded and unexpired
   * (a replay). One statement, so two nodes receiving the same assertion at once cannot both
   * accept it.
   */
  remember(jtiHash: string, expiresAt: number, now: number): Promise<boolean>;
  /** Deletes up to `limit` entries that expired before `before`; how many. */
  purgeExpired(before: number, limit: number): Promise<number>;
}

export class KyselyClientAssertionJtiStore implements ClientAssertionJtiStore {
  readonly #db: Kysely<Database>;
  constructor(db: Kysely<Database>) {
    this.#db = db;
  }

  async remember(jtiHash: string, expiresAt: number, now: number): Promise<boolean> {
    const result = await this.#db
      .insertInto('client_assertion_jtis')
      .values({ jti_hash: jtiHash, expires_at: expiresAt })
      // An entry the cleanup has not removed yet, of an assertion long expired, is no replay.
      .onConflict((oc) => oc.column('jti_hash').doUpdateSet({ expires_at: expiresAt }).where('client_assertion_jtis.expires_at', '<=', now))
      .executeTakeFirst();
    return Number(result.numInsertedOrUpdatedRows ?? 0) > 0;
  }

  async purgeExpired(before: number, limit: number): Promise<number> {
    const r = await this.#db
      .deleteFrom('client_assertion_jtis')
      .where('jti_hash', 'in', pickBatch(this.#db, this.#db.selectFrom('client_assertion_jtis').select('jti_hash').where('expires_at', '<', before).limit(limit)))
      .executeTakeFirst();
    return Number(r.numDeletedRows);
  }
}
