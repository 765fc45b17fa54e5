import * as oidc from 'openid-client';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { launchBrowser } from '../support/browser.ts';
import { startRelyingParty, type RelyingParty, type RpResult } from '../support/relying-party.ts';
import { startTestServer, type TestServer } from '../support/server.ts';
import { SYSTEM } from '../../src/audit/actor.ts';

/**
 * The interactive flow end to end: Chromium (real pages, real form posts, real cookies)
 * between Tessera and an app built on openid-client, which checks state, iss, PKCE, the ID
 * token and its nonce on every response. The app runs on 127.0.0.1, so Tessera runs with the
 * development redirect-URI policy (RFC 8252 loopback).
 */
const PASSWORD = 'correct horse battery staple';

describe('sign-in in a real browser with openid-client as the app', () => {
  let server: TestServer;
  let rp: RelyingParty;
  let browser: Browser;

  beforeAll(async () => {
    server = await startTestServer('sqlite', { env: { TESSERA_REDIRECT_URI_POLICY: 'development' } });
    rp = await startRelyingParty(server.url);
    const { services } = server.tessera;
    await services.users.create({ username: 'alice', password: PASSWORD, roles: ['developer'], email: 'alice@example.com', name: 'Alice Liddell' }, SYSTEM);
    await services.users.create({ username: 'bob', password: PASSWORD, roles: ['developer'] }, SYSTEM);
    await services.users.create({ username: 'carol', password: PASSWORD, roles: ['developer'] }, SYSTEM);
    await services.users.create({ username: 'mallory', password: PASSWORD, roles: [] }, SYSTEM);
    const app = await services.clients.create({
      name: 'Acme Books',
      description: 'Bookkeeping for small teams',
      grantTypes: ['authorization_code'],
      redirectUris: [rp.redirectUri],
      postLogoutRedirectUris: [rp.postLogoutRedirectUri],
      scopes: ['openid', 'profile', 'email', 'offline_access'],
    }, SYSTEM);
    await rp.configure(app.client_id, app.client_secret!);
    browser = await launchBrowser();
  });
  afterAll(async () => {
    await browser?.close();
    await rp?.close();
    await server?.close();
  });

  async function newPage(context?: BrowserContext): Promise<Page> {
    const ctx = context ?? (await browser.newContext());
    const page = await ctx.newPage();
    // Fail fast and clearly rather than at the test timeout.
    page.setDefaultTimeout(10_000);
    return page;
  }

  /** The app's latest authorization response, once the browser has landed on its callback. */
  async function landed(page: Page): Promise<RpResult> {
    await page.waitForURL((u) => u.href.startsWith(rp.redirectUri), { timeout: 10_000 });
    await page.locator('h1').waitFor();
    return rp.results.at(-1)!;
  }

  async function signIn(page: Page, username: string): Promise<void> {
    await page.waitForURL(/\/login(\?|$)/);
    await page.getByLabel('Username').fill(username);
    await page.getByLabel('Password').fill(PASSWORD);
    await page.getByRole('button', { name: 'Sign in', exact: true }).click();
  }

  // One browser context for alice: her session carries across these tests, in order.
  let alice: BrowserContext;

  test('full flow: login, consent, callback validated by openid-client (PKCE, state, nonce, iss)', async () => {
    alice = await browser.newContext();
    const page = await newPage(alice);
    await page.goto(`${rp.url}/start`);
    await expect.poll(() => page.title()).toContain('Sign in');
    expect(await page.textContent('main')).toContain('Acme Books');
    await signIn(page, 'alice');
    await page.waitForURL(/\/consent\?/);
    expect(await page.textContent('h1')).toContain('Acme Books');
    expect(await page.textContent('main')).toContain('Bookkeeping for small teams');
    expect(await page.locator('.scopes li').count()).toBe(4);
    await page.getByRole('button', { name: 'Yes, Allow' }).click();
    const result = await landed(page);
    expect(result.error).toBeUndefined();
    expect(result.ok).toBe(true);
    const alice_ = await server.tessera.services.users.show('alice');
    expect(result.claims?.sub).toBe(alice_.id);
    expect(result.claims?.sid).toBeTruthy();
    expect(result.tokens?.refresh_token).toBeTruthy();
    expect(new URL(result.callbackUrl).searchParams.get('iss')).toBe(server.url);
    const info = await oidc.fetchUserInfo(rp.config(), result.tokens!.access_token, alice_.id);
    expect(info).toMatchObject({ email: 'alice@example.com', name: 'Alice Liddell', preferred_username: 'alice' });
    // The session cookie as the browser stored it.
    const cookie = (await alice.cookies(server.url)).find((c) => c.name === 'tessera_session')!;
    expect(cookie.httpOnly).toBe(true);
    expect(cookie.sameSite).toBe('Lax');
    await page.close();
  });

  test('remembered consent: the second sign-in goes straight back to the app', async () => {
    const page = await newPage(alice);
    await page.goto(`${rp.url}/start`);
    const result = await landed(page);
    expect(result.ok).toBe(true);
    await page.close();
  });

  test('prompt=none with a session returns a code silently', async () => {
    const page = await newPage(alice);
    await page.goto(`${rp.url}/start?prompt=none`);
    expect((await landed(page)).ok).toBe(true);
    await page.close();
  });

  test('refresh rotation and reuse detection through openid-client', async () => {
    const first = rp.results.at(-1)!.tokens!;
    const rotated = await oidc.refreshTokenGrant(rp.config(), first.refresh_token!);
    expect(rotated.refresh_token).toBeTruthy();
    expect(rotated.refresh_token).not.toBe(first.refresh_token);
    // The old token again: refused, and the whole family with it.
    await expect(oidc.refreshTokenGrant(rp.config(), first.refresh_token!)).rejects.toMatchObject({ error: 'invalid_grant' });
    await expect(oidc.refreshTokenGrant(rp.config(), rotated.refresh_token!)).rejects.toMatchObject({ error: 'invalid_grant' });
  });

  test('code replay: a second exchange fails and the first tokens are revoked', async () => {
    const page = await newPage(alice);
    await page.goto(`${rp.url}/start`);
    const result = await landed(page);
    expect(result.ok).toBe(true);
    const code = new URL(result.callbackUrl).searchParams.get('code')!;
    const replay = await fetch(`${server.url}/connect/token`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded', authorization: `Basic ${btoa(`${rp.config().clientMetadata().client_id}:${rp.config().clientMetadata().client_secret}`)}` },
      body: new URLSearchParams({ grant_type: 'authorization_code', code, redirect_uri: rp.redirectUri }),
    });
    expect(replay.status).toBe(400);
    expect(((await replay.json()) as { error: string }).error).toBe('invalid_grant');
    const introspected = await oidc.tokenIntrospection(rp.config(), result.tokens!.access_token);
    expect(introspected.active).toBe(false);
    await page.close();
  });

  test('logout with post-logout redirect; prompt=none then answers login_required', async () => {
    const page = await newPage(alice);
    await page.goto(`${rp.url}/logout`);
    await page.waitForURL((u) => u.href.startsWith(rp.postLogoutRedirectUri));
    expect(rp.signedOut.at(-1)).toBe('bye');
    expect((await alice.cookies(server.url)).some((c) => c.name === 'tessera_session')).toBe(false);
    await page.goto(`${rp.url}/start?prompt=none`);
    const result = await landed(page);
    expect(result.ok).toBe(false);
    expect(result.error?.error).toBe('login_required');
    await page.close();
  });

  test('logout without id_token_hint asks the user to confirm', async () => {
    const ctx = await browser.newContext();
    const page = await newPage(ctx);
    await page.goto(`${rp.url}/start`);
    await signIn(page, 'bob');
    await page.getByRole('button', { name: 'Yes, Allow' }).click();
    expect((await landed(page)).ok).toBe(true);
    await page.goto(`${rp.url}/logout?hint=no`);
    await page.waitForURL(/\/logout/);
    expect(await page.textContent('h1')).toContain('Sign out?');
    await page.getByRole('button', { name: 'Sign out' }).click();
    await page.waitForURL((u) => u.href.startsWith(rp.postLogoutRedirectUri));
    await page.goto(`${rp.url}/start?prompt=none`);
    expect((await landed(page)).error?.error).toBe('login_required');
    await ctx.close();
  });

  test('prompt=none without a session: login_required', async () => {
    const ctx = await browser.newContext();
    const page = await newPage(ctx);
    await page.goto(`${rp.url}/start?prompt=none`);
    const result = await landed(page);
    expect(result.error?.error).toBe('login_required');
    await ctx.close();
  });

  test('deny: the app receives access_denied', async () => {
    const ctx = await browser.newContext();
    const page = await newPage(ctx);
    await page.goto(`${rp.url}/start?scope=openid%20email`);
    await signIn(page, 'carol');
    await page.waitForURL(/\/consent\?/);
    await page.getByRole('button', { name: 'Deny' }).click();
    const result = await landed(page);
    expect(result.error?.error).toBe('access_denied');
    await ctx.close();
  });

  test('permission gate: a user without developer_api gets access_denied saying why', async () => {
    const ctx = await browser.newContext();
    const page = await newPage(ctx);
    await page.goto(`${rp.url}/start`);
    await signIn(page, 'mallory');
    const result = await landed(page);
    expect(result.error?.error).toBe('access_denied');
    expect(result.error?.description).toContain('developer_api');
    await ctx.close();
  });

  test('wrong password shows one generic message on the page', async () => {
    const ctx = await browser.newContext();
    const page = await newPage(ctx);
    await page.goto(`${rp.url}/start`);
    await page.waitForURL(/\/login\?/);
    await page.getByLabel('Username').fill('alice');
    await page.getByLabel('Password').fill('not the password');
    await page.getByRole('button', { name: 'Sign in', exact: true }).click();
    await expect.poll(() => page.locator('[role=alert]').textContent()).toBe('Wrong username or password.');
    // The return target survives the failed attempt: signing in now continues the flow.
    await signIn(page, 'alice');
    expect((await landed(page)).ok).toBe(true);
    await ctx.close();
  });
});
