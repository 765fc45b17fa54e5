import type { Kysely } from 'kysely';

/**
 * Upstream identity providers (issue #11): the providers an operator registers, the links
 * between Tessera users and their upstream accounts (provider, upstream `sub`), and the
 * sign-ins sent upstream and not yet back. A pending sign-in is keyed by the SHA-256 of its
 * `state` and bound to the browser by the SHA-256 of a value kept in a cookie.
 */
export async function up(db: Kysely<any>): Promise<void> {
  const epoch = 'bigint' as const;

  await db.schema
    .createTable('identity_providers')
    .addColumn('id', 'text', (c) => c.primaryKey())
    .addColumn('slug', 'text', (c) => c.notNull().unique())
    .addColumn('name', 'text', (c) => c.notNull())
    .addColumn('kind', 'text', (c) => c.notNull())
    .addColumn('issuer', 'text')
    // oidc: what discovery answered when the provider was last validated; oauth2: as configured.
    .addColumn('endpoints', 'text', (c) => c.notNull())
    .addColumn('claim_mapping', 'text')
    .addColumn('client_id', 'text', (c) => c.notNull())
    // AES-256-GCM under the key-encryption key, like signing keys (src/keys/encryption.ts).
    .addColumn('client_secret', 'text')
    .addColumn('scopes', 'text', (c) => c.notNull().defaultTo('[]'))
    .addColumn('trust_email', 'integer', (c) => c.notNull().defaultTo(0))
    .addColumn('enabled', 'integer', (c) => c.notNull().defaultTo(1))
    .addColumn('created_at', epoch, (c) => c.notNull())
    .addColumn('updated_at', epoch, (c) => c.notNull())
    .execute();

  // Roles a user created through the provider starts with; a deleted role leaves the list.
  await db.schema
    .createTable('identity_provider_roles')
    .addColumn('provider_id', 'text', (c) => c.notNull().references('identity_providers.id').onDelete('cascade'))
    .addColumn('role_name', 'text', (c) => c.notNull().references('roles.name').onDelete('cascade'))
    .addPrimaryKeyConstraint('identity_provider_roles_pk', ['provider_id', 'role_name'])
    .execute();

  await db.schema
    .createTable('identity_links')
    .addColumn('provider_id', 'text', (c) => c.notNull().references('identity_providers.id').onDelete('cascade'))
    .addColumn('subject', 'text', (c) => c.notNull())
    .addColumn('user_id', 'text', (c) => c.notNull().references('users.id').onDelete('cascade'))
    .addColumn('email', 'text')
    .addColumn('created_at', epoch, (c) => c.notNull())
    .addColumn('last_sign_in_at', epoch)
    .addPrimaryKeyConstraint('identity_links_pk', ['provider_id', 'subject'])
    .execute();
  await db.schema.createIndex('identity_links_user').on('identity_links').column('user_id').execute();

  await db.schema
    .createTable('upstream_sign_ins')
    .addColumn('state_hash', 'text', (c) => c.primaryKey())
    .addColumn('provider_id', 'text', (c) => c.notNull().references('identity_providers.id').onDelete('cascade'))
    .addColumn('nonce', 'text', (c) => c.notNull())
    .addColumn('code_verifier', 'text', (c) => c.notNull())
    .addColumn('browser_hash', 'text', (c) => c.notNull())
    .addColumn('redirect_uri', 'text', (c) => c.notNull())
    // The /connect/authorize request to resume afterwards (a path with its query), if any.
    .addColumn('return_to', 'text')
    .addColumn('created_at', epoch, (c) => c.notNull())
    .addColumn('expires_at', epoch, (c) => c.notNull())
    .addColumn('consumed_at', epoch)
    .execute();
  await db.schema.createIndex('upstream_sign_ins_expires').on('upstream_sign_ins').column('expires_at').execute();
}
