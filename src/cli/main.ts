import { Command, CommanderError } from 'commander';
import { ConfigError } from '../config/config.ts';
import { ServiceError } from '../errors.ts';
import { KeyEncryptionError } from '../keys/encryption.ts';
import { stderrLogger } from '../lib/logger.ts';
import { DatabaseUrlError, migrateToLatest, openDatabase } from '../storage/database.ts';
import { CliUsageError, clientsCommand } from './commands/clients.ts';
import { apisCommand } from './commands/apis.ts';
import { auditCommand } from './commands/audit.ts';
import { keysCommand } from './commands/keys.ts';
import { providersCommand } from './commands/providers.ts';
import { rolesCommand } from './commands/roles.ts';
import { serveCommand } from './commands/serve.ts';
import { settingsCommand } from './commands/settings.ts';
import { usersCommand } from './commands/users.ts';
import { configFrom, output, withCommon, type GlobalOptions } from './context.ts';

const program = new Command('tessera')
  .description('Tessera: OAuth 2.0 and OpenID Connect identity service with an API gateway')
  .showHelpAfterError()
  .exitOverride();

program.addCommand(serveCommand());
program.addCommand(
  withCommon(new Command('migrate').description('create or upgrade the database schema')).action(async (f: GlobalOptions) => {
    const db = openDatabase(configFrom(f).databaseUrl, { log: stderrLogger() });
    try {
      const applied = await migrateToLatest(db);
      output(f, { applied, database: db.displayUrl }, (r) =>
        r.applied.length ? `applied ${r.applied.join(', ')} to ${r.database}` : `${r.database} is up to date`,
      );
    } finally {
      await db.close();
    }
  }),
);
program.addCommand(usersCommand());
program.addCommand(rolesCommand());
program.addCommand(clientsCommand());
program.addCommand(keysCommand());
program.addCommand(apisCommand());
program.addCommand(providersCommand());
program.addCommand(settingsCommand());
program.addCommand(auditCommand());

for (const cmd of program.commands) {
  cmd.exitOverride();
  for (const sub of cmd.commands) sub.exitOverride();
}

try {
  await program.parseAsync(process.argv);
} catch (error) {
  process.exitCode = report(error);
}

/** One clear line on stderr and a non-zero exit code; stack traces only for real bugs. */
function report(error: unknown): number {
  if (error instanceof CommanderError) {
    return error.code === 'commander.helpDisplayed' || error.code === 'commander.version' || error.exitCode === 0 ? 0 : 2;
  }
  if (error instanceof ConfigError) {
    // A setting the operator got wrong is a usage error, like a bad flag.
    process.stderr.write(`tessera: ${error.message}\n`);
    return 2;
  }
  if (error instanceof ServiceError || error instanceof DatabaseUrlError || error instanceof KeyEncryptionError) {
    process.stderr.write(`tessera: ${error.message}\n`);
    return 1;
  }
  if (error instanceof CliUsageError) {
    process.stderr.write(`tessera: ${error.message}\n`);
    return 2;
  }
  const code = (error as { code?: string }).code;
  if (code === 'ECONNREFUSED' || code === 'ENOTFOUND' || code === '3D000' || code === '28P01') {
    process.stderr.write(`tessera: cannot connect to the database: ${(error as Error).message}\n`);
    return 1;
  }
  process.stderr.write(`tessera: unexpected error: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
  return 1;
}
