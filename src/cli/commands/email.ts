import { Command } from 'commander';
import { fields, output, readTessera, withCommon, type GlobalOptions } from '../context.ts';

/** `tessera email status`: whether mail can be sent (docs/email.md). */
export function emailCommand(): Command {
  const email = new Command('email').description('outgoing email (TESSERA_SMTP_URL)');
  withCommon(email.command('status').description('say whether email is configured, the sender and the replaced templates')).action(async (f: GlobalOptions) => {
    await readTessera(f, async (t) => {
      const status = await t.email.status();
      output(f, { configured: status.configured, from: status.from, templates_overridden: status.templates_overridden, pending: status.pending }, (s) =>
        s.configured
          ? fields([
              ['email', 'configured'],
              ['from', s.from],
              ['templates replaced', s.templates_overridden],
              ['waiting', `${s.pending} message${s.pending === 1 ? '' : 's'} in the outbox`],
            ])
          : 'email is not configured: set TESSERA_SMTP_URL and TESSERA_SMTP_FROM (docs/email.md); password reset by email, invitations, verification links and security notices are off',
      );
    });
  });
  return email;
}
