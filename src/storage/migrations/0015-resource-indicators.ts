import type { Kysely } from 'kysely';

/**
 * Resource indicators (RFC 8707, issue #17): the resource named at authorization travels
 * with the code, and a refresh-token family remembers the resource it is bound to, so a
 * later request can narrow to it but never widen to another API.
 */
export async function up(db: Kysely<any>): Promise<void> {
  await db.schema.alterTable('authorization_codes').addColumn('resource', 'text').execute();
  await db.schema.alterTable('refresh_token_families').addColumn('resource', 'text').execute();
}
