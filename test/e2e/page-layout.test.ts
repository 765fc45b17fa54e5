import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { launchBrowser } from '../support/browser.ts';
import { startTestServer, type TestServer } from '../support/server.ts';
import { SYSTEM } from '../../src/audit/actor.ts';

/**
 * The login and consent pages at the sizes users meet them: a 730×560 pop-up window (both
 * consent buttons visible without scrolling) and a phone. Screenshots land in
 * test-results/screenshots/ for a human to look at.
 */
const PASSWORD = 'correct horse battery staple';
const SHOTS = join(import.meta.dirname, '..', '..', 'test-results', 'screenshots');
const VIEWPORTS = [
  { name: 'popup-730x560', width: 730, height: 560 },
  { name: 'phone-390x844', width: 390, height: 844 },
];

describe('page layout at a 730×560 window and at phone width', () => {
  let server: TestServer;
  let browser: Browser;
  let authorizeUrl: string;

  beforeAll(async () => {
    mkdirSync(SHOTS, { recursive: true });
    server = await startTestServer('sqlite');
    const { services } = server.tessera;
    await services.users.create({ username: 'alice', password: PASSWORD, roles: ['developer'] }, SYSTEM);
    const app = await services.clients.create({
      name: 'Acme Books for Partners',
      description: 'Bookkeeping, invoicing and payroll for small teams; syncs your ledger every night.',
      grantTypes: ['authorization_code'],
      redirectUris: ['https://app.example.com/callback'],
      scopes: ['openid', 'profile', 'email', 'offline_access'],
    }, SYSTEM);
    authorizeUrl = `${server.url}/connect/authorize?${new URLSearchParams({
      client_id: app.client_id,
      response_type: 'code',
      redirect_uri: 'https://app.example.com/callback',
      scope: 'openid profile email offline_access',
      state: 'layout',
    })}`;
    browser = await launchBrowser();
  });
  afterAll(async () => {
    await browser?.close();
    await server?.close();
  });

  /** Nothing may need horizontal scrolling, and the CSP must not block anything on our pages. */
  async function assertCleanPage(page: Page, problems: string[]): Promise<void> {
    // Evaluated in the page (as strings: the test's TypeScript has no DOM types).
    const { scrollWidth, innerWidth } = await page.evaluate<{ scrollWidth: number; innerWidth: number }>(
      '({ scrollWidth: document.documentElement.scrollWidth, innerWidth: window.innerWidth })',
    );
    expect(scrollWidth).toBeLessThanOrEqual(innerWidth);
    // The stylesheet loaded (CSP allows 'self'): the card has its styled padding.
    const padding = await page.evaluate<string>("getComputedStyle(document.querySelector('main')).paddingTop");
    expect(padding).not.toBe('0px');
    expect(problems).toEqual([]);
  }

  async function inViewport(page: Page, name: string): Promise<void> {
    const box = await page.getByRole('button', { name, exact: true }).boundingBox();
    const size = page.viewportSize()!;
    expect(box, name).not.toBeNull();
    expect(box!.y, name).toBeGreaterThanOrEqual(0);
    expect(box!.y + box!.height, `${name} bottom within ${size.height}px`).toBeLessThanOrEqual(size.height);
    expect(box!.x + box!.width, name).toBeLessThanOrEqual(size.width);
  }

  for (const vp of VIEWPORTS) {
    test(`login and consent at ${vp.width}×${vp.height}`, async () => {
      const context = await browser.newContext({ viewport: { width: vp.width, height: vp.height } });
      const page = await context.newPage();
      page.setDefaultTimeout(10_000);
      const problems: string[] = [];
      page.on('console', (m) => {
        if (m.type() === 'error') problems.push(m.text());
      });
      page.on('pageerror', (e) => problems.push(String(e)));

      await page.goto(authorizeUrl);
      await page.waitForURL(/\/login\?/);
      await assertCleanPage(page, problems);
      await inViewport(page, 'Sign in');
      await page.screenshot({ path: join(SHOTS, `login-${vp.name}.png`) });

      await page.getByLabel('Username').fill('alice');
      await page.getByLabel('Password').fill('wrong password');
      await page.getByRole('button', { name: 'Sign in', exact: true }).click();
      await page.locator('[role=alert]').waitFor();
      await page.screenshot({ path: join(SHOTS, `login-error-${vp.name}.png`) });
      // The browser logs the 401 of a failed sign-in as a failed load; that one is expected.
      problems.length = 0;

      await page.getByLabel('Password').fill(PASSWORD);
      await page.getByRole('button', { name: 'Sign in', exact: true }).click();
      await page.waitForURL(/\/consent\?/);
      await assertCleanPage(page, problems);
      // Both decisions visible without scrolling.
      await inViewport(page, 'Yes, Allow');
      await inViewport(page, 'Deny');
      await page.screenshot({ path: join(SHOTS, `consent-${vp.name}.png`) });
      await context.close();
    });
  }
});
