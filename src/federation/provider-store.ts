import type { Kysely, Transaction } from 'kysely';
import type { Database } from '../storage/schema.ts';
import { providerFromRow, providerToRow, type IdentityProvider } from './provider.ts';

export interface ProviderStore {
  findById(id: string): Promise<IdentityProvider | undefined>;
  findBySlug(slug: string): Promise<IdentityProvider | undefined>;
  list(): Promise<IdentityProvider[]>;
  /** Answers false (and stores nothing) when the slug is taken. */
  insert(provider: IdentityProvider): Promise<boolean>;
  /** Replaces the stored provider with `provider` (same id), default roles included. */
  save(provider: IdentityProvider): Promise<void>;
  /** Deletes the provider with its links and pending sign-ins. */
  delete(id: string): Promise<boolean>;
}

export class KyselyProviderStore implements ProviderStore {
  readonly #db: Kysely<Database>;
  constructor(db: Kysely<Database>) {
    this.#db = db;
  }

  async findById(id: string): Promise<IdentityProvider | undefined> {
    if (id.includes('\u0000')) return undefined;
    return this.#findWhere('id', id);
  }

  async findBySlug(slug: string): Promise<IdentityProvider | undefined> {
    // The slug comes from a URL path; PostgreSQL text cannot hold NUL (the query would fail).
    if (slug.includes('\u0000')) return undefined;
    return this.#findWhere('slug', slug);
  }

  async list(): Promise<IdentityProvider[]> {
    const [rows, roles] = await Promise.all([
      this.#db.selectFrom('identity_providers').selectAll().orderBy('name').orderBy('slug').execute(),
      this.#db.selectFrom('identity_provider_roles').selectAll().orderBy('role_name').execute(),
    ]);
    return rows.map((row) =>
      providerFromRow(
        row,
        roles.filter((r) => r.provider_id === row.id).map((r) => r.role_name),
      ),
    );
  }

  async insert(provider: IdentityProvider): Promise<boolean> {
    return this.#db.transaction().execute(async (trx) => {
      const result = await trx
        .insertInto('identity_providers')
        .values(providerToRow(provider))
        .onConflict((oc) => oc.column('slug').doNothing())
        .executeTakeFirst();
      if (Number(result.numInsertedOrUpdatedRows ?? 0n) === 0) return false;
      await insertRoles(trx, provider);
      return true;
    });
  }

  async save(provider: IdentityProvider): Promise<void> {
    const { id, created_at, ...rest } = providerToRow(provider);
    void created_at;
    await this.#db.transaction().execute(async (trx) => {
      await trx.updateTable('identity_providers').set(rest).where('id', '=', id).execute();
      await trx.deleteFrom('identity_provider_roles').where('provider_id', '=', id).execute();
      await insertRoles(trx, provider);
    });
  }

  async delete(id: string): Promise<boolean> {
    const result = await this.#db.deleteFrom('identity_providers').where('id', '=', id).executeTakeFirst();
    return Number(result.numDeletedRows) > 0;
  }

  async #findWhere(column: 'id' | 'slug', value: string): Promise<IdentityProvider | undefined> {
    const row = await this.#db.selectFrom('identity_providers').selectAll().where(column, '=', value).executeTakeFirst();
    if (!row) return undefined;
    const roles = await this.#db
      .selectFrom('identity_provider_roles')
      .select('role_name')
      .where('provider_id', '=', row.id)
      .orderBy('role_name')
      .execute();
    return providerFromRow(
      row,
      roles.map((r) => r.role_name),
    );
  }
}

async function insertRoles(trx: Transaction<Database>, provider: IdentityProvider): Promise<void> {
  if (provider.defaultRoles.length === 0) return;
  await trx
    .insertInto('identity_provider_roles')
    .values(provider.defaultRoles.map((role_name) => ({ provider_id: provider.id, role_name })))
    .execute();
}
