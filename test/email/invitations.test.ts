import { execFile } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, test, vi } from 'vitest';
import { SYSTEM } from '../../src/audit/actor.ts';
import type { Clock } from '../../src/clock.ts';
import { SESSION_COOKIE } from '../../src/lib/cookie-names.ts';
import { CLI_MAIN, type CliRun } from '../support/cli-runner.ts';
import { DIALECTS } from '../support/databases.ts';
import { linkIn, Mailbox } from '../support/mailbox.ts';
import { basic, postForm, startTestServer, type TestServer } from '../support/server.ts';
import { hiddenFields, location, UserAgent } from '../support/user-agent.ts';

/**
 * Invitations by email (issue 14): an admin invites through the admin API or the CLI; the
 * invitee follows the mailed link, chooses a username and password, and is signed in with the
 * roles and a verified address. Links are single-use and expire after 7 days. Without email,
 * inviting is refused with "email is not configured".
 */
vi.setConfig({ testTimeout: 60_000 });
const PASSWORD = 'correct horse battery staple';
const API = '/admin/api/v1';

function manualClock(): Clock & { advance(seconds: number): void } {
  let now = Math.floor(Date.now() / 1000) * 1000;
  return { now: () => now, advance: (s) => void (now += s * 1000) };
}

function cli(args: string[], env: Record<string, string>): Promise<CliRun> {
  return new Promise((resolve) => {
    execFile(process.execPath, [CLI_MAIN, ...args], { env: { ...process.env, TESSERA_LOG_LEVEL: 'silent', ...env }, timeout: 30_000 }, (error, stdout, stderr) =>
      resolve({ code: error ? ((error as { code?: number }).code ?? 1) : 0, stdout, stderr }),
    );
  });
}

