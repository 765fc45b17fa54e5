import { afterAll, beforeAll, describe, expect, test, vi } from 'vitest';
import { SYSTEM } from '../../src/audit/actor.ts';
import type { Clock } from '../../src/clock.ts';
import { KyselyFactorStore } from '../../src/identity/mfa/factor-store.ts';
import { base32Decode, stepAt, totpForStep } from '../../src/identity/mfa/totp.ts';
import { cliRunner } from '../support/cli-runner.ts';
import { DIALECTS } from '../support/databases.ts';
import { formFields } from '../support/forms.ts';
import { Mailbox } from '../support/mailbox.ts';
import { basic, postForm, startTestServer, type TestServer } from '../support/server.ts';
import { hiddenFields, location, UserAgent } from '../support/user-agent.ts';

/**
 * Security notices when second factors go (issue 14: "each change is audited and emailed to
 * the user"), with a real SMTP server: the user removing their authenticator app at /account
 * and making new recovery codes, an admin's reset through the admin API and through
 * `tessera users reset-factors` (a separate process, as an operator runs it). An unverified
 * address gets none of them.
 */
vi.setConfig({ testTimeout: 60_000 });
const PASSWORD = 'correct horse battery staple';
const API = '/admin/api/v1';

/** A clock that moves only when told (TOTP steps are exact; a used step is refused). */
function manualClock(): Clock & { advance(seconds: number): void } {
  let now = Math.floor(Date.now() / 30_000) * 30_000 + 5_000;
  return { now: () => now, advance: (s) => void (now += s * 1000) };
}

