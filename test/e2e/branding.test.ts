import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { SYSTEM } from '../../src/audit/actor.ts';
import { launchBrowser } from '../support/browser.ts';
import { startTestServer, type TestServer } from '../support/server.ts';

/**
 * The pages with a custom brand in a real Chromium (docs/branding.md): login, consent,
 * sign-out and an error page, at 1280 px, in a 730×560 pop-up and at phone width. Each page
 * must fit (no horizontal scroll), show the uploaded logo (loaded, visible), apply the
 * brand's colours (computed style of the primary button and the page background), keep
 * `<html lang>`, and raise no console error (a CSP violation would be one). Screenshots land
 * in test-results/screenshots/branding-*.png for a human to look at.
 */
const PASSWORD = 'correct horse battery staple';
const SHOTS = join(import.meta.dirname, '..', '..', 'test-results', 'screenshots');
const VIEWPORTS = [
  { name: 'desktop-1280x800', width: 1280, height: 800 },
  { name: 'popup-730x560', width: 730, height: 560 },
  { name: 'phone-390x844', width: 390, height: 844 },
];
const PRIMARY = '#0b6e4f';
const BACKGROUND = '#fff4e0';
const LOGO =
  '<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 64 64"><rect width="64" height="64" rx="14" fill="#0b6e4f"/>' +
  '<path d="M14 46 32 14l18 32z" fill="#fff4e0"/><circle cx="32" cy="38" r="6" fill="#0b6e4f"/></svg>';

const rgb = (hex: string) => `rgb(${[1, 3, 5].map((i) => Number.parseInt(hex.slice(i, i + 2), 16)).join(', ')})`;

describe('branded pages in Chromium', () => {
  let server: TestServer;
  let browser: Browser;
  let authorizeUrl: string;
  let logoUrl: string;

  beforeAll(async () => {
    mkdirSync(SHOTS, { recursive: true });
    server = await startTestServer('sqlite');
    const { services } = server.tessera;
    await services.users.create({ username: 'alice', password: PASSWORD, roles: ['developer'] }, SYSTEM);
    await services.branding.update(
      { product_name: 'Acme Identity', primary_color: PRIMARY, background_color: BACKGROUND, terms_url: 'https://acme.example/terms', privacy_url: 'https://acme.example/privacy' },
      SYSTEM,
    );
    logoUrl = (await services.branding.setLogo(Buffer.from(LOGO), 'image/svg+xml', SYSTEM)).logo!.url;
    const app = await services.clients.create(
      {
        name: 'Acme Books for Partners',
        description: 'Bookkeeping, invoicing and payroll for small teams; syncs your ledger every night.',
        grantTypes: ['authorization_code'],
        redirectUris: ['https://app.example.com/callback'],
        postLogoutRedirectUris: ['https://app.example.com/bye'],
        scopes: ['openid', 'profile', 'email', 'offline_access'],
        clientUri: 'https://books.example.com/',
        policyUri: 'https://books.example.com/privacy',
        tosUri: 'https://books.example.com/terms',
      },
      SYSTEM,
    );
    authorizeUrl = `${server.url}/connect/authorize?${new URLSearchParams({
      client_id: app.client_id,
      response_type: 'code',
      redirect_uri: 'https://app.example.com/callback',
      scope: 'openid profile email offline_access',
      state: 'brand',
    })}`;
    browser = await launchBrowser();
  });
  afterAll(async () => {
    await browser?.close();
    await server?.close();
  });

  /** What every branded page must be, whatever its size. */
  async function assertBranded(page: Page, problems: string[], primaryButton: boolean): Promise<void> {
    const facts = await page.evaluate<{ scrollWidth: number; innerWidth: number; lang: string; bg: string; logoWidth: number; logoVisible: boolean; name: string; button: string | null; buttonText: string | null }>(`(() => {
      const logo = document.querySelector('img.brand__logo');
      const box = logo ? logo.getBoundingClientRect() : null;
      const button = document.querySelector('button.primary');
      return {
        scrollWidth: document.documentElement.scrollWidth,
        innerWidth: window.innerWidth,
        lang: document.documentElement.lang,
        bg: getComputedStyle(document.body).backgroundColor,
        logoWidth: logo ? logo.naturalWidth : 0,
        logoVisible: !!box && box.width > 0 && box.height > 0 && box.top >= 0,
        name: document.querySelector('.brand__name')?.textContent ?? '',
        button: button ? getComputedStyle(button).backgroundColor : null,
        buttonText: button ? getComputedStyle(button).color : null,
      };
    })()`);
    expect(facts.scrollWidth, 'no horizontal scroll').toBeLessThanOrEqual(facts.innerWidth);
    expect(facts.lang).toBe('en');
    expect(facts.bg).toBe(rgb(BACKGROUND));
    expect(facts.logoWidth, 'the logo loaded').toBeGreaterThan(0);
    expect(facts.logoVisible, 'the logo is on screen').toBe(true);
    expect(facts.name).toBe('Acme Identity');
    if (primaryButton) {
      expect(facts.button).toBe(rgb(PRIMARY));
      expect(facts.buttonText).toBe('rgb(255, 255, 255)');
    }
    expect(await page.title()).toMatch(/ · Acme Identity$/);
    expect(problems).toEqual([]);
  }

  for (const vp of VIEWPORTS) {
    test(`login, consent, sign-out and an error page at ${vp.width}×${vp.height}`, async () => {
      const context = await browser.newContext({ viewport: { width: vp.width, height: vp.height } });
      const page = await context.newPage();
      page.setDefaultTimeout(10_000);
      const problems: string[] = [];
      page.on('console', (m) => {
        if (m.type() === 'error') problems.push(m.text());
      });
      page.on('pageerror', (e) => problems.push(String(e)));
      const shot = (name: string) => page.screenshot({ path: join(SHOTS, `branding-${name}-${vp.name}.png`) });

      await page.goto(authorizeUrl);
      await page.waitForURL(/\/login\?/);
      expect(await page.locator('img.brand__logo').getAttribute('src')).toBe(logoUrl);
      await assertBranded(page, problems, true);
      await shot('login');

      await page.getByLabel('Username').fill('alice');
      await page.getByLabel('Password').fill(PASSWORD);
      await page.getByRole('button', { name: 'Sign in', exact: true }).click();
      await page.waitForURL(/\/consent\?/);
      await assertBranded(page, problems, true);
      await expect(page.getByRole('link', { name: 'Acme Identity terms' }).getAttribute('href')).resolves.toBe('https://acme.example/terms');
      await expect(page.getByRole('link', { name: 'Website' }).getAttribute('href')).resolves.toBe('https://books.example.com/');
      await shot('consent');

      await page.goto(`${server.url}/logout`);
      await assertBranded(page, problems, true);
      await shot('logout');

      const error = await page.goto(`${server.url}/connect/authorize?client_id=00000000-0000-4000-8000-000000000000&response_type=code`);
      expect(error!.status()).toBe(400);
      // Chromium reports the page's own 400 as a failed load; that one is expected.
      problems.splice(0, problems.length, ...problems.filter((p) => !p.includes('status of 400')));
      await assertBranded(page, problems, false);
      await shot('error');
      await context.close();
    });
  }
});
