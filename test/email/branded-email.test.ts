import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { SYSTEM } from '../../src/audit/actor.ts';
import { Mailbox } from '../support/mailbox.ts';
import { startTestServer, type TestServer } from '../support/server.ts';
import { hiddenFields, UserAgent } from '../support/user-agent.ts';

/**
 * The brand's product name in the emails (docs/branding.md): in the subject as text, in the
 * HTML part escaped, whatever the operator typed.
 */
describe('branded emails', () => {
  let server: TestServer;
  let mailbox: Mailbox;
  beforeAll(async () => {
    mailbox = await new Mailbox().start();
    server = await startTestServer('sqlite', { env: { TESSERA_SMTP_URL: mailbox.url, TESSERA_SMTP_FROM: 'Id <id@example.test>' } });
  });
  afterAll(async () => {
    await server?.close();
    await mailbox?.close();
  });

  test('a password-reset mail names the brand, escaped in HTML', async () => {
    await server.tessera.services.branding.update({ product_name: 'Acme <b>"ID"</b> & Co' }, SYSTEM);
    await server.tessera.services.users.create({ username: 'ada', password: 'correct horse battery staple', email: 'ada@example.test', roles: [] }, SYSTEM);
    mailbox.take('ada@example.test');
    const ua = new UserAgent(server.url);
    const page = await ua.get('/login/forgot');
    await ua.post('/login/forgot', { ...hiddenFields(await page.text()), identifier: 'ada' });
    const mail = await mailbox.waitFor('ada@example.test', (m) => m.subject.startsWith('Reset your'));
    expect(mail.subject).toBe('Reset your Acme <b>"ID"</b> & Co password');
    expect(mail.text).toContain('Acme <b>"ID"</b> & Co at ');
    expect(mail.html).toContain('Acme &lt;b&gt;&quot;ID&quot;&lt;/b&gt; &amp; Co at ');
    expect(mail.html).not.toContain('<b>"ID"</b>');
  });
});
