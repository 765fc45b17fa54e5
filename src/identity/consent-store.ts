import type { Kysely } from 'kysely';
import type { Database } from '../storage/schema.ts';

/** Scopes a user has approved for an app; consent is asked again only for new scopes. */
export interface ConsentStore {
  granted(userId: string, clientId: string): Promise<string[]>;
  /** Adds scopes to what the user granted the app. */
  grant(userId: string, clientId: string, scopes: string[], now: number): Promise<void>;
  revoke(userId: string, clientId: string): Promise<void>;
}

export class KyselyConsentStore implements ConsentStore {
  readonly #db: Kysely<Database>;
  constructor(db: Kysely<Database>) {
    this.#db = db;
  }

  async granted(userId: string, clientId: string): Promise<string[]> {
    const row = await this.#db
      .selectFrom('consents')
      .select('scopes')
      .where('user_id', '=', userId)
      .where('client_id', '=', clientId)
      .executeTakeFirst();
    return row ? (JSON.parse(row.scopes) as string[]) : [];
  }

  async grant(userId: string, clientId: string, scopes: string[], now: number): Promise<void> {
    await this.#db.transaction().execute(async (trx) => {
      const row = await trx
        .selectFrom('consents')
        .select('scopes')
        .where('user_id', '=', userId)
        .where('client_id', '=', clientId)
        .executeTakeFirst();
      if (!row) {
        await trx
          .insertInto('consents')
          .values({ user_id: userId, client_id: clientId, scopes: JSON.stringify(scopes), created_at: now, updated_at: now })
          .execute();
        return;
      }
      const merged = [...new Set([...(JSON.parse(row.scopes) as string[]), ...scopes])];
      await trx
        .updateTable('consents')
        .set({ scopes: JSON.stringify(merged), updated_at: now })
        .where('user_id', '=', userId)
        .where('client_id', '=', clientId)
        .execute();
    });
  }

  async revoke(userId: string, clientId: string): Promise<void> {
    await this.#db.deleteFrom('consents').where('user_id', '=', userId).where('client_id', '=', clientId).execute();
  }
}
