import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { SYSTEM } from '../../src/audit/actor.ts';
import { DIALECTS } from '../support/databases.ts';
import { linkIn, Mailbox } from '../support/mailbox.ts';
import { startTestServer, type TestServer } from '../support/server.ts';
import { hiddenFields, location, UserAgent } from '../support/user-agent.ts';
import { formFields } from '../support/forms.ts';

/**
 * The account page with a real SMTP server (issue 14): a new address set at /account gets a
 * verification link, and following it makes the address verified; changing the password at
 * /account mails a security notice to the verified address.
 */
const PASSWORD = 'correct horse battery staple';

describe.each(DIALECTS)('the account page and email (%s)', (dialect) => {
  let server: TestServer;
  let mailbox: Mailbox;

  beforeAll(async () => {
    mailbox = await new Mailbox().start();
    server = await startTestServer(dialect, { env: { TESSERA_SMTP_URL: mailbox.url, TESSERA_SMTP_FROM: 'id@example.test' } });
  });
  afterAll(async () => {
    await server?.close();
    await mailbox?.close();
  });

  test('a new email at /account is verified through the link mailed to it; a password change mails a notice', async () => {
    const { services } = server.tessera;
    const created = await services.users.create({ username: 'ella', password: PASSWORD, email: 'ella@example.test', roles: [] }, SYSTEM);
    await services.users.confirmEmail(created.id, 'ella@example.test', SYSTEM);
    const ua = new UserAgent(server.url);
    const login = await ua.get(location(await ua.get('/account')));
    expect(location(await ua.post('/login', { ...hiddenFields(await login.text()), username: 'ella', password: PASSWORD }))).toBe('/account');

    const page = await (await ua.get('/account')).text();
    const saved = await ua.post('/account/profile', { ...formFields(page, '/account/profile'), name: 'Ella', email: 'ella.new@example.test' });
    expect(location(saved)).toBe('/account?done=email');
    expect((await services.users.find('ella')).emailVerified).toBe(false);
    const mail = await mailbox.waitFor('ella.new@example.test', (m) => m.subject === 'Confirm your email address');
    const link = linkIn(mail, `${server.url}/verify-email?token=`);
    const confirm = await ua.get(link.slice(server.url.length));
    expect((await ua.post('/verify-email', hiddenFields(await confirm.text()))).status).toBe(200);
    expect(await services.users.find('ella')).toMatchObject({ email: 'ella.new@example.test', emailVerified: true });
    expect(await (await ua.get('/account')).text()).toContain('ella.new@example.test is verified.');

    const pw = await (await ua.get('/account/password')).text();
    const changed = await ua.post('/account/password', { ...formFields(pw, '/account/password'), current: PASSWORD, next: 'a brand new secret', confirm: 'a brand new secret' });
    expect(location(changed)).toBe('/account/security?done=password');
    const notice = await mailbox.waitFor('ella.new@example.test', (m) => /password was changed/.test(m.subject));
    expect(notice.text).toContain('The password of your account was changed');
  });
});
