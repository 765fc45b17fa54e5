import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { SYSTEM } from '../../src/audit/actor.ts';
import { DIALECTS } from '../support/databases.ts';
import { basic, postForm, startTestServer, type TestServer } from '../support/server.ts';
import { location, UserAgent } from '../support/user-agent.ts';

/**
 * Translations of an app's name and of API scope descriptions (docs/languages.md, "App names
 * and scope descriptions"), on SQLite and PostgreSQL: entered through the admin API (checked,
 * audited as app.update / api.update), then shown over HTTP on the login, consent and account
 * pages in the reader's language, with the text as entered for a language without one.
 */
const API = '/admin/api/v1';
const PASSWORD = 'correct horse battery staple';
const REDIRECT = 'https://books.example.com/callback';

describe.each(DIALECTS)('translated app names and scope descriptions (%s)', (dialect) => {
  let server: TestServer;
  let token: string;
  let clientId: string;
  let apiId: string;
  const call = async (method: string, path: string, body?: unknown) => {
    const res = await fetch(`${server.url}${API}${path}`, {
      method,
      headers: { authorization: `Bearer ${token}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const text = await res.text();
    return { status: res.status, body: text ? JSON.parse(text) : undefined };
  };

  beforeAll(async () => {
    server = await startTestServer(dialect);
    const { services } = server.tessera;
    await services.users.create({ username: 'ops', password: PASSWORD, roles: ['admin'] }, SYSTEM);
    await services.users.create({ username: 'alice', password: PASSWORD, roles: ['developer'] }, SYSTEM);
    const ops = await services.clients.create({ name: 'ops', grantTypes: ['client_credentials'], onBehalfOf: 'ops', scopes: ['tessera.admin'] }, SYSTEM);
    const res = await postForm(`${server.url}/connect/token`, { grant_type: 'client_credentials', scope: 'tessera.admin' }, { authorization: basic(ops.client_id, ops.client_secret!) });
    token = ((await res.json()) as { access_token: string }).access_token;
  });
  afterAll(async () => server?.close());

  test('the admin API takes, shows and audits the translations; unknown languages and bad text are refused and change nothing', async () => {
    const api = await call('POST', '/apis', {
      name: 'Books',
      base_path: '/books',
      upstream: 'http://127.0.0.1:9/books',
      scopes: [{ name: 'books.read', description: 'Read your books', description_translations: { de: 'Ihre Bücher lesen', fr: '' } }],
      routes: [{ methods: ['GET'], path: '/**', scopes: ['books.read'] }],
    });
    expect(api.status).toBe(201);
    // An empty text is no translation: the language falls back to the description as entered.
    expect(api.body.scopes).toEqual([{ name: 'books.read', description: 'Read your books', description_translations: { de: 'Ihre Bücher lesen' } }]);
    apiId = api.body.id;

    const created = await call('POST', '/apps', { name: 'Acme Books', grant_types: ['authorization_code'], redirect_uris: [REDIRECT], scopes: ['openid', 'books.read'], name_translations: { de: 'Acme Bücher' } });
    expect(created.status).toBe(201);
    expect(created.body.name_translations).toEqual({ de: 'Acme Bücher' });
    clientId = created.body.client_id;

    const updated = await call('PATCH', `/apps/${clientId}`, { name_translations: { es: 'Libros <Acme>', de: 'Acme Bücher' } });
    expect(updated.status).toBe(200);
    expect(updated.body.name_translations).toEqual({ de: 'Acme Bücher', es: 'Libros <Acme>' });
    expect((await call('GET', `/apps/${clientId}`)).body.name_translations).toEqual({ de: 'Acme Bücher', es: 'Libros <Acme>' });
    const entry = (await server.tessera.services.audit.list({ action: 'app.update', targetId: clientId, limit: 1 })).items[0];
    expect(entry!.details).toEqual({ fields: ['name_translations'] });

    const unknown = await call('PATCH', `/apps/${clientId}`, { name_translations: { it: 'Libri Acme' } });
    expect(unknown.status).toBe(400);
    const control = await call('PATCH', `/apps/${clientId}`, { name_translations: { fr: 'Livres\u0007' } });
    expect(control).toMatchObject({ status: 400, body: { error: 'validation_failed', field: 'name_translations' } });
    const tooLong = await call('PATCH', `/apis/${apiId}`, { scopes: [{ name: 'books.read', description: 'Read', description_translations: { fr: 'x'.repeat(301) } }] });
    expect(tooLong.status).toBe(400);
    expect((await call('GET', `/apps/${clientId}`)).body.name_translations).toEqual({ de: 'Acme Bücher', es: 'Libros <Acme>' });
    expect((await call('GET', `/apis/${apiId}`)).body.scopes[0].description_translations).toEqual({ de: 'Ihre Bücher lesen' });

    const scopes = await call('PATCH', `/apis/${apiId}`, { scopes: [{ name: 'books.read', description: 'Read your books', description_translations: { de: 'Ihre Bücher lesen', es: 'Leer tus libros' } }] });
    expect(scopes.status).toBe(200);
    const apiEntry = (await server.tessera.services.audit.list({ action: 'api.update', targetId: apiId, limit: 1 })).items[0];
    expect(apiEntry!.details).toEqual({ fields: ['scopes'] });
  });

  const authorize = (uiLocales: string) =>
    `/connect/authorize?${new URLSearchParams({ client_id: clientId, response_type: 'code', redirect_uri: REDIRECT, scope: 'openid books.read', state: 's', ui_locales: uiLocales })}`;

  async function consentIn(uiLocales: string): Promise<{ login: string; consent: string; ua: UserAgent }> {
    const ua = new UserAgent(server.url);
    const toLogin = location(await ua.get(authorize(uiLocales)));
    const login = await (await ua.get(toLogin)).text();
    const csrf = /name="csrf" value="([^"]+)"/.exec(login)![1]!;
    const returnTo = new URLSearchParams(toLogin.split('?')[1]).get('return_to')!;
    const signedIn = await ua.post('/login', { csrf, return_to: returnTo, username: 'alice', password: PASSWORD });
    const consent = await (await ua.get(location(await ua.get(location(signedIn))))).text();
    return { login, consent, ua };
  }

  test('the consent page in German shows the German app name and scope description', async () => {
    const { login, consent } = await consentIn('de');
    expect(login).toContain('<strong>Acme Bücher</strong>');
    expect(consent).toContain('<html lang="de" dir="ltr">');
    expect(consent).toContain('<h1>Acme Bücher möchte auf Ihr Konto zugreifen</h1>');
    expect(consent).toContain('<span>Ihre Bücher lesen</span><code>books.read</code>');
    expect(consent).not.toContain('Acme Books');
  });

  test('in Spanish the translation is escaped; in French, without one, the text as entered', async () => {
    const spanish = (await consentIn('es')).consent;
    expect(spanish).toContain('Libros &lt;Acme&gt;');
    expect(spanish).toContain('<span>Leer tus libros</span><code>books.read</code>');
    const french = (await consentIn('fr')).consent;
    expect(french).toContain('<html lang="fr" dir="ltr">');
    expect(french).toContain('<h1>Acme Books souhaite accéder à votre compte</h1>');
    expect(french).toContain('<span>Read your books</span><code>books.read</code>');
  });

  test('connected apps on the account page use the reader’s language', async () => {
    const { consent, ua } = await consentIn('de');
    const csrf = /name="csrf" value="([^"]+)"/.exec(consent)![1]!;
    const fields = Object.fromEntries([...consent.matchAll(/<input type="hidden" name="([^"]+)" value="([^"]*)"/g)].map((m) => [m[1]!, m[2]!.replaceAll('&amp;', '&')]));
    const allowed = await ua.post('/consent', { ...fields, csrf, decision: 'allow' });
    expect(location(allowed)).toMatch(/^https:\/\/books\.example\.com\/callback\?code=/);
    const german = await (await ua.request('/account/apps', { headers: { 'accept-language': 'de' } })).text();
    expect(german).toContain('<strong>Acme Bücher</strong>');
    expect(german).toContain('Ihre Bücher lesen');
    const english = await (await ua.request('/account/apps', { headers: { 'accept-language': 'en' } })).text();
    expect(english).toContain('<strong>Acme Books</strong>');
    expect(english).toContain('Read your books');
  });
});
