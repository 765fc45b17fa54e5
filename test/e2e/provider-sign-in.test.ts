import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { SYSTEM } from '../../src/audit/actor.ts';
import { launchBrowser } from '../support/browser.ts';
import { startOidcUpstream, type OidcUpstream } from '../support/oidc-upstream.ts';
import { startRelyingParty, type RelyingParty, type RpResult } from '../support/relying-party.ts';
import { startTestServer, type TestServer } from '../support/server.ts';

/**
 * Sign-in through an upstream identity provider in Chromium (issue #11), with openid-client
 * as the app: node-oidc-provider with its own login and consent pages as the upstream, and
 * another Tessera as the upstream. The app ends up holding Tessera's ID token for the user
 * created just in time.
 */
const PASSWORD = 'correct horse battery staple';

describe('sign-in through identity providers in a real browser', () => {
  let server: TestServer;
  let upstreamTessera: TestServer;
  let oidcProvider: OidcUpstream;
  let rp: RelyingParty;
  let browser: Browser;

  beforeAll(async () => {
    const dev = { env: { TESSERA_REDIRECT_URI_POLICY: 'development' } };
    server = await startTestServer('sqlite', dev);
    upstreamTessera = await startTestServer('sqlite', dev);
    oidcProvider = await startOidcUpstream(`${server.url}/login/providers/acme/callback`);
    rp = await startRelyingParty(server.url);

    // The other Tessera: Tessera is an app there, and a user may sign in to it.
    const up = upstreamTessera.tessera.services;
    await up.users.create({ username: 'olga', password: PASSWORD, roles: ['developer'], email: 'olga@upstream.example', name: 'Olga Upstream' }, SYSTEM);
    const downstreamApp = await up.clients.create(
      { name: 'Downstream Tessera', grantTypes: ['authorization_code'], redirectUris: [`${server.url}/login/providers/upstream/callback`], scopes: ['openid', 'email', 'profile'] },
      SYSTEM,
    );

    const { services } = server.tessera;
    await services.providers.create({ slug: 'acme', name: 'Acme SSO', issuer: oidcProvider.issuer, clientId: oidcProvider.clientId, clientSecret: oidcProvider.clientSecret, defaultRoles: ['developer'] }, SYSTEM);
    await services.providers.create(
      { slug: 'upstream', name: 'Upstream Tessera', issuer: upstreamTessera.url, clientId: downstreamApp.client_id, clientSecret: downstreamApp.client_secret!, defaultRoles: ['developer'] },
      SYSTEM,
    );
    const app = await services.clients.create(
      { name: 'Acme Books', grantTypes: ['authorization_code'], redirectUris: [rp.redirectUri], postLogoutRedirectUris: [rp.postLogoutRedirectUri], scopes: ['openid', 'profile', 'email', 'offline_access'] },
      SYSTEM,
    );
    await rp.configure(app.client_id, app.client_secret!);
    browser = await launchBrowser();
  });
  afterAll(async () => {
    await browser?.close();
    await rp?.close();
    await oidcProvider?.close();
    await upstreamTessera?.close();
    await server?.close();
  });

  async function newPage(): Promise<Page> {
    const page = await (await browser.newContext()).newPage();
    page.setDefaultTimeout(10_000);
    return page;
  }

  async function landed(page: Page): Promise<RpResult> {
    await page.waitForURL((u) => u.href.startsWith(rp.redirectUri), { timeout: 10_000 });
    await page.locator('h1').waitFor();
    return rp.results.at(-1)!;
  }

  test('through node-oidc-provider’s own pages: the app holds Tessera’s ID token for the just-in-time user', async () => {
    const page = await newPage();
    await page.goto(`${rp.url}/start`);
    await page.waitForURL(/\/login\?/);
    await page.getByRole('link', { name: 'Continue with Acme SSO' }).click();
    // node-oidc-provider's development login and consent pages.
    await page.waitForURL((u) => u.href.startsWith(oidcProvider.issuer));
    await page.locator('input[name="login"]').fill('uma');
    await page.locator('input[name="password"]').fill('anything');
    await page.locator('button[type="submit"]').click();
    await page.getByRole('button', { name: 'Continue' }).click();
    // Back at Tessera: its own consent for the app.
    await page.waitForURL(/\/consent\?/);
    await page.getByRole('button', { name: 'Yes, Allow' }).click();
    const result = await landed(page);
    expect(result.error).toBeUndefined();
    expect(result.ok).toBe(true);
    const user = await server.tessera.services.users.show('uma');
    expect(user).toMatchObject({ email: 'uma@upstream.example', name: 'uma Upstream', roles: ['developer'] });
    expect(result.claims).toMatchObject({ iss: server.url, sub: user.id });
    await page.context().close();
  });

  test('Tessera as the upstream of another Tessera, end to end', async () => {
    const page = await newPage();
    await page.goto(`${rp.url}/start`);
    await page.waitForURL(/\/login\?/);
    await page.getByRole('link', { name: 'Continue with Upstream Tessera' }).click();
    // The upstream Tessera's login and consent pages.
    await page.waitForURL((u) => u.href.startsWith(`${upstreamTessera.url}/login`));
    await page.getByLabel('Username').fill('olga');
    await page.getByLabel('Password').fill(PASSWORD);
    await page.getByRole('button', { name: 'Sign in', exact: true }).click();
    await page.waitForURL((u) => u.href.startsWith(`${upstreamTessera.url}/consent`));
    expect(await page.textContent('h1')).toContain('Downstream Tessera');
    await page.getByRole('button', { name: 'Yes, Allow' }).click();
    // This Tessera's consent for the app.
    await page.waitForURL((u) => u.href.startsWith(`${server.url}/consent`));
    await page.getByRole('button', { name: 'Yes, Allow' }).click();
    const result = await landed(page);
    expect(result.ok).toBe(true);
    const olga = await server.tessera.services.users.show('olga');
    expect(olga).toMatchObject({ email: 'olga@upstream.example', name: 'Olga Upstream' });
    expect(result.claims).toMatchObject({ iss: server.url, sub: olga.id });
    const upstreamOlga = await upstreamTessera.tessera.services.users.show('olga');
    expect(olga.id).not.toBe(upstreamOlga.id);
    await page.context().close();
  });
});
