import { decodeJwt } from 'jose';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { SYSTEM, visitor } from '../../src/audit/actor.ts';
import { DEVICE_COOKIE } from '../../src/lib/cookie-names.ts';
import { DIALECTS } from '../support/databases.ts';
import { linkIn, Mailbox } from '../support/mailbox.ts';
import { basic, postForm, startTestServer, type TestServer } from '../support/server.ts';
import { hiddenFields, location, UserAgent } from '../support/user-agent.ts';

/**
 * Email verification and security notices (issue 14) over HTTP with a real SMTP server: a
 * link when an address is set or changed; `email_verified` in ID tokens and userinfo is what
 * the user proved; the `require_verified_email` policy stops authorization with a page that
 * can resend the link; notices go to verified addresses after a reset, a new device sign-in.
 */
const PASSWORD = 'correct horse battery staple';
const REDIRECT = 'https://app.example.com/callback';
const API = '/admin/api/v1';

describe.each(DIALECTS)('email verification and notices (%s)', (dialect) => {
  let server: TestServer;
  let mailbox: Mailbox;
  let app: { id: string; secret: string };
  let admin: string;

  beforeAll(async () => {
    mailbox = await new Mailbox().start();
    server = await startTestServer(dialect, { env: { TESSERA_SMTP_URL: mailbox.url, TESSERA_SMTP_FROM: 'id@example.test' } });
    const { services } = server.tessera;
    await services.users.create({ username: 'ops', password: PASSWORD, roles: ['admin'] }, SYSTEM);
    const ops = await services.clients.create({ name: 'ops', grantTypes: ['client_credentials'], onBehalfOf: 'ops', scopes: ['tessera.admin'] }, SYSTEM);
    admin = ((await (await postForm(`${server.url}/connect/token`, { grant_type: 'client_credentials', scope: 'tessera.admin' }, { authorization: basic(ops.client_id, ops.client_secret!) })).json()) as { access_token: string }).access_token;
    const a = await services.clients.create({ name: 'Verified app', grantTypes: ['authorization_code'], redirectUris: [REDIRECT], scopes: ['openid', 'email'] }, SYSTEM);
    app = { id: a.client_id, secret: a.client_secret! };
  });
  afterAll(async () => {
    await server?.close();
    await mailbox?.close();
  });

  const adminApi = async (method: string, path: string, body?: unknown) => {
    const res = await fetch(`${server.url}${API}${path}`, { method, headers: { authorization: `Bearer ${admin}`, ...(body ? { 'content-type': 'application/json' } : {}) }, body: body ? JSON.stringify(body) : undefined });
    return { status: res.status, body: (await res.json().catch(() => undefined)) as any };
  };
  const authorizeUrl = () => `/connect/authorize?${new URLSearchParams({ client_id: app.id, response_type: 'code', redirect_uri: REDIRECT, scope: 'openid email', state: 's1' })}`;

  async function signedIn(username: string, ua = new UserAgent(server.url)): Promise<UserAgent> {
    const fields = hiddenFields(await (await ua.get(`/login?${new URLSearchParams({ return_to: authorizeUrl() })}`)).text());
    expect((await ua.post('/login', { ...fields, username, password: PASSWORD })).status).toBe(303);
    return ua;
  }

  /** Authorizes the app (consenting when asked) and returns the tokens. */
  async function tokensFor(ua: UserAgent): Promise<{ id_token: string; access_token: string }> {
    let res = await ua.get(authorizeUrl());
    if (location(res).startsWith('/consent')) res = await ua.post('/consent', { ...hiddenFields(await (await ua.get(location(res))).text()), decision: 'allow' });
    const code = new URL(location(res)).searchParams.get('code')!;
    const tokenRes = await postForm(`${server.url}/connect/token`, { grant_type: 'authorization_code', code, redirect_uri: REDIRECT }, { authorization: basic(app.id, app.secret) });
    return (await tokenRes.json()) as { id_token: string; access_token: string };
  }

  test('an admin sets an address: a link goes to it; following it makes email_verified true in the ID token and userinfo', async () => {
    const created = await adminApi('POST', '/users', { username: 'vera', password: PASSWORD, email: 'vera@example.test', roles: ['developer'] });
    expect(created.status).toBe(201);
    expect(created.body.email_verified).toBe(false);
    const before = await tokensFor(await signedIn('vera'));
    expect(decodeJwt(before.id_token).email_verified).toBe(false);

    const mail = await mailbox.waitFor('vera@example.test', (m) => m.subject === 'Confirm your email address');
    const link = linkIn(mail, `${server.url}/verify-email?token=`);
    const ua = new UserAgent(server.url);
    const page = await ua.get(link.slice(server.url.length));
    expect(page.status).toBe(200);
    const form = hiddenFields(await page.text());
    // Fetching the link (a mail scanner) does not use it: only the button does.
    expect((await ua.get(link.slice(server.url.length))).status).toBe(200);
    const done = await ua.post('/verify-email', form);
    expect(done.status).toBe(200);
    expect(await done.text()).toContain('vera@example.test is confirmed');
    expect((await adminApi('GET', '/users/vera')).body.email_verified).toBe(true);
    const after = await tokensFor(await signedIn('vera'));
    expect(decodeJwt(after.id_token).email_verified).toBe(true);
    const userinfo = (await (await fetch(`${server.url}/connect/userinfo`, { headers: { authorization: `Bearer ${after.access_token}` } })).json()) as Record<string, unknown>;
    expect(userinfo).toMatchObject({ email: 'vera@example.test', email_verified: true });
    const audit = await server.tessera.services.audit.list({ action: 'user.email_verify' });
    expect(audit.items.map((e) => [e.actor, e.details])).toEqual([['user:vera', { email: 'vera@example.test' }]]);

    // Used once.
    expect((await ua.post('/verify-email', form)).status).toBe(400);
    // A changed address is unverified again, and gets its own link.
    expect((await adminApi('PATCH', '/users/vera', { email: 'vera.new@example.test' })).body.email_verified).toBe(false);
    await mailbox.waitFor('vera.new@example.test');
  });

  test('a forged token, and a link to an address the user no longer has, are refused', async () => {
    expect((await new UserAgent(server.url).get('/verify-email?token=forged')).status).toBe(400);
    const ua = new UserAgent(server.url);
    const form = { csrf: hiddenFields(await (await ua.get('/login/forgot')).text()).csrf!, token: 'forged' };
    expect((await ua.post('/verify-email', form)).status).toBe(403); // another form's CSRF token
    await server.tessera.services.users.create({ username: 'walt', password: PASSWORD, email: 'walt@example.test', roles: [] }, SYSTEM);
    const first = linkIn(await mailbox.waitFor('walt@example.test'), `${server.url}/verify-email?token=`);
    await server.tessera.services.users.update('walt', { email: 'walt2@example.test' }, SYSTEM);
    await mailbox.waitFor('walt2@example.test');
    expect((await new UserAgent(server.url).get(first.slice(server.url.length))).status).toBe(400);
    expect((await server.tessera.services.users.find('walt')).emailVerified).toBe(false);
  });

  test('require_verified_email: authorization shows a page that resends the link; once verified the app gets its code', async () => {
    expect((await adminApi('PATCH', '/settings', { require_verified_email: true })).body.require_verified_email).toBe(true);
    try {
      await server.tessera.services.users.create({ username: 'pat', password: PASSWORD, email: 'pat@example.test', roles: ['developer'] }, SYSTEM);
      await mailbox.waitFor('pat@example.test');
      mailbox.take('pat@example.test');
      const ua = await signedIn('pat');
      const blocked = await ua.get(authorizeUrl());
      expect(blocked.status).toBe(403);
      const page = await blocked.text();
      expect(page).toContain('Verify your email address');
      expect(page).toContain('Verified app');
      // prompt=none gets an error at the app instead.
      const none = await ua.get(`${authorizeUrl()}&prompt=none`);
      expect(new URL(location(none)).searchParams.get('error')).toBe('access_denied');

      const resent = await ua.post('/verify-email/resend', hiddenFields(page));
      expect(resent.status).toBe(200);
      expect(await resent.text()).toContain('A new link is on its way');
      const link = linkIn(await mailbox.waitFor('pat@example.test'), `${server.url}/verify-email?token=`);
      const confirm = await ua.get(link.slice(server.url.length));
      expect((await ua.post('/verify-email', hiddenFields(await confirm.text()))).status).toBe(200);
      const tokens = await tokensFor(ua);
      expect(decodeJwt(tokens.id_token).email_verified).toBe(true);
    } finally {
      await adminApi('PATCH', '/settings', { require_verified_email: false });
    }
  });

  test('security notices go to a verified address: a sign-in from a new device and an admin reset; none from a known device or to an unverified address', async () => {
    await server.tessera.services.users.create({ username: 'nora', password: PASSWORD, email: 'nora@example.test', roles: [] }, SYSTEM);
    // Unverified: a sign-in from a new device sends nothing but the verification link.
    await signedIn('nora');
    const link = linkIn(await mailbox.waitFor('nora@example.test'), `${server.url}/verify-email?token=`);
    await server.tessera.email.idle();
    expect(mailbox.take('nora@example.test').map((m) => m.subject)).toEqual(['Confirm your email address']);
    await server.tessera.email.verification.confirm(new URL(link).searchParams.get('token')!, { ip: null });

    const browser = await signedIn('nora');
    const notice = await mailbox.waitFor('nora@example.test', (m) => m.subject === 'New sign-in to your Tessera account');
    expect(notice.text).toContain('from 127.0.0.1');
    expect(notice.html).toContain('Hello nora');
    mailbox.take('nora@example.test');
    // The same browser again: it holds the device cookie, so no notice.
    expect(browser.cookies.has(DEVICE_COOKIE)).toBe(true);
    await signedIn('nora', browser);
    await server.tessera.email.idle();
    expect(mailbox.take('nora@example.test')).toEqual([]);

    expect((await adminApi('POST', '/users/nora/password', { password: 'another long password' })).status).toBeLessThan(300);
    const reset = await mailbox.waitFor('nora@example.test', (m) => m.subject === 'Your Tessera password was reset');
    expect(reset.text).toMatch(/by app:[^ ]+ for user:ops/);

    // Whoever records the agreed actions (second factors, the account page) gets the notices sent.
    const nora = await server.tessera.services.users.find('nora');
    await server.tessera.services.audit.record({ action: 'user.factor_add', targetId: nora.id, details: { type: 'totp', name: '<Pixel> & co' } }, visitor('nora', '203.0.113.7'));
    const factor = await mailbox.waitFor('nora@example.test', (m) => m.subject === 'A sign-in method was added to your Tessera account');
    expect(factor.text).toContain('(authenticator app: <Pixel> & co)');
    expect(factor.text).toContain('from 203.0.113.7');
    expect(factor.html).toContain('&lt;Pixel&gt; &amp; co');
    await server.tessera.services.audit.record({ action: 'user.password_change', targetId: nora.id, details: { other_sessions_ended: 1, refresh_tokens_revoked: 0 } }, visitor('nora', null));
    expect((await mailbox.waitFor('nora@example.test', (m) => m.subject === 'Your Tessera password was changed')).text).toContain('from unknown');
  });
});

describe('email verification without email configured (sqlite)', () => {
  test('require_verified_email cannot be turned on, and setting an address sends nothing (the log says why)', async () => {
    const server = await startTestServer('sqlite');
    try {
      await expect(server.tessera.services.settings.update({ require_verified_email: true }, SYSTEM)).rejects.toThrow(/email is not configured/);
      await server.tessera.services.users.create({ username: 'lone', password: PASSWORD, email: 'lone@example.test', roles: [] }, SYSTEM);
      await server.tessera.email.idle();
      expect(server.log.entries.some((e) => /no email after user.create: email is not configured/.test(e.message))).toBe(true);
      expect(() => server.tessera.email.mailer.requireConfigured('invitations')).toThrow('email is not configured: invitations needs TESSERA_SMTP_URL and TESSERA_SMTP_FROM');
    } finally {
      await server.close();
    }
  });
});
