import type { Kysely } from 'kysely';

/**
 * Branding (issue #15). The operator's brand is one JSON document (product name, colours,
 * links, the current logo's hash); uploaded logos are assets named by the SHA-256 of their
 * bytes, kept base64 in a text column (the same on both dialects). Apps get their OIDC
 * client metadata for the consent page (`logo_uri`, `client_uri`, `policy_uri`, `tos_uri`,
 * OpenID Connect Dynamic Client Registration 1.0 §2) and an optional uploaded logo.
 */
export async function up(db: Kysely<any>): Promise<void> {
  const epoch = 'bigint' as const;
  await db.schema
    .createTable('branding')
    .addColumn('id', 'text', (c) => c.primaryKey())
    .addColumn('document', 'text', (c) => c.notNull())
    .addColumn('updated_at', epoch, (c) => c.notNull())
    .execute();
  await db.schema
    .createTable('brand_assets')
    .addColumn('hash', 'text', (c) => c.primaryKey())
    .addColumn('content_type', 'text', (c) => c.notNull())
    .addColumn('data', 'text', (c) => c.notNull())
    .addColumn('size', 'integer', (c) => c.notNull())
    .addColumn('created_at', epoch, (c) => c.notNull())
    .execute();
  for (const column of ['logo_uri', 'client_uri', 'policy_uri', 'tos_uri', 'logo_hash']) {
    await db.schema.alterTable('clients').addColumn(column, 'text').execute();
  }
}
