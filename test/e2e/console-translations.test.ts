import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { SYSTEM } from '../../src/audit/actor.ts';
import { launchBrowser } from '../support/browser.ts';
import { startTestServer, type TestServer } from '../support/server.ts';

/**
 * Translations entered in the console (docs/languages.md, "App names and scope descriptions"):
 * an operator gives an app's name and a scope's description in German on the app and API
 * forms; a person whose browser asks for German then sees both on the consent page, and one
 * asking for French sees the text as entered. Screenshots: test-results/screenshots/console-translations-*.png.
 */
const PASSWORD = 'correct horse battery staple';
const SHOTS = join(import.meta.dirname, '..', '..', 'test-results', 'screenshots');
const REDIRECT = 'https://books.example.com/callback';

describe('console: translations of an app name and a scope description', () => {
  let server: TestServer;
  let browser: Browser;
  let page: Page;
  let clientId: string;

  beforeAll(async () => {
    mkdirSync(SHOTS, { recursive: true });
    server = await startTestServer('sqlite');
    const { services } = server.tessera;
    await services.users.create({ username: 'ops-admin', password: PASSWORD, roles: ['admin'] }, SYSTEM);
    await services.users.create({ username: 'alice', password: PASSWORD, roles: ['developer'] }, SYSTEM);
    await services.apis.create({ name: 'Books', basePath: '/books', upstream: 'http://127.0.0.1:9/books', scopes: [{ name: 'books.read', description: 'Read your books' }], routes: [] }, SYSTEM);
    clientId = (await services.clients.create({ name: 'Acme Books', grantTypes: ['authorization_code'], redirectUris: [REDIRECT], scopes: ['openid', 'books.read'] }, SYSTEM)).client_id;
    browser = await launchBrowser();
    page = await (await browser.newContext({ viewport: { width: 1280, height: 900 } })).newPage();
    page.setDefaultTimeout(10_000);
  });
  afterAll(async () => {
    await browser?.close();
    await server?.close();
  });

  async function consentPage(locale: string): Promise<Page> {
    const person = await (await browser.newContext({ locale, viewport: { width: 1280, height: 800 } })).newPage();
    person.setDefaultTimeout(10_000);
    const q = new URLSearchParams({ client_id: clientId, response_type: 'code', redirect_uri: REDIRECT, scope: 'openid books.read', state: 's' });
    await person.goto(`${server.url}/connect/authorize?${q}`);
    await person.locator('#username').fill('alice');
    await person.locator('#password').fill(PASSWORD);
    await person.locator('form[action="/login"] button[type="submit"]').first().click();
    await person.waitForURL(/\/consent\?/);
    return person;
  }

  test('entered on the app and API pages, shown on the German consent page; French falls back', async () => {
    await page.goto(`${server.url}/admin/`);
    await page.getByRole('button', { name: 'Sign in', exact: true }).click();
    await page.waitForURL(/\/login\?/);
    await page.getByLabel('Username').fill('ops-admin');
    await page.getByLabel('Password').fill(PASSWORD);
    await page.getByRole('button', { name: 'Sign in', exact: true }).click();
    await page.waitForURL((u) => u.pathname.startsWith('/admin/') || u.pathname === '/consent');
    if (new URL(page.url()).pathname === '/consent') await page.getByRole('button', { name: 'Yes, Allow' }).click();

    // The app: its name in German.
    await page.getByRole('link', { name: 'Apps', exact: true }).click();
    await page.getByRole('link', { name: 'Acme Books' }).click();
    await page.getByRole('link', { name: 'Edit', exact: true }).click();
    await page.getByRole('heading', { level: 1, name: 'Edit Acme Books' }).waitFor();
    await page.getByText('Name in other languages').click();
    await page.getByLabel('German (de)').fill('Acme Bücher');
    await page.screenshot({ path: join(SHOTS, 'console-translations-app-form.png'), fullPage: true });
    await page.getByRole('button', { name: 'Save changes' }).click();
    await page.waitForURL(new RegExp(`/admin/apps/${clientId}$`));
    await page.getByText('Acme Bücher').waitFor();

    // The API: the scope's description in German.
    await page.getByRole('link', { name: 'APIs', exact: true }).click();
    await page.getByRole('link', { name: 'Books' }).click();
    await page.getByRole('link', { name: 'Edit', exact: true }).click();
    await page.getByText('Description in other languages (books.read)').click();
    await page.locator('#scope-0-translations-de').fill('Ihre Bücher lesen');
    await page.screenshot({ path: join(SHOTS, 'console-translations-api-form.png'), fullPage: true });
    await page.getByRole('button', { name: 'Save changes' }).click();
    await page.waitForURL(/\/admin\/apis\/[0-9a-f-]+$/);

    expect((await server.tessera.services.clients.show(clientId)).name_translations).toEqual({ de: 'Acme Bücher' });
    expect((await server.tessera.services.apis.show('Books')).scopes[0]!.description_translations).toEqual({ de: 'Ihre Bücher lesen' });
    const audit = await server.tessera.services.audit.list({ action: 'app.update', targetId: clientId, limit: 1 });
    expect(audit.items[0]!.details.fields).toContain('name_translations');

    const german = await consentPage('de-DE');
    expect(await german.getAttribute('html', 'lang')).toBe('de');
    await expect.poll(() => german.getByRole('heading', { level: 1 }).textContent()).toBe('Acme Bücher möchte auf Ihr Konto zugreifen');
    expect(await german.locator('.scopes li', { hasText: 'books.read' }).textContent()).toBe('Ihre Bücher lesenbooks.read');
    await german.screenshot({ path: join(SHOTS, 'console-translations-consent-de.png'), fullPage: true });

    const french = await consentPage('fr-FR');
    expect(await french.getByRole('heading', { level: 1 }).textContent()).toBe('Acme Books souhaite accéder à votre compte');
    expect(await french.locator('.scopes li', { hasText: 'books.read' }).textContent()).toBe('Read your booksbooks.read');
  }, 90_000);
});
