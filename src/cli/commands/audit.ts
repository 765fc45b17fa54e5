import { Command } from 'commander';
import { output, table, withCommon, readTessera, type GlobalOptions } from '../context.ts';
import { CliUsageError } from './clients.ts';

interface AuditFlags extends GlobalOptions {
  actor?: string;
  action?: string;
  target?: string;
  limit?: string;
}

export function auditCommand(): Command {
  const audit = new Command('audit').description('the audit log: who changed what, when, from where');
  withCommon(audit.command('list').description('newest events first'))
    .option('--actor <actor>', 'e.g. user:alice or cli:root')
    .option('--action <action>', 'e.g. app.create')
    .option('--target <id>', 'target id (app, user, role…)')
    .option('--limit <n>', 'how many (1-500, default 50)')
    .action(async (f: AuditFlags) => {
      if (f.limit !== undefined && !/^\d+$/.test(f.limit)) throw new CliUsageError('--limit must be a whole number');
      await readTessera(f, async (t) => {
        const page = await t.services.audit.list({ actor: f.actor, action: f.action, targetId: f.target, limit: f.limit === undefined ? undefined : Number(f.limit) });
        output(f, page.items, (items) =>
          table(['AT', 'ACTOR', 'ACTION', 'TARGET', 'FROM'], items.map((e) => [e.at, e.actor, e.action, `${e.target_type ?? ''}${e.target_id ? ` ${e.target_id}` : ''}`, e.ip ?? '-'])),
        );
      });
    });
  return audit;
}
