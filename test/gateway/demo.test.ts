import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { launchBrowser } from '../support/browser.ts';

/**
 * `npm run demo` does what its walkthrough says: the printed curl steps work, and the printed
 * authorization URL leads a browser through sign-in and consent to the partner app's page.
 */
const DEMO = join(import.meta.dirname, '..', '..', 'scripts', 'demo.ts');

describe('npm run demo', () => {
  let child: ChildProcess;
  let out = '';

  beforeAll(async () => {
    child = spawn(process.execPath, [DEMO], {
      env: { ...process.env, TESSERA_PORT: '0', TESSERA_DEMO_DIR: mkdtempSync(join(tmpdir(), 'tessera-demo-')), TESSERA_LOG_LEVEL: 'silent' },
    });
    child.stdout!.on('data', (c: Buffer) => (out += c.toString()));
    child.stderr!.on('data', (c: Buffer) => (out += c.toString()));
    for (let i = 0; i < 900 && !out.includes('Ctrl-C stops the demo.'); i++) await new Promise((r) => setTimeout(r, 50));
    expect(out).toContain('Ctrl-C stops the demo.');
  });
  afterAll(async () => {
    if (child && child.exitCode === null) {
      const exited = new Promise((r) => child.once('exit', r));
      child.kill('SIGTERM');
      await exited;
    }
  });

  test('the client-credentials walkthrough: token, list, one account, create, 401 and 405', async () => {
    const base = /listening on (http:\/\/127\.0\.0\.1:\d+)/.exec(out)![1]!;
    const id = /CLIENT_ID=(\S+)/.exec(out)![1]!;
    const secret = /CLIENT_SECRET=(\S+)/.exec(out)![1]!;
    const res = await fetch(`${base}/connect/token`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded', authorization: `Basic ${btoa(`${id}:${secret}`)}` },
      body: 'grant_type=client_credentials&scope=accounts.read%20accounts.write',
    });
    const { access_token: token } = (await res.json()) as { access_token: string };
    const auth = { authorization: `Bearer ${token}` };
    const list = (await (await fetch(`${base}/0/odata/Account`, { headers: auth })).json()) as { '@odata.context': string; value: unknown[] };
    expect(list['@odata.context']).toContain('Account');
    expect(list.value.length).toBeGreaterThanOrEqual(3);
    const one = (await (await fetch(`${base}/0/odata/Account(1)`, { headers: auth })).json()) as { Id: number };
    expect(one.Id).toBe(1);
    const created = await fetch(`${base}/0/odata/Account`, { method: 'POST', headers: { ...auth, 'content-type': 'application/json' }, body: '{"Name":"Tailspin Toys","Balance":42}' });
    expect(created.status).toBe(201);
    expect((await fetch(`${base}/0/odata/Account`)).status).toBe(401);
    expect((await fetch(`${base}/0/odata/Account(1)`, { method: 'DELETE', headers: auth })).status).toBe(405);
  });

  test('the printed authorization URL: sign in, approve, and the partner page shows tokens and accounts', async () => {
    const url = /(http:\/\/127\.0\.0\.1:\d+\/connect\/authorize\?\S+)/.exec(out)![1]!;
    const password = /sign in as demo \/ (\S+),/.exec(out)![1]!;
    const browser = await launchBrowser();
    try {
      const page = await browser.newPage();
      page.setDefaultTimeout(10_000);
      await page.goto(url);
      await page.getByLabel('Username').fill('demo');
      await page.getByLabel('Password').fill(password);
      await page.getByRole('button', { name: 'Sign in', exact: true }).click();
      await page.waitForURL(/\/consent\?/);
      expect(await page.textContent('main')).toContain('Read your accounts');
      await page.getByRole('button', { name: 'Yes, Allow' }).click();
      await page.waitForURL(/\/callback\?/);
      const text = (await page.textContent('body'))!;
      expect(text).toContain('Connected');
      expect(text).toContain('refresh_token');
      expect(text).toContain('Contoso Ltd');
    } finally {
      await browser.close();
    }
  });

  test('the printed admin signs in to the console at /admin/', async () => {
    const [, consoleUrl, username, password] = /open (http:\/\/127\.0\.0\.1:\d+\/admin\/) and sign in as (\S+) \/ (\S+)/.exec(out)!;
    expect(username).toBe('admin');
    const browser = await launchBrowser();
    try {
      const page = await browser.newPage();
      page.setDefaultTimeout(10_000);
      await page.goto(consoleUrl!);
      await page.getByRole('button', { name: 'Sign in', exact: true }).click();
      await page.waitForURL(/\/login\?/);
      await page.getByLabel('Username').fill(username!);
      await page.getByLabel('Password').fill(password!);
      await page.getByRole('button', { name: 'Sign in', exact: true }).click();
      await page.waitForURL((u) => u.pathname.startsWith('/admin/') || u.pathname === '/consent');
      if (new URL(page.url()).pathname === '/consent') await page.getByRole('button', { name: 'Yes, Allow' }).click();
      await page.getByRole('heading', { name: 'Registered apps' }).waitFor();
      // The demo's apps are there.
      await page.getByText('Nightly sync').waitFor();
    } finally {
      await browser.close();
    }
  });
});
