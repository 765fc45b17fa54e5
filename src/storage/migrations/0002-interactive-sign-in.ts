import type { Kysely } from 'kysely';

/**
 * Interactive sign-in needs two facts the first schema lacked: whether the authorization
 * request named its redirect_uri (RFC 6749 §4.1.3: then the token request must repeat it),
 * and a public, non-secret session id for the ID token's `sid` claim.
 */
export async function up(db: Kysely<any>): Promise<void> {
  await db.schema
    .alterTable('authorization_codes')
    .addColumn('redirect_uri_in_request', 'integer', (c) => c.notNull().defaultTo(1))
    .execute();
  await db.schema.alterTable('sessions').addColumn('sid', 'text').execute();
  await db.schema.createIndex('sessions_sid').on('sessions').column('sid').execute();
}
