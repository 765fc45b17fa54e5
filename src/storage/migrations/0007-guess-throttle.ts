import type { Kysely } from 'kysely';

/**
 * Sign-in throttling without lockouts (issue #12): one row per counter of failed guesses
 * (a device, an account from one IP address, an IP address, an account from every untrusted
 * client; src/identity/guess-throttle.ts). `blocked_until` is when the next attempt may
 * come; `expires_at` when the counter is forgotten (and may be purged); `account` lets an
 * admin clear every counter of one user. The old per-account lock table goes: its rows are
 * short-lived counts, and nothing reads them any more.
 */
export async function up(db: Kysely<any>): Promise<void> {
  const epoch = 'bigint' as const;
  await db.schema
    .createTable('guess_throttle')
    .addColumn('key', 'text', (c) => c.primaryKey())
    .addColumn('account', 'text')
    .addColumn('failures', 'integer', (c) => c.notNull())
    .addColumn('last_failure_at', epoch, (c) => c.notNull())
    .addColumn('blocked_until', epoch, (c) => c.notNull())
    .addColumn('expires_at', epoch, (c) => c.notNull())
    .execute();
  await db.schema.createIndex('guess_throttle_account').on('guess_throttle').column('account').execute();
  await db.schema.createIndex('guess_throttle_expires_at').on('guess_throttle').column('expires_at').execute();
  await db.schema.dropTable('login_throttle').execute();
}