describe.each(DIALECTS)('notices when second factors are removed (%s)', (dialect) => {
  let server: TestServer;
  let mailbox: Mailbox;
  let admin: string;
  const clock = manualClock();
  const codeFor = (secret: string) => totpForStep(base32Decode(secret), stepAt(Math.floor(clock.now() / 1000)));
  const { tessera } = cliRunner(() => ({ databaseUrl: server.databaseUrl, env: { ...server.env, TESSERA_LOG_LEVEL: 'silent' } }));

  beforeAll(async () => {
    mailbox = await new Mailbox().start();
    server = await startTestServer(dialect, { clock, env: { TESSERA_SMTP_URL: mailbox.url, TESSERA_SMTP_FROM: 'id@example.test' } });
    const { services } = server.tessera;
    await services.users.create({ username: 'ops', password: PASSWORD, roles: ['admin'] }, SYSTEM);
    const ops = await services.clients.create({ name: 'ops', grantTypes: ['client_credentials'], onBehalfOf: 'ops', scopes: ['tessera.admin'] }, SYSTEM);
    admin = ((await (await postForm(`${server.url}/connect/token`, { grant_type: 'client_credentials', scope: 'tessera.admin' }, { authorization: basic(ops.client_id, ops.client_secret!) })).json()) as { access_token: string }).access_token;
  });
  afterAll(async () => {
    await server?.close();
    await mailbox?.close();
  });

  /** A user with an address, verified or not; the verification mail is taken out of the mailbox. */
  async function userWith(username: string, verified: boolean): Promise<{ id: string; email: string }> {
    const { services } = server.tessera;
    const email = `${username}@example.test`;
    const user = await services.users.create({ username, password: PASSWORD, email, roles: [] }, SYSTEM);
    // The verification mail follows user.create in a background job, which sends nothing once
    // the address is verified: wait for it before confirming, or the two race.
    await mailbox.waitFor(email, (m) => m.subject === 'Confirm your email address');
    if (verified) await services.users.confirmEmail(user.id, email, SYSTEM);
    await server.tessera.email.idle();
    mailbox.take(email);
    return { id: user.id, email };
  }

  /** An active authenticator app and recovery codes, written straight to the store (the admin's reset is what is tested). */
  async function giveFactors(userId: string): Promise<void> {
    const store = new KyselyFactorStore(server.tessera.database.db);
    const now = Math.floor(clock.now() / 1000);
    await store.insertUnconfirmedTotp({ id: `f-${userId}`, userId, name: 'Authenticator app', sealedSecret: 'v1.sealed', lastUsedStep: null, createdAt: now, confirmedAt: null, lastUsedAt: null });
    expect(await store.useStep(`f-${userId}`, 1000, now)).toBe(true);
    await store.replaceRecoveryCodes(userId, ['h1', 'h2'], now);
  }

  const subjects = async (email: string) => {
    await server.tessera.email.idle();
    return mailbox.take(email).map((m) => m.subject);
  };

  test('at /account: adding the app, new recovery codes and removing the app each mail the user', async () => {
    const tara = await userWith('tara', true);
    const ua = new UserAgent(server.url);
    const login = await ua.get(location(await ua.get('/account')));
    expect(location(await ua.post('/login', { ...hiddenFields(await login.text()), username: 'tara', password: PASSWORD }))).toBe('/account');

    const enrol = await (await ua.get('/account/totp')).text();
    const secret = /<code class="secret" id="totp-secret">([A-Z2-7 ]+)<\/code>/.exec(enrol)![1]!.replace(/ /g, '');
    expect((await ua.post('/account/totp', { ...hiddenFields(enrol), code: codeFor(secret) })).status).toBe(200);
    await mailbox.waitFor(tara.email, (m) => m.subject === 'A sign-in method was added to your Tessera account');
    // The first recovery codes come with the app: one change, one notice (besides the new-device one of the sign-in).
    expect((await subjects(tara.email)).sort()).toEqual(['A sign-in method was added to your Tessera account', 'New sign-in to your Tessera account']);

    const codesPage = await (await ua.get('/account/recovery-codes')).text();
    expect((await ua.post('/account/recovery-codes', formFields(codesPage, '/account/recovery-codes'))).status).toBe(200);
    const codes = await mailbox.waitFor(tara.email, (m) => m.subject === 'New recovery codes for your Tessera account');
    expect(codes.text).toContain('The earlier ones no longer work.');
    expect(codes.text).toContain('from 127.0.0.1');

    clock.advance(30);
    const status = await (await ua.get('/account/totp')).text();
    const removed = await ua.post('/account/totp/remove', { ...formFields(status, '/account/totp/remove'), code: codeFor(secret) });
    expect(location(removed)).toBe('/account/security');
    const notice = await mailbox.waitFor(tara.email, (m) => m.subject === 'A sign-in method was removed from your Tessera account');
    expect(notice.text).toContain('Hello tara');
    expect(notice.text).toContain('(authenticator app: Authenticator app) was removed from your account');
    expect(notice.text).toContain('from 127.0.0.1');
    expect(notice.html).toContain('<p>A sign-in method (authenticator app: Authenticator app) was removed');
  });

  test('an admin reset through DELETE /admin/api/v1/users/{id}/factors mails the user; a reset that found nothing mails nothing', async () => {
    const uma = await userWith('uma', true);
    await giveFactors(uma.id);
    const res = await fetch(`${server.url}${API}/users/${uma.id}/factors`, { method: 'DELETE', headers: { authorization: `Bearer ${admin}` } });
    expect(res.status).toBe(200);
    expect(((await res.json()) as { removed: string[] }).removed).toEqual(['totp', 'recovery_codes']);
    const notice = await mailbox.waitFor(uma.email, (m) => m.subject === 'The second factors of your Tessera account were reset');
    expect(notice.text).toMatch(/An administrator \(app:[^ ]+ for user:ops\) removed every second factor, passkey and recovery code of your account at [A-Z][a-z]{2} \d{1,2}, \d{4}, \d\d:\d\d UTC \(from 127\.0\.0\.1\)\./);
    expect(notice.text).toContain('Until you set up a new one, you sign in with your password alone.');
    expect(notice.html).toContain('Hello uma');
    mailbox.take(uma.email);

    expect((await fetch(`${server.url}${API}/users/${uma.id}/factors`, { method: 'DELETE', headers: { authorization: `Bearer ${admin}` } })).status).toBe(200);
    expect(await subjects(uma.email)).toEqual([]);
  });

  test('tessera users reset-factors (the CLI, its own process) mails the user before it exits', async () => {
    const vic = await userWith('vic', true);
    await giveFactors(vic.id);
    const run = await tessera(['users', 'reset-factors', 'vic']);
    expect([run.code, run.stdout.trim()], run.stderr).toEqual([0, 'removed totp, recovery_codes of vic']);
    // The CLI sends before it exits: the mail is there already.
    const notice = mailbox.messages.find((m) => m.to.includes(vic.email) && m.subject === 'The second factors of your Tessera account were reset');
    expect(notice?.text).toMatch(/An administrator \(cli:[^)]+\) removed every second factor/);
  });

  test('an unverified address gets no notice (the admin API, the CLI)', async () => {
    const wes = await userWith('wes', false);
    await giveFactors(wes.id);
    expect((await fetch(`${server.url}${API}/users/wes/factors`, { method: 'DELETE', headers: { authorization: `Bearer ${admin}` } })).status).toBe(200);
    await giveFactors(wes.id);
    expect((await tessera(['users', 'reset-factors', 'wes'])).code).toBe(0);
    // Both resets happened (audited), and removed something.
    const resets = (await server.tessera.services.audit.list({ action: 'user.factors_reset' })).items.filter((e) => e.target_id === wes.id);
    expect(resets.map((e) => e.details)).toEqual([{ types: ['totp', 'recovery_codes'] }, { types: ['totp', 'recovery_codes'] }]);
    expect(await subjects(wes.email)).toEqual([]);
  });
});
