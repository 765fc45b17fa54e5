import { mkdirSync } from 'node:fs';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { launchBrowser } from '../support/browser.ts';
import { basic, declareScopes, postForm, startTestServer, type TestServer } from '../support/server.ts';
import { operator, SYSTEM } from '../../src/audit/actor.ts';
import { startTestUpstream } from '../support/test-upstream.ts';
import { hiddenFields, UserAgent } from '../support/user-agent.ts';
import { KyselyLinkStore } from '../../src/federation/link-store.ts';
import { KyselyProviderStore } from '../../src/federation/provider-store.ts';

/**
 * The admin console in Chromium, signed in through Tessera's real login page with
 * authorization code + PKCE: register a client-credentials app and use the secret read from
 * the page; see a rejected redirect URI explained inline; regenerate a secret and see the old
 * token refused. Every page is opened at 1280 and 390 px wide (screenshots in
 * test-results/screenshots/), with no horizontal scrolling and no console errors.
 */
const PASSWORD = 'correct horse battery staple';
const SHOTS = 'test-results/screenshots';

describe('admin console in a real browser', () => {
  let server: TestServer;
  let browser: Browser;
  let context: BrowserContext;
  let page: Page;
  const problems: string[] = [];
  const expectedNetworkErrors: number[] = [];

  beforeAll(async () => {
    mkdirSync(SHOTS, { recursive: true });
    server = await startTestServer('sqlite');
    await server.tessera.services.users.create({ username: 'ops-admin', password: PASSWORD, roles: ['admin'], name: 'Olga Ops' }, SYSTEM);
    await server.tessera.services.users.create({ username: 'dev', password: PASSWORD, roles: ['developer'] }, SYSTEM);
    await declareScopes(server.tessera, ['ledger.read', 'ledger.write'], '/ledger');
    browser = await launchBrowser();
    context = await browser.newContext({ viewport: { width: 1280, height: 860 } });
    await context.grantPermissions(['clipboard-read', 'clipboard-write'], { origin: server.url });
    page = await context.newPage();
    page.setDefaultTimeout(10_000);
    page.on('console', (m) => {
      if (m.type() === 'error' || m.type() === 'warning') problems.push(`console ${m.type()}: ${m.text()}`);
    });
    page.on('pageerror', (e) => problems.push(`page error: ${e.message}`));
  });
  afterAll(async () => {
    await browser?.close();
    await server?.close();
  });

  const heading = (name: string | RegExp) => page.getByRole('heading', { level: 1, name });

  async function token(clientId: string, secret: string, scope?: string): Promise<Response> {
    return postForm(`${server.url}/connect/token`, { grant_type: 'client_credentials', ...(scope ? { scope } : {}) }, { authorization: basic(clientId, secret) });
  }

  async function noHorizontalScroll(): Promise<void> {
    // Evaluated in the page (a string: the test's own tsconfig has no DOM types).
    const { scroll, client } = (await page.evaluate('({ scroll: document.documentElement.scrollWidth, client: document.documentElement.clientWidth })')) as { scroll: number; client: number };
    expect(scroll, `horizontal scroll on ${page.url()}`).toBeLessThanOrEqual(client);
  }

  async function shot(name: string): Promise<void> {
    await page.screenshot({ path: `${SHOTS}/console-${name}.png`, fullPage: true });
  }

  let ccClientId = '';
  let ccToken = '';

  test('sign in through the login page (authorization code + PKCE)', async () => {
    await page.goto(`${server.url}/admin/`);
    await heading('Tessera console').waitFor();
    await shot('signed-out-1280');
    await page.getByRole('button', { name: 'Sign in', exact: true }).click();
    await page.waitForURL(/\/login\?/);
    await page.getByLabel('Username').fill('ops-admin');
    await page.getByLabel('Password').fill(PASSWORD);
    await page.getByRole('button', { name: 'Sign in', exact: true }).click();
    // First use: Tessera may ask the admin to approve the console.
    await page.waitForURL((u) => u.pathname.startsWith('/admin/') || u.pathname === '/consent');
    if (new URL(page.url()).pathname === '/consent') await page.getByRole('button', { name: 'Yes, Allow' }).click();
    await heading('Registered apps').waitFor();
    expect(new URL(page.url()).pathname).toBe('/admin/apps');
    await expect.poll(() => page.getByText('Signed in as').textContent()).toContain('ops-admin');
    // Tokens are kept for this tab only.
    const stored = await page.evaluate(() => ({ session: Object.keys(sessionStorage), local: Object.keys(localStorage) }));
    expect(stored.session).toContain('tessera.console.tokens');
    expect(stored.local).toEqual([]);
  });

  test('register a client-credentials app, copy its secret from the page, get a token with it', async () => {
    await page.getByRole('link', { name: 'Register app' }).click();
    await heading('Register app').waitFor();
    await page.getByLabel(/Client credentials/).check();
    await page.getByLabel('Name', { exact: true }).fill('Nightly ledger export');
    await page.getByLabel('Description', { exact: true }).fill('Exports the ledger every night');
    await page.getByLabel('On behalf of user').selectOption('ops-admin');
    await page.getByLabel(/ledger\.read/).check();
    // No user-only scopes offered for client credentials.
    expect(await page.getByLabel(/^openid/).count()).toBe(0);
    // The token-exchange switch is a checkbox row like the others (box beside its text, regular
    // weight), not a bold block label with the box on a line of its own.
    const exchangeLabel = `(() => {
      const label = [...document.querySelectorAll('label.check')].find((l) => l.textContent.includes('Allow token exchange'));
      return label ? [getComputedStyle(label).display, getComputedStyle(label).fontWeight] : null;
    })()`;
    expect(await page.evaluate(exchangeLabel)).toEqual(['flex', '400']);
    await shot('register-cc-1280');
    await page.getByRole('button', { name: 'Register app' }).click();
    await heading('“Nightly ledger export” is registered').waitFor();
    expect(await page.getByRole('note').textContent()).toContain('you will not see this secret again');
    ccClientId = (await page.getByTestId('client-id').textContent())!.trim();
    const shown = (await page.getByTestId('client-secret').textContent())!.trim();
    await page.getByRole('button', { name: 'Copy Client secret' }).click();
    await expect.poll(() => page.getByRole('button', { name: 'Copy Client secret' }).textContent()).toBe('Copied');
    const copied = (await page.evaluate('navigator.clipboard.readText()')) as string;
    expect(copied).toBe(shown);
    await shot('secret-1280');

    const res = await token(ccClientId, copied, 'ledger.read');
    expect(res.status).toBe(200);
    const body = (await res.json()) as { access_token: string; scope: string };
    expect(body.scope).toBe('ledger.read');
    ccToken = body.access_token;
  });

  test('regenerate the secret: a confirmation names the consequence; the old token is refused', async () => {
    await page.getByRole('link', { name: /show the app/ }).click();
    await heading('Nightly ledger export').waitFor();
    await page.getByText('Active grants').waitFor();
    await shot('app-detail-1280');
    await page.getByRole('button', { name: 'Regenerate secret' }).click();
    const dialog = page.getByRole('dialog');
    expect(await dialog.textContent()).toContain('every token issued to this app stops working');
    await shot('regenerate-dialog-1280');
    await dialog.getByRole('button', { name: 'Regenerate secret' }).click();
    await page.getByRole('heading', { name: 'New secret' }).waitFor();
    const fresh = (await page.getByTestId('client-secret').textContent())!.trim();

    const introspect = await postForm(`${server.url}/connect/introspect`, { token: ccToken }, { authorization: basic(ccClientId, fresh) });
    expect(introspect.status).toBe(200);
    expect(await introspect.json()).toEqual({ active: false });
    expect((await token(ccClientId, fresh)).status).toBe(200);
  });

  test('an authorization-code app with a redirect URI the policy rejects: the reason is shown inline', async () => {
    const check = (await (
      await fetch(`${server.url}/admin/api/v1/apps/check-redirect-uri`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', authorization: `Bearer ${await page.evaluate(() => JSON.parse(sessionStorage.getItem('tessera.console.tokens')!).access_token)}` },
        body: JSON.stringify({ uri: 'http://example.com/cb' }),
      })
    ).json()) as { ok: boolean; reason: string };
    expect(check.ok).toBe(false);

    await page.getByRole('link', { name: 'Apps', exact: true }).click();
    await page.getByRole('link', { name: 'Register app' }).click();
    await heading('Register app').waitFor();
    expect(await page.getByLabel(/Authorization code/).isChecked()).toBe(true);
    await page.getByLabel('Name', { exact: true }).fill('Acme Books');
    await page.getByLabel('Redirect URI 1', { exact: true }).fill('http://example.com/cb');
    const verdict = page.getByTestId('uri-check').first();
    await expect.poll(() => verdict.textContent()).toContain(check.reason);
    expect(await page.getByLabel('Redirect URI 1', { exact: true }).getAttribute('aria-invalid')).toBe('true');
    await page.getByRole('button', { name: 'Register app' }).click();
    // Nothing is saved: the form names the field, and the reason stays beside the URI.
    await page.locator('.uri-list .field-error').first().waitFor();
    expect(await page.locator('.uri-list .field-error').first().textContent()).toContain('Correct the URI marked');
    expect(await verdict.textContent()).toContain(check.reason);
    expect((await server.tessera.services.clients.list()).some((c) => c.name === 'Acme Books')).toBe(false);
    await shot('register-rejected-1280');

    // Fixed: an https URI passes and the app registers.
    await page.getByLabel('Redirect URI 1', { exact: true }).fill('https://books.example.com/callback');
    await expect.poll(() => verdict.textContent()).toContain('Allowed');
    // ID tokens: RS256 unless chosen otherwise; the choice of ES256 says what it asks of the app.
    const alg = page.getByLabel('ID token signature');
    expect(await alg.inputValue()).toBe('RS256');
    expect(await page.getByText(/the app's OpenID library must support it/).isVisible()).toBe(true);
    await alg.selectOption('ES256');
    await page.getByRole('button', { name: 'Register app' }).click();
    await heading('“Acme Books” is registered').waitFor();
    expect((await page.getByTestId('client-secret').textContent())!.length).toBeGreaterThan(20);
    expect((await server.tessera.services.clients.list()).find((c) => c.name === 'Acme Books')?.id_token_signed_response_alg).toBe('ES256');
  });

  test('edit an app (lifetime override set, then cleared), then delete it', async () => {
    await page.getByRole('link', { name: /show the app/ }).click();
    await heading('Acme Books').waitFor();
    await page.getByRole('link', { name: 'Edit', exact: true }).click();
    await heading('Edit Acme Books').waitFor();
    await page.getByLabel('Description', { exact: true }).fill('Bookkeeping for small teams');
    await page.getByLabel('Post-logout redirect URI 1', { exact: true }).fill('https://books.example.com/bye');
    await page.getByLabel('Access token lifetime (seconds)').fill('600');
    await page.getByRole('button', { name: 'Save changes' }).click();
    await heading('Acme Books').waitFor();
    await page.getByText('Bookkeeping for small teams').waitFor();
    expect(await page.locator('.facts').textContent()).toContain('Access 10 min');
    const id = (await server.tessera.services.clients.list()).find((c) => c.name === 'Acme Books')!.client_id;
    // Editing keeps the ES256 choice made at registration.
    expect(await page.locator('.facts').textContent()).toContain('ID token signatureES256');
    expect(await server.tessera.services.clients.show(id)).toMatchObject({ access_token_ttl: 600, post_logout_redirect_uris: ['https://books.example.com/bye'], id_token_signed_response_alg: 'ES256' });

    await page.getByRole('link', { name: 'Edit', exact: true }).click();
    await heading('Edit Acme Books').waitFor();
    await page.getByLabel('Access token lifetime (seconds)').fill('');
    await page.getByRole('button', { name: 'Save changes' }).click();
    await heading('Acme Books').waitFor();
    await expect.poll(() => page.locator('.facts').textContent()).toContain('Access default');

    await page.getByRole('button', { name: 'Delete' }).click();
    await page.getByRole('dialog').getByRole('button', { name: 'Delete app' }).click();
    await heading('Registered apps').waitFor();
    await expect.poll(() => page.getByRole('link', { name: 'Acme Books' }).count()).toBe(0);
    expect((await server.tessera.services.clients.list()).some((c) => c.name === 'Acme Books')).toBe(false);
  });

  test('register an API with a route: the detail shows resources × methods → scopes', async () => {
    await page.getByRole('link', { name: 'APIs', exact: true }).click();
    await heading('APIs').waitFor();
    await page.getByRole('link', { name: 'Register API' }).click();
    await heading('Register API').waitFor();
    await page.getByLabel('Name', { exact: true }).fill('Accounts');
    await page.getByLabel('Base path').fill('/0/accounts');
    await page.getByLabel('Upstream', { exact: true }).fill('http://127.0.0.1:9/odata');
    await page.getByLabel('Scope 1 name').fill('accounts.read');
    await page.getByLabel('Scope 1 description').fill('Read your accounts');
    await page.getByRole('button', { name: '+ Add a route' }).click();
    await page.getByLabel('Route 1 path').fill('/accounts/{id}');
    await page.getByRole('group', { name: 'Route 1 methods' }).getByLabel('HEAD').check();
    await shot('register-api-1280');
    await page.getByRole('button', { name: 'Register API' }).click();
    await heading('Accounts').waitFor();
    const matrix = page.locator('table.matrix');
    expect(await matrix.locator('thead').textContent()).toBe('ResourceGETHEAD');
    expect(await matrix.locator('tbody tr').first().textContent()).toBe('/accounts/{id}accounts.readaccounts.read');
    await shot('api-detail-1280');
    expect((await server.tessera.services.apis.show('Accounts')).routes).toEqual([{ methods: ['GET', 'HEAD'], path: '/accounts/{id}', scopes: ['accounts.read'] }]);
  });

  test('users: create one, see a field error beside the field, disable the user, delete another', async () => {
    await page.getByRole('link', { name: 'Users', exact: true }).click();
    await heading('Users').waitFor();
    const create = async (username: string, language?: string) => {
      await page.getByRole('button', { name: 'New user' }).click();
      await page.getByLabel('Username').fill(username);
      await page.getByLabel('Password').fill(PASSWORD);
      await page.getByLabel('Name', { exact: true }).fill('Bea Bookkeeper');
      if (language) await page.getByLabel('Language').selectOption({ label: language });
      await page.getByRole('button', { name: 'Create user' }).click();
    };
    await create('bea', 'German (de)');
    await heading('bea').waitFor();
    expect(await page.getByLabel(/^developer/).isChecked()).toBe(true);
    // The language mail to her is written in: set at creation, shown and changed on her page.
    expect((await server.tessera.services.users.find('bea')).locale).toBe('de');
    expect(await page.getByLabel('Language').inputValue()).toBe('de');
    await page.getByLabel('Language').selectOption('fr');
    await page.getByRole('button', { name: 'Save changes' }).click();
    await page.getByRole('status').filter({ hasText: 'Saved' }).waitFor();
    expect((await server.tessera.services.users.find('bea')).locale).toBe('fr');
    await page.getByRole('link', { name: '← Users' }).click();
    await create('bea');
    // The API's 409 names the field; the console shows it beside the field.
    await page.locator('.field--invalid .field-error').waitFor();
    expect(await page.locator('.field--invalid label').textContent()).toBe('Username');
    expect(await page.locator('.field--invalid .field-error').textContent()).toContain('bea');
    expectedNetworkErrors.push(409);
    await shot('user-conflict-1280');
    await page.getByRole('button', { name: 'Cancel' }).click();
    await page.getByRole('link', { name: 'bea', exact: true }).click();
    await heading('bea').waitFor();
    await page.getByRole('button', { name: 'Disable' }).click();
    const dialog = page.getByRole('dialog');
    expect(await dialog.textContent()).toContain('every token issued for them stops working');
    await dialog.getByRole('button', { name: 'Disable user' }).click();
    await page.getByText('This user is disabled and cannot sign in.').waitFor();
    expect((await server.tessera.services.users.show('bea')).disabled).toBe(true);

    await page.getByRole('link', { name: '← Users' }).click();
    await create('cal');
    await heading('cal').waitFor();
    await page.getByRole('button', { name: 'Delete', exact: true }).click();
    const confirm = page.getByRole('dialog');
    expect(await confirm.textContent()).toContain('cannot be undone');
    await confirm.getByRole('button', { name: 'Delete user' }).click();
    await heading('Users').waitFor();
    await page.getByRole('link', { name: 'bea', exact: true }).waitFor();
    expect(await page.getByRole('link', { name: 'cal', exact: true }).count()).toBe(0);
    await expect(server.tessera.services.users.show('cal')).rejects.toMatchObject({ status: 404 });
  });

  test('a user’s page shows their sign-in throttling; Unlock sign-in clears it (audited)', async () => {
    // Six wrong passwords for dev from one browser: its counter now makes it wait.
    const ua = new UserAgent(server.url);
    const fields = hiddenFields(await (await ua.get('/login')).text());
    for (let i = 0; i < 6; i++) expect((await ua.post('/login', { ...fields, username: 'dev', password: 'wrong password!' })).status).toBe(401);
    await page.goto(`${server.url}/admin/users/dev`);
    await page.getByRole('heading', { name: 'Sign-in throttling' }).waitFor();
    const panel = page.locator('section.panel', { has: page.getByRole('heading', { name: 'Sign-in throttling' }) });
    await expect.poll(() => panel.locator('table').count()).toBe(1);
    const text = await panel.locator('table').textContent();
    expect(text).toContain('Sign-ins from one address (127.0.0.1)');
    expect(text).toContain('Sign-ins from every other browser');
    await shot('user-throttled-1280');
    await panel.getByRole('button', { name: 'Unlock sign-in' }).click();
    await panel.getByText('Cleared 2 counters: every browser can try again at once.').waitFor();
    await panel.getByText('No failed sign-ins are being counted.').waitFor();
    const dev = await server.tessera.services.users.show('dev');
    const [entry] = (await server.tessera.services.audit.list({ action: 'user.unlock', targetId: dev.id })).items;
    expect(entry).toMatchObject({ actor: expect.stringContaining('user:ops-admin'), details: { cleared: 2 } });
    expect((await ua.post('/login', { ...fields, username: 'dev', password: PASSWORD })).status).toBe(200);
  });

  test('roles and permissions: create a permission and a role that grants it', async () => {
    await page.getByRole('link', { name: 'Roles & permissions', exact: true }).click();
    await heading('Roles & permissions').waitFor();
    await page.getByLabel('Permission name').fill('reports');
    await page.getByLabel('Permission description').fill('Read the reports');
    await page.getByRole('button', { name: 'Create permission' }).click();
    await page.getByText('Read the reports').waitFor();
    await page.getByLabel('Role name').fill('auditor');
    await page.getByRole('button', { name: 'Create role' }).click();
    const permissions = page.getByRole('list', { name: 'Permissions of auditor' });
    await permissions.getByLabel('reports').check();
    await page.getByRole('button', { name: 'Save auditor' }).click();
    await expect.poll(async () => (await server.tessera.services.roles.show('auditor')).permissions).toEqual(['reports']);
    await page.getByRole('button', { name: 'Save auditor' }).waitFor({ state: 'detached' });
  });

  test('settings, keys and the audit log: save a lifetime, rotate keys, filter and page events', async () => {
    await page.getByRole('link', { name: 'Settings', exact: true }).click();
    await heading('Settings').waitFor();
    await page.getByLabel('Access token lifetime (seconds)').fill('900');
    await page.getByRole('button', { name: 'Save settings' }).click();
    await page.getByText('60 – 604800 seconds. Now 15 min.').waitFor();
    expect((await server.tessera.services.settings.view()).access_token_ttl).toBe(900);

    await page.getByRole('link', { name: 'Signing keys', exact: true }).click();
    await heading('Signing keys').waitFor();
    await page.locator('table.table').waitFor();
    const before = await page.locator('table.table tbody tr').count();
    await page.getByRole('button', { name: 'Rotate keys' }).click();
    await page.getByRole('dialog').getByRole('button', { name: 'Rotate keys' }).click();
    await page.getByText('New signing keys are active.').waitFor();
    await expect.poll(() => page.locator('table.table tbody tr').count()).toBeGreaterThan(before);
    expect(await page.locator('table.table tbody').textContent()).toContain('published');

    // More events than one page holds (50): "Older events" follows the cursor.
    for (let i = 0; i < 55; i++) {
      await server.tessera.services.audit.record({ action: 'permission.create', targetId: `noise-${i}`, details: {} }, operator('robot'));
    }
    await page.getByRole('link', { name: 'Audit log', exact: true }).click();
    await heading('Audit log').waitFor();
    await page.getByLabel('Actor').fill('cli:robot');
    await page.getByRole('button', { name: 'Filter' }).click();
    await page.getByRole('button', { name: 'Older events' }).waitFor();
    expect(await page.locator('table.audit tbody tr').count()).toBe(50);
    await page.getByRole('button', { name: 'Older events' }).click();
    await expect.poll(() => page.locator('table.audit tbody tr').count()).toBe(55);
    expect(await page.getByRole('button', { name: 'Older events' }).count()).toBe(0);
    expect(await page.locator('table.audit tbody').textContent()).not.toContain('user:ops-admin');
  });

  test('identity providers: register one (the redirect URI to copy), test it, disable it, delete it', async () => {
    // The upstream listens on http://127.0.0.1: allowed by the development policy only.
    const upstream = await startTestUpstream('oidc');
    await server.tessera.services.settings.update({ redirect_uri_policy: 'development' }, SYSTEM);
    try {
      await page.getByRole('link', { name: 'Identity providers', exact: true }).click();
      await heading('Identity providers').waitFor();
      await page.getByLabel('Name', { exact: true }).fill('Acme SSO');
      await page.getByLabel('Slug').fill('acme');
      expect(await page.locator('form').textContent()).toContain(`${server.url}/login/providers/acme/callback`);
      await page.getByLabel('Issuer').fill(upstream.issuer);
      await page.getByLabel('Client ID').fill(upstream.clientId);
      await page.getByLabel('Client secret').fill(upstream.clientSecret);
      await page.getByRole('button', { name: 'Register provider' }).click();
      await expect.poll(() => page.getByTestId('provider-redirect-uri').textContent()).toBe(`${server.url}/login/providers/acme/callback`);
      await shot('provider-registered-1280');
      await page.getByRole('button', { name: 'Test Acme SSO' }).click();
      await expect.poll(() => page.getByRole('status').first().textContent()).toContain('checks out');
      await page.getByRole('button', { name: 'Disable Acme SSO' }).click();
      await page.getByRole('button', { name: 'Enable Acme SSO' }).waitFor();
      expect((await server.tessera.services.providers.show('acme')).enabled).toBe(false);

      // A user's link to the provider (as a sign-in through it leaves one): shown, and removable.
      const dev = await server.tessera.services.users.show('dev');
      const provider = await new KyselyProviderStore(server.tessera.database.db).findBySlug('acme');
      await new KyselyLinkStore(server.tessera.database.db).insert({ providerId: provider!.id, subject: 'sub-dev', userId: dev.id, email: 'dev@acme.example', createdAt: 1_760_000_000, lastSignInAt: 1_760_000_000 });
      await page.goto(`${server.url}/admin/users/dev`);
      await heading('dev').waitFor();
      await page.getByText('dev@acme.example').waitFor();
      await page.getByRole('button', { name: 'Remove the link to Acme SSO' }).click();
      await page.getByText('This user does not sign in through an identity provider.').waitFor();
      expect(await server.tessera.services.links.list('dev')).toEqual([]);
      await page.goto(`${server.url}/admin/providers`);
      await heading('Identity providers').waitFor();
      await page.getByRole('button', { name: 'Delete Acme SSO' }).click();
      await page.getByRole('dialog').getByRole('button', { name: 'Delete' }).click();
      await expect.poll(() => page.getByRole('list', { name: 'Identity providers' }).count()).toBe(0);
      expect(await server.tessera.services.providers.list()).toEqual([]);
    } finally {
      await server.tessera.services.settings.update({ redirect_uri_policy: 'strict' }, SYSTEM);
      await upstream.close();
    }
  });

  const PAGES: Array<[string, string]> = [
    ['/admin/apps', 'Registered apps'],
    ['/admin/users', 'Users'],
    ['/admin/users/ops-admin', 'ops-admin'],
    ['/admin/roles', 'Roles & permissions'],
    ['/admin/apis', 'APIs'],
    ['/admin/apis/new', 'Register API'],
    ['/admin/providers', 'Identity providers'],
    ['/admin/settings', 'Settings'],
    ['/admin/keys', 'Signing keys'],
    ['/admin/audit', 'Audit log'],
  ];

  /** Ten pages, each loaded, measured and photographed: a minute and more on a busy 2-core box. */
  const PAGES_TIMEOUT = 120_000;

  test('every page loads at 1280 px without errors', async () => {
    for (const [path, title] of PAGES) {
      await page.goto(`${server.url}${path}`);
      await heading(title).waitFor();
      await expect.poll(() => page.locator('[role=status].loading').count(), { message: `loading on ${path}` }).toBe(0);
      await noHorizontalScroll();
      await shot(`${path.slice(7).replaceAll('/', '-')}-1280`);
    }
    // The admin's own session, as the user page lists it.
    await page.goto(`${server.url}/admin/users/ops-admin`);
    await page.getByRole('heading', { name: 'Sessions' }).waitFor();
    await expect.poll(() => page.locator('table.table').first().textContent()).toContain('127.0.0.1');
    expect(await page.locator('table.table').first().textContent()).toContain('Last seen');
    // The audit log recorded the console's changes, with the admin as actor.
    await page.goto(`${server.url}/admin/audit`);
    await page.getByLabel('Action').fill('app.secret_regenerate');
    await page.getByRole('button', { name: 'Filter' }).click();
    await expect.poll(() => page.locator('table.audit tbody tr').count()).toBe(1);
    expect(await page.locator('table.audit tbody').textContent()).toContain('user:ops-admin');
  }, PAGES_TIMEOUT);

  test('usable on a phone (390 px): no horizontal scroll, menu reaches every page', async () => {
    await page.setViewportSize({ width: 390, height: 844 });
    for (const [path, title] of [...PAGES, ['/admin/apps/new', 'Register app'] as [string, string]]) {
      await page.goto(`${server.url}${path}`);
      await heading(title).waitFor();
      await expect.poll(() => page.locator('[role=status].loading').count(), { message: `loading on ${path}` }).toBe(0);
      await noHorizontalScroll();
      await shot(`${path.slice(7).replaceAll('/', '-')}-390`);
    }
    await page.goto(`${server.url}/admin/apps`);
    await heading('Registered apps').waitFor();
    await page.getByRole('link', { name: 'Nightly ledger export' }).click();
    await heading('Nightly ledger export').waitFor();
    await noHorizontalScroll();
    await shot('app-detail-390');
    await page.getByRole('button', { name: 'Menu' }).click();
    await shot('menu-390');
    await page.getByRole('link', { name: 'Users' }).click();
    await heading('Users').waitFor();
    await page.setViewportSize({ width: 1280, height: 860 });
  }, PAGES_TIMEOUT);

  test('sign out ends the Tessera session and returns to the console', async () => {
    await page.getByRole('button', { name: 'Sign out' }).click();
    await heading('Tessera console').waitFor();
    expect(new URL(page.url()).pathname).toBe('/admin/');
    expect(await page.evaluate(() => sessionStorage.getItem('tessera.console.tokens'))).toBeNull();
    expect((await context.cookies(server.url)).some((c) => c.name === 'tessera_session')).toBe(false);
  });

  test('an account without the admin role is refused, with the reason, and may sign in as someone else', async () => {
    await page.getByRole('button', { name: 'Sign in', exact: true }).click();
    await page.waitForURL(/\/login\?/);
    await page.getByLabel('Username').fill('dev');
    await page.getByLabel('Password').fill(PASSWORD);
    await page.getByRole('button', { name: 'Sign in', exact: true }).click();
    await page.getByRole('alert').waitFor();
    expect(await page.getByRole('alert').textContent()).toContain('requires the admin role');
    expect(new URL(page.url()).pathname).toBe('/admin/');
    await shot('refused-1280');
    // Tessera still has dev's session: the console asks for the login page this time.
    await page.getByRole('button', { name: 'Sign in as someone else' }).click();
    await page.waitForURL(/\/login\?/);
  });

  test('no console errors or page errors in the whole run', () => {
    // Chromium logs every non-2xx fetch; the run provokes exactly the ones listed (an API
    // error the page shows), and nothing else may appear.
    const expected = expectedNetworkErrors.map((status) => expect.stringContaining(`console error: Failed to load resource: the server responded with a status of ${status}`));
    expect(problems).toEqual(expected);
  });
});
