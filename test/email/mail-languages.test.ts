import { afterAll, beforeAll, describe, expect, test, vi } from 'vitest';
import { SYSTEM } from '../../src/audit/actor.ts';
import { LANGUAGE_COOKIE } from '../../src/lib/cookie-names.ts';
import { DIALECTS } from '../support/databases.ts';
import { linkIn, Mailbox } from '../support/mailbox.ts';
import { startTestServer, type TestServer } from '../support/server.ts';
import { hiddenFields, location, UserAgent } from '../support/user-agent.ts';

/**
 * Mail in its reader's language (issue 15, docs/languages.md): the words come from the
 * catalogues; a user's language is the page's where they signed in or chose one (stored on
 * the user, migration 0019), and mail to them later is written in it; a reset asked for from
 * a page is written in that page's language; without either, the operator's default.
 */
vi.setConfig({ testTimeout: 60_000 });
const PASSWORD = 'correct horse battery staple';

describe.each(DIALECTS)('mail in the reader’s language (%s)', (dialect) => {
  let server: TestServer;
  let mailbox: Mailbox;

  beforeAll(async () => {
    mailbox = await new Mailbox().start();
    server = await startTestServer(dialect, { env: { TESSERA_SMTP_URL: mailbox.url, TESSERA_SMTP_FROM: 'id@example.test' } });
  });
  afterAll(async () => {
    await server?.close();
    await mailbox?.close();
  });

  async function verifiedUser(username: string): Promise<{ id: string; email: string }> {
    const { services } = server.tessera;
    const email = `${username}@example.test`;
    const user = await services.users.create({ username, password: PASSWORD, email, roles: [] }, SYSTEM);
    // The verification mail follows user.create in a background job, which sends nothing once
    // the address is verified: wait for it before confirming, or the two race.
    await mailbox.waitFor(email, (m) => m.subject === 'Confirm your email address');
    await services.users.confirmEmail(user.id, email, SYSTEM);
    await server.tessera.email.idle();
    mailbox.take(email);
    return { id: user.id, email };
  }

  /** A browser whose pages are in `lang` (the language chooser's cookie). */
  function browserIn(lang: string): UserAgent {
    const ua = new UserAgent(server.url);
    ua.cookies.set(LANGUAGE_COOKIE, lang);
    return ua;
  }

  async function signIn(ua: UserAgent, username: string): Promise<void> {
    const login = await ua.get(location(await ua.get('/account')));
    expect(location(await ua.post('/login', { ...hiddenFields(await login.text()), username, password: PASSWORD }))).toBe('/account');
  }

  test('signing in on German pages makes the user German: the new-device notice and later ones are German, with German dates', async () => {
    const anna = await verifiedUser('anna');
    await signIn(browserIn('de'), 'anna');
    expect((await server.tessera.services.users.find('anna')).locale).toBe('de');
    const audit = await server.tessera.services.audit.list({ action: 'user.locale_change', targetId: anna.id } as never);
    expect(audit.items.map((e) => [e.actor, e.details])).toEqual([['user:anna', { locale: 'de', previous: null }]]);

    const device = await mailbox.waitFor(anna.email, (m) => m.subject === 'Neue Anmeldung bei Ihrem Tessera-Konto');
    expect(device.text).toMatch(/^Hallo anna,\n\nIhr Konto wurde am \d{1,2}\. [A-ZÄÖÜ][a-zäöü]+\.? \d{4}, \d\d:\d\d UTC von einem neuen Gerät oder Browser aus angemeldet \(von 127\.0\.0\.1\)\./);
    expect(device.text).toContain('Falls Sie das nicht waren, ändern Sie sofort Ihr Passwort');
    expect(device.text).toContain('-- \nTessera unter ');
    expect(device.html).toContain('<p>Hallo anna,</p>');

    // An admin's password reset, later, from anywhere: German too.
    await server.tessera.services.users.update('anna', { password: 'another long password' }, SYSTEM);
    const reset = await mailbox.waitFor(anna.email, (m) => m.subject === 'Ihr Tessera-Passwort wurde zurückgesetzt');
    expect(reset.text).toContain('(durch system, von unknown). Alle Sitzungen wurden abgemeldet.');
  });

  test('the language chooser, signed in, changes the language of mail; signing in again in the same language changes nothing', async () => {
    const { id, email } = await verifiedUser('bruno');
    const ua = browserIn('de');
    await signIn(ua, 'bruno');
    expect(location(await ua.get('/language?set=fr&return_to=/account'))).toBe('/account');
    expect((await server.tessera.services.users.find('bruno')).locale).toBe('fr');
    await server.tessera.services.audit.record({ action: 'user.factor_add', targetId: id, details: { type: 'passkey', name: 'Téléphone' } }, SYSTEM);
    const notice = await mailbox.waitFor(email, (m) => m.subject === 'Une méthode de connexion a été ajoutée à votre compte Tessera');
    expect(notice.text).toContain('Une nouvelle méthode de connexion (clé d’accès : Téléphone) a été ajoutée');

    await signIn(browserIn('fr'), 'bruno'); // another browser, French too
    const changes = (await server.tessera.services.audit.list({ action: 'user.locale_change', targetId: id } as never)).items.map((e) => e.details);
    expect(changes).toEqual([{ locale: 'fr', previous: 'de' }, { locale: 'de', previous: null }]);
    // Not signed in, the chooser changes only the cookie.
    expect(location(await new UserAgent(server.url).get('/language?set=es&return_to=/login'))).toBe('/login');
    expect((await server.tessera.services.users.find('bruno')).locale).toBe('fr');
  });

  test('an admin’s choice: a user created in French gets the confirmation mail in French; a later change to German is audited and mail follows it', async () => {
    const { services } = server.tessera;
    const user = await services.users.create({ username: 'elise', password: PASSWORD, email: 'elise@example.test', roles: [], locale: 'fr-CA' }, SYSTEM);
    expect(user.locale).toBe('fr');
    expect((await mailbox.waitFor('elise@example.test')).subject).toBe('Confirmez votre adresse e-mail');
    // Notices go to a confirmed address only.
    await services.users.confirmEmail(user.id, 'elise@example.test', SYSTEM);
    await server.tessera.email.idle();
    mailbox.take('elise@example.test');
    await services.users.update('elise', { locale: 'de' }, SYSTEM);
    await services.users.update('elise', { password: 'another long password' }, SYSTEM);
    expect((await mailbox.waitFor('elise@example.test', (m) => m.subject.includes('Passwort'))).subject).toBe('Ihr Tessera-Passwort wurde zurückgesetzt');
    const changes = (await services.audit.list({ action: 'user.locale_change', targetId: user.id } as never)).items.map((e) => [e.actor, e.details]);
    expect(changes).toEqual([['system', { locale: 'de', previous: 'fr' }]]);
    await expect(services.users.update('elise', { locale: 'tlh' }, SYSTEM)).rejects.toMatchObject({ code: 'validation_failed', field: 'locale' });
    expect((await services.users.find('elise')).locale).toBe('de');
  });

  test('an invitation in German: German mail, a link that opens the page in German whatever the browser, and a German account', async () => {
    const { services, email } = server.tessera;
    const invited = await email.invitations.invite({ email: 'greta@example.test', roles: [], locale: 'de-CH' }, SYSTEM);
    expect(invited.locale).toBe('de');
    expect((await email.invitations.list()).find((i) => i.email === 'greta@example.test')?.locale).toBe('de');
    expect((await services.audit.list({ action: 'user.invite' } as never)).items[0]?.details).toEqual({ email: 'greta@example.test', roles: [], locale: 'de' });
    const mail = await mailbox.waitFor('greta@example.test');
    expect(mail.subject).toBe('Sie sind zu Tessera eingeladen');
    const link = new URL(linkIn(mail, `${server.url}/invite?token=`));
    expect(link.searchParams.get('ui_locales')).toBe('de');

    // An English browser: the page is German (the inviter's choice, like an app's ui_locales), and stays so after a refused submit.
    const en = { 'accept-language': 'en' };
    const ua = new UserAgent(server.url);
    const page = await (await ua.request(`${link.pathname}${link.search}`, { headers: en })).text();
    expect(page).toContain('<html lang="de"');
    expect(page).toContain('Einladung annehmen');
    const fields = hiddenFields(page);
    expect(fields.ui_locales).toBe('de');
    const differ = await ua.request('/invite', { form: { ...fields, username: 'greta', password: PASSWORD, confirm: 'something else entirely' }, headers: en });
    expect(differ.status).toBe(400);
    const again = await differ.text();
    expect(again).toContain('<html lang="de"');
    expect(hiddenFields(again).ui_locales).toBe('de');
    // The language chooser still wins: it replaces the link's ui_locales.
    const chooser = await ua.request(`/language?${new URLSearchParams({ set: 'es', return_to: `${link.pathname}${link.search}` })}`, { headers: en });
    expect(new URL(location(chooser), server.url).searchParams.get('ui_locales')).toBe('es');

    const done = await ua.request('/invite', { form: { ...hiddenFields(again), username: 'greta', password: PASSWORD, confirm: PASSWORD }, headers: en });
    expect(location(done)).toBe('/account');
    expect((await services.users.find('greta')).locale).toBe('de');

    // A language that is not offered: refused before anything is sent or stored.
    await expect(email.invitations.invite({ email: 'nobody@example.test', roles: [], locale: 'xx' }, SYSTEM)).rejects.toMatchObject({ code: 'validation_failed', field: 'locale' });
    expect((await email.invitations.list()).some((i) => i.email === 'nobody@example.test')).toBe(false);
    await email.idle();
    expect(mailbox.take('nobody@example.test')).toEqual([]);
  });

  test('"Forgot password?" on a Spanish page mails the link in Spanish (the page’s language, not the account’s); English by default', async () => {
    const { email } = await verifiedUser('carla');
    await server.tessera.services.users.rememberLocale((await server.tessera.services.users.find('carla')).id, 'de', 'en', SYSTEM);
    const ua = browserIn('es');
    const page = await ua.get('/login/forgot');
    expect((await ua.post('/login/forgot', { ...hiddenFields(await page.text()), identifier: 'carla' })).status).toBe(200);
    const mail = await mailbox.waitFor(email, (m) => m.subject === 'Restablece tu contraseña de Tessera');
    expect(mail.text).toMatch(/^Hola, carla:\n\nAlguien \(esperemos que tú\) pidió restablecer la contraseña de tu cuenta\.\n\nElegir una contraseña nueva:\nhttp/);
    expect(mail.html).toContain('>Elegir una contraseña nueva</a>');
    const link = linkIn(mail, `${server.url}/reset?token=`);
    expect((await ua.get(link.slice(server.url.length))).status).toBe(200);

    // No language known anywhere (no cookie, no Accept-Language): the operator's default, English.
    const plain = new UserAgent(server.url);
    const form = await plain.get('/login/forgot');
    await plain.post('/login/forgot', { ...hiddenFields(await form.text()), identifier: 'anna' });
    expect((await mailbox.waitFor('anna@example.test', (m) => m.subject.startsWith('Reset your'))).subject).toBe('Reset your Tessera password');
  });
});

describe('the operator’s default language for mail (sqlite)', () => {
  test('TESSERA_DEFAULT_LOCALE=fr: mail to a user whose language is not known is French', async () => {
    const mailbox = await new Mailbox().start();
    const server = await startTestServer('sqlite', { env: { TESSERA_SMTP_URL: mailbox.url, TESSERA_SMTP_FROM: 'id@example.test', TESSERA_DEFAULT_LOCALE: 'fr' } });
    try {
      await server.tessera.services.users.create({ username: 'dora', password: PASSWORD, email: 'dora@example.test', roles: [] }, SYSTEM);
      const mail = await mailbox.waitFor('dora@example.test');
      expect(mail.subject).toBe('Confirmez votre adresse e-mail');
      expect(mail.text).toContain('Merci de confirmer que dora@example.test est bien votre adresse e-mail.');
    } finally {
      await server.close();
      await mailbox.close();
    }
  });
});
