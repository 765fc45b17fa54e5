import { sql, type Kysely } from 'kysely';

/**
 * Token exchange (RFC 8693, issue #17).
 *
 * - An app's token-exchange policy: which audiences it may exchange tokens for, which scopes
 *   (null: any the subject token holds) and whose tokens (client ids; null: any app's), as
 *   one JSON document on its row. Null: the app may not use the grant (the default).
 * - An API's upstream token: `forward` (the client's Authorization header, as before),
 *   `none`, or `exchange` (the gateway sends a short-lived token minted for the upstream's
 *   audience instead). `forward_authorization` stays and is kept equal to `forward`, so a
 *   node running the previous code reads the same behaviour for the two old modes.
 */
export async function up(db: Kysely<any>): Promise<void> {
  await db.schema.alterTable('clients').addColumn('token_exchange', 'text').execute();
  await db.schema.alterTable('apis').addColumn('upstream_token', 'text', (c) => c.notNull().defaultTo('forward')).execute();
  await db.schema.alterTable('apis').addColumn('upstream_audience', 'text').execute();
  await sql`UPDATE apis SET upstream_token = 'none' WHERE forward_authorization = 0`.execute(db);
}
