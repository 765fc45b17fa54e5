import type { Kysely } from 'kysely';

/**
 * Indexes the cleanup of expired rows needs (issue 12), so that each batch it deletes is found
 * through an index instead of a scan of the whole table. Codes, revoked tokens, upstream
 * sign-ins and audit events have theirs since earlier migrations; refresh tokens are found by
 * family (`refresh_tokens_family`).
 */
export async function up(db: Kysely<any>): Promise<void> {
  await db.schema.createIndex('refresh_families_expires').on('refresh_token_families').column('expires_at').execute();
  await db.schema.createIndex('sessions_expires').on('sessions').column('expires_at').execute();
  await db.schema.createIndex('change_events_at').on('change_events').column('at').execute();
  // The sign-in throttle table as the first schema made it; a later design may replace it
  // (then it brings its own indexes), so this one is made only where that table is.
  const throttle = (await db.introspection.getTables()).find((t) => t.name === 'login_throttle');
  if (throttle?.columns.some((c) => c.name === 'window_started_at')) {
    await db.schema.createIndex('login_throttle_window').ifNotExists().on('login_throttle').column('window_started_at').execute();
  }
}
