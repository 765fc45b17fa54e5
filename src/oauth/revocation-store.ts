import type { Kysely } from 'kysely';
import { pickBatch } from '../storage/batch-delete.ts';
import { publishChange } from '../storage/change-feed.ts';
import type { Database } from '../storage/schema.ts';

/** The denylist of revoked JWT ids; entries live until the token would have expired anyway. */
export interface RevocationStore {
  /** Adds `jti` to the denylist; false when it was there already. */
  revoke(jti: string, clientId: string | null, expiresAt: number, now: number): Promise<boolean>;
  isRevoked(jti: string): Promise<boolean>;
  listUnexpired(now: number): Promise<Array<{ jti: string; expiresAt: number }>>;
  /** Deletes up to `limit` entries whose token expired at or before `before`; returns how many. */
  purgeExpired(before: number, limit: number): Promise<number>;
}

export class KyselyRevocationStore implements RevocationStore {
  readonly #db: Kysely<Database>;
  constructor(db: Kysely<Database>) {
    this.#db = db;
  }

  async revoke(jti: string, clientId: string | null, expiresAt: number, now: number): Promise<boolean> {
    return this.#db.transaction().execute(async (trx) => {
      // ON CONFLICT DO NOTHING, not select-then-insert: two nodes (or a retrying client)
      // revoking one token at once must not fail on the primary key. Only the first publishes.
      const result = await trx
        .insertInto('revoked_tokens')
        .values({ jti, client_id: clientId, expires_at: expiresAt, revoked_at: now })
        .onConflict((oc) => oc.column('jti').doNothing())
        .executeTakeFirst();
      const added = Number(result.numInsertedOrUpdatedRows ?? 0) > 0;
      if (added) await publishChange(trx, 'revoked_jti', `${jti} ${expiresAt}`, now);
      return added;
    });
  }

  async isRevoked(jti: string): Promise<boolean> {
    return (await this.#db.selectFrom('revoked_tokens').select('jti').where('jti', '=', jti).executeTakeFirst()) !== undefined;
  }

  async listUnexpired(now: number): Promise<Array<{ jti: string; expiresAt: number }>> {
    const rows = await this.#db.selectFrom('revoked_tokens').select(['jti', 'expires_at']).where('expires_at', '>', now).execute();
    return rows.map((r) => ({ jti: r.jti, expiresAt: r.expires_at }));
  }

  async purgeExpired(before: number, limit: number): Promise<number> {
    const r = await this.#db
      .deleteFrom('revoked_tokens')
      .where('jti', 'in', pickBatch(this.#db, this.#db.selectFrom('revoked_tokens').select('jti').where('expires_at', '<=', before).limit(limit)))
      .executeTakeFirst();
    return Number(r.numDeletedRows);
  }
}
