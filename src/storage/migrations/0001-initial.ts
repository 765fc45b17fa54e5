import type { Kysely } from 'kysely';
import type { MigrationContext } from './context.ts';

/**
 * The first schema: configuration data (apps, users, roles, APIs, settings, keys) and
 * operational data (codes, refresh tokens, sessions, consents, revocations). Tokens, codes
 * and session ids are stored only as SHA-256 hashes.
 */
export async function up(db: Kysely<any>, ctx: MigrationContext): Promise<void> {
  const epoch = 'bigint' as const;

  await db.schema
    .createTable('users')
    .addColumn('id', 'text', (c) => c.primaryKey())
    .addColumn('username', 'text', (c) => c.notNull())
    .addColumn('username_key', 'text', (c) => c.notNull().unique())
    .addColumn('email', 'text')
    .addColumn('email_verified', 'integer', (c) => c.notNull().defaultTo(0))
    .addColumn('name', 'text')
    .addColumn('given_name', 'text')
    .addColumn('family_name', 'text')
    .addColumn('password_hash', 'text')
    .addColumn('password_changed_at', epoch)
    .addColumn('disabled', 'integer', (c) => c.notNull().defaultTo(0))
    .addColumn('tokens_valid_after', epoch, (c) => c.notNull().defaultTo(0))
    .addColumn('created_at', epoch, (c) => c.notNull())
    .addColumn('updated_at', epoch, (c) => c.notNull())
    .execute();

  await db.schema
    .createTable('roles')
    .addColumn('name', 'text', (c) => c.primaryKey())
    .addColumn('description', 'text', (c) => c.notNull().defaultTo(''))
    .addColumn('all_permissions', 'integer', (c) => c.notNull().defaultTo(0))
    .addColumn('builtin', 'integer', (c) => c.notNull().defaultTo(0))
    .addColumn('created_at', epoch, (c) => c.notNull())
    .execute();

  await db.schema
    .createTable('permissions')
    .addColumn('name', 'text', (c) => c.primaryKey())
    .addColumn('description', 'text', (c) => c.notNull().defaultTo(''))
    .addColumn('builtin', 'integer', (c) => c.notNull().defaultTo(0))
    .addColumn('created_at', epoch, (c) => c.notNull())
    .execute();

  await db.schema
    .createTable('role_permissions')
    .addColumn('role_name', 'text', (c) => c.notNull().references('roles.name').onDelete('cascade'))
    .addColumn('permission_name', 'text', (c) => c.notNull().references('permissions.name').onDelete('cascade'))
    .addPrimaryKeyConstraint('role_permissions_pk', ['role_name', 'permission_name'])
    .execute();

  await db.schema
    .createTable('user_roles')
    .addColumn('user_id', 'text', (c) => c.notNull().references('users.id').onDelete('cascade'))
    .addColumn('role_name', 'text', (c) => c.notNull().references('roles.name').onDelete('cascade'))
    .addPrimaryKeyConstraint('user_roles_pk', ['user_id', 'role_name'])
    .execute();

  await db.schema
    .createTable('clients')
    .addColumn('id', 'text', (c) => c.primaryKey())
    .addColumn('name', 'text', (c) => c.notNull())
    .addColumn('description', 'text', (c) => c.notNull().defaultTo(''))
    .addColumn('secret_hash', 'text')
    .addColumn('secret_updated_at', epoch)
    .addColumn('public', 'integer', (c) => c.notNull().defaultTo(0))
    .addColumn('grant_types', 'text', (c) => c.notNull())
    .addColumn('redirect_uris', 'text', (c) => c.notNull().defaultTo('[]'))
    .addColumn('post_logout_redirect_uris', 'text', (c) => c.notNull().defaultTo('[]'))
    .addColumn('scopes', 'text', (c) => c.notNull().defaultTo('[]'))
    .addColumn('default_scopes', 'text', (c) => c.notNull().defaultTo('[]'))
    .addColumn('on_behalf_of_user_id', 'text', (c) => c.references('users.id').onDelete('restrict'))
    .addColumn('access_token_ttl', 'integer')
    .addColumn('refresh_token_ttl', 'integer')
    .addColumn('require_permission', 'text', (c) => c.notNull().defaultTo('developer_api'))
    .addColumn('id_token_signed_response_alg', 'text')
    .addColumn('tokens_valid_after', epoch, (c) => c.notNull().defaultTo(0))
    .addColumn('created_at', epoch, (c) => c.notNull())
    .addColumn('updated_at', epoch, (c) => c.notNull())
    .execute();

  await db.schema
    .createTable('signing_keys')
    .addColumn('kid', 'text', (c) => c.primaryKey())
    .addColumn('alg', 'text', (c) => c.notNull())
    .addColumn('status', 'text', (c) => c.notNull())
    .addColumn('public_jwk', 'text', (c) => c.notNull())
    .addColumn('private_key', 'text', (c) => c.notNull())
    .addColumn('created_at', epoch, (c) => c.notNull())
    .addColumn('activated_at', epoch)
    .addColumn('deactivated_at', epoch)
    .execute();

  await db.schema
    .createTable('revoked_tokens')
    .addColumn('jti', 'text', (c) => c.primaryKey())
    .addColumn('client_id', 'text')
    .addColumn('expires_at', epoch, (c) => c.notNull())
    .addColumn('revoked_at', epoch, (c) => c.notNull())
    .execute();
  await db.schema.createIndex('revoked_tokens_expires').on('revoked_tokens').column('expires_at').execute();

  await db.schema
    .createTable('sessions')
    .addColumn('id_hash', 'text', (c) => c.primaryKey())
    .addColumn('user_id', 'text', (c) => c.notNull().references('users.id').onDelete('cascade'))
    .addColumn('auth_time', epoch, (c) => c.notNull())
    .addColumn('created_at', epoch, (c) => c.notNull())
    .addColumn('expires_at', epoch, (c) => c.notNull())
    .addColumn('last_seen_at', epoch, (c) => c.notNull())
    .addColumn('revoked_at', epoch)
    .addColumn('ip', 'text')
    .addColumn('user_agent', 'text')
    .execute();
  await db.schema.createIndex('sessions_user').on('sessions').column('user_id').execute();

  await db.schema
    .createTable('authorization_codes')
    .addColumn('code_hash', 'text', (c) => c.primaryKey())
    .addColumn('client_id', 'text', (c) => c.notNull().references('clients.id').onDelete('cascade'))
    .addColumn('user_id', 'text', (c) => c.notNull().references('users.id').onDelete('cascade'))
    .addColumn('session_id', 'text')
    .addColumn('redirect_uri', 'text', (c) => c.notNull())
    .addColumn('scope', 'text', (c) => c.notNull())
    .addColumn('nonce', 'text')
    .addColumn('code_challenge', 'text')
    .addColumn('code_challenge_method', 'text')
    .addColumn('auth_time', epoch, (c) => c.notNull())
    .addColumn('created_at', epoch, (c) => c.notNull())
    .addColumn('expires_at', epoch, (c) => c.notNull())
    .addColumn('consumed_at', epoch)
    .addColumn('access_token_jti', 'text')
    .addColumn('access_token_expires_at', epoch)
    .addColumn('refresh_family_id', 'text')
    .execute();
  await db.schema.createIndex('authorization_codes_expires').on('authorization_codes').column('expires_at').execute();

  await db.schema
    .createTable('refresh_token_families')
    .addColumn('id', 'text', (c) => c.primaryKey())
    .addColumn('client_id', 'text', (c) => c.notNull().references('clients.id').onDelete('cascade'))
    .addColumn('user_id', 'text', (c) => c.references('users.id').onDelete('cascade'))
    .addColumn('scope', 'text', (c) => c.notNull())
    .addColumn('session_id', 'text')
    .addColumn('auth_time', epoch)
    .addColumn('created_at', epoch, (c) => c.notNull())
    .addColumn('expires_at', epoch, (c) => c.notNull())
    .addColumn('revoked_at', epoch)
    .execute();
  await db.schema.createIndex('refresh_families_client').on('refresh_token_families').column('client_id').execute();
  await db.schema.createIndex('refresh_families_user').on('refresh_token_families').column('user_id').execute();

  await db.schema
    .createTable('refresh_tokens')
    .addColumn('token_hash', 'text', (c) => c.primaryKey())
    .addColumn('family_id', 'text', (c) =>
      c.notNull().references('refresh_token_families.id').onDelete('cascade'),
    )
    .addColumn('scope', 'text', (c) => c.notNull())
    .addColumn('created_at', epoch, (c) => c.notNull())
    .addColumn('expires_at', epoch, (c) => c.notNull())
    .addColumn('used_at', epoch)
    .execute();
  await db.schema.createIndex('refresh_tokens_family').on('refresh_tokens').column('family_id').execute();

  await db.schema
    .createTable('consents')
    .addColumn('user_id', 'text', (c) => c.notNull().references('users.id').onDelete('cascade'))
    .addColumn('client_id', 'text', (c) => c.notNull().references('clients.id').onDelete('cascade'))
    .addColumn('scopes', 'text', (c) => c.notNull())
    .addColumn('created_at', epoch, (c) => c.notNull())
    .addColumn('updated_at', epoch, (c) => c.notNull())
    .addPrimaryKeyConstraint('consents_pk', ['user_id', 'client_id'])
    .execute();

  await db.schema
    .createTable('apis')
    .addColumn('id', 'text', (c) => c.primaryKey())
    .addColumn('name', 'text', (c) => c.notNull().unique())
    .addColumn('base_path', 'text', (c) => c.notNull().unique())
    .addColumn('upstream', 'text', (c) => c.notNull())
    .addColumn('audience', 'text')
    .addColumn('timeout_ms', 'integer', (c) => c.notNull().defaultTo(30000))
    .addColumn('created_at', epoch, (c) => c.notNull())
    .addColumn('updated_at', epoch, (c) => c.notNull())
    .execute();

  await db.schema
    .createTable('api_scopes')
    .addColumn('name', 'text', (c) => c.primaryKey())
    .addColumn('api_id', 'text', (c) => c.notNull().references('apis.id').onDelete('cascade'))
    .addColumn('description', 'text', (c) => c.notNull().defaultTo(''))
    .execute();

  await db.schema
    .createTable('api_routes')
    .addColumn('id', 'text', (c) => c.primaryKey())
    .addColumn('api_id', 'text', (c) => c.notNull().references('apis.id').onDelete('cascade'))
    .addColumn('position', 'integer', (c) => c.notNull())
    .addColumn('methods', 'text', (c) => c.notNull())
    .addColumn('path', 'text', (c) => c.notNull())
    .addColumn('scopes', 'text', (c) => c.notNull())
    .execute();
  await db.schema.createIndex('api_routes_api').on('api_routes').column('api_id').execute();

  await db.schema
    .createTable('settings')
    .addColumn('key', 'text', (c) => c.primaryKey())
    .addColumn('value', 'text', (c) => c.notNull())
    .addColumn('updated_at', epoch, (c) => c.notNull())
    .execute();

  await db.schema
    .createTable('audit_events')
    .addColumn('id', 'text', (c) => c.primaryKey())
    .addColumn('at', epoch, (c) => c.notNull())
    .addColumn('actor', 'text', (c) => c.notNull())
    .addColumn('action', 'text', (c) => c.notNull())
    .addColumn('target_type', 'text')
    .addColumn('target_id', 'text')
    .addColumn('ip', 'text')
    .addColumn('details', 'text', (c) => c.notNull().defaultTo('{}'))
    .execute();
  await db.schema.createIndex('audit_events_at').on('audit_events').column('at').execute();

  await db.schema
    .createTable('login_throttle')
    .addColumn('key', 'text', (c) => c.primaryKey())
    .addColumn('failures', 'integer', (c) => c.notNull())
    .addColumn('window_started_at', epoch, (c) => c.notNull())
    .addColumn('locked_until', epoch, (c) => c.notNull())
    .execute();

  // The change feed: every write that must reach the in-memory caches of every node (app
  // changed, token revoked, user disabled) appends a row here; nodes poll it.
  let changes = db.schema.createTable('change_events');
  changes =
    ctx.dialect === 'postgres'
      ? changes.addColumn('id', 'bigserial', (c) => c.primaryKey())
      : changes.addColumn('id', 'integer', (c) => c.primaryKey().autoIncrement());
  await changes
    .addColumn('kind', 'text', (c) => c.notNull())
    .addColumn('key', 'text', (c) => c.notNull())
    .addColumn('at', epoch, (c) => c.notNull())
    .execute();

  // Built-in roles and permission (DESIGN.md: "developer_api", "Developer API").
  const now = Math.floor(Date.now() / 1000);
  await db
    .insertInto('permissions')
    .values([
      { name: 'developer_api', description: 'Developer API', builtin: 1, created_at: now },
    ])
    .execute();
  await db
    .insertInto('roles')
    .values([
      { name: 'admin', description: 'Administrator: every permission', all_permissions: 1, builtin: 1, created_at: now },
      { name: 'developer', description: 'Developer: may authorize API integrations', all_permissions: 0, builtin: 1, created_at: now },
    ])
    .execute();
  await db.insertInto('role_permissions').values({ role_name: 'developer', permission_name: 'developer_api' }).execute();
}
