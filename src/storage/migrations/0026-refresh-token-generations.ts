import type { Kysely } from 'kysely';

/**
 * Refresh tokens as generations of their family (issue 16). A family issued from this
 * release on keeps its current token on its own row — the token's SHA-256 hash, generation,
 * scope, expiry and time of issue — and a rotation is one conditional UPDATE of that row instead of marking
 * one `refresh_tokens` row used and inserting another (three index pages written per
 * rotation, and a row kept per spent token until the family expires). The token names its
 * family by `token_key` (random, found nowhere but in the family's tokens) and its generation;
 * a token of an earlier generation is a spent one, so reuse of any spent token still revokes
 * the family (src/oauth/refresh-token-format.ts). Families issued before keep their tokens in
 * `refresh_tokens` until they expire.
 */
export async function up(db: Kysely<any>): Promise<void> {
  await db.schema.alterTable('refresh_token_families').addColumn('token_key', 'text').execute();
  await db.schema.alterTable('refresh_token_families').addColumn('token_generation', 'bigint').execute();
  await db.schema.alterTable('refresh_token_families').addColumn('token_hash', 'text').execute();
  await db.schema.alterTable('refresh_token_families').addColumn('token_scope', 'text').execute();
  await db.schema.alterTable('refresh_token_families').addColumn('token_expires_at', 'bigint').execute();
  await db.schema.alterTable('refresh_token_families').addColumn('token_issued_at', 'bigint').execute();
  await db.schema.createIndex('refresh_token_families_token_key').on('refresh_token_families').column('token_key').unique().execute();
}
