import type { Kysely } from 'kysely';

/**
 * The device authorization grant (RFC 8628, issue #17). One row per device authorization
 * request, keyed by the SHA-256 of its device code; the user code is stored hashed too (it is
 * a bearer secret for as long as the request is pending). `status` moves pending → approved
 * or denied (at /device) → used (at the token endpoint, once). `interval` grows by 5 s on
 * every `slow_down` (§3.5); `last_polled_at` is when the device last asked.
 */
export async function up(db: Kysely<any>): Promise<void> {
  const epoch = 'bigint' as const;
  await db.schema
    .createTable('device_authorizations')
    .addColumn('device_code_hash', 'text', (c) => c.primaryKey())
    .addColumn('user_code_hash', 'text', (c) => c.notNull().unique())
    .addColumn('client_id', 'text', (c) => c.notNull())
    .addColumn('scope', 'text', (c) => c.notNull())
    .addColumn('resource', 'text')
    .addColumn('status', 'text', (c) => c.notNull())
    .addColumn('user_id', 'text')
    .addColumn('session_id', 'text')
    .addColumn('auth_time', epoch)
    .addColumn('amr', 'text')
    .addColumn('interval', 'integer', (c) => c.notNull())
    .addColumn('last_polled_at', epoch)
    .addColumn('created_at', epoch, (c) => c.notNull())
    .addColumn('expires_at', epoch, (c) => c.notNull())
    .execute();
  await db.schema.createIndex('device_authorizations_expires').on('device_authorizations').column('expires_at').execute();
}
