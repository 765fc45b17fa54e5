import type { Kysely } from 'kysely';

/**
 * Dynamic Client Registration (RFC 7591/7592, issue #17). An app that registered itself keeps
 * the SHA-256 of its registration access token on its row (null for every other app: that is
 * also the "self-registered" marker). Initial access tokens, which an administrator issues
 * when registration is protected, are stored by the SHA-256 of the token, with an expiry, an
 * optional use limit and a revocation time.
 */
export async function up(db: Kysely<any>): Promise<void> {
  const epoch = 'bigint' as const;
  await db.schema.alterTable('clients').addColumn('registration_token_hash', 'text').execute();
  // As the app registered it (client_secret_basic, client_secret_post or none), to answer RFC 7592 reads.
  await db.schema.alterTable('clients').addColumn('token_endpoint_auth_method', 'text').execute();
  await db.schema
    .createTable('initial_access_tokens')
    .addColumn('id', 'text', (c) => c.primaryKey())
    .addColumn('token_hash', 'text', (c) => c.notNull().unique())
    .addColumn('label', 'text', (c) => c.notNull())
    .addColumn('created_by', 'text', (c) => c.notNull())
    .addColumn('created_at', epoch, (c) => c.notNull())
    .addColumn('expires_at', epoch, (c) => c.notNull())
    .addColumn('max_uses', 'integer')
    .addColumn('uses', 'integer', (c) => c.notNull().defaultTo(0))
    .addColumn('revoked_at', epoch)
    .execute();
}
