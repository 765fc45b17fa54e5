import { Command } from 'commander';
import type { RoleView } from '../../identity/role-service.ts';
import { collect, fields, output, table, withCommon, withTessera, readTessera, type GlobalOptions, cliActor } from '../context.ts';
import { CliUsageError } from './clients.ts';

interface RoleFlags extends GlobalOptions {
  name?: string;
  description?: string;
  permission?: string[];
}

const perms = (r: RoleView) => (r.permissions === '*' ? '* (every permission)' : r.permissions.join(', ') || '-');

export function rolesCommand(): Command {
  const roles = new Command('roles').description('manage roles and permissions');

  withCommon(roles.command('list').description('list roles and their permissions')).action(async (f: GlobalOptions) => {
    await readTessera(f, async (t) =>
      output(f, await t.services.roles.list(), (list) =>
        table(['ROLE', 'PERMISSIONS', 'DESCRIPTION'], list.map((r) => [r.name, perms(r), r.description])),
      ),
    );
  });

  withCommon(roles.command('create').argument('<name>').description('create a role'))
    .option('--description <text>', 'what the role is for')
    .option('--permission <permission>', 'permission to grant (repeatable; created if new)', collect)
    .action(async (name: string, f: RoleFlags) => {
      await withTessera(f, async (t) => {
        const role = await t.services.roles.create({ name, description: f.description ?? '', permissions: f.permission ?? [] }, cliActor());
        output(f, role, (r) => fields([['role', r.name], ['description', r.description], ['permissions', perms(r)]]));
      });
    });

  withCommon(roles.command('require-mfa').argument('<role>').argument('<yes|no>').description('whether users holding the role must pass a second factor at sign-in'))
    .action(async (name: string, value: string, f: GlobalOptions) => {
      if (value !== 'yes' && value !== 'no') throw new CliUsageError('the second argument must be yes or no');
      await withTessera(f, async (t) => {
        const role = await t.services.roles.update(name, { requireMfa: value === 'yes' }, cliActor());
        output(f, role, (r) => `role ${r.name} ${r.require_mfa ? 'requires' : 'does not require'} a second factor at sign-in`);
      });
    });

  withCommon(roles.command('grant').argument('<role>').argument('<permission>').description('grant a permission to a role'))
    .option('--description <text>', 'description when the permission is new')
    .action(async (role: string, permission: string, f: RoleFlags) => {
      await withTessera(f, async (t) => {
        const r = await t.services.roles.grant(role, permission, f.description, cliActor());
        output(f, r, (v) => fields([['role', v.name], ['permissions', perms(v)]]));
      });
    });

  return roles;
}
