import type { Kysely } from 'kysely';
import { pickBatch } from '../storage/batch-delete.ts';
import type { Database } from '../storage/schema.ts';

/**
 * DPoP proofs already seen (RFC 9449 §11.1). Shared by every node through the database: a
 * proof replayed at another node than the one that accepted it is refused as well. A row
 * lives until its proof is too old to be accepted anyway, so the table holds at most the
 * proofs of the last few minutes (and the cleanup removes the rest).
 */
export interface DpopReplayStore {
  /** Records `key` until `expiresAt`; false when it was recorded already (a replay). */
  remember(key: string, expiresAt: number): Promise<boolean>;
  /** Deletes up to `limit` entries that expired before `before`; returns how many. */
  purgeExpired(before: number, limit: number): Promise<number>;
}

export class KyselyDpopReplayStore implements DpopReplayStore {
  readonly #db: Kysely<Database>;
  constructor(db: Kysely<Database>) {
    this.#db = db;
  }

  async remember(key: string, expiresAt: number): Promise<boolean> {
    // One statement: of two nodes seeing the same proof at once, exactly one inserts it.
    const result = await this.#db
      .insertInto('dpop_proof_jtis')
      .values({ key, expires_at: expiresAt })
      .onConflict((oc) => oc.column('key').doNothing())
      .executeTakeFirst();
    return Number(result.numInsertedOrUpdatedRows ?? 0) > 0;
  }

  async purgeExpired(before: number, limit: number): Promise<number> {
    const db = this.#db;
    const r = await db
      .deleteFrom('dpop_proof_jtis')
      .where('key', 'in', pickBatch(db, db.selectFrom('dpop_proof_jtis').select('key').where('expires_at', '<', before).limit(limit)))
      .executeTakeFirst();
    return Number(r.numDeletedRows);
  }
}
