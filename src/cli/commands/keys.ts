import { Command } from 'commander';
import { output, table, withCommon, withTessera, type GlobalOptions, cliActor } from '../context.ts';

export function keysCommand(): Command {
  const keys = new Command('keys').description('signing keys');

  withCommon(keys.command('list').description('list signing keys')).action(async (f: GlobalOptions) => {
    await withTessera(f, async (t) =>
      output(f, await t.services.keys.list(), (list) =>
        table(['KID', 'ALG', 'STATUS', 'CREATED'], list.map((k) => [k.kid, k.alg, k.status, k.created_at])),
      ),
    );
  });

  withCommon(keys.command('rotate').description('add new active signing keys; old ones stay published until their tokens expire'))
    .action(async (f: GlobalOptions) => {
      await withTessera(f, async (t) => {
        const created = await t.services.keys.rotate(cliActor());
        output(f, created, (list) => `new active keys:\n${table(['KID', 'ALG'], list.map((k) => [k.kid, k.alg]))}`);
      });
    });

  return keys;
}
