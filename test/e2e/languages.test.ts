import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { SYSTEM } from '../../src/audit/actor.ts';
import { launchBrowser } from '../support/browser.ts';
import { startTestServer, type TestServer } from '../support/server.ts';

/**
 * The pages in every shipped language and the right-to-left test locale, in a real Chromium,
 * with a custom brand (docs/languages.md): login, consent, sign-out and an error page at
 * 1280 px, in a 730×560 pop-up and at 390 px. The language comes from the browser's
 * Accept-Language (Chromium's `locale`); each page must be in it (`<html lang dir>`, its own
 * words), fit without horizontal scroll, keep its logo on screen, and raise no console
 * error. Screenshots: test-results/screenshots/lang-<locale>-<page>-<viewport>.png.
 */
const PASSWORD = 'correct horse battery staple';
const SHOTS = join(import.meta.dirname, '..', '..', 'test-results', 'screenshots');
const VIEWPORTS = [
  { name: '1280x800', width: 1280, height: 800 },
  { name: '730x560', width: 730, height: 560 },
  { name: '390x844', width: 390, height: 844 },
];
/** Per locale: its tag, direction, and words the sign-in and consent pages must show. */
const LOCALES = [
  { tag: 'en', dir: 'ltr', signIn: 'Sign in', allow: 'Yes, Allow', signOut: 'Sign out' },
  { tag: 'de', dir: 'ltr', signIn: 'Anmelden', allow: 'Ja, erlauben', signOut: 'Abmelden' },
  { tag: 'fr', dir: 'ltr', signIn: 'Se connecter', allow: 'Oui, autoriser', signOut: 'Se déconnecter' },
  { tag: 'es', dir: 'ltr', signIn: 'Iniciar sesión', allow: 'Sí, permitir', signOut: 'Cerrar sesión' },
  { tag: 'ar-XB', dir: 'rtl', signIn: undefined, allow: undefined, signOut: undefined },
] as const;
const LOGO =
  '<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 64 64"><rect width="64" height="64" rx="14" fill="#0b6e4f"/>' +
  '<path d="M14 46 32 14l18 32z" fill="#fff4e0"/></svg>';

