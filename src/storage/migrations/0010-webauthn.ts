import type { Kysely } from 'kysely';

/**
 * WebAuthn passkeys (issue #14). `webauthn_credentials`: one row per registered credential,
 * keyed by its credential id (base64url, as the authenticator made it; unique across users
 * by the spec's own rule, §7.1 step 22), with the COSE public key, the signature counter and
 * what the authenticator said about itself (transports, single/multi-device, backed up).
 * `webauthn_challenges`: the one-time challenge of a ceremony in progress, keyed by the
 * SHA-256 of a random value held in the browser's cookie, so it is bound to that browser and
 * consumed once (deleted when used; expired rows removed by the cleanup).
 */
export async function up(db: Kysely<any>): Promise<void> {
  const epoch = 'bigint' as const;
  await db.schema
    .createTable('webauthn_credentials')
    .addColumn('id', 'text', (c) => c.primaryKey())
    .addColumn('user_id', 'text', (c) => c.notNull().references('users.id').onDelete('cascade'))
    .addColumn('public_key', 'text', (c) => c.notNull())
    .addColumn('counter', epoch, (c) => c.notNull())
    .addColumn('transports', 'text', (c) => c.notNull())
    .addColumn('device_type', 'text', (c) => c.notNull())
    .addColumn('backed_up', 'integer', (c) => c.notNull())
    .addColumn('name', 'text', (c) => c.notNull())
    .addColumn('created_at', epoch, (c) => c.notNull())
    .addColumn('last_used_at', epoch)
    .execute();
  await db.schema.createIndex('webauthn_credentials_user_id').on('webauthn_credentials').column('user_id').execute();
  await db.schema
    .createTable('webauthn_challenges')
    .addColumn('id_hash', 'text', (c) => c.primaryKey())
    .addColumn('challenge', 'text', (c) => c.notNull())
    .addColumn('purpose', 'text', (c) => c.notNull())
    .addColumn('user_id', 'text')
    .addColumn('expires_at', epoch, (c) => c.notNull())
    .execute();
  await db.schema.createIndex('webauthn_challenges_expires_at').on('webauthn_challenges').column('expires_at').execute();
}
