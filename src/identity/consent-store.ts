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
      // Create-or-touch first: on PostgreSQL this takes the row lock, so a concurrent grant
      // (a double-submitted form, two tabs) waits here and then reads the scopes committed
      // before it, instead of failing on the primary key or losing the other's scopes.
      await trx
        .insertInto('consents')
        .values({ user_id: userId, client_id: clientId, scopes: '[]', created_at: now, updated_at: now })
        .onConflict((oc) => oc.columns(['user_id', 'client_id']).doUpdateSet({ updated_at: now }))
        .execute();
      const row = await trx
        .selectFrom('consents')
        .select('scopes')
        .where('user_id', '=', userId)
        .where('client_id', '=', clientId)
        .executeTakeFirstOrThrow();
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
