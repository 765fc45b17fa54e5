import type { Kysely } from 'kysely';

/**
 * Links sent by email (issue 14): password reset, email verification, invitations. One row per
 * link, keyed by the SHA-256 of its token (the token itself exists only in the mail). A link is
 * single-use (`used_at`) and expires (`expires_at`). `user_id` is null for an invitation (the
 * user does not exist yet); `email` is the address the link was sent to (for verification, the
 * address it proves); `data` is JSON for what the purpose needs (an invitation's roles). No
 * foreign key to users: a deleted user's links are simply never honoured, and the cleanup
 * removes them when they expire.
 */
export async function up(db: Kysely<any>): Promise<void> {
  const epoch = 'bigint' as const;
  await db.schema
    .createTable('email_links')
    .addColumn('token_hash', 'text', (c) => c.primaryKey())
    .addColumn('purpose', 'text', (c) => c.notNull())
    .addColumn('user_id', 'text')
    .addColumn('email', 'text', (c) => c.notNull())
    .addColumn('data', 'text', (c) => c.notNull().defaultTo('{}'))
    .addColumn('created_by', 'text', (c) => c.notNull())
    .addColumn('created_at', epoch, (c) => c.notNull())
    .addColumn('expires_at', epoch, (c) => c.notNull())
    .addColumn('used_at', epoch)
    .execute();
  await db.schema.createIndex('email_links_user').on('email_links').columns(['user_id', 'purpose']).execute();
  await db.schema.createIndex('email_links_expires').on('email_links').column('expires_at').execute();
}
