import type { Kysely } from 'kysely';
import { publishChange } from '../storage/change-feed.ts';
import type { Database } from '../storage/schema.ts';

/** Saved runtime settings: key → JSON value. */
export interface SettingsStore {
  all(): Promise<Array<{ key: string; value: string }>>;
  /** Saves every entry and announces the change to other nodes, in one transaction. */
  save(entries: Array<{ key: string; value: string }>, now: number): Promise<void>;
}

export class KyselySettingsStore implements SettingsStore {
  readonly #db: Kysely<Database>;
  constructor(db: Kysely<Database>) {
    this.#db = db;
  }

  all(): Promise<Array<{ key: string; value: string }>> {
    return this.#db.selectFrom('settings').select(['key', 'value']).execute();
  }

  async save(entries: Array<{ key: string; value: string }>, now: number): Promise<void> {
    await this.#db.transaction().execute(async (trx) => {
      for (const { key, value } of entries) {
        await trx
          .insertInto('settings')
          .values({ key, value, updated_at: now })
          .onConflict((oc) => oc.column('key').doUpdateSet({ value, updated_at: now }))
          .execute();
      }
      await publishChange(trx, 'settings', entries.map((e) => e.key).join(','), now);
    });
  }
}
