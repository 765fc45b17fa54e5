import type { Kysely } from 'kysely';

/**
 * A replayed authorization code must revoke what the code gave (RFC 6749 §4.1.2). When the
 * replay lands between the first exchange consuming the code and recording the tokens it
 * issued, there is nothing to revoke yet; the replay leaves this mark instead, and the first
 * exchange, on recording its tokens, sees it and revokes them itself.
 */
export async function up(db: Kysely<any>): Promise<void> {
  await db.schema.alterTable('authorization_codes').addColumn('replayed_at', 'bigint').execute();
}
