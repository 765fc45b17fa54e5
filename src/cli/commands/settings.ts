import { Command } from 'commander';
import type { SettingsView } from '../../admin/settings-service.ts';
import { cliActor, fields, output, readTessera, withCommon, withTessera, type GlobalOptions } from '../context.ts';
import { CliUsageError } from './clients.ts';

/**
 * `tessera settings get|set`: the saved runtime settings every node and every command read
 * (the same ones as the admin API's /settings and the console's Settings page).
 */
export function settingsCommand(): Command {
  const settings = new Command('settings').description('runtime settings shared by every node: lifetimes, the redirect-URI policy, the MFA policy and whether a verified email is required');

  withCommon(settings.command('get').description('print the settings, or one of them').argument('[name]', 'a setting, e.g. redirect_uri_policy'))
    .action(async (name: string | undefined, f: GlobalOptions) => {
      // Read-only: never migrates or writes (docs/operations.md).
      await readTessera(f, async (t) => {
        const view = t.services.settings.view();
        if (name === undefined) return output(f, view, render);
        const value = view[checkName(view, name)];
        output(f, { [name]: value }, () => display(value));
      });
    });

  withCommon(
    settings
      .command('set')
      .description('change a setting; it applies to the next request on every node')
      .argument('<name>', 'a setting, e.g. redirect_uri_policy')
      .argument(
        '<value>',
        'seconds for the lifetimes; strict or development for redirect_uri_policy; off, optional or required for mfa_policy; true or false for require_verified_email; off, open or token for client_registration; true or false for require_pushed_authorization_requests; a space- or comma-separated list for registration_grant_types, registration_auth_methods and registration_scopes (any: every scope on offer)',
      ),
  ).action(async (name: string, value: string, f: GlobalOptions) => {
    await withTessera(f, async (t) => {
      checkName(t.services.settings.view(), name);
      const updated = await t.services.settings.update({ [name]: parseValue(name, value) }, cliActor());
      output(f, updated, render);
    });
  });

  return settings;
}

/** The self-registration policy's settings are lists; `registration_scopes any` is null (every scope on offer). */
const LIST_SETTINGS = new Set(['registration_grant_types', 'registration_auth_methods', 'registration_scopes']);

function parseValue(name: string, value: string): unknown {
  if (LIST_SETTINGS.has(name)) {
    if (name === 'registration_scopes' && value.trim() === 'any') return null;
    return value.split(/[\s,]+/).filter(Boolean);
  }
  return /^\d+$/.test(value) ? Number(value) : value === 'true' ? true : value === 'false' ? false : value;
}

function checkName(view: SettingsView, name: string): keyof SettingsView {
  if (!Object.hasOwn(view, name)) throw new CliUsageError(`unknown setting "${name.slice(0, 64)}"; the settings are ${Object.keys(view).join(', ')}`);
  return name as keyof SettingsView;
}

function render(view: SettingsView): string {
  return fields(Object.entries(view).map(([key, value]) => [key, display(value)]));
}

/** What `settings set` takes back: lists space-separated, a null scope list as `any`. */
function display(value: unknown): string {
  return Array.isArray(value) ? value.join(' ') : value === null ? 'any' : String(value);
}
