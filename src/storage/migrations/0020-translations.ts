import type { Kysely } from 'kysely';

/**
 * Translations of the words an operator enters (issue #15, docs/languages.md): an app's name
 * and an API scope's description, each a JSON object of language → text beside the default
 * text. '{}' (no translation) for every existing row.
 */
export async function up(db: Kysely<any>): Promise<void> {
  await db.schema.alterTable('clients').addColumn('name_translations', 'text', (c) => c.notNull().defaultTo('{}')).execute();
  await db.schema.alterTable('api_scopes').addColumn('description_translations', 'text', (c) => c.notNull().defaultTo('{}')).execute();
}
