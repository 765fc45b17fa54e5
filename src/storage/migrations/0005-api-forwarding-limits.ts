import type { Kysely } from 'kysely';

/**
 * Per-API gateway settings (issue 12): whether the client's `Authorization` header reaches
 * the upstream (1, as every API did before), and the largest request body the gateway lets
 * through (null: no limit, as before).
 */
export async function up(db: Kysely<any>): Promise<void> {
  await db.schema.alterTable('apis').addColumn('forward_authorization', 'integer', (c) => c.notNull().defaultTo(1)).execute();
  await db.schema.alterTable('apis').addColumn('max_body_bytes', 'bigint').execute();
}