describe.each(DIALECTS)('invitations (%s)', (dialect) => {
  let server: TestServer;
  let mailbox: Mailbox;
  let admin: string;
  const clock = manualClock();

  beforeAll(async () => {
    mailbox = await new Mailbox().start();
    server = await startTestServer(dialect, { clock, env: { TESSERA_SMTP_URL: mailbox.url, TESSERA_SMTP_FROM: 'id@example.test' } });
    const { services } = server.tessera;
    await services.users.create({ username: 'boss', password: PASSWORD, roles: ['admin'] }, SYSTEM);
    const ops = await services.clients.create({ name: 'ops', grantTypes: ['client_credentials'], onBehalfOf: 'boss', scopes: ['tessera.admin'] }, SYSTEM);
    admin = ((await (await postForm(`${server.url}/connect/token`, { grant_type: 'client_credentials', scope: 'tessera.admin' }, { authorization: basic(ops.client_id, ops.client_secret!) })).json()) as { access_token: string }).access_token;
  });
  afterAll(async () => {
    await server?.close();
    await mailbox?.close();
  });

  const adminApi = async (method: string, path: string, body?: unknown) => {
    const res = await fetch(`${server.url}${API}${path}`, { method, headers: { authorization: `Bearer ${admin}`, ...(body ? { 'content-type': 'application/json' } : {}) }, body: body ? JSON.stringify(body) : undefined });
    return { status: res.status, body: (await res.json().catch(() => undefined)) as any };
  };

  test('invited through the admin API: the link creates the account with the roles and a verified address, and signs the invitee in', async () => {
    const invited = await adminApi('POST', '/users/invitations', { email: 'ivy@example.test', roles: ['developer'] });
    expect(invited.status).toBe(201);
    expect(invited.body).toMatchObject({ email: 'ivy@example.test', roles: ['developer'], invited_by: expect.stringMatching(/for user:boss$/) });
    expect((await adminApi('GET', '/users/invitations')).body.items.map((i: { email: string }) => i.email)).toContain('ivy@example.test');
    expect((await adminApi('GET', '/email')).body).toEqual({ configured: true, from: 'id@example.test', templates_overridden: [], pending: expect.any(Number) });

    const mail = await mailbox.waitFor('ivy@example.test', (m) => m.subject === 'You are invited to Tessera');
    expect(mail.text).toMatch(/boss invited you \(ivy@example\.test\)/);
    const link = linkIn(mail, `${server.url}/invite?token=`);
    const ua = new UserAgent(server.url);
    const page = await ua.get(link.slice(server.url.length));
    expect(page.status).toBe(200);
    const html = await page.text();
    expect(html).toContain('value="ivy"');
    const fields = hiddenFields(html);
    // A taken username or a short password does not use up the link.
    const taken = await ua.post('/invite', { ...fields, username: 'boss', password: PASSWORD, confirm: PASSWORD });
    expect(taken.status).toBe(409);
    expect(await taken.text()).toContain('The username &quot;boss&quot; is taken; choose another.');
    expect((await ua.post('/invite', { ...fields, username: 'ivy', password: 'short', confirm: 'short' })).status).toBe(400);
    const done = await ua.post('/invite', { ...fields, username: 'ivy', password: PASSWORD, confirm: PASSWORD });
    expect(location(done)).toBe('/account');
    const session = await server.tessera.interactive.sessions.resolve(ua.cookies.get(SESSION_COOKIE));
    expect(session?.principal.user).toMatchObject({ username: 'ivy', email: 'ivy@example.test', emailVerified: true });
    expect(session?.principal.roles).toEqual(['developer']);
    // The test's clock stands still, so both entries have one time: compare them in any order.
    const trail = (await server.tessera.services.audit.list({ targetId: session!.principal.user.id })).items.map((e) => [e.action, e.actor, e.details]);
    expect(trail).toHaveLength(2);
    expect(trail).toEqual(expect.arrayContaining([
      ['user.create', 'user:ivy', { username: 'ivy', roles: ['developer'] }],
      ['user.invite_accept', 'user:ivy', { email: 'ivy@example.test', username: 'ivy' }],
    ]));
    expect((await server.tessera.services.audit.list({ action: 'user.invite' })).items[0]?.details).toEqual({ email: 'ivy@example.test', roles: ['developer'] });

    // Used: the link no longer works, and the invitation is no longer listed.
    expect((await new UserAgent(server.url).get(link.slice(server.url.length))).status).toBe(400);
    expect((await ua.post('/invite', { ...fields, username: 'ivy2', password: PASSWORD, confirm: PASSWORD })).status).toBe(400);
    expect((await adminApi('GET', '/users/invitations')).body.items.map((i: { email: string }) => i.email)).not.toContain('ivy@example.test');
  });

  test('bad input changes nothing; an expired invitation is refused', async () => {
    const notAddress = await adminApi('POST', '/users/invitations', { email: 'not an address' });
    expect(notAddress.status).toBe(400);
    // The admin API's error_description stays English (for operators, docs/languages.md).
    expect(notAddress.body).toMatchObject({ error: 'validation_failed', error_description: expect.stringContaining('is not a valid email address') });
    expect((await adminApi('POST', '/users/invitations', { email: 'x@example.test', roles: ['no-such-role'] })).body).toMatchObject({ error: 'validation_failed' });
    expect((await adminApi('POST', '/users/invitations', { roles: [] })).status).toBe(400);
    expect((await new UserAgent(server.url).get('/invite?token=forged')).status).toBe(400);

    // On a German page the services' errors read in German (issue 15), and nothing is created.
    await adminApi('POST', '/users/invitations', { email: 'kurz@example.test' });
    const invite = linkIn(await mailbox.waitFor('kurz@example.test'), `${server.url}/invite?token=`);
    const de = { 'accept-language': 'de' };
    const guest = new UserAgent(server.url);
    const fields = hiddenFields(await (await guest.request(invite.slice(server.url.length), { headers: de })).text());
    const short = await guest.request('/invite', { form: { ...fields, username: 'kurz', password: 'kurz', confirm: 'kurz' }, headers: de });
    expect(short.status).toBe(400);
    expect(await short.text()).toContain('Das Passwort muss mindestens 8 Zeichen lang sein.');
    const badName = await guest.request('/invite', { form: { ...fields, username: '-nein', password: PASSWORD, confirm: PASSWORD }, headers: de });
    expect(badName.status).toBe(400);
    expect(await badName.text()).toContain('Ein Benutzername hat 1 bis 100 Zeichen');
    await expect(server.tessera.services.users.find('kurz')).rejects.toThrow();

    await adminApi('POST', '/users/invitations', { email: 'late@example.test' });
    const link = linkIn(await mailbox.waitFor('late@example.test'), `${server.url}/invite?token=`);
    clock.advance(7 * 86_400 + 1);
    const expired = await new UserAgent(server.url).get(link.slice(server.url.length));
    expect(expired.status).toBe(400);
    expect(await expired.text()).toContain('This link does not work');
  });

  test('the passkey option: the page offers it; bad input, a refused registration and a replayed ceremony create nothing and leave the link working', async () => {
    // (The previous test moved the clock past the admin token's lifetime: invited here through the service.)
    await server.tessera.email.invitations.invite({ email: 'pia@example.test', roles: ['developer'] }, SYSTEM);
    const link = linkIn(await mailbox.waitFor('pia@example.test'), `${server.url}/invite?token=`);
    const token = new URL(link).searchParams.get('token')!;
    const ua = new UserAgent(server.url);
    const page = await ua.get(link.slice(server.url.length));
    expect(page.headers.get('content-security-policy')).toMatch(/script-src 'nonce-[A-Za-z0-9_-]+'; connect-src 'self';/);
    const html = await page.text();
    expect(html).toContain('data-passkey="invite"');
    const csrf = /data-csrf="([^"]+)"/.exec(html)![1]!;
    const options = (body: Record<string, unknown>) => ua.postJson('/invite/passkey/options', { csrf, token, username: 'pia', ...body });

    expect((await options({ csrf: 'forged' })).status).toBe(403);
    expect((await ua.postJson('/invite/passkey/options', 'not an object')).status).toBe(400);
    expect(await (await options({ token: 'forged' })).json()).toMatchObject({ error: 'invalid_link' });
    const taken = await options({ username: 'boss' });
    expect([taken.status, await taken.json()]).toEqual([409, { error: 'conflict', error_description: 'The username "boss" is taken; choose another.' }]);
    expect((await options({ username: '-bad name' })).status).toBe(400);

    const good = await options({});
    expect(good.status).toBe(200);
    const created = (await good.json()) as { challenge: string; user: { id: string; name: string }; authenticatorSelection: { residentKey: string } };
    expect(created.user.name).toBe('pia');
    expect(created.authenticatorSelection.residentKey).toBe('required');
    // A response that is no registration, then the same ceremony again: refused, nothing created.
    const forged = await ua.postJson('/invite/passkey/verify', { csrf, token, username: 'pia', response: { id: 'AAAA', rawId: 'AAAA', type: 'public-key', response: { clientDataJSON: 'AAAA', attestationObject: 'AAAA' } } });
    expect([forged.status, await forged.json()]).toEqual([400, { error: 'passkey_refused', error_description: 'The passkey could not be added. Please try again.' }]);
    expect((await ua.postJson('/invite/passkey/verify', { csrf, token, username: 'pia', response: {} })).status).toBe(400);
    await expect(server.tessera.services.users.find('pia')).rejects.toThrow(/not found/);
    expect((await server.tessera.email.invitations.list()).map((i) => i.email)).toContain('pia@example.test');
    // The password path still works with the same link.
    const done = await ua.post('/invite', { ...hiddenFields(html), username: 'pia', password: PASSWORD, confirm: PASSWORD });
    expect(location(done)).toBe('/account');
    expect((await server.tessera.services.users.find('pia')).passwordHash).not.toBeNull();
  });

  test('tessera users invite sends the link before it exits; tessera email status says how mail is sent', async () => {
    const env = { ...server.env };
    const r = await cli(['users', 'invite', 'cli-invitee@example.test', '--role', 'developer', '--database', server.databaseUrl, '--json'], env);
    expect(r.code, r.stderr).toBe(0);
    expect(JSON.parse(r.stdout)).toMatchObject({ email: 'cli-invitee@example.test', roles: ['developer'], invited_by: expect.stringMatching(/^cli:/) });
    await mailbox.waitFor('cli-invitee@example.test');
    // The SMTP server unreachable from this command: it says so and fails, instead of printing success.
    const dead = await new Mailbox().start();
    const deadUrl = dead.url;
    await dead.close();
    const refused = await cli(['users', 'invite', 'unlucky@example.test', '--database', server.databaseUrl], { ...env, TESSERA_LOG_LEVEL: 'fatal', TESSERA_SMTP_URL: deadUrl });
    expect(refused.code).toBe(1);
    expect(refused.stderr).toMatch(/^tessera: the invitation to unlucky@example\.test is saved, but the SMTP server did not take the mail/m);
    const status = await cli(['email', 'status', '--database', server.databaseUrl], env);
    expect(status.stdout).toMatch(/^email:\s+configured$/m);
    expect(status.stdout).toMatch(/^from:\s+id@example\.test$/m);
    expect(status.stdout).not.toContain('s3cret');
  });
});

