import type { Kysely } from 'kysely';

/**
 * DPoP (RFC 9449, issue #17).
 *
 * - `dpop_proof_jtis`: the proofs already seen (a hash of key thumbprint, target URI and
 *   `jti`), kept until the proof would be refused for its age anyway. In the database rather
 *   than in memory, so that a proof replayed at another node is refused too.
 * - `clients.dpop_bound_access_tokens` (RFC 9449 §5.2): the app must send a proof with every
 *   token request.
 * - `refresh_token_families.dpop_jkt`: the key a public client's refresh tokens are bound to
 *   (§5); `authorization_codes.dpop_jkt`: the key the `dpop_jkt` authorization request
 *   parameter bound the code to (§10).
 */
export async function up(db: Kysely<any>): Promise<void> {
  await db.schema
    .createTable('dpop_proof_jtis')
    .addColumn('key', 'text', (c) => c.primaryKey())
    .addColumn('expires_at', 'bigint', (c) => c.notNull())
    .execute();
  await db.schema.createIndex('dpop_proof_jtis_expires').on('dpop_proof_jtis').column('expires_at').execute();
  await db.schema.alterTable('clients').addColumn('dpop_bound_access_tokens', 'integer', (c) => c.notNull().defaultTo(0)).execute();
  await db.schema.alterTable('refresh_token_families').addColumn('dpop_jkt', 'text').execute();
  await db.schema.alterTable('authorization_codes').addColumn('dpop_jkt', 'text').execute();
}
