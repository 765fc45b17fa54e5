import { Command, CommanderError } from 'commander';
import { ConfigError } from '../config/config.ts';
import { ServiceError } from '../errors.ts';
import { KeyEncryptionError, KeyFileError } from '../keys/encryption.ts';
import { DatabaseAccessError, DatabaseUrlError, fsReason, SchemaMismatchError, sqliteAccessError } from '../storage/database.ts';
import { CliUsageError, clientsCommand } from './commands/clients.ts';
import { apisCommand } from './commands/apis.ts';
import { auditCommand } from './commands/audit.ts';
import { emailCommand } from './commands/email.ts';
import { keysCommand } from './commands/keys.ts';
import { loginCommand } from './commands/login.ts';
import { backupCommand, migrateCommand, restoreCommand } from './commands/operations.ts';
import { providersCommand } from './commands/providers.ts';
import { rolesCommand } from './commands/roles.ts';
import { ListenError, serveCommand } from './commands/serve.ts';
import { settingsCommand } from './commands/settings.ts';
import { registrationCommand } from './commands/registration.ts';
import { brandingCommand } from './commands/branding.ts';
import { usersCommand } from './commands/users.ts';
import { EXIT } from './exit-codes.ts';

const program = new Command('tessera')
  .description('Tessera: OAuth 2.0 and OpenID Connect identity service with an API gateway')
  .showHelpAfterError()
  .exitOverride();

program.addCommand(serveCommand());
program.addCommand(migrateCommand());
program.addCommand(usersCommand());
program.addCommand(rolesCommand());
program.addCommand(clientsCommand());
program.addCommand(keysCommand());
program.addCommand(apisCommand());
program.addCommand(providersCommand());
program.addCommand(settingsCommand());
program.addCommand(registrationCommand());
program.addCommand(brandingCommand());
program.addCommand(emailCommand());
program.addCommand(auditCommand());
program.addCommand(loginCommand());
program.addCommand(backupCommand());
program.addCommand(restoreCommand());

for (const cmd of program.commands) {
  cmd.exitOverride();
  for (const sub of cmd.commands) {
    sub.exitOverride();
    for (const leaf of sub.commands) leaf.exitOverride();
  }
}

try {
  await program.parseAsync(process.argv);
} catch (error) {
  // Exit now: a half-opened server (a port in use, say) may still hold timers or sockets.
  process.exit(report(error));
}

/** One clear line on stderr and an exit code from EXIT (docs/operations.md); stack traces only for real bugs. */
function report(error: unknown): number {
  if (error instanceof CommanderError) {
    return error.code === 'commander.helpDisplayed' || error.code === 'commander.version' || error.exitCode === 0 ? EXIT.ok : EXIT.usage;
  }
  const line = (code: number, message: string) => {
    process.stderr.write(`tessera: ${message.replace(/\s*\n\s*/g, ' ')}\n`);
    return code;
  };
  if (error instanceof CliUsageError || error instanceof ConfigError || error instanceof DatabaseUrlError) return line(EXIT.usage, error.message);
  if (error instanceof ServiceError) return line(EXIT.refused, error.message);
  if (error instanceof DatabaseAccessError || error instanceof KeyFileError) return line(EXIT.database, error.message);
  if (error instanceof SchemaMismatchError) return line(EXIT.schema, error.message);
  if (error instanceof KeyEncryptionError) return line(EXIT.keys, error.message);
  if (error instanceof ListenError) return line(EXIT.listen, error.message);
  const sqlite = sqliteAccessError('(SQLite)', error);
  if (sqlite) return line(EXIT.database, sqlite.message);
  const { code, path } = error as { code?: string; path?: string };
  if ((code === 'EACCES' || code === 'EROFS' || code === 'EPERM') && path) return line(EXIT.database, `cannot write ${path}: ${fsReason(error)}`);
  // Unreachable, unknown host, no such database, authentication failed, no such role, not permitted, read-only.
  if (code && ['ECONNREFUSED', 'ENOTFOUND', 'EAI_AGAIN', 'ETIMEDOUT', '3D000', '28P01', '28000', '42501', '25006'].includes(code)) {
    return line(EXIT.database, `cannot use the database: ${(error as Error).message}`);
  }
  process.stderr.write(`tessera: unexpected error: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
  return EXIT.refused;
}
