import type { Kysely } from 'kysely';

/**
 * private_key_jwt client authentication (RFC 7523, OIDC Core §9) and pushed authorization
 * requests (RFC 9126), issue #17.
 *
 * - An app's public keys: inline (`jwks`, a JWK set as JSON) or by URL (`jwks_uri`); which
 *   method it must authenticate with is the existing `token_endpoint_auth_method` (0018).
 *   `require_pushed_authorization_requests` (0/1): the app may start the code flow only
 *   with a request_uri from /connect/par.
 * - `client_assertion_jtis`: the `jti` of every client assertion accepted, as SHA-256 of
 *   client id and jti, kept until the assertion expires, so each is used once.
 * - `pushed_authorization_requests`: keyed by the SHA-256 of the request_uri; the request's
 *   parameters as JSON. `started_at` is set when a browser first brings it to
 *   /connect/authorize (its lifetime is then extended for the sign-in); the row is deleted
 *   when the request yields its answer, so a request_uri is used once.
 */
export async function up(db: Kysely<any>): Promise<void> {
  const epoch = 'bigint' as const;
  await db.schema.alterTable('clients').addColumn('jwks', 'text').execute();
  await db.schema.alterTable('clients').addColumn('jwks_uri', 'text').execute();
  await db.schema.alterTable('clients').addColumn('require_pushed_authorization_requests', 'integer', (c) => c.notNull().defaultTo(0)).execute();
  await db.schema
    .createTable('client_assertion_jtis')
    .addColumn('jti_hash', 'text', (c) => c.primaryKey())
    .addColumn('expires_at', epoch, (c) => c.notNull())
    .execute();
  await db.schema.createIndex('client_assertion_jtis_expires').on('client_assertion_jtis').column('expires_at').execute();
  await db.schema
    .createTable('pushed_authorization_requests')
    .addColumn('request_uri_hash', 'text', (c) => c.primaryKey())
    .addColumn('client_id', 'text', (c) => c.notNull())
    .addColumn('params', 'text', (c) => c.notNull())
    .addColumn('created_at', epoch, (c) => c.notNull())
    .addColumn('started_at', epoch)
    .addColumn('expires_at', epoch, (c) => c.notNull())
    .execute();
  await db.schema.createIndex('pushed_authorization_requests_expires').on('pushed_authorization_requests').column('expires_at').execute();
}
