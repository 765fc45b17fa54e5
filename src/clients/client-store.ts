import type { Kysely } from 'kysely';
import { publishChange } from '../storage/change-feed.ts';
import type { Database } from '../storage/schema.ts';
import { clientFromRow, clientToRow, type Client } from './client.ts';

export interface ClientStore {
  findById(id: string): Promise<Client | undefined>;
  list(): Promise<Client[]>;
  insert(client: Client): Promise<void>;
  /** Replaces the stored app with `client` (same id). */
  save(client: Client): Promise<void>;
  delete(id: string, now: number): Promise<boolean>;
  countByOnBehalfOf(userId: string): Promise<number>;
}

export class KyselyClientStore implements ClientStore {
  readonly #db: Kysely<Database>;
  constructor(db: Kysely<Database>) {
    this.#db = db;
  }

  async findById(id: string): Promise<Client | undefined> {
    // A client-supplied id may hold anything; PostgreSQL text cannot store NUL and would
    // fail the query (a 500). No registered id contains one, so there is nothing to find.
    if (id.includes('\u0000')) return undefined;
    const row = await this.#db.selectFrom('clients').selectAll().where('id', '=', id).executeTakeFirst();
    return row && clientFromRow(row);
  }

  async list(): Promise<Client[]> {
    const rows = await this.#db.selectFrom('clients').selectAll().orderBy('created_at').orderBy('name').execute();
    return rows.map(clientFromRow);
  }

  async insert(client: Client): Promise<void> {
    await this.#db.insertInto('clients').values(clientToRow(client)).execute();
  }

  async save(client: Client): Promise<void> {
    const { id, created_at, ...rest } = clientToRow(client);
    void created_at;
    await this.#db.transaction().execute(async (trx) => {
      await trx.updateTable('clients').set(rest).where('id', '=', id).execute();
      await publishChange(trx, 'client', id, client.updatedAt);
    });
  }

  async delete(id: string, now: number): Promise<boolean> {
    return this.#db.transaction().execute(async (trx) => {
      const result = await trx.deleteFrom('clients').where('id', '=', id).executeTakeFirst();
      await publishChange(trx, 'client', id, now);
      return Number(result.numDeletedRows) > 0;
    });
  }

  async countByOnBehalfOf(userId: string): Promise<number> {
    const row = await this.#db
      .selectFrom('clients')
      .select((eb) => eb.fn.countAll<number>().as('n'))
      .where('on_behalf_of_user_id', '=', userId)
      .executeTakeFirstOrThrow();
    return Number(row.n);
  }
}
