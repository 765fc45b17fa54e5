import { Command } from 'commander';
import type { InitialAccessTokenView } from '../../oauth/registration-service.ts';
import { cliActor, fields, output, readTessera, table, withCommon, withTessera, type GlobalOptions } from '../context.ts';
import { CliUsageError } from './clients.ts';

interface CreateFlags extends GlobalOptions {
  label?: string;
  expiresIn?: string;
  maxUses?: string;
}

/**
 * `tessera registration tokens create|list|revoke`: initial access tokens for Dynamic Client
 * Registration (docs/registration.md), the same service as the admin API's /registration-tokens.
 * Whether registration is off, open or needs a token is the setting `client_registration`.
 */
export function registrationCommand(): Command {
  const registration = new Command('registration').description('dynamic client registration (RFC 7591): initial access tokens; the mode is `tessera settings set client_registration off|open|token`');
  const tokens = registration.command('tokens').description('initial access tokens an app needs to register when client_registration is "token"');

  withCommon(tokens.command('create').description('issue a token; it is printed once, only its hash is stored'))
    .option('--label <text>', 'what it is for, shown in the list')
    .option('--expires-in <seconds>', 'lifetime in seconds (60 to 31536000, default 86400)')
    .option('--max-uses <n>', 'how many registrations it allows (default: any number until it expires)')
    .action(async (f: CreateFlags) => {
      const whole = (flag: string, value: string | undefined) => {
        if (value === undefined) return undefined;
        if (!/^\d+$/.test(value)) throw new CliUsageError(`${flag} must be a whole number`);
        return Number(value);
      };
      const expiresIn = whole('--expires-in', f.expiresIn);
      const maxUses = whole('--max-uses', f.maxUses);
      await withTessera(f, async (t) => {
        const created = await t.services.registration.issueToken({ label: f.label, expiresIn, maxUses }, cliActor());
        output(f, created, (c) => fields([['token', c.token], ['id', c.id], ['label', c.label], ['expires_at', c.expires_at], ['max_uses', c.max_uses ?? 'unlimited']]));
      });
    });

  withCommon(tokens.command('list').description('every token with its state (never the tokens themselves)')).action(async (f: GlobalOptions) => {
    await readTessera(f, async (t) => {
      output(f, await t.services.registration.listTokens(), (items: InitialAccessTokenView[]) =>
        table(['ID', 'LABEL', 'STATE', 'USES', 'EXPIRES'], items.map((i) => [i.id, i.label, i.state, `${i.uses}/${i.max_uses ?? '∞'}`, i.expires_at])),
      );
    });
  });

  withCommon(tokens.command('revoke').description('stop a token from working').argument('<id>', 'the token id (from list)')).action(async (id: string, f: GlobalOptions) => {
    await withTessera(f, async (t) => {
      await t.services.registration.revokeToken(id, cliActor());
      output(f, { revoked: id }, () => `revoked ${id}`);
    });
  });
  return registration;
}
