import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { SYSTEM } from '../../src/audit/actor.ts';
import type { Clock } from '../../src/clock.ts';
import { SESSION_COOKIE } from '../../src/lib/cookie-names.ts';
import { DIALECTS } from '../support/databases.ts';
import { linkIn, Mailbox } from '../support/mailbox.ts';
import { startTestServer, type TestServer } from '../support/server.ts';
import { hiddenFields, UserAgent } from '../support/user-agent.ts';

/**
 * Password reset by email (issue 14) over HTTP, with a real SMTP server in the process: the
 * mail arrives, the test follows its link. A reset ends every session and invalidates the
 * user's tokens; links are single-use and expire in 30 minutes; the answer does not tell
 * which accounts exist; requests are throttled.
 */
const PASSWORD = 'correct horse battery staple';
const NEW_PASSWORD = 'a brand new passphrase';

function manualClock(): Clock & { advance(seconds: number): void } {
  let now = Math.floor(Date.now() / 1000) * 1000;
  return { now: () => now, advance: (s) => void (now += s * 1000) };
}

async function signIn(base: string, username: string, password: string): Promise<{ ua: UserAgent; status: number }> {
  const ua = new UserAgent(base);
  const fields = hiddenFields(await (await ua.get('/login')).text());
  const res = await ua.post('/login', { ...fields, username, password });
  return { ua, status: res.status };
}

async function askReset(base: string, identifier: string): Promise<Response> {
  const ua = new UserAgent(base);
  const page = await ua.get('/login/forgot');
  expect(page.status).toBe(200);
  return ua.post('/login/forgot', { ...hiddenFields(await page.text()), identifier });
}

describe.each(DIALECTS)('password reset by email (%s)', (dialect) => {
  let server: TestServer;
  let mailbox: Mailbox;
  const clock = manualClock();

  beforeAll(async () => {
    mailbox = await new Mailbox().start();
    server = await startTestServer(dialect, { clock, env: { TESSERA_SMTP_URL: mailbox.url, TESSERA_SMTP_FROM: 'Tessera <id@example.test>' } });
  });
  afterAll(async () => {
    await server?.close();
    await mailbox?.close();
  });

  const createUser = (username: string, email: string | null) => server.tessera.services.users.create({ username, password: PASSWORD, email, roles: [] }, SYSTEM);

  test('the login page offers "Forgot password?"; the mailed link sets a new password, ends every session and invalidates tokens', async () => {
    await createUser('ada', 'ada@example.test');
    mailbox.take('ada@example.test');
    const login = await (await new UserAgent(server.url).get('/login')).text();
    expect(login).toContain('<a href="/login/forgot">Forgot password?</a>');
    const before = await signIn(server.url, 'ada', PASSWORD);
    expect(before.status).toBe(200);
    const oldSession = before.ua.cookies.get(SESSION_COOKIE)!;
    expect(await server.tessera.interactive.sessions.resolve(oldSession)).toBeDefined();

    const answer = await askReset(server.url, 'ada');
    expect(answer.status).toBe(200);
    expect(await answer.text()).toContain('Check your email');
    const mail = await mailbox.waitFor('ada@example.test', (m) => m.subject === 'Reset your Tessera password');
    expect(mail.from).toMatch(/^"?Tessera"? <id@example\.test>$/);
    expect(mailbox.logins).toContain('tessera');
    const link = linkIn(mail, `${server.url}/reset?token=`);
    expect(mail.html).toContain(`href="${link.replaceAll('&', '&amp;')}"`);
    // Stored only hashed: the token in the mail is nowhere in the database.
    const token = new URL(link).searchParams.get('token')!;
    const rows = await server.tessera.database.db.selectFrom('email_links').selectAll().execute();
    expect(JSON.stringify(rows)).not.toContain(token);

    const ua = new UserAgent(server.url);
    const form = await ua.get(link.slice(server.url.length));
    expect(form.status).toBe(200);
    const page = await form.text();
    expect(page).toContain('Choose a new password');
    const fields = hiddenFields(page);
    // A mismatch and a too-short password do not use up the link.
    expect((await ua.post('/reset', { ...fields, password: NEW_PASSWORD, confirm: 'something else' })).status).toBe(400);
    const short = await ua.post('/reset', { ...fields, password: 'short', confirm: 'short' });
    expect(short.status).toBe(400);
    expect(await short.text()).toMatch(/password must be at least \d+ characters/);
    // On a German page the service's error reads in German (issue 15).
    const kurz = await ua.request('/reset', { form: { ...fields, password: 'kurz', confirm: 'kurz' }, headers: { 'accept-language': 'de' } });
    expect(kurz.status).toBe(400);
    const kurzPage = await kurz.text();
    expect(kurzPage).toContain('Das Passwort muss mindestens 8 Zeichen lang sein.');
    expect(kurzPage).not.toMatch(/password must be/);
    const done = await ua.post('/reset', { ...fields, password: NEW_PASSWORD, confirm: NEW_PASSWORD });
    expect(done.status).toBe(200);
    expect(await done.text()).toContain('Password changed');

    // Every session ended; every token issued before is invalid (the refresh grant checks the same epoch).
    expect(await server.tessera.interactive.sessions.resolve(oldSession)).toBeUndefined();
    const user = await server.tessera.services.users.find('ada');
    expect(user.tokensValidAfter).toBeGreaterThan(0);
    expect(user.emailVerified).toBe(true);
    expect((await signIn(server.url, 'ada', PASSWORD)).status).toBe(401);
    expect((await signIn(server.url, 'ada', NEW_PASSWORD)).status).toBe(200);
    const audit = await server.tessera.services.audit.list({ action: 'user.password_reset', targetId: user.id });
    expect(audit.items.map((e) => [e.actor, e.details])).toEqual([['user:ada', { by: 'email_link' }]]);

    // Used once: the same link now fails, on the page and on a replayed form.
    expect((await ua.get(link.slice(server.url.length))).status).toBe(400);
    const replay = await ua.post('/reset', { ...fields, password: PASSWORD, confirm: PASSWORD });
    expect(replay.status).toBe(400);
    expect(await replay.text()).toContain('This link does not work');
    expect((await signIn(server.url, 'ada', NEW_PASSWORD)).status).toBe(200);
  });

  test('an unknown account gets the same answer as a real one; by email address works too', async () => {
    await createUser('grace', 'grace@example.test');
    mailbox.take('grace@example.test');
    const real = await askReset(server.url, 'grace@example.test');
    const unknown = await askReset(server.url, 'nobody-here@example.test');
    const noEmail = await askReset(server.url, 'no-such-user');
    expect([real.status, unknown.status, noEmail.status]).toEqual([200, 200, 200]);
    const bodies = await Promise.all([real.text(), unknown.text(), noEmail.text()]);
    expect(bodies[1]).toBe(bodies[0]);
    expect(bodies[2]).toBe(bodies[0]);
    await mailbox.waitFor('grace@example.test', (m) => m.subject === 'Reset your Tessera password');
    await server.tessera.email.idle();
    expect(mailbox.messages.filter((m) => m.to.includes('nobody-here'))).toEqual([]);
  });

  test('a forged token and an expired link are refused; other reset links end with a reset', async () => {
    expect((await new UserAgent(server.url).get('/reset?token=forged-token-value')).status).toBe(400);
    expect((await new UserAgent(server.url).get('/reset')).status).toBe(400);
    expect((await new UserAgent(server.url).get(`/reset?token=${'x'.repeat(5000)}`)).status).toBe(400);

    await createUser('linus', 'linus@example.test');
    await askReset(server.url, 'linus');
    const first = linkIn(await mailbox.waitFor('linus@example.test', (m) => m.subject === 'Reset your Tessera password'), `${server.url}/reset?token=`);
    mailbox.take('linus@example.test');
    clock.advance(29 * 60);
    expect((await new UserAgent(server.url).get(first.slice(server.url.length))).status).toBe(200);
    clock.advance(2 * 60);
    const expired = await new UserAgent(server.url).get(first.slice(server.url.length));
    expect(expired.status).toBe(400);
    expect(await expired.text()).toContain('Send a new link');
  });

  test('requests are throttled per account (the same for unknown accounts) with 429 and Retry-After', async () => {
    for (const account of ['margaret', 'unknown-margaret']) {
      for (let i = 0; i < 3; i++) expect((await askReset(server.url, account)).status).toBe(200);
      const refused = await askReset(server.url, account);
      expect(refused.status).toBe(429);
      expect(Number(refused.headers.get('retry-after'))).toBeGreaterThan(0);
      expect(await refused.text()).toContain('Too many requests');
    }
  });
});

