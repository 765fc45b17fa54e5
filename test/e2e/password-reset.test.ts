import { mkdirSync } from 'node:fs';
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { SYSTEM } from '../../src/audit/actor.ts';
import { launchBrowser } from '../support/browser.ts';
import { linkIn, Mailbox } from '../support/mailbox.ts';
import { startTestServer, type TestServer } from '../support/server.ts';

/**
 * "Forgot password?" in Chromium, end to end: the login page's link, the request form, the
 * mail received by a real SMTP server in the test, its link opened in the browser, the new
 * password set, and a sign-in with it; at 1280 and 390 px, with no console errors (strict
 * CSP: no script at all). Screenshots in test-results/screenshots/.
 */
const PASSWORD = 'correct horse battery staple';
const NEW_PASSWORD = 'a brand new passphrase';
const SHOTS = 'test-results/screenshots';

describe('password reset by email in a real browser', () => {
  let server: TestServer;
  let mailbox: Mailbox;
  let browser: Browser;

  beforeAll(async () => {
    mkdirSync(SHOTS, { recursive: true });
    mailbox = await new Mailbox().start();
    server = await startTestServer('sqlite', { env: { TESSERA_SMTP_URL: mailbox.url, TESSERA_SMTP_FROM: 'Tessera <id@example.test>' } });
    browser = await launchBrowser();
  });
  afterAll(async () => {
    await browser?.close();
    await server?.close();
    await mailbox?.close();
  });

  for (const [width, height] of [[1280, 860], [390, 844]] as const) {
    test(`forgot password → mail → new password → sign in (${width} px)`, async () => {
      const username = `reset${width}`;
      const address = `${username}@example.test`;
      await server.tessera.services.users.create({ username, password: PASSWORD, email: address, roles: [] }, SYSTEM);
      const context = await browser.newContext({ viewport: { width, height } });
      const page: Page = await context.newPage();
      page.setDefaultTimeout(10_000);
      const problems: string[] = [];
      page.on('console', (m) => m.type() === 'error' && problems.push(m.text()));
      page.on('pageerror', (e) => problems.push(e.message));

      await page.goto(`${server.url}/login`);
      await page.getByRole('link', { name: 'Forgot password?' }).click();
      await page.getByLabel('Username or email').fill(address);
      await page.screenshot({ path: `${SHOTS}/reset-forgot-${width}.png`, fullPage: true });
      await page.getByRole('button', { name: 'Send the link' }).click();
      expect(await page.locator('h1').textContent()).toBe('Check your email');

      const mail = await mailbox.waitFor(address, (m) => m.subject === 'Reset your Tessera password');
      await page.goto(linkIn(mail, `${server.url}/reset?token=`));
      expect(await page.locator('h1').textContent()).toBe('Choose a new password');
      await page.getByLabel('New password').fill(NEW_PASSWORD);
      await page.getByLabel('Repeat it').fill(NEW_PASSWORD);
      await page.screenshot({ path: `${SHOTS}/reset-new-password-${width}.png`, fullPage: true });
      await page.getByRole('button', { name: 'Set the password' }).click();
      expect(await page.locator('h1').textContent()).toBe('Password changed');

      await page.goto(`${server.url}/login`);
      await page.getByLabel('Username').fill(username);
      await page.getByLabel('Password').fill(NEW_PASSWORD);
      await page.getByRole('button', { name: 'Sign in', exact: true }).click();
      expect(await page.locator('h1').textContent()).toBe('You are signed in');
      // Nothing wider than the window (390 px: the phone layout).
      expect(await page.evaluate<boolean>('document.documentElement.scrollWidth <= window.innerWidth')).toBe(true);
      expect(problems).toEqual([]);
      await context.close();
    });
  }
});
