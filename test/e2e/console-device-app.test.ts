import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { SYSTEM } from '../../src/audit/actor.ts';
import { DEVICE_CODE_GRANT } from '../../src/clients/client.ts';
import { launchBrowser } from '../support/browser.ts';
import { postForm, startTestServer, type TestServer } from '../support/server.ts';

/** The console registers an app for the device flow (docs/device-flow.md): no redirect URIs, user scopes, public. */
const PASSWORD = 'correct horse battery staple';

describe('console: register a device-flow app', () => {
  let server: TestServer;
  let browser: Browser;
  let page: Page;

  beforeAll(async () => {
    server = await startTestServer('sqlite');
    await server.tessera.services.users.create({ username: 'ops-admin', password: PASSWORD, roles: ['admin'] }, SYSTEM);
    browser = await launchBrowser();
    page = await (await browser.newContext({ viewport: { width: 1280, height: 860 } })).newPage();
    page.setDefaultTimeout(10_000);
  });
  afterAll(async () => {
    await browser?.close();
    await server?.close();
  });

  test('Device grant: no redirect URIs asked for, public, openid + offline_access; the app can start the device flow', async () => {
    await page.goto(`${server.url}/admin/`);
    await page.getByRole('button', { name: 'Sign in', exact: true }).click();
    await page.waitForURL(/\/login\?/);
    await page.getByLabel('Username').fill('ops-admin');
    await page.getByLabel('Password').fill(PASSWORD);
    await page.getByRole('button', { name: 'Sign in', exact: true }).click();
    await page.waitForURL((u) => u.pathname.startsWith('/admin/') || u.pathname === '/consent');
    if (new URL(page.url()).pathname === '/consent') await page.getByRole('button', { name: 'Yes, Allow' }).click();
    await page.getByRole('link', { name: 'Apps', exact: true }).click();
    await page.getByRole('link', { name: 'Register app' }).click();
    await page.getByRole('heading', { level: 1, name: 'Register app' }).waitFor();
    await page.getByLabel(/^Device/).check();
    expect(await page.getByLabel('Redirect URI 1', { exact: true }).count()).toBe(0);
    expect(await page.getByLabel('On behalf of user').count()).toBe(0);
    await page.getByLabel(/Public app/).check();
    await page.getByLabel('Name', { exact: true }).fill('Acme TV');
    await page.getByRole('checkbox', { name: /offline_access/ }).check();
    await page.getByRole('button', { name: 'Register app' }).click();
    await page.getByRole('heading', { level: 1, name: '“Acme TV” is registered' }).waitFor();
    const app = (await server.tessera.services.clients.list()).find((c) => c.name === 'Acme TV')!;
    expect(app).toMatchObject({ grant_types: [DEVICE_CODE_GRANT], public: true, redirect_uris: [] });
    expect(app.scopes).toEqual(expect.arrayContaining(['openid', 'offline_access']));
    const started = await postForm(`${server.url}/connect/deviceauthorization`, { client_id: app.client_id, scope: 'openid offline_access' });
    expect(started.status).toBe(200);
  }, 60_000);
});
