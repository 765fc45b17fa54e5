import { CommanderError } from 'commander';
import { ConfigError } from '../config/config.ts';
import { ServiceError } from '../errors.ts';
import { PasswordHashingUnavailableError } from '../identity/password-hasher.ts';
import { KeyEncryptionError, KeyFileError } from '../keys/encryption.ts';
import { DatabaseAccessError, DatabaseUrlError, fsReason, SchemaMismatchError, sqliteAccessError } from '../storage/database.ts';
import { CliUsageError } from './commands/clients.ts';
import { ListenError } from './listen-error.ts';
import { EXIT } from './exit-codes.ts';

/** One clear line on stderr and an exit code from EXIT (docs/operations.md); stack traces only for real bugs. */
export function reportError(error: unknown, write: (text: string) => void = (text) => void process.stderr.write(text)): number {
  if (error instanceof CommanderError) {
    return error.code === 'commander.helpDisplayed' || error.code === 'commander.version' || error.exitCode === 0 ? EXIT.ok : EXIT.usage;
  }
  const line = (code: number, message: string) => {
    write(`tessera: ${message.replace(/\s*\n\s*/g, ' ')}\n`);
    return code;
  };
  if (error instanceof CliUsageError || error instanceof ConfigError || error instanceof DatabaseUrlError) return line(EXIT.usage, error.message);
  if (error instanceof ServiceError) return line(EXIT.refused, error.message);
  if (error instanceof DatabaseAccessError || error instanceof KeyFileError) return line(EXIT.database, error.message);
  if (error instanceof SchemaMismatchError) return line(EXIT.schema, error.message);
  if (error instanceof KeyEncryptionError) return line(EXIT.keys, error.message);
  if (error instanceof ListenError) return line(EXIT.listen, error.message);
  // A hashing thread that died (out of memory, say) or a hasher already shut down: nothing was
  // stored for the password, and running the command again is the remedy.
  if (error instanceof PasswordHashingUnavailableError) return line(EXIT.refused, `${error.message}; nothing was changed, run the command again`);
  const sqlite = sqliteAccessError('(SQLite)', error);
  if (sqlite) return line(EXIT.database, sqlite.message);
  const { code, path } = error as { code?: string; path?: string };
  if ((code === 'EACCES' || code === 'EROFS' || code === 'EPERM') && path) return line(EXIT.database, `cannot write ${path}: ${fsReason(error)}`);
  // Unreachable, unknown host, no such database, authentication failed, no such role, not permitted, read-only.
  if (code && ['ECONNREFUSED', 'ENOTFOUND', 'EAI_AGAIN', 'ETIMEDOUT', '3D000', '28P01', '28000', '42501', '25006'].includes(code)) {
    return line(EXIT.database, `cannot use the database: ${(error as Error).message}`);
  }
  write(`tessera: unexpected error: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
  return EXIT.refused;
}
