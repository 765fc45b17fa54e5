import { mkdirSync } from 'node:fs';
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { SYSTEM } from '../../src/audit/actor.ts';
import { launchBrowser } from '../support/browser.ts';
import { linkIn, Mailbox } from '../support/mailbox.ts';
import { startTestServer, type TestServer } from '../support/server.ts';

/**
 * The console's "Invite by email" on the Users page, in Chromium: the admin invites an address
 * and the mail reaches the SMTP server in the test; the Settings page says email is configured.
 */
const PASSWORD = 'correct horse battery staple';
const SHOTS = 'test-results/screenshots';

describe('console: invite by email', () => {
  let server: TestServer;
  let mailbox: Mailbox;
  let browser: Browser;
  let page: Page;
  const problems: string[] = [];

  beforeAll(async () => {
    mkdirSync(SHOTS, { recursive: true });
    mailbox = await new Mailbox().start();
    server = await startTestServer('sqlite', { env: { TESSERA_SMTP_URL: mailbox.url, TESSERA_SMTP_FROM: 'id@example.test' } });
    await server.tessera.services.users.create({ username: 'ops-admin', password: PASSWORD, roles: ['admin'] }, SYSTEM);
    browser = await launchBrowser();
    page = await (await browser.newContext({ viewport: { width: 1280, height: 860 } })).newPage();
    page.setDefaultTimeout(10_000);
    page.on('console', (m) => m.type() === 'error' && problems.push(m.text()));
    page.on('pageerror', (e) => problems.push(e.message));
  });
  afterAll(async () => {
    await browser?.close();
    await server?.close();
    await mailbox?.close();
  });

  test('an admin invites an address from the Users page; the invitation mail arrives', async () => {
    await page.goto(`${server.url}/admin/`);
    await page.getByRole('button', { name: 'Sign in', exact: true }).click();
    await page.waitForURL(/\/login\?/);
    await page.getByLabel('Username').fill('ops-admin');
    await page.getByLabel('Password').fill(PASSWORD);
    await page.getByRole('button', { name: 'Sign in', exact: true }).click();
    await page.waitForURL((u) => u.pathname.startsWith('/admin/') || u.pathname === '/consent');
    if (new URL(page.url()).pathname === '/consent') await page.getByRole('button', { name: 'Yes, Allow' }).click();
    await page.getByRole('link', { name: 'Users', exact: true }).click();
    await page.getByRole('heading', { level: 1, name: 'Users' }).waitFor();
    await page.getByRole('button', { name: 'Invite by email' }).click();
    await page.getByLabel('Email').fill('newcomer@example.test');
    await page.getByRole('button', { name: 'Send invitation' }).click();
    await expect.poll(() => page.getByRole('status').filter({ hasText: 'Invitation sent' }).count()).toBe(1);
    await page.screenshot({ path: `${SHOTS}/console-invite-1280.png`, fullPage: true });
    const mail = await mailbox.waitFor('newcomer@example.test', (m) => m.subject === 'You are invited to Tessera');
    expect(mail.text).toContain(`${server.url}/invite?token=`);
    expect((await server.tessera.email.invitations.list())[0]).toMatchObject({ email: 'newcomer@example.test', roles: ['developer'], locale: null });

    // In the invitee's language: the mail is Spanish, and so is the page its link opens.
    await page.getByLabel('Email').fill('nueva@example.test');
    await page.getByLabel('Language').selectOption('es');
    await page.getByRole('button', { name: 'Send invitation' }).click();
    const spanish = await mailbox.waitFor('nueva@example.test');
    expect(spanish.subject).toBe('Te han invitado a Tessera');
    expect(new URL(linkIn(spanish, `${server.url}/invite?token=`)).searchParams.get('ui_locales')).toBe('es');

    await page.getByRole('link', { name: 'Settings', exact: true }).click();
    await expect.poll(() => page.getByText('Email is configured: mail is sent from id@example.test.').count()).toBe(1);
    expect(problems).toEqual([]);
  });
});
