import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { cliRunner } from '../support/cli-runner.ts';
import { startTestServer, type TestServer } from '../support/server.ts';

/**
 * `--name-translation` and `--scope-translation` (docs/languages.md, docs/cli.md): set on create,
 * merged on update (languages not named are kept, `LANG=` removes one), kept with their scope
 * when --scope replaces the list, and a bad language or shape refused with one line.
 */
describe('tessera clients / apis translations', () => {
  let server: TestServer;
  const { json, fails } = cliRunner(() => server);
  beforeAll(async () => {
    server = await startTestServer('sqlite');
  });
  afterAll(async () => server?.close());

  test('app names and scope descriptions in other languages', async () => {
    const api = await json(['apis', 'create', '--name', 'Books', '--base-path', '/books', '--upstream', 'http://127.0.0.1:9/', '--scope', 'books.read=Read your books', '--scope-translation', 'books.read:de=Ihre Bücher lesen']);
    expect(api.scopes).toEqual([{ name: 'books.read', description: 'Read your books', description_translations: { de: 'Ihre Bücher lesen' } }]);
    const added = await json(['apis', 'update', 'Books', '--scope', 'books.read=Read your books', '--scope', 'books.write=Change your books', '--scope-translation', 'books.write:fr=Modifier vos livres']);
    expect(added.scopes).toEqual([
      { name: 'books.read', description: 'Read your books', description_translations: { de: 'Ihre Bücher lesen' } },
      { name: 'books.write', description: 'Change your books', description_translations: { fr: 'Modifier vos livres' } },
    ]);
    const removed = await json(['apis', 'update', 'Books', '--scope-translation', 'books.read:de=']);
    expect(removed.scopes.map((s: { description_translations: object }) => s.description_translations)).toEqual([{}, { fr: 'Modifier vos livres' }]);
    await fails(['apis', 'update', 'Books', '--scope-translation', 'books.nope:de=x'], /^tessera: --scope-translation "books.nope:de=x" must be SCOPE:LANGUAGE=TEXT/);

    const app = await json(['clients', 'create', '--name', 'Acme Books', '--grant', 'client_credentials', '--name-translation', 'de=Acme Bücher', '--name-translation', 'es=Libros Acme']);
    expect(app.name_translations).toEqual({ de: 'Acme Bücher', es: 'Libros Acme' });
    const updated = await json(['clients', 'update', app.client_id, '--name-translation', 'fr=Livres Acme', '--name-translation', 'es=']);
    expect(updated.name_translations).toEqual({ de: 'Acme Bücher', fr: 'Livres Acme' });
    await fails(['clients', 'update', app.client_id, '--name-translation', 'it=Libri Acme'], /^tessera: name_translations: "it" is not a language Tessera ships \(en, de, fr, es\)/);
    await fails(['clients', 'update', app.client_id, '--name-translation', 'Acme'], /must be LANGUAGE=TEXT/);
    expect((await json(['clients', 'show', app.client_id])).name_translations).toEqual({ de: 'Acme Bücher', fr: 'Livres Acme' });
  }, 120_000);
});
