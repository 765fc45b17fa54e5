import { createInterface } from 'node:readline/promises';
import { Command } from 'commander';
import { ServiceError } from '../../errors.ts';
import { reencryptAll } from '../../keys/reencrypt.ts';
import { CliUsageError } from './clients.ts';
import { output, table, withCommon, withTessera, readTessera, type GlobalOptions, cliActor } from '../context.ts';

export function keysCommand(): Command {
  const keys = new Command('keys').description('signing keys');

  withCommon(keys.command('list').description('list signing keys')).action(async (f: GlobalOptions) => {
    await readTessera(f, async (t) =>
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

  withCommon(
    keys
      .command('reencrypt')
      .description('after replacing the key-encryption key: seal every stored secret under the current key again (the previous one, TESSERA_PREVIOUS_KEY_ENCRYPTION_KEY, opens the old ones); without it, checks that every secret opens'),
  ).action(async (f: GlobalOptions) => {
    await withTessera(f, async (t) => {
      const result = await reencryptAll(t.database.db, t.encrypter);
      const total = Object.values(result.reencrypted).reduce((a, b) => a + b, 0);
      if (total) await t.services.audit.record({ action: 'keys.reencrypt', targetId: null, details: result }, cliActor());
      output(f, result, (r) =>
        total
          ? `sealed again under the current key-encryption key: ${Object.entries(r.reencrypted)
              .filter(([, n]) => n)
              .map(([table, n]) => `${n} in ${table}`)
              .join(', ')}; ${r.current} already were. TESSERA_PREVIOUS_KEY_ENCRYPTION_KEY is no longer needed once every node runs with the current key.`
          : `every stored secret (${r.current}) is sealed under the current key-encryption key; nothing to do`,
      );
    });
  });

  withCommon(
    keys
      .command('recover')
      .description('after losing the key-encryption key: retire the signing keys it cannot decrypt and create new ones (tokens they signed stop working)'),
  )
    .option('--yes', 'do it without asking')
    .action(async (f: GlobalOptions & { yes?: boolean }) => {
      await withTessera(f, async (t) => {
        const bad = await t.services.keys.undecryptable();
        if (!bad.length) {
          output(f, { retired: [], created: [] }, () => 'every signing key decrypts with the key-encryption key; nothing to recover');
          return;
        }
        const warning =
          `${bad.length} signing key(s) cannot be decrypted with the key-encryption key (${bad.map((k) => k.kid).join(', ')}); ` +
          'recovering retires them: every access token and ID token they signed stops verifying at once (refresh tokens keep working), and new keys sign from now on';
        if (!f.yes) {
          if (!process.stdin.isTTY) throw new CliUsageError(`${warning}. Add --yes to go ahead`);
          process.stderr.write(`tessera: warning: ${warning}\n`);
          const rl = createInterface({ input: process.stdin, output: process.stderr });
          const answer = await rl.question('Retire them and create new keys? Type "yes" to go ahead: ');
          rl.close();
          if (answer.trim() !== 'yes') throw new ServiceError('cancelled', 400, 'not confirmed; nothing changed');
        } else {
          process.stderr.write(`tessera: warning: ${warning}\n`);
        }
        const result = await t.services.keys.recover(cliActor());
        output(f, result, (r) =>
          [
            `retired: ${r.retired.map((k) => k.kid).join(', ')}`,
            `new active keys:\n${table(['KID', 'ALG'], r.created.map((k) => [k.kid, k.alg]))}`,
          ].join('\n'),
        );
      });
    });

  return keys;
}