describe('pages in every language in Chromium', () => {
  let server: TestServer;
  let browser: Browser;
  let authorizeUrl: string;

  beforeAll(async () => {
    mkdirSync(SHOTS, { recursive: true });
    server = await startTestServer('sqlite', { env: { TESSERA_TEST_LOCALE: 'on' } });
    const { services } = server.tessera;
    await services.users.create({ username: 'alice', password: PASSWORD, roles: ['developer'] }, SYSTEM);
    await services.branding.update(
      { product_name: 'Acme Identity', primary_color: '#0b6e4f', background_color: '#fff4e0', terms_url: 'https://acme.example/terms', privacy_url: 'https://acme.example/privacy' },
      SYSTEM,
    );
    await services.branding.setLogo(Buffer.from(LOGO), 'image/svg+xml', SYSTEM);
    const app = await services.clients.create(
      {
        name: 'Acme Books for Partners',
        description: 'Bookkeeping, invoicing and payroll for small teams; syncs your ledger every night.',
        grantTypes: ['authorization_code'],
        redirectUris: ['https://app.example.com/callback'],
        scopes: ['openid', 'profile', 'email', 'offline_access'],
        clientUri: 'https://books.example.com/',
        policyUri: 'https://books.example.com/privacy',
      },
      SYSTEM,
    );
    authorizeUrl = `${server.url}/connect/authorize?${new URLSearchParams({
      client_id: app.client_id,
      response_type: 'code',
      redirect_uri: 'https://app.example.com/callback',
      scope: 'openid profile email offline_access',
      state: 'lang',
    })}`;
    browser = await launchBrowser();
  });
  afterAll(async () => {
    await browser?.close();
    await server?.close();
  });

  async function assertPage(page: Page, locale: (typeof LOCALES)[number], problems: string[]): Promise<void> {
    const facts = await page.evaluate<{ scrollWidth: number; innerWidth: number; lang: string; dir: string; logoVisible: boolean; buttonsInside: boolean; bg: string; primary: string | null }>(`(() => {
      const logo = document.querySelector('img.brand__logo');
      const box = logo ? logo.getBoundingClientRect() : null;
      const card = document.querySelector('main').getBoundingClientRect();
      const buttons = [...document.querySelectorAll('button')].map((b) => b.getBoundingClientRect());
      return {
        scrollWidth: document.documentElement.scrollWidth,
        innerWidth: window.innerWidth,
        lang: document.documentElement.lang,
        dir: document.documentElement.dir,
        logoVisible: !!box && box.width > 0 && box.left >= 0 && box.right <= window.innerWidth,
        buttonsInside: buttons.every((b) => b.left >= card.left - 1 && b.right <= card.right + 1),
        bg: getComputedStyle(document.body).backgroundColor,
        primary: document.querySelector('button.primary') ? getComputedStyle(document.querySelector('button.primary')).backgroundColor : null,
      };
    })()`);
    expect(facts.scrollWidth, 'no horizontal scroll').toBeLessThanOrEqual(facts.innerWidth);
    expect(facts.lang).toBe(locale.tag);
    expect(facts.dir).toBe(locale.dir);
    expect(facts.logoVisible, 'the logo is on screen').toBe(true);
    // The brand's colours (#fff4e0 background, #0b6e4f primary) in every language and direction.
    expect(facts.bg).toBe('rgb(255, 244, 224)');
    if (facts.primary !== null) expect(facts.primary).toBe('rgb(11, 110, 79)');
    expect(facts.buttonsInside, 'buttons inside the card').toBe(true);
    expect(problems).toEqual([]);
  }

  // Five languages, each a sign-in (argon2) and four pages in one test: far beyond the default 30 s on a busy 2-core box.
  for (const vp of VIEWPORTS) {
    test(`login, consent, sign-out and an error page in ${LOCALES.map((l) => l.tag).join(', ')} at ${vp.width}×${vp.height}`, { timeout: 120_000 }, async () => {
      for (const locale of LOCALES) {
        const context = await browser.newContext({ viewport: { width: vp.width, height: vp.height }, locale: locale.tag });
        const page = await context.newPage();
        page.setDefaultTimeout(10_000);
        const problems: string[] = [];
        page.on('console', (m) => {
          if (m.type() === 'error') problems.push(m.text());
        });
        page.on('pageerror', (e) => problems.push(String(e)));
        const shot = (name: string) => page.screenshot({ path: join(SHOTS, `lang-${locale.tag}-${name}-${vp.name}.png`) });

        await page.goto(authorizeUrl);
        await page.waitForURL(/\/login\?/);
        await assertPage(page, locale, problems);
        await shot('login');
        await page.locator('#username').fill('alice');
        await page.locator('#password').fill(PASSWORD);
        if (locale.signIn) await page.getByRole('button', { name: locale.signIn, exact: true }).click();
        else await page.locator('form[action="/login"] button.primary').click();
        await page.waitForURL(/\/consent\?/);
        await assertPage(page, locale, problems);
        if (locale.allow) await expect(page.getByRole('button', { name: locale.allow }).isVisible()).resolves.toBe(true);
        await shot('consent');

        await page.goto(`${server.url}/logout`);
        await assertPage(page, locale, problems);
        if (locale.signOut) await expect(page.getByRole('button', { name: locale.signOut }).isVisible()).resolves.toBe(true);
        await shot('logout');

        const error = await page.goto(`${server.url}/connect/authorize?client_id=00000000-0000-4000-8000-000000000000&response_type=code`);
        expect(error!.status()).toBe(400);
        problems.splice(0, problems.length, ...problems.filter((p) => !p.includes('status of 400')));
        await assertPage(page, locale, problems);
        await shot('error');
        await context.close();
      }
    });
  }
});
