import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { SYSTEM } from '../../src/audit/actor.ts';
import { launchBrowser } from '../support/browser.ts';
import { startTestServer, type TestServer } from '../support/server.ts';

/**
 * The account area right-to-left (docs/languages.md, "Right-to-left"), in Chromium with the
 * test locale ar-XB (TESSERA_TEST_LOCALE=on; the browser asks for Arabic): /account and every
 * page under it at 390 and 1280 px must be `<html lang="ar-XB" dir="rtl">`, fit without
 * horizontal scroll, keep the navigation and the main column inside the screen, raise no
 * console error, and show dates in the locale's form. Screenshots:
 * test-results/screenshots/rtl-account-<page>-<width>.png.
 */
const PASSWORD = 'correct horse battery staple';
const SHOTS = join(import.meta.dirname, '..', '..', 'test-results', 'screenshots');
const PAGES = ['/account', '/account/security', '/account/password', '/account/sessions', '/account/apps', '/account/passkeys', '/account/totp'];
const WIDTHS = [390, 1280];

describe('the account pages right-to-left in Chromium', () => {
  let server: TestServer;
  let browser: Browser;
  let clientId: string;

  beforeAll(async () => {
    mkdirSync(SHOTS, { recursive: true });
    server = await startTestServer('sqlite', { env: { TESSERA_TEST_LOCALE: 'on' } });
    const { services } = server.tessera;
    for (const width of WIDTHS) await services.users.create({ username: `alice-${width}`, password: PASSWORD, roles: ['developer'], email: `alice-${width}@example.com`, name: 'Alice Example' }, SYSTEM);
    clientId = (await services.clients.create({ name: 'Acme Books', grantTypes: ['authorization_code'], redirectUris: ['https://app.example.com/callback'], scopes: ['openid', 'profile', 'email'] }, SYSTEM)).client_id;
    browser = await launchBrowser();
  });
  afterAll(async () => {
    await browser?.close();
    await server?.close();
  });

  async function facts(page: Page) {
    return page.evaluate<{ scrollWidth: number; innerWidth: number; lang: string; dir: string; outside: string[] }>(`(() => {
      const outside = [...document.querySelectorAll('main, nav, h1, form, button, input, .rows li')]
        .filter((e) => { const r = e.getBoundingClientRect(); return r.width > 0 && (r.left < -1 || r.right > window.innerWidth + 1); })
        .map((e) => e.tagName.toLowerCase() + (e.className ? '.' + e.className : ''));
      return { scrollWidth: document.documentElement.scrollWidth, innerWidth: window.innerWidth, lang: document.documentElement.lang, dir: document.documentElement.dir, outside };
    })()`);
  }

  for (const width of WIDTHS) {
    test(`/account and its pages in ar-XB at ${width} px`, async () => {
      const context = await browser.newContext({ viewport: { width, height: 900 }, locale: 'ar' });
      const page = await context.newPage();
      page.setDefaultTimeout(10_000);
      const problems: string[] = [];
      page.on('console', (m) => {
        if (m.type() === 'error') problems.push(m.text());
      });
      page.on('pageerror', (e) => problems.push(String(e)));

      // Sign in through an app's consent, so Connected apps lists one.
      const q = new URLSearchParams({ client_id: clientId, response_type: 'code', redirect_uri: 'https://app.example.com/callback', scope: 'openid profile email', state: 's' });
      await page.goto(`${server.url}/connect/authorize?${q}`);
      await page.locator('#username').fill(`alice-${width}`);
      await page.locator('#password').fill(PASSWORD);
      await page.locator('form[action="/login"] button.primary').click();
      await page.waitForURL(/\/consent\?/);
      // Allow through the browser's cookies without following the redirect to the (unreachable) app.
      const fields = await page.evaluate<Array<[string, string]>>(`[...document.querySelectorAll('form[action="/consent"] input[type=hidden]')].map((i) => [i.name, i.value])`);
      const allowed = await context.request.post(`${server.url}/consent`, { form: { ...Object.fromEntries(fields), decision: 'allow' }, maxRedirects: 0 });
      expect(allowed.status()).toBe(303);

      for (const path of PAGES) {
        const response = await page.goto(`${server.url}${path}`);
        expect(response!.status(), path).toBe(200);
        const f = await facts(page);
        expect(f.lang, path).toBe('ar-XB');
        expect(f.dir, path).toBe('rtl');
        expect(f.scrollWidth, `${path}: no horizontal scroll`).toBeLessThanOrEqual(f.innerWidth);
        expect(f.outside, `${path}: nothing outside the screen`).toEqual([]);
        const name = path === '/account' ? 'profile' : path.slice('/account/'.length);
        await page.screenshot({ path: join(SHOTS, `rtl-account-${name}-${width}.png`), fullPage: true });
      }
      // Dates follow the locale: the sessions page's date is the test locale's own form, not English.
      await page.goto(`${server.url}/account/sessions`);
      const expected = new Intl.DateTimeFormat('ar-XB', { day: 'numeric', month: 'short', year: 'numeric', timeZone: 'UTC' }).format(new Date());
      expect(await page.locator('main').textContent()).toContain(expected.split(' ')[0]!);
      expect(await page.locator('main').textContent()).not.toMatch(/\b(?:Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec)\b/);
      expect(problems).toEqual([]);
      await context.close();
    }, 90_000);
  }
});
