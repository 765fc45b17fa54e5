import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { SYSTEM } from '../../src/audit/actor.ts';
import { launchBrowser } from '../support/browser.ts';
import { tinyPng } from '../support/images.ts';
import { startTestServer, type TestServer } from '../support/server.ts';

/**
 * The console's Branding page in Chromium: the live preview follows the draft (rendered by
 * the server, shown in a sandboxed frame under the console's CSP), a colour that fails WCAG
 * AA is warned about, an unsafe SVG logo is refused with its reason, a PNG is accepted, and
 * saving shows the brand on the real login page. Screenshots in test-results/screenshots/.
 */
const PASSWORD = 'correct horse battery staple';
const SHOTS = join(import.meta.dirname, '..', '..', 'test-results', 'screenshots');
const TMP = join(import.meta.dirname, '..', '..', 'test-results', 'tmp');

describe('console Branding page', () => {
  let server: TestServer;
  let browser: Browser;
  let page: Page;
  const problems: string[] = [];

  beforeAll(async () => {
    mkdirSync(SHOTS, { recursive: true });
    mkdirSync(TMP, { recursive: true });
    server = await startTestServer('sqlite');
    await server.tessera.services.users.create({ username: 'ops-admin', password: PASSWORD, roles: ['admin'] }, SYSTEM);
    browser = await launchBrowser();
    const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
    page = await context.newPage();
    page.setDefaultTimeout(10_000);
    page.on('console', (m) => {
      if (m.type() === 'error') problems.push(m.text());
    });
    page.on('pageerror', (e) => problems.push(String(e)));
  });
  afterAll(async () => {
    await browser?.close();
    await server?.close();
  });

  test('preview, contrast warning, logo upload refused and accepted, save', async () => {
    await page.goto(`${server.url}/admin/`);
    await page.getByRole('button', { name: 'Sign in', exact: true }).click();
    await page.waitForURL(/\/login\?/);
    await page.getByLabel('Username').fill('ops-admin');
    await page.getByLabel('Password').fill(PASSWORD);
    await page.getByRole('button', { name: 'Sign in', exact: true }).click();
    await page.waitForURL((u) => u.pathname.startsWith('/admin/') || u.pathname === '/consent');
    if (new URL(page.url()).pathname === '/consent') await page.getByRole('button', { name: 'Yes, Allow' }).click();
    await page.getByRole('heading', { level: 1, name: 'Registered apps' }).waitFor();

    await page.getByRole('link', { name: 'Branding' }).click();
    await page.getByRole('heading', { level: 1, name: 'Branding' }).waitFor();
    await page.getByLabel('Product name').fill('Acme <Identity>');
    await page.getByLabel('Primary colour', { exact: true }).fill('#ffeb3b');
    const frame = page.frameLocator('iframe.preview__frame');
    await expect.poll(() => frame.locator('.brand__name').textContent()).toBe('Acme <Identity>');
    await expect.poll(() => frame.locator('button.primary').evaluate((b) => (globalThis as unknown as { getComputedStyle(e: unknown): { backgroundColor: string } }).getComputedStyle(b).backgroundColor)).toBe('rgb(255, 235, 59)');
    const warnings = page.getByTestId('contrast-warnings');
    await expect.poll(() => warnings.textContent()).toContain('links in primary_color #ffeb3b');
    await page.getByRole('button', { name: 'Consent page' }).click();
    await expect.poll(() => frame.locator('h1').textContent()).toContain('Acme Books wants to access your account');
    await page.screenshot({ path: join(SHOTS, 'console-branding-preview-1280.png'), fullPage: true });

    const { writeFileSync } = await import('node:fs');
    writeFileSync(join(TMP, 'evil.svg'), '<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>');
    await page.locator('input[type=file]').setInputFiles(join(TMP, 'evil.svg'));
    await expect.poll(() => page.getByRole('alert').first().textContent()).toContain('<script> is not allowed');
    writeFileSync(join(TMP, 'logo.png'), tinyPng());
    await page.locator('input[type=file]').setInputFiles(join(TMP, 'logo.png'));
    await page.getByRole('img', { name: 'Current logo' }).waitFor();

    await page.getByLabel('Primary colour', { exact: true }).fill('#0b6e4f');
    await page.getByLabel('Product name').fill('Acme <Identity>');
    await page.getByRole('button', { name: 'Save branding' }).click();
    await page.getByRole('status').filter({ hasText: 'Saved' }).waitFor();
    expect(server.tessera.services.branding.view()).toMatchObject({ product_name: 'Acme <Identity>', primary_color: '#0b6e4f', logo: { content_type: 'image/png' } });
    const login = await (await fetch(`${server.url}/login`)).text();
    expect(login).toContain('Acme &lt;Identity&gt;');
    // The refused upload's 400 is reported by Chromium as a failed load; nothing else may be.
    expect(problems.filter((p) => !p.includes('status of 400'))).toEqual([]);
  });
});
