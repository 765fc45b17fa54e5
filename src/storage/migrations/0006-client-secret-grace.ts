import type { Kysely } from 'kysely';

/**
 * A secret rotated with a grace period (issue #12): the previous secret's SHA-256 and the
 * time (epoch s) until which it still authenticates the app. Both null outside a grace.
 */
export async function up(db: Kysely<any>): Promise<void> {
  await db.schema.alterTable('clients').addColumn('previous_secret_hash', 'text').execute();
  await db.schema.alterTable('clients').addColumn('previous_secret_expires_at', 'bigint').execute();
}
