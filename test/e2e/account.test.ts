import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { SYSTEM } from '../../src/audit/actor.ts';
import { launchBrowser } from '../support/browser.ts';
import { startRelyingParty, type RelyingParty } from '../support/relying-party.ts';
import { basic, declareScopes, startTestServer, type TestServer } from '../support/server.ts';

/**
 * The account area in a real Chromium (issue 14): a user signs in, lands on /account and
 * uses each section, with a real app on the other end of an authorization-code flow. Every
 * page is checked for horizontal scrolling at 390 px and in a 730×560 window, for console
 * errors (the CSP would report a blocked resource), and for a visible focus when tabbing.
 * Screenshots land in test-results/screenshots/.
 */
const PASSWORD = 'correct horse battery staple';
const NEW_PASSWORD = 'a much longer passphrase';
const SHOTS = join(import.meta.dirname, '..', '..', 'test-results', 'screenshots');
const SIZES = [
  { name: 'phone-390x844', width: 390, height: 844 },
  { name: 'window-730x560', width: 730, height: 560 },
];
const FIREFOX = 'Mozilla/5.0 (X11; Ubuntu; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0';

describe('the account area in Chromium', () => {
  let server: TestServer;
  let browser: Browser;
  let rp: RelyingParty;
  let clientId: string;
  let clientSecret: string;

  beforeAll(async () => {
    mkdirSync(SHOTS, { recursive: true });
    server = await startTestServer('sqlite', { env: { TESSERA_REDIRECT_URI_POLICY: 'development' } });
    rp = await startRelyingParty(server.url);
    const { services } = server.tessera;
    await declareScopes(server.tessera, ['ledger.read']);
    for (const username of ['alice', 'dana']) {
      await services.users.create({ username, password: PASSWORD, email: `${username}@example.com`, name: username === 'alice' ? 'Alice Liddell' : 'Dana Scully-Featherstonehaugh', roles: ['developer'] }, SYSTEM);
    }
    const app = await services.clients.create(
      {
        name: 'Acme Books for Partners and Integrators',
        description: 'Bookkeeping for small teams',
        grantTypes: ['authorization_code'],
        redirectUris: [rp.redirectUri],
        postLogoutRedirectUris: [rp.postLogoutRedirectUri],
        scopes: ['openid', 'profile', 'email', 'offline_access', 'ledger.read'],
      },
      SYSTEM,
    );
    clientId = app.client_id;
    clientSecret = app.client_secret!;
    await rp.configure(clientId, clientSecret);
    browser = await launchBrowser();
  });
  afterAll(async () => {
    await browser?.close();
    await rp?.close();
    await server?.close();
  });

  /** A page that records console errors and failed requests (a CSP violation shows as a console error). */
  async function openPage(context: BrowserContext): Promise<{ page: Page; problems: string[] }> {
    const page = await context.newPage();
    page.setDefaultTimeout(10_000);
    const problems: string[] = [];
    page.on('console', (m) => {
      // A form answered 400 (refused input, shown inline) is logged by Chromium as a failed
      // load of the document: expected. Failed subresources are caught by status below.
      if (m.text().startsWith('Failed to load resource')) return;
      if (m.type() === 'error' || m.type() === 'warning') problems.push(`${m.type()}: ${m.text()}`);
    });
    page.on('response', (r) => {
      if (r.request().resourceType() !== 'document' && r.status() >= 400 && r.url().startsWith(server.url)) problems.push(`${r.status()}: ${r.url()}`);
    });
    page.on('pageerror', (e) => problems.push(`pageerror: ${e.message}`));
    page.on('requestfailed', (r) => {
      // A load cut short by the next navigation (the favicon, when the test moves on at once) is not a fault of the page.
      if (r.failure()?.errorText === 'net::ERR_ABORTED') return;
      problems.push(`requestfailed: ${r.url()} ${r.failure()?.errorText}`);
    });
    return { page, problems };
  }

  /** Opens `path` signed out, signs in at /login and comes back to it. */
  async function signIn(page: Page, username: string, password = PASSWORD, path = '/account'): Promise<void> {
    await page.goto(`${server.url}${path}`);
    await page.waitForURL(/\/login\?return_to=/);
    await page.getByLabel('Username').fill(username);
    await page.getByLabel('Password').fill(password);
    await page.getByRole('button', { name: 'Sign in', exact: true }).click();
    await page.waitForURL(`${server.url}${path}`);
  }

  async function noHorizontalScroll(page: Page): Promise<void> {
    const { scrollWidth, innerWidth } = await page.evaluate<{ scrollWidth: number; innerWidth: number }>(
      '({ scrollWidth: document.documentElement.scrollWidth, innerWidth: window.innerWidth })',
    );
    expect(scrollWidth, page.url()).toBeLessThanOrEqual(innerWidth);
  }

  /** Connects the app through the real authorization-code flow (consent when asked); its tokens. */
  async function connectApp(page: Page) {
    await page.goto(`${rp.url}/start?${new URLSearchParams({ scope: 'openid profile email offline_access ledger.read' })}`);
    await page.waitForURL((u) => u.pathname === '/consent' || u.href.startsWith(rp.redirectUri));
    if (new URL(page.url()).pathname === '/consent') await page.getByRole('button', { name: 'Yes, Allow' }).click();
    await page.waitForURL((u) => u.href.startsWith(rp.redirectUri));
    const result = rp.results.at(-1)!;
    expect(result.ok).toBe(true);
    return result.tokens!;
  }

  const alertText = (page: Page, id: string) => page.locator(`#${id}-error`).textContent();

  test('a user changes their profile and password, signs out other sessions and removes an app', async () => {
    const a = await browser.newContext({ viewport: { width: 730, height: 560 } });
    const b = await browser.newContext({ viewport: { width: 390, height: 844 }, userAgent: FIREFOX });
    try {
      const { page, problems } = await openPage(a);
      await signIn(page, 'alice');
      expect(await page.locator('h1').textContent()).toBe('Profile');
      expect(await page.getByRole('link', { name: 'Profile' }).getAttribute('aria-current')).toBe('page');

      // Profile: a bad email is shown next to its field; a good one is saved (and is unverified).
      await page.getByLabel('Email').fill('alice at example');
      await page.getByRole('button', { name: 'Save profile' }).click();
      expect(await alertText(page, 'email')).toContain('is not a valid email address');
      expect(await page.getByLabel('Email').getAttribute('aria-invalid')).toBe('true');
      await page.getByLabel('Name', { exact: true }).fill('Alice P. Liddell');
      await page.getByLabel('Email').fill('alice.liddell@example.com');
      await page.getByRole('button', { name: 'Save profile' }).click();
      await page.waitForURL(/\/account\?done=email/);
      expect(await page.getByRole('status').textContent()).toContain('Your profile was saved');
      expect(await page.locator('.account__who').textContent()).toContain('Alice P. Liddell');
      expect(await server.tessera.services.users.find('alice')).toMatchObject({ name: 'Alice P. Liddell', email: 'alice.liddell@example.com', emailVerified: false });

      // Password: from the Security page; a wrong current password is refused, then the change.
      await page.getByRole('link', { name: 'Security' }).click();
      await page.getByRole('link', { name: 'Change password' }).click();
      await page.waitForURL(/\/account\/password$/);
      await page.getByLabel('Current password').fill('not my password');
      await page.getByLabel('New password', { exact: true }).fill(NEW_PASSWORD);
      await page.getByLabel('Confirm new password').fill(NEW_PASSWORD);
      await page.getByRole('button', { name: 'Change password' }).click();
      expect(await alertText(page, 'current')).toBe('This is not your current password.');
      await page.getByLabel('Current password').fill(PASSWORD);
      await page.getByLabel('New password', { exact: true }).fill(NEW_PASSWORD);
      await page.getByLabel('Confirm new password').fill(NEW_PASSWORD);
      await page.getByRole('button', { name: 'Change password' }).click();
      await page.waitForURL(/\/account\/security\?done=password/);
      expect(await page.getByRole('status').textContent()).toBe('Your password was changed. You were signed out everywhere else.');

      // Sessions: a second browser signs in (with the new password); both are listed.
      const other = await openPage(b);
      await signIn(other.page, 'alice', NEW_PASSWORD);
      await page.getByRole('link', { name: 'Sessions' }).click();
      const rows = page.locator('ul[aria-label="Your sessions"] > li');
      expect(await rows.count()).toBe(2);
      expect(await rows.nth(0).textContent()).toContain('This device');
      expect(await rows.nth(0).textContent()).toContain('Chrome on Linux');
      expect(await rows.nth(1).textContent()).toContain('Firefox on Linux');
      await rows.nth(1).getByRole('button', { name: /Sign out/ }).click();
      await page.waitForURL(/done=session$/);
      expect(await rows.count()).toBe(1);
      await other.page.reload();
      await other.page.waitForURL(/\/login\?return_to=/);
      // Back in, then "Sign out everywhere else".
      await signIn(other.page, 'alice', NEW_PASSWORD);
      await page.reload();
      expect(await rows.count()).toBe(2);
      await page.getByRole('button', { name: 'Sign out everywhere else' }).click();
      await page.waitForURL(/done=others$/);
      expect(await rows.count()).toBe(1);
      expect(await page.textContent('main')).toContain('You are not signed in anywhere else.');
      await other.page.reload();
      await other.page.waitForURL(/\/login\?return_to=/);
      expect(other.problems).toEqual([]);

      // Connected apps: a real authorization-code flow, then the app is listed in words.
      const tokens = await connectApp(page);
      expect(tokens.refresh_token).toBeTruthy();
      await page.goto(`${server.url}/account/apps`);
      const app = page.locator('ul[aria-label="Connected apps"] > li');
      expect(await app.count()).toBe(1);
      const text = await app.textContent();
      expect(text).toContain('Acme Books for Partners and Integrators');
      for (const words of ['Sign you in and know who you are', 'See your name and username', 'See your email address', 'Keep access while you are away', 'Test scope ledger.read']) {
        expect(text).toContain(words);
      }
      await page.getByRole('button', { name: /Remove access/ }).click();
      await page.waitForURL(/done=removed$/);
      expect(await page.textContent('main')).toContain('No app has access to your account.');
      // The app's refresh token no longer works.
      const refused = await fetch(`${server.url}/connect/token`, {
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded', authorization: basic(clientId, clientSecret) },
        body: new URLSearchParams({ grant_type: 'refresh_token', refresh_token: tokens.refresh_token! }),
      });
      expect(refused.status).toBe(400);
      expect(await refused.json()).toMatchObject({ error: 'invalid_grant' });
      // Removing the consent means the app must ask again.
      await page.goto(`${rp.url}/start`);
      await page.waitForURL(/\/consent\?/);

      const user = await server.tessera.services.users.find('alice');
      const actions = (await server.tessera.services.audit.list({ targetId: user.id, actor: 'user:alice', limit: 100 })).items.map((e) => e.action);
      for (const action of ['user.update', 'user.password_change', 'session.revoke', 'session.revoke_all', 'grant.revoke']) expect(actions).toContain(action);
      expect(problems).toEqual([]);
    } finally {
      await a.close();
      await b.close();
    }
  });

  test('the keyboard reaches everything in order, with a visible focus', async () => {
    const context = await browser.newContext({ viewport: { width: 730, height: 560 } });
    const elsewhere = await browser.newContext({ userAgent: FIREFOX });
    try {
      await signIn((await openPage(elsewhere)).page, 'dana');
      const { page, problems } = await openPage(context);
      await signIn(page, 'dana', PASSWORD, '/account/sessions');
      const seen: string[] = [];
      // Start from the top of the document, as after loading a page.
      await page.evaluate('document.activeElement && document.activeElement.blur()');
      for (let i = 0; i < 8; i++) {
        await page.keyboard.press('Tab');
        const focused = await page.evaluate<{ text: string; outline: string; tag: string }>(
          '(() => { const e = document.activeElement; const s = getComputedStyle(e); return { text: (e.textContent || e.value || "").trim(), outline: s.outlineStyle + " " + s.outlineWidth, tag: e.tagName }; })()',
        );
        seen.push(focused.text);
        // Every stop shows where focus is (a 3px outline).
        expect(focused.outline, focused.text).toMatch(/^solid [1-9]/);
      }
      expect(seen).toEqual(['Skip to content', 'Sign out', 'Profile', 'Security', 'Sessions', 'Connected apps', 'Sign out Firefox on Linux, 127.0.0.1', 'Sign out everywhere else']);
      // Enter on the focused button submits its form.
      await page.keyboard.press('Shift+Tab');
      await page.keyboard.press('Enter');
      await page.waitForURL(/done=session$/);
      // The skip link jumps to the page's content.
      await page.goto(`${server.url}/account`);
      await page.keyboard.press('Tab');
      await page.keyboard.press('Enter');
      await page.keyboard.press('Tab');
      expect(await page.evaluate<string>('document.activeElement.id')).toBe('username');
      expect(problems).toEqual([]);
    } finally {
      await context.close();
      await elsewhere.close();
    }
  });

  for (const size of SIZES) {
    test(`every account page at ${size.width}×${size.height}: no horizontal scroll, no console errors, screenshots`, async () => {
      const context = await browser.newContext({ viewport: { width: size.width, height: size.height } });
      try {
        const { page, problems } = await openPage(context);
        await signIn(page, 'dana');
        await connectApp(page);
        for (const [path, name] of [
          ['/account', 'profile'],
          ['/account/security', 'security'],
          ['/account/password', 'password'],
          ['/account/sessions', 'sessions'],
          ['/account/apps', 'apps'],
        ] as const) {
          await page.goto(`${server.url}${path}`);
          await noHorizontalScroll(page);
          await page.screenshot({ path: join(SHOTS, `account-${name}-${size.name}.png`), fullPage: true });
        }
        // Every page the Security panels link to (password, second factors, passkeys) is inside
        // the account layout, with Security current, and as clean as the rest.
        await page.goto(`${server.url}/account/security`);
        const links = await page.evaluate<string[]>('[...document.querySelectorAll("section.panel .links a")].map((a) => a.getAttribute("href"))');
        expect(links).toContain('/account/password');
        for (const href of new Set(links)) {
          await page.goto(`${server.url}${href}`);
          expect(new URL(page.url()).pathname, href).toBe(href.split('?')[0]);
          expect(await page.getByRole('navigation', { name: 'Account' }).getByRole('link', { name: 'Security' }).getAttribute('aria-current'), href).toBe('page');
          await noHorizontalScroll(page);
          await page.screenshot({ path: join(SHOTS, `account-security${href.replaceAll('/', '-')}-${size.name}.png`), fullPage: true });
        }

        // A refused form shows its errors without breaking the layout.
        await page.goto(`${server.url}/account/password`);
        await page.getByRole('button', { name: 'Change password' }).click();
        expect(await alertText(page, 'current')).toBe('Enter your current password.');
        // Focus lands on the first field to correct.
        expect(await page.evaluate<string>('document.activeElement.id')).toBe('current');
        await noHorizontalScroll(page);
        await page.screenshot({ path: join(SHOTS, `account-password-errors-${size.name}.png`), fullPage: true });
        expect(problems).toEqual([]);
      } finally {
        await context.close();
      }
    });
  }
});
