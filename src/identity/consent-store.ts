import type { Kysely } from 'kysely';
import type { Database } from '../storage/schema.ts';

/** Scopes a user has approved for an app; consent is asked again only for new scopes. */
export interface ConsentStore {
  granted(userId: string, clientId: string): Promise<string[]>;
  /** Adds scopes to what the user granted the app. */
  grant(userId: string, clientId: string, scopes: string[], now: number): Promise<void>;
  /** Forgets what the user granted the app; false when there was nothing. */
  revoke(userId: string, clientId: string): Promise<boolean>;
  /** Consents with the app's and the user's names, most recently changed first (at most 1000). */
  list(filter: ConsentFilter): Promise<ConsentListing[]>;
}

export interface ConsentFilter {
  userId?: string | undefined;
  clientId?: string | undefined;
}

export interface ConsentListing {
  clientId: string;
  clientName: string;
  userId: string;
  username: string;
  scopes: string[];
  createdAt: number;
  updatedAt: number;
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

  async revoke(userId: string, clientId: string): Promise<boolean> {
    const r = await this.#db.deleteFrom('consents').where('user_id', '=', userId).where('client_id', '=', clientId).executeTakeFirst();
    return Number(r.numDeletedRows) > 0;
  }

  async list(filter: ConsentFilter): Promise<ConsentListing[]> {
    let q = this.#db
      .selectFrom('consents')
      .innerJoin('clients', 'clients.id', 'consents.client_id')
      .innerJoin('users', 'users.id', 'consents.user_id')
      .select(['consents.client_id', 'clients.name as client_name', 'consents.user_id', 'users.username', 'consents.scopes', 'consents.created_at', 'consents.updated_at']);
    if (filter.userId) q = q.where('consents.user_id', '=', filter.userId);
    if (filter.clientId) q = q.where('consents.client_id', '=', filter.clientId);
    const rows = await q.orderBy('consents.updated_at', 'desc').limit(1000).execute();
    return rows.map((r) => ({
      clientId: r.client_id,
      clientName: r.client_name,
      userId: r.user_id,
      username: r.username,
      scopes: JSON.parse(r.scopes) as string[],
      createdAt: Number(r.created_at),
      updatedAt: Number(r.updated_at),
    }));
  }
}
