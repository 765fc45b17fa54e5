import { Command } from 'commander';
import type { UserInput, UserUpdate, UserView } from '../../identity/user-service.ts';
import { collect, fields, output, readStdin, table, withCommon, withTessera, readTessera, type GlobalOptions, cliActor } from '../context.ts';
import { ServiceError } from '../../errors.ts';
import { CliUsageError } from './clients.ts';

interface UserFlags extends GlobalOptions {
  username?: string;
  password?: string;
  passwordStdin?: boolean;
  email?: string;
  name?: string;
  role?: string[];
  locale?: string;
}

function render(u: UserView): string {
  return fields([
    ['id', u.id],
    ['username', u.username],
    ['email', u.email],
    ['email verified', u.email ? (u.email_verified ? 'yes' : 'no') : null],
    ['name', u.name],
    ['disabled', u.disabled ? 'yes' : 'no'],
    ['language', u.locale],
    ['roles', u.roles],
    ['permissions', u.permissions],
    ['created', u.created_at],
  ]);
}

async function password(f: UserFlags): Promise<string | undefined> {
  if (f.password !== undefined && f.passwordStdin) throw new CliUsageError('use --password or --password-stdin, not both');
  return f.passwordStdin ? readStdin() : f.password;
}

export function usersCommand(): Command {
  const users = new Command('users').description('manage users');

  withCommon(users.command('create').description('create a user'))
    .requiredOption('--username <username>', 'unique, case-insensitive')
    .option('--password <password>', 'the password (visible in process lists: prefer --password-stdin)')
    .option('--password-stdin', 'read the password from standard input')
    .option('--email <email>', 'email address')
    .option('--name <name>', 'full name')
    .option('--role <role>', 'role to grant (repeatable): admin, developer, or one you created', collect)
    .option('--locale <locale>', 'the language mail to the user is written in, e.g. de (default: not known, the operator\'s default)')
    .action(async (f: UserFlags) => {
      const pw = await password(f);
      if (pw === undefined) throw new CliUsageError('a password is required: --password or --password-stdin');
      const input: UserInput = { username: f.username!, password: pw, email: f.email ?? null, name: f.name ?? null, roles: f.role ?? [], locale: f.locale ?? null };
      await withTessera(f, async (t) => {
        const user = await t.services.users.create(input, cliActor());
        output(f, user, render);
      });
    });

  withCommon(users.command('invite').argument('<email>', 'the address the invitation link goes to').description('invite someone by email: a single-use link (7 days) to choose a username and password'))
    .option('--role <role>', 'role the account gets (repeatable)', collect)
    .option('--locale <locale>', 'the language of the mail and of the invitation page, e.g. de (default: the operator\'s)')
    .action(async (email: string, f: UserFlags) => {
      await withTessera(f, async (t) => {
        const invitation = await t.email.invitations.invite({ email, roles: f.role ?? [], locale: f.locale ?? null }, cliActor());
        // This process exits next: the first attempt must have reached the SMTP server, or the operator hears of it.
        await t.email.idle();
        if (t.email.mailer.pending > 0) {
          throw new ServiceError('email_not_sent', 502, `the invitation to ${invitation.email} is saved, but the SMTP server did not take the mail (the log says why); it waits in the outbox, and a running tessera serve sends it once the server takes it (for an hour): fix TESSERA_SMTP_URL or the server`);
        }
        output(f, invitation, (i) => `${fields([['invited', i.email], ['roles', i.roles], ['language', i.locale], ['expires', i.expires_at]])}`);
      });
    });

  withCommon(users.command('update').argument('<user>', 'username or id').description('change a user'))
    .option('--password <password>', 'new password')
    .option('--password-stdin', 'read the new password from standard input')
    .option('--email <email>', 'email address ("" to clear)')
    .option('--name <name>', 'full name ("" to clear)')
    .option('--role <role>', 'replace the roles with these (repeatable)', collect)
    .option('--locale <locale>', 'the language mail to the user is written in, e.g. de ("" to forget it)')
    .action(async (ref: string, f: UserFlags) => {
      const input: UserUpdate = {};
      const pw = await password(f);
      if (pw !== undefined) input.password = pw;
      if (f.email !== undefined) input.email = f.email;
      if (f.name !== undefined) input.name = f.name;
      if (f.role !== undefined) input.roles = f.role;
      if (f.locale !== undefined) input.locale = f.locale;
      await withTessera(f, async (t) => {
        const user = await t.services.users.update(ref, input, cliActor());
        output(f, user, render);
      });
    });

  withCommon(users.command('list').description('list users')).action(async (f: GlobalOptions) => {
    await readTessera(f, async (t) =>
      output(f, await t.services.users.list(), (list) =>
        table(['ID', 'USERNAME', 'ROLES', 'DISABLED'], list.map((u) => [u.id, u.username, u.roles.join(',') || '-', u.disabled ? 'yes' : 'no'])),
      ),
    );
  });

  withCommon(users.command('show').argument('<user>', 'username or id').description('show a user'))
    .action(async (ref: string, f: GlobalOptions) => {
      await readTessera(f, async (t) => output(f, await t.services.users.show(ref), render));
    });

  withCommon(users.command('disable').argument('<user>', 'username or id'))
    .description('disable a user: sign-in stops and every token issued for the user stops working')
    .action(async (ref: string, f: GlobalOptions) => {
      await withTessera(f, async (t) => {
        const user = await t.services.users.setDisabled(ref, true, cliActor());
        output(f, user, render);
      });
    });

  withCommon(users.command('enable').argument('<user>', 'username or id').description('enable a disabled user'))
    .action(async (ref: string, f: GlobalOptions) => {
      await withTessera(f, async (t) => {
        const user = await t.services.users.setDisabled(ref, false, cliActor());
        output(f, user, render);
      });
    });

  withCommon(users.command('unlock').argument('<user>', 'username or id'))
    .description('clear the user’s sign-in throttling (their browsers, the clients that failed as them, the account-wide counter)')
    .action(async (ref: string, f: GlobalOptions) => {
      await withTessera(f, async (t) => {
        const result = await t.services.users.unlock(ref, cliActor());
        output(f, result, (r) =>
          r.cleared ? `cleared ${r.cleared} sign-in throttle counter${r.cleared === 1 ? '' : 's'} of ${r.username}` : `${r.username} had no sign-in throttling to clear`,
        );
      });
    });

  withCommon(users.command('factors').argument('<user>', 'username or id'))
    .description('show the user’s second factors (authenticator app, passkeys) and how many recovery codes are left')
    .action(async (ref: string, f: GlobalOptions) => {
      await readTessera(f, async (t) => {
        const view = await t.services.mfa.factorsView(ref);
        output(f, view, (v) =>
          [
            `${v.username}: ${v.factors.length ? `${v.factors.length} second factor${v.factors.length === 1 ? '' : 's'}` : 'no second factor'}, ${v.recovery_codes_remaining} recovery code${v.recovery_codes_remaining === 1 ? '' : 's'} left`,
            ...(v.factors.length ? [table(['TYPE', 'NAME', 'SINCE', 'LAST USED', 'ID'], v.factors.map((x) => [x.type, x.name, x.created_at, x.last_used_at ?? '-', x.id]))] : []),
          ].join('\n'),
        );
      });
    });

  withCommon(users.command('reset-factors').argument('<user>', 'username or id'))
    .description('remove every second factor and recovery code of the user (a lost phone): they sign in with the password, then enrol again if MFA is required')
    .action(async (ref: string, f: GlobalOptions) => {
      await withTessera(f, async (t) => {
        const result = await t.services.mfa.resetFactorsOf(ref, cliActor());
        output(f, result, (r) => (r.removed.length ? `removed ${r.removed.join(', ')} of ${r.username}` : `${r.username} had no second factor to remove`));
      });
    });

  withCommon(users.command('delete').argument('<user>', 'username or id'))
    .description('delete a user with their sessions, consents, refresh tokens and provider links; their access tokens stop working')
    .action(async (ref: string, f: GlobalOptions) => {
      await withTessera(f, async (t) => {
        const user = await t.services.users.show(ref);
        await t.services.users.delete(user.id, cliActor());
        output(f, { deleted: user.id, username: user.username }, (d) => `deleted user ${d.username} (${d.deleted})`);
      });
    });

  return users;
}
