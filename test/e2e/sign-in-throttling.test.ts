import { mkdirSync } from 'node:fs';
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { SYSTEM } from '../../src/audit/actor.ts';
import { launchBrowser } from '../support/browser.ts';
import { startTestServer, type TestServer } from '../support/server.ts';

/**
 * The throttled sign-in page in Chromium: a browser without a device cookie is told how long
 * to wait (at 1280 and 390 px), while the owner's known browser signs in through the same
 * throttling. Screenshots in test-results/screenshots/.
 */
const PASSWORD = 'correct horse battery staple';
const SHOTS = 'test-results/screenshots';

describe('throttled sign-in in a real browser', () => {
  let server: TestServer;
  let browser: Browser;

  beforeAll(async () => {
    mkdirSync(SHOTS, { recursive: true });
    server = await startTestServer('sqlite');
    await server.tessera.services.users.create({ username: 'mallory', password: PASSWORD, roles: [] }, SYSTEM);
    browser = await launchBrowser();
  });
  afterAll(async () => {
    await browser?.close();
    await server?.close();
  });

  async function signIn(page: Page, password: string): Promise<void> {
    await page.goto(`${server.url}/login`);
    await page.getByLabel('Username').fill('mallory');
    await page.getByLabel('Password').fill(password);
    await page.getByRole('button', { name: 'Sign in', exact: true }).click();
    await page.locator('h1').waitFor();
  }

  test('a stranger’s browser is told to wait N minutes; the owner’s known browser signs in', async () => {
    const known = await (await browser.newContext()).newPage();
    known.setDefaultTimeout(10_000);
    await signIn(known, PASSWORD);
    expect(await known.locator('h1').textContent()).toBe('You are signed in');
    expect((await known.context().cookies()).map((c) => c.name)).toContain('tessera_device');

    // Someone has been guessing from this address: its counters wait two minutes.
    const now = Math.floor(Date.now() / 1000);
    await server.tessera.database.db
      .insertInto('guess_throttle')
      .values(['password:client:127.0.0.1:mallory', 'password:account:mallory'].map((key) => ({ key, account: 'mallory', failures: 12, last_failure_at: now, blocked_until: now + 120, expires_at: now + 86_400 })))
      .execute();

    for (const [width, height] of [[1280, 860], [390, 844]] as const) {
      const context = await browser.newContext({ viewport: { width, height } });
      const page = await context.newPage();
      page.setDefaultTimeout(10_000);
      const answer = page.waitForResponse((r) => r.url().endsWith('/login') && r.request().method() === 'POST');
      await signIn(page, PASSWORD);
      const res = await answer;
      expect(res.status()).toBe(429);
      expect(Number(res.headers()['retry-after'])).toBeGreaterThan(60);
      expect(await page.getByRole('alert').textContent()).toBe('Too many failed sign-in attempts. Wait 2 minutes, then try again.');
      // The form is still there, with the username kept, for when the wait is over.
      expect(await page.getByLabel('Username').inputValue()).toBe('mallory');
      const { scroll, client } = (await page.evaluate('({ scroll: document.documentElement.scrollWidth, client: document.documentElement.clientWidth })')) as { scroll: number; client: number };
      expect(scroll).toBeLessThanOrEqual(client);
      await page.screenshot({ path: `${SHOTS}/login-throttled-${width}.png`, fullPage: true });
      await context.close();
    }

    await signIn(known, PASSWORD);
    expect(await known.locator('h1').textContent()).toBe('You are signed in');
  });
});
