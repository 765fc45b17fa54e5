import { mkdirSync } from 'node:fs';
import type { Browser, BrowserContext, CDPSession, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { SYSTEM } from '../../src/audit/actor.ts';
import { SESSION_COOKIE } from '../../src/lib/cookie-names.ts';
import { launchBrowser } from '../support/browser.ts';
import { linkIn, Mailbox } from '../support/mailbox.ts';
import { startTestServer, type TestServer } from '../support/server.ts';

/**
 * An invitation accepted with a passkey instead of a password (issue 14: "The invitee sets a
 * password or a passkey through a single-use link"), in Chromium with its virtual
 * authenticator: the mailed link opens /invite, "Use a passkey instead" registers a passkey
 * for the account to be, the account is created then (no password, the invitation's roles,
 * the address verified) and the invitee is signed in; the link is used up; signed out, the
 * passkey alone signs in from the login page. WebAuthn needs a domain for its rpID, so the
 * issuer is http://localhost:<port>.
 */
const SHOTS = 'test-results/screenshots';

describe('an invitation accepted with a passkey (Chromium, virtual authenticator)', () => {
  let server: TestServer;
  let mailbox: Mailbox;
  let base: string;
  let browser: Browser;
  let context: BrowserContext;
  let page: Page;
  let cdp: CDPSession;
  let authenticatorId: string;
  let link: string;
  const problems: string[] = [];

  beforeAll(async () => {
    mkdirSync(SHOTS, { recursive: true });
    mailbox = await new Mailbox().start();
    server = await startTestServer('sqlite', { env: { TESSERA_SMTP_URL: mailbox.url, TESSERA_SMTP_FROM: 'id@example.test' } });
    base = server.url.replace('127.0.0.1', 'localhost');
    server.tessera.setIssuer(base);
    browser = await launchBrowser();
    context = await browser.newContext({ viewport: { width: 1280, height: 860 } });
    page = await context.newPage();
    page.setDefaultTimeout(10_000);
    page.on('console', (m) => {
      if (m.type() === 'error' && !m.text().startsWith('Failed to load resource')) problems.push(`${m.type()}: ${m.text()}`);
    });
    page.on('response', (r) => {
      // The used link's page answers 400 on purpose (checked below).
      if (r.status() >= 400 && !r.url().startsWith(`${base}/invite?token=`)) problems.push(`${r.status()} ${r.url()}`);
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
    await server?.close();
    await mailbox?.close();
  });

  test('the invitee creates the account with a passkey from the mailed link, and is signed in', async () => {
    await server.tessera.email.invitations.invite({ email: 'nina@example.test', roles: ['developer'] }, SYSTEM);
    link = linkIn(await mailbox.waitFor('nina@example.test', (m) => m.subject === 'You are invited to Tessera'), `${base}/invite?token=`);

    await page.goto(link);
    // Scripts run on this page by this response's nonce only.
    expect((await page.request.get(link)).headers()['content-security-policy']).toMatch(/script-src 'nonce-[A-Za-z0-9_-]{20,}'; connect-src 'self';/);
    await page.getByRole('button', { name: 'Use a passkey instead' }).waitFor();
    expect(await page.getByLabel('Username').inputValue()).toBe('nina');
    await page.screenshot({ path: `${SHOTS}/invite-passkey-1280.png`, fullPage: true });
    await page.setViewportSize({ width: 390, height: 844 });
    expect(await page.evaluate<boolean>('document.documentElement.scrollWidth <= window.innerWidth')).toBe(true);
    await page.screenshot({ path: `${SHOTS}/invite-passkey-390.png`, fullPage: true });
    await page.setViewportSize({ width: 1280, height: 860 });

    // A username someone has is refused before the authenticator is asked; nothing is used up.
    await server.tessera.services.users.create({ username: 'taken', password: 'correct horse battery staple', roles: [] }, SYSTEM);
    await page.getByLabel('Username').fill('taken');
    await page.getByRole('button', { name: 'Use a passkey instead' }).click();
    await expect.poll(() => page.locator('#passkey-error').textContent()).toContain('The username "taken" is taken; choose another.');
    expect((await cdp.send('WebAuthn.getCredentials', { authenticatorId })).credentials).toHaveLength(0);
    problems.splice(0, problems.length, ...problems.filter((p) => !p.startsWith(`409 ${base}/invite/passkey/options`)));

    await page.getByLabel('Username').fill('nina');
    await page.getByRole('button', { name: 'Use a passkey instead' }).click();
    await page.waitForURL(`${base}/account`);
    expect(await page.textContent('main')).toContain('nina');

    const { credentials } = await cdp.send('WebAuthn.getCredentials', { authenticatorId });
    expect(credentials).toHaveLength(1);
    expect(credentials[0]!.isResidentCredential).toBe(true);
    const nina = await server.tessera.services.users.find('nina');
    expect(nina).toMatchObject({ email: 'nina@example.test', emailVerified: true, passwordHash: null });
    // The credential's user handle is the account's id: passwordless sign-in finds the user by it.
    expect(Buffer.from(credentials[0]!.userHandle!, 'base64').toString()).toBe(nina.id);
    expect((await server.tessera.services.passkeys.list(nina.id)).map((p) => p.name)).toEqual(['Passkey 1']);
    expect((await server.tessera.services.users.show('nina')).roles).toEqual(['developer']);
    const session = await server.tessera.interactive.sessions.resolve((await context.cookies()).find((c) => c.name === SESSION_COOKIE)?.value);
    expect(session?.principal.user.id).toBe(nina.id);
    expect(session?.session.amr).toEqual(['hwk', 'mfa']);
    const trail = (await server.tessera.services.audit.list({ targetId: nina.id })).items.map((e) => [e.action, e.actor, e.details]);
    expect(trail).toEqual(
      expect.arrayContaining([
        ['user.create', 'user:nina', { username: 'nina', roles: ['developer'] }],
        ['user.factor_add', 'user:nina', { type: 'passkey', name: 'Passkey 1' }],
        ['user.invite_accept', 'user:nina', { email: 'nina@example.test', username: 'nina', with: 'passkey' }],
      ]),
    );
    expect(await server.tessera.email.invitations.list()).toEqual([]);
  });

  test('the link is used up: its page and its passkey endpoint refuse it', async () => {
    const again = await page.goto(link);
    expect(again?.status()).toBe(400);
    expect(await page.textContent('main')).toContain('This link does not work');
    // A valid CSRF token of the invitation page (another invitation's), with the used link's token.
    await server.tessera.email.invitations.invite({ email: 'otto@example.test', roles: [] }, SYSTEM);
    await page.goto(linkIn(await mailbox.waitFor('otto@example.test'), `${base}/invite?token=`));
    const csrf = await page.getByRole('button', { name: 'Use a passkey instead' }).getAttribute('data-csrf');
    const options = await page.request.post(`${base}/invite/passkey/options`, { data: { csrf, token: new URL(link).searchParams.get('token'), username: 'nina2' } });
    expect(options.status()).toBe(400);
    expect(await options.json()).toMatchObject({ error: 'invalid_link' });
    expect((await server.tessera.services.users.list()).map((u) => u.username)).not.toContain('nina2');
  });

  test('signed out, the passkey alone signs nina in from the login page', async () => {
    await page.goto(`${base}/logout`);
    await page.getByRole('button', { name: 'Sign out' }).click();
    await page.getByRole('heading', { name: 'Signed out' }).waitFor();
    await page.goto(`${base}/login`);
    await page.getByRole('button', { name: 'Sign in with a passkey' }).click();
    await page.waitForURL(`${base}/account`);
    const session = await server.tessera.interactive.sessions.resolve((await context.cookies()).find((c) => c.name === SESSION_COOKIE)?.value);
    expect(session?.principal.user.username).toBe('nina');
    expect(session?.session.amr).toEqual(['hwk', 'mfa']);
    expect(problems).toEqual([]);
  });

  test('an invitation in French, in an English browser: the page, the passkey’s name and the account are French', async () => {
    await page.goto(`${base}/logout`);
    await page.getByRole('button', { name: 'Sign out' }).click();
    await page.getByRole('heading', { name: 'Signed out' }).waitFor();
    await server.tessera.email.invitations.invite({ email: 'lucie@example.test', roles: [], locale: 'fr' }, SYSTEM);
    const mail = await mailbox.waitFor('lucie@example.test');
    expect(mail.subject).toBe('Vous êtes invité à Tessera');
    await page.goto(linkIn(mail, `${base}/invite?token=`));
    expect(await page.getAttribute('html', 'lang')).toBe('fr');
    await page.getByLabel('Nom d’utilisateur').fill('lucie');
    // The passkey endpoints are JSON: the button carries the link's language into them.
    await page.getByRole('button', { name: 'Utiliser une clé d’accès à la place' }).click();
    await page.waitForURL(`${base}/account`);
    const lucie = await server.tessera.services.users.find('lucie');
    expect(lucie.locale).toBe('fr');
    expect((await server.tessera.services.passkeys.list(lucie.id)).map((p) => p.name)).toEqual(['Clé d’accès 1']);
    expect(problems).toEqual([]);
  });
});
