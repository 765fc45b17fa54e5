import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { SYSTEM } from '../../src/audit/actor.ts';
import { ConfigError, loadConfig } from '../../src/config/config.ts';
import { base32Decode, stepAt, totpForStep } from '../../src/identity/mfa/totp.ts';
import { startTestServer, type TestServer } from '../support/server.ts';
import { location, UserAgent } from '../support/user-agent.ts';

/**
 * The pages' languages over HTTP (docs/languages.md): ui_locales through /connect/authorize
 * to /login and consent, the chooser's cookie, Accept-Language, the operator's default,
 * `<html lang dir>`, discovery's ui_locales_supported, and escaping inside translated text.
 */
const PASSWORD = 'correct horse battery staple';

describe('page languages', () => {
  let server: TestServer;
  let clientId: string;

  beforeAll(async () => {
    server = await startTestServer('sqlite', { env: { TESSERA_DEFAULT_LOCALE: 'es', TESSERA_TEST_LOCALE: 'on' } });
    const { services } = server.tessera;
    await services.users.create({ username: 'alice', password: PASSWORD, roles: ['developer'] }, SYSTEM);
    const app = await services.clients.create(
      { name: 'Books <b>&</b> Co', description: '', grantTypes: ['authorization_code'], redirectUris: ['https://app.example.com/callback'], scopes: ['openid', 'email'] },
      SYSTEM,
    );
    clientId = app.client_id;
  });
  afterAll(async () => server?.close());

  const authorize = (extra: Record<string, string> = {}) =>
    `/connect/authorize?${new URLSearchParams({ client_id: clientId, response_type: 'code', redirect_uri: 'https://app.example.com/callback', scope: 'openid email', state: 's', ...extra })}`;
  const htmlTag = (page: string) => /<html [^>]*>/.exec(page)![0];

  test('discovery lists the languages of the pages', async () => {
    const doc = (await (await fetch(`${server.url}/.well-known/openid-configuration`)).json()) as Record<string, unknown>;
    expect(doc.ui_locales_supported).toEqual(['en', 'de', 'fr', 'es', 'ar-XB']);
  });

  test('Accept-Language chooses the language; without one, the operator default', async () => {
    const ua = new UserAgent(server.url);
    const german = await (await ua.request('/login', { headers: { 'accept-language': 'de-CH, en;q=0.5' } })).text();
    expect(htmlTag(german)).toBe('<html lang="de" dir="ltr">');
    expect(german).toContain('<label for="username">Benutzername</label>');
    expect(german).toContain('<title>Anmelden · Tessera</title>');
    const spanish = await (await ua.get('/login')).text();
    expect(htmlTag(spanish)).toBe('<html lang="es" dir="ltr">');
    expect(spanish).toContain('>Iniciar sesión</button>');
  });

  test('ui_locales is carried from the authorization request through login to consent, with escaped values', async () => {
    const ua = new UserAgent(server.url);
    const toLogin = location(await ua.request(authorize({ ui_locales: 'ja fr-CA' }), { headers: { 'accept-language': 'de' } }));
    const login = await ua.request(toLogin, { headers: { 'accept-language': 'de' } });
    const page = await login.text();
    expect(htmlTag(page)).toBe('<html lang="fr" dir="ltr">');
    expect(page).toContain('pour continuer vers <strong>Books &lt;b&gt;&amp;&lt;/b&gt; Co</strong>');
    expect(login.headers.get('vary')).toMatch(/accept-language/);
    const csrf = /name="csrf" value="([^"]+)"/.exec(page)![1]!;
    const returnTo = new URLSearchParams(toLogin.split('?')[1]).get('return_to')!;
    const wrong = await ua.post('/login', { csrf, return_to: returnTo, username: 'alice', password: 'nope' });
    expect(wrong.status).toBe(401);
    expect(await wrong.text()).toContain('Nom d’utilisateur ou mot de passe incorrect.');
    const signedIn = await ua.post('/login', { csrf, return_to: returnTo, username: 'alice', password: PASSWORD });
    const toConsent = location(await ua.get(location(signedIn)));
    expect(toConsent).toMatch(/^\/consent\?/);
    const consent = await (await ua.get(toConsent)).text();
    expect(htmlTag(consent)).toBe('<html lang="fr" dir="ltr">');
    expect(consent).toContain('<h1>Books &lt;b&gt;&amp;&lt;/b&gt; Co souhaite accéder à votre compte</h1>');
    expect(consent).toContain('<span>Voir votre adresse e-mail</span><code>email</code>');
    expect(consent).toContain('Connecté en tant que <strong>alice</strong>.');
  });

  test('the chooser remembers a language in a cookie and wins over Accept-Language and the page’s ui_locales', async () => {
    const ua = new UserAgent(server.url);
    const toLogin = location(await ua.get(authorize({ ui_locales: 'fr' })));
    const french = await (await ua.get(toLogin)).text();
    // One link per other language, back to this very page.
    const link = /<a href="(\/language\?set=de&amp;return_to=[^"]+)"/.exec(french)![1]!.replaceAll('&amp;', '&');
    const chosen = await ua.get(link);
    expect(chosen.headers.get('set-cookie')).toMatch(/^tessera_lang=de;.*Max-Age=31536000.*HttpOnly.*SameSite=Lax/i);
    const back = location(chosen);
    expect(new URLSearchParams(new URLSearchParams(back.split('?')[1]).get('return_to')!.split('?')[1]).get('ui_locales')).toBe('de');
    const german = await (await ua.request(back, { headers: { 'accept-language': 'es' } })).text();
    expect(htmlTag(german)).toBe('<html lang="de" dir="ltr">');
    expect(german).toContain('<span aria-current="true" lang="de">Deutsch</span>');
    expect(htmlTag(await (await ua.request('/logout', { headers: { 'accept-language': 'es' } })).text())).toBe('<html lang="de" dir="ltr">');
  });

  test('the chooser refuses an unknown language and a foreign return address', async () => {
    const ua = new UserAgent(server.url);
    const bad = await ua.get('/language?set=xx');
    expect(bad.status).toBe(400);
    expect(ua.cookies.has('tessera_lang')).toBe(false);
    expect(location(await ua.get(`/language?set=fr&return_to=${encodeURIComponent('//evil.example/')}`))).toBe('/account');
  });

  test('error pages are in the reader’s language, the protocol detail stays as sent', async () => {
    const ua = new UserAgent(server.url);
    const response = await ua.request('/connect/authorize?client_id=nope&response_type=code', { headers: { 'accept-language': 'fr' } });
    expect(response.status).toBe(400);
    const page = await response.text();
    expect(page).toContain('<h1>Un problème est survenu</h1>');
    expect(page).toContain('Cette demande de connexion ne peut pas aboutir.');
  });

  test('the account pages are in the reader’s language, dates too', async () => {
    const ua = new UserAgent(server.url);
    const login = await (await ua.get('/login')).text();
    const csrf = /name="csrf" value="([^"]+)"/.exec(login)![1]!;
    await ua.post('/login', { csrf, username: 'alice', password: PASSWORD });
    const page = await (await ua.request('/account/sessions', { headers: { 'accept-language': 'de' } })).text();
    expect(htmlTag(page)).toBe('<html lang="de" dir="ltr">');
    expect(page).toContain('<h1>Sitzungen</h1>');
    expect(page).toContain('<span class="badge">Dieses Gerät</span>');
    // German date and time ("6. Dez. 2026, 10:45 UTC") and "gerade eben" for this session.
    expect(page).toMatch(/angemeldet \d{1,2}\. \S+ \d{4}, \d{2}:\d{2} UTC · zuletzt aktiv gerade eben/);
    expect(page).toContain('<a href="/account/sessions" aria-current="page">Sitzungen</a>');
  });

  test('the right-to-left test locale sets dir="rtl"', async () => {
    const page = await (await new UserAgent(server.url).request('/login', { headers: { 'accept-language': 'ar' } })).text();
    expect(htmlTag(page)).toBe('<html lang="ar-XB" dir="rtl">');
  });

  test('the second step after the password (/login/second-factor) keeps the ui_locales of the request, over Accept-Language', async () => {
    const { services, interactive, cache } = server.tessera;
    const view = await services.users.create({ username: 'maria', password: PASSWORD, roles: ['developer'] }, SYSTEM);
    const user = (await cache.principal(view.id))!.user;
    const { secret } = await interactive.mfa.totpEnrolment(user);
    expect((await interactive.mfa.confirmTotp(user, totpForStep(base32Decode(secret), stepAt(Math.floor(Date.now() / 1000))), SYSTEM)).ok).toBe(true);

    const ua = new UserAgent(server.url);
    const de = { headers: { 'accept-language': 'de' } };
    const toLogin = location(await ua.request(authorize({ ui_locales: 'fr' }), de));
    const login = await (await ua.request(toLogin, de)).text();
    const csrf = /name="csrf" value="([^"]+)"/.exec(login)![1]!;
    const returnTo = new URLSearchParams(toLogin.split('?')[1]).get('return_to')!;
    const toSecond = location(await ua.post('/login', { csrf, return_to: returnTo, username: 'maria', password: PASSWORD }));
    expect(toSecond).toBe('/login/second-factor?ui_locales=fr');
    const page = await (await ua.request(toSecond, de)).text();
    expect(htmlTag(page)).toBe('<html lang="fr" dir="ltr">');
    expect(page).toContain('<form method="post" action="/login/second-factor?ui_locales=fr" novalidate>');
    const fields = Object.fromEntries([...page.matchAll(/<input type="hidden" name="([^"]+)" value="([^"]*)"/g)].map((m) => [m[1]!, m[2]!]));
    const wrong = await ua.request('/login/second-factor?ui_locales=fr', { method: 'POST', headers: { ...de.headers, 'content-type': 'application/x-www-form-urlencoded' }, body: new URLSearchParams({ ...fields, code: '000000' }).toString() });
    expect(wrong.status).toBe(401);
    const again = await wrong.text();
    expect(htmlTag(again)).toBe('<html lang="fr" dir="ltr">');
    expect(again).toContain('Ce code n’est pas correct. Les codes changent toutes les 30 secondes ; chacun ne sert qu’une fois.');
    // The chooser on this page replaces ui_locales in the page's own address.
    expect(page).toContain(`/language?set=es&amp;return_to=${encodeURIComponent('/login/second-factor?ui_locales=fr')}`);
  });

  test('the passkey script gets its messages in the page’s language', async () => {
    const page = await (await new UserAgent(server.url).request('/login', { headers: { 'accept-language': 'de' } })).text();
    expect(page).toContain('data-msg-cancelled="Die Passkey-Anfrage wurde abgebrochen oder ist abgelaufen."');
    expect(page).toContain('data-msg-generic="Etwas ist schiefgelaufen. Bitte versuchen Sie es erneut."');
  });

  test('an unknown TESSERA_DEFAULT_LOCALE is one clear configuration error', () => {
    expect(() => loadConfig({ TESSERA_DEFAULT_LOCALE: 'xx' })).toThrow(ConfigError);
    expect(() => loadConfig({ TESSERA_DEFAULT_LOCALE: 'xx' })).toThrow('TESSERA_DEFAULT_LOCALE must be one of en, de, fr, es (got "xx")');
  });
});