describe('invitations without email (sqlite)', () => {
  test('the admin API and the CLI refuse: "email is not configured"; tessera email status says so', async () => {
    const server = await startTestServer('sqlite');
    try {
      await server.tessera.services.users.create({ username: 'boss', password: PASSWORD, roles: ['admin'] }, SYSTEM);
      const ops = await server.tessera.services.clients.create({ name: 'ops', grantTypes: ['client_credentials'], onBehalfOf: 'boss', scopes: ['tessera.admin'] }, SYSTEM);
      const token = ((await (await postForm(`${server.url}/connect/token`, { grant_type: 'client_credentials', scope: 'tessera.admin' }, { authorization: basic(ops.client_id, ops.client_secret!) })).json()) as { access_token: string }).access_token;
      const res = await fetch(`${server.url}${API}/users/invitations`, { method: 'POST', headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' }, body: JSON.stringify({ email: 'x@example.test' }) });
      expect(res.status).toBe(409);
      expect(await res.json()).toMatchObject({ error: 'email_not_configured', error_description: expect.stringContaining('email is not configured') });
      const status = await (await fetch(`${server.url}${API}/email`, { headers: { authorization: `Bearer ${token}` } })).json();
      expect(status).toEqual({ configured: false, from: null, templates_overridden: [], pending: 0 });

      const r = await cli(['users', 'invite', 'x@example.test', '--database', server.databaseUrl], server.env);
      expect(r.code).toBe(1);
      expect(r.stderr).toBe('tessera: email is not configured: inviting users needs TESSERA_SMTP_URL and TESSERA_SMTP_FROM (docs/email.md)\n');
      const s = await cli(['email', 'status', '--database', server.databaseUrl], server.env);
      expect(s.stdout).toContain('email is not configured: set TESSERA_SMTP_URL and TESSERA_SMTP_FROM');
      expect((await server.tessera.services.audit.list({ action: 'user.invite' })).items).toEqual([]);
    } finally {
      await server.close();
    }
  });
});
