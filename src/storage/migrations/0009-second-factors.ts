import type { Kysely } from 'kysely';

/**
 * Second factors (issue #14). How a session was authenticated (`amr`, RFC 8176, space
 * separated) travels from the session to the codes and refresh-token families it yields, so
 * ID tokens can say it. TOTP factors keep their secret encrypted under the key-encryption key
 * and the last time step used (a code is never accepted twice). Recovery codes are stored
 * hashed. A sign-in between its password step and its second step is a pending row keyed by
 * the hash of a cookie value, bound to the browser and single-use. Roles and apps may require
 * MFA (the global policy is a saved setting).
 */
export async function up(db: Kysely<any>): Promise<void> {
  const epoch = 'bigint' as const;
  await db.schema.alterTable('sessions').addColumn('amr', 'text').execute();
  await db.schema.alterTable('authorization_codes').addColumn('amr', 'text').execute();
  await db.schema.alterTable('refresh_token_families').addColumn('amr', 'text').execute();
  await db.schema.alterTable('roles').addColumn('require_mfa', 'integer', (c) => c.notNull().defaultTo(0)).execute();
  await db.schema.alterTable('clients').addColumn('require_mfa', 'integer', (c) => c.notNull().defaultTo(0)).execute();

  await db.schema
    .createTable('user_factors')
    .addColumn('id', 'text', (c) => c.primaryKey())
    .addColumn('user_id', 'text', (c) => c.notNull().references('users.id').onDelete('cascade'))
    .addColumn('type', 'text', (c) => c.notNull())
    .addColumn('name', 'text', (c) => c.notNull())
    .addColumn('secret', 'text', (c) => c.notNull())
    .addColumn('last_used_step', epoch)
    .addColumn('created_at', epoch, (c) => c.notNull())
    .addColumn('confirmed_at', epoch)
    .addColumn('last_used_at', epoch)
    .execute();
  await db.schema.createIndex('user_factors_user_id').on('user_factors').column('user_id').execute();

  await db.schema
    .createTable('recovery_codes')
    .addColumn('user_id', 'text', (c) => c.notNull().references('users.id').onDelete('cascade'))
    .addColumn('code_hash', 'text', (c) => c.notNull())
    .addColumn('created_at', epoch, (c) => c.notNull())
    .addColumn('used_at', epoch)
    .addPrimaryKeyConstraint('recovery_codes_pk', ['user_id', 'code_hash'])
    .execute();

  await db.schema
    .createTable('pending_second_steps')
    .addColumn('id_hash', 'text', (c) => c.primaryKey())
    .addColumn('user_id', 'text', (c) => c.notNull().references('users.id').onDelete('cascade'))
    .addColumn('amr', 'text', (c) => c.notNull())
    .addColumn('browser_hash', 'text', (c) => c.notNull())
    .addColumn('return_to', 'text')
    .addColumn('enrol', 'integer', (c) => c.notNull())
    .addColumn('created_at', epoch, (c) => c.notNull())
    .addColumn('expires_at', epoch, (c) => c.notNull())
    .addColumn('consumed_at', epoch)
    .execute();
  await db.schema.createIndex('pending_second_steps_expires_at').on('pending_second_steps').column('expires_at').execute();
}
