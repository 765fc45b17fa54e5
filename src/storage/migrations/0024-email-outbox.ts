import type { Kysely } from 'kysely';

/**
 * The email outbox in the database (`email_outbox`): a message waiting for the SMTP server
 * survives a restart or a crash and is sent by whichever node is up, instead of living in
 * one process's memory. Only what the logs and the scheduling need is in clear (the message
 * name, whom it concerns, attempts, times); the recipient and the rendered message, which
 * may hold a reset or invitation link, are one value encrypted with the key-encryption key.
 */
export async function up(db: Kysely<any>): Promise<void> {
  await db.schema
    .createTable('email_outbox')
    .addColumn('id', 'text', (c) => c.primaryKey())
    .addColumn('message', 'text', (c) => c.notNull())
    .addColumn('user_id', 'text')
    .addColumn('sealed', 'text', (c) => c.notNull())
    .addColumn('attempts', 'integer', (c) => c.notNull().defaultTo(0))
    .addColumn('created_at', 'bigint', (c) => c.notNull())
    .addColumn('next_attempt_at', 'bigint', (c) => c.notNull())
    .addColumn('claimed_until', 'bigint', (c) => c.notNull().defaultTo(0))
    .execute();
  await db.schema.createIndex('email_outbox_due').on('email_outbox').columns(['next_attempt_at', 'created_at']).execute();
}
