import type { Kysely } from 'kysely';
import { publishChange } from '../storage/change-feed.ts';
import type { Database, SigningKeysTable } from '../storage/schema.ts';

export type StoredKey = SigningKeysTable;

/**
 * What a retired key's `private_key` becomes: nothing. Once retired a key signs nothing and
 * verifies nothing (it has left the JWKS), so its private part is destroyed rather than kept
 * encrypted forever; the row stays, with its public key and dates, for `tessera keys list`.
 */
export const DESTROYED_PRIVATE_KEY = '';

export interface KeyStore {
  listUnretired(): Promise<StoredKey[]>;
  listAll(): Promise<StoredKey[]>;
  /** Inserts `key` as the active key for its algorithm, demoting the previous one. */
  activate(key: StoredKey, now: number): Promise<void>;
  retireDeactivatedBefore(cutoff: number, now: number): Promise<number>;
  /** Retires these keys at once, whatever their status (`tessera keys recover`). */
  retire(kids: string[], now: number): Promise<void>;
}

export class KyselyKeyStore implements KeyStore {
  readonly #db: Kysely<Database>;
  constructor(db: Kysely<Database>) {
    this.#db = db;
  }

  listUnretired(): Promise<StoredKey[]> {
    return this.#db.selectFrom('signing_keys').selectAll().where('status', '!=', 'retired').orderBy('created_at', 'desc').execute();
  }

  listAll(): Promise<StoredKey[]> {
    return this.#db.selectFrom('signing_keys').selectAll().orderBy('created_at', 'desc').execute();
  }

  async activate(key: StoredKey, now: number): Promise<void> {
    await this.#db.transaction().execute(async (trx) => {
      await trx
        .updateTable('signing_keys')
        .set({ status: 'published', deactivated_at: now })
        .where('alg', '=', key.alg)
        .where('status', '=', 'active')
        .execute();
      await trx.insertInto('signing_keys').values(key).execute();
      // Other nodes (and a server while the CLI rotates) reload their key rings.
      await publishChange(trx, 'keys', key.kid, now);
    });
  }

  async retire(kids: string[], now: number): Promise<void> {
    if (!kids.length) return;
    await this.#db.transaction().execute(async (trx) => {
      await trx
        .updateTable('signing_keys')
        .set((eb) => ({ status: 'retired', private_key: DESTROYED_PRIVATE_KEY, deactivated_at: eb.fn.coalesce('deactivated_at', eb.val(now)) }))
        .where('kid', 'in', kids)
        .where('status', '!=', 'retired')
        .execute();
      await publishChange(trx, 'keys', 'retired', now);
    });
  }

  async retireDeactivatedBefore(cutoff: number, now: number): Promise<number> {
    const result = await this.#db
      .updateTable('signing_keys')
      .set({ status: 'retired', private_key: DESTROYED_PRIVATE_KEY })
      .where('status', '=', 'published')
      .where('deactivated_at', '<', cutoff)
      .executeTakeFirst();
    const n = Number(result.numUpdatedRows);
    if (n > 0) await publishChange(this.#db, 'keys', 'retired', now);
    return n;
  }
}
