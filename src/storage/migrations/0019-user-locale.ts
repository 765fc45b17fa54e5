import type { Kysely } from 'kysely';

/**
 * A user's language (issue #15, docs/languages.md): the locale of the pages where they last
 * signed in, chose a language or accepted their invitation, so that mail sent to them later
 * (a notice, a link) is in that language. Null until known: mail then uses the operator's
 * TESSERA_DEFAULT_LOCALE.
 */
export async function up(db: Kysely<any>): Promise<void> {
  await db.schema.alterTable('users').addColumn('locale', 'text').execute();
}