describe('password reset without email, or with the SMTP server down (sqlite)', () => {
  test('without TESSERA_SMTP_URL the login page has no "Forgot password?" and /login/forgot says reset by email is not available', async () => {
    const server = await startTestServer('sqlite');
    try {
      const login = await (await fetch(`${server.url}/login`)).text();
      expect(login).not.toContain('Forgot password?');
      const forgot = await fetch(`${server.url}/login/forgot`);
      expect(forgot.status).toBe(404);
      expect(await forgot.text()).toContain('no email server configured');
    } finally {
      await server.close();
    }
  });

  test('with the SMTP server unreachable the page answers as usual; the failure is logged and counted, and retried', async () => {
    const dead = await new Mailbox().start();
    const url = dead.url;
    await dead.close();
    const server = await startTestServer('sqlite', { metrics: true, env: { TESSERA_SMTP_URL: url, TESSERA_SMTP_FROM: 'id@example.test' } });
    try {
      // No address: no verification link in the outbox ahead of the reset mail.
      await server.tessera.services.users.create({ username: 'kay', password: PASSWORD, roles: [] }, SYSTEM);
      await server.tessera.database.db.updateTable('users').set({ email: 'kay@example.test' }).where('username', '=', 'kay').execute();
      const answer = await askReset(server.url, 'kay');
      expect(answer.status).toBe(200);
      expect(await answer.text()).toContain('Check your email');
      await expect.poll(() => server.log.entries.find((e) => e.level === 'warn' && e.message === 'email not sent; trying again later'), { timeout: 10_000 }).toBeDefined();
      const metrics = await server.metrics!.registry.getSingleMetricAsString('tessera_emails_total');
      expect(metrics).toMatch(/tessera_emails_total\{message="password_reset",outcome="retry"\} [1-9]/);
      // It waits in the outbox (test/email/outbox.test.ts: a later server sends it).
      expect((await server.tessera.email.status()).pending).toBe(1);
    } finally {
      await server.close();
    }
  });
});
