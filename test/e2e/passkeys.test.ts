import type { Browser, BrowserContext, CDPSession, Page, Request } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { SYSTEM } from '../../src/audit/actor.ts';
import { launchBrowser } from '../support/browser.ts';
import { startRelyingParty, type RelyingParty, type RpResult } from '../support/relying-party.ts';
import { startTestServer, type TestServer } from '../support/server.ts';

/**
 * Passkeys in a real Chromium with its virtual authenticator (the DevTools WebAuthn domain
 * through playwright-core): alice adds a passkey at /account/passkeys after her password,
 * signs in with it alone from the login page through an authorization-code flow to an ID
 * token whose `amr` says how (openid-client as the app), and the server refuses a replayed
 * assertion, a forged credential id and a removed passkey. WebAuthn needs a domain for its
 * rpID (not an IP address), so Tessera's issuer is http://localhost:<port> here.
 */
const PASSWORD = 'correct horse battery staple';

describe('passkeys in Chromium with a virtual authenticator', () => {
  let server: TestServer;
  let base: string;
  let rp: RelyingParty;
  let browser: Browser;
  let context: BrowserContext;
  let page: Page;
  let cdp: CDPSession;
  let authenticatorId: string;
  const problems: string[] = [];

  beforeAll(async () => {
    server = await startTestServer('sqlite', { env: { TESSERA_REDIRECT_URI_POLICY: 'development' } });
    base = server.url.replace('127.0.0.1', 'localhost');
    server.tessera.setIssuer(base);
    rp = await startRelyingParty(base);
    const { services } = server.tessera;
    await services.users.create({ username: 'alice', password: PASSWORD, roles: ['developer'], email: 'alice@example.com' }, SYSTEM);
    const app = await services.clients.create(
      { name: 'Acme Books', description: '', grantTypes: ['authorization_code'], redirectUris: [rp.redirectUri], postLogoutRedirectUris: [], scopes: ['openid', 'profile', 'email', 'offline_access'] },
      SYSTEM,
    );
    await rp.configure(app.client_id, app.client_secret!);
    browser = await launchBrowser();
    context = await browser.newContext();
    page = await context.newPage();
    page.setDefaultTimeout(10_000);
    // A CSP violation is a console error; failed loads are checked by their responses below.
    page.on('console', (m) => {
      if (m.type() === 'error' && !m.text().startsWith('Failed to load resource')) problems.push(`${m.type()}: ${m.text()}`);
    });
    page.on('response', (r) => {
      const expected = (r.status() === 401 && r.url().endsWith('/webauthn/authentication/verify')) || r.url().startsWith(`${rp.url}/favicon`);
      if (r.status() >= 400 && !expected) problems.push(`${r.status()} ${r.url()}`);
    });
    page.on('pageerror', (e) => problems.push(`pageerror: ${e.message}`));
    cdp = await context.newCDPSession(page);
    await cdp.send('WebAuthn.enable');
    ({ authenticatorId } = await cdp.send('WebAuthn.addVirtualAuthenticator', {
      options: { protocol: 'ctap2', transport: 'internal', hasResidentKey: true, hasUserVerification: true, isUserVerified: true, automaticPresenceSimulation: true },
    }));
  });
  afterAll(async () => {
    await browser?.close();
    await rp?.close();
    await server?.close();
  });

  async function landed(): Promise<RpResult> {
    await page.waitForURL((u) => u.href.startsWith(rp.redirectUri));
    await page.locator('h1').waitFor();
    return rp.results.at(-1)!;
  }

  async function signOut(): Promise<void> {
    await page.goto(`${base}/logout`);
    await page.getByRole('button', { name: 'Sign out' }).click();
    await page.getByRole('heading', { name: 'Signed out' }).waitFor();
  }

  /** The body of the next passkey sign-in the page posts. */
  function nextVerify(): Promise<Request> {
    return page.waitForRequest((r) => r.url() === `${base}/webauthn/authentication/verify` && r.method() === 'POST');
  }

  test('after her password, alice adds a passkey at /account/passkeys', async () => {
    await page.goto(`${base}/account/passkeys`);
    await page.waitForURL(/\/login\?/);
    await page.getByLabel('Username').fill('alice');
    await page.getByLabel('Password').fill(PASSWORD);
    await page.getByRole('button', { name: 'Sign in', exact: true }).click();
    await page.waitForURL(`${base}/account/passkeys`);
    expect(await page.textContent('main')).toContain('You have no passkeys yet.');
    // The page's CSP lets only this response's scripts run.
    const response = await page.request.get(`${base}/account/passkeys`);
    const csp = response.headers()['content-security-policy']!;
    expect(csp).toMatch(/script-src 'nonce-[A-Za-z0-9_-]{20,}'; connect-src 'self';/);
    expect(csp).toContain("default-src 'none'");
    // Other pages keep no script at all; the scripts themselves are cached for good under a content hash.
    expect((await page.request.get(`${base}/logout`)).headers()['content-security-policy']).not.toContain('script-src');
    const src = await page.locator('script').first().getAttribute('src');
    expect(src).toMatch(/^\/assets\/simplewebauthn-browser\.[0-9a-f]{16}\.js$/);
    expect((await page.request.get(`${base}${src}`)).headers()['cache-control']).toBe('public, max-age=31536000, immutable');
    await page.getByLabel('Name').fill('Work laptop');
    await page.getByRole('button', { name: 'Add a passkey' }).click();
    await page.waitForURL(`${base}/account/passkeys?done=added`);
    expect(await page.textContent('main')).toContain('Your passkey was added.');
    expect(await page.textContent('.rows')).toContain('Work laptop');
    await page.setViewportSize({ width: 390, height: 844 });
    expect(await page.evaluate<boolean>('document.documentElement.scrollWidth <= window.innerWidth')).toBe(true);
    await page.screenshot({ path: 'test-results/screenshots/account-passkeys-phone-390x844.png', fullPage: true });
    await page.setViewportSize({ width: 1280, height: 720 });
    // The Security page lists it and links here.
    await page.goto(`${base}/account/security`);
    expect(await page.textContent('main')).toContain('Work laptop');
    await page.getByRole('link', { name: 'Manage passkeys' }).click();
    await page.waitForURL(`${base}/account/passkeys`);
    const { credentials } = await cdp.send('WebAuthn.getCredentials', { authenticatorId });
    expect(credentials).toHaveLength(1);
    expect(credentials[0]!.isResidentCredential).toBe(true);
    const alice = await server.tessera.services.users.show('alice');
    const stored = await server.tessera.services.passkeys.list(alice.id);
    expect(stored.map((p) => [p.name, p.id])).toEqual([['Work laptop', credentials[0]!.credentialId.replace(/=+$/, '').replace(/\+/g, '-').replace(/\//g, '_')]]);
  });

  test('passwordless: "Sign in with a passkey" on the login page, through consent to an ID token with amr', async () => {
    await signOut();
    await page.goto(`${rp.url}/start`);
    await page.waitForURL(/\/login\?/);
    // Scripts are allowed on the login page only by nonce; other pages keep default-src 'none' alone.
    const verify = nextVerify();
    await page.getByRole('button', { name: 'Sign in with a passkey' }).click();
    expect((await (await verify).response())?.status()).toBe(200);
    await page.waitForURL(/\/consent\?/);
    await page.getByRole('button', { name: 'Yes, Allow' }).click();
    const result = await landed();
    expect(result.error).toBeUndefined();
    const alice = await server.tessera.services.users.show('alice');
    expect(result.claims?.sub).toBe(alice.id);
    // Chromium's internal authenticator: device-bound (not backup eligible) and user-verifying.
    expect(result.claims?.amr).toEqual(['hwk', 'mfa']);
    expect(result.claims?.acr).toBe('urn:tessera:acr:mfa');
  });

  test('a replayed assertion and a forged credential id are refused', async () => {
    await signOut();
    await page.goto(`${base}/login`);
    const verify = nextVerify();
    await page.getByRole('button', { name: 'Sign in with a passkey' }).click();
    const sent = await verify;
    await page.waitForURL(`${base}/account`);
    const body = JSON.parse(sent.postData()!) as { csrf: string; response: { id: string; rawId: string } };
    // The same assertion again, from the same browser (cookies and CSRF token included): its challenge is used up.
    const replay = await page.request.post(`${base}/webauthn/authentication/verify`, { data: body });
    expect(replay.status()).toBe(401);
    expect(await replay.json()).toMatchObject({ error: 'passkey_refused' });

    // A forged credential id in an otherwise fresh ceremony.
    await signOut();
    await page.goto(`${base}/login`);
    await page.route(`${base}/webauthn/authentication/verify`, async (route) => {
      const data = JSON.parse(route.request().postData()!) as { response: { id: string; rawId: string } };
      data.response.id = data.response.rawId = Buffer.from('forged credential').toString('base64url');
      await route.continue({ postData: JSON.stringify(data) });
    });
    await page.getByRole('button', { name: 'Sign in with a passkey' }).click();
    await expect.poll(() => page.locator('#passkey-error').textContent()).toContain('This passkey was not accepted');
    await page.unroute(`${base}/webauthn/authentication/verify`);
    expect(new URL(page.url()).pathname).toBe('/login');
    // The genuine one still works afterwards.
    await page.getByRole('button', { name: 'Sign in with a passkey' }).click();
    await page.waitForURL(`${base}/account`);
  });

  test('second factor: after her password alice is asked for a second step and passes it with her passkey', async () => {
    const alice = await server.tessera.services.users.show('alice');
    // The passkey is one of her factors (what the admin's factor list shows).
    const { factors } = await server.tessera.services.mfa.factorsOf(alice.id);
    expect(factors.map((f) => [f.type, f.name])).toEqual([['passkey', 'Work laptop']]);
    await signOut();
    await page.goto(`${rp.url}/start`);
    await page.waitForURL(/\/login\?/);
    await page.getByLabel('Username').fill('alice');
    await page.getByLabel('Password').fill(PASSWORD);
    await page.getByRole('button', { name: 'Sign in', exact: true }).click();
    await page.waitForURL(`${base}/login/second-factor`);
    const csp = (await page.request.get(`${base}/login/second-factor`)).headers()['content-security-policy']!;
    expect(csp).toMatch(/script-src 'nonce-/);
    // Her only factor is a passkey: no code is asked for.
    expect(await page.getByLabel('Code').count()).toBe(0);
    expect(await page.textContent('main')).toContain('Use your passkey to finish signing in.');
    await page.screenshot({ path: 'test-results/screenshots/second-factor-passkey.png' });
    await page.getByRole('button', { name: 'Use a passkey' }).click();
    // Consent was given before: straight back to the app.
    const result = await landed();
    expect(result.error).toBeUndefined();
    expect(result.claims?.sub).toBe(alice.id);
    expect(result.claims?.amr).toEqual(['pwd', 'hwk', 'mfa']);
    expect(result.claims?.acr).toBe('urn:tessera:acr:mfa');
    // The step was used: its passkey endpoint now refuses.
    const again = await page.request.post(`${base}/login/second-factor/passkey/options`, { data: { csrf: 'x' } });
    expect(again.status()).toBe(400);
  });

  test('rename and remove at /account/passkeys; a removed passkey no longer signs in', async () => {
    await page.goto(`${base}/account/passkeys`);
    await page.getByLabel('New name for Work laptop').fill('Old laptop');
    await page.getByRole('button', { name: 'Rename' }).click();
    await page.waitForURL(`${base}/account/passkeys?done=renamed`);
    expect(await page.textContent('.rows')).toContain('Old laptop');
    await page.getByRole('button', { name: 'Remove Old laptop' }).click();
    await page.waitForURL(`${base}/account/passkeys?done=removed`);
    expect(await page.textContent('main')).toContain('You have no passkeys yet.');
    const alice = await server.tessera.services.users.show('alice');
    const audit = await server.tessera.services.audit.list({ targetId: alice.id, limit: 50 } as never);
    const actions = JSON.stringify(audit);
    expect(actions).toContain('user.factor_add');
    expect(actions).toContain('user.factor_remove');

    await signOut();
    await page.goto(`${base}/login`);
    await page.getByRole('button', { name: 'Sign in with a passkey' }).click();
    await expect.poll(() => page.locator('#passkey-error').textContent()).toContain('This passkey was not accepted');
    expect(new URL(page.url()).pathname).toBe('/login');
    expect(problems).toEqual([]);
  });

  test("an admin's factor reset removes her passkeys: they no longer sign in", async () => {
    // Password only now (no factor left after the removal), then a new passkey.
    await page.goto(`${base}/account/passkeys`);
    await page.waitForURL(/\/login\?/);
    await page.getByLabel('Username').fill('alice');
    await page.getByLabel('Password').fill(PASSWORD);
    await page.getByRole('button', { name: 'Sign in', exact: true }).click();
    await page.waitForURL(`${base}/account/passkeys`);
    await page.getByLabel('Name').fill('Spare key');
    await page.getByRole('button', { name: 'Add a passkey' }).click();
    await page.waitForURL(`${base}/account/passkeys?done=added`);
    const alice = await server.tessera.services.users.show('alice');
    expect((await server.tessera.services.mfa.resetFactors(alice.id, SYSTEM)).types).toEqual(['passkey']);
    expect((await server.tessera.services.mfa.factorsOf(alice.id)).factors).toEqual([]);
    await signOut();
    await page.goto(`${base}/login`);
    await page.getByRole('button', { name: 'Sign in with a passkey' }).click();
    await expect.poll(() => page.locator('#passkey-error').textContent()).toContain('This passkey was not accepted');
    expect(problems).toEqual([]);
  });
});
