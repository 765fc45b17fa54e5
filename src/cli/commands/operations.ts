import { chmodSync, copyFileSync, constants, existsSync, mkdirSync, readFileSync, rmSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { Command } from 'commander';
import { conflict } from '../../errors.ts';
import { KeyEncryptionError, loadKeyEncrypter } from '../../keys/encryption.ts';
import { KyselyKeyStore } from '../../keys/key-store.ts';
import { needingAnotherKey } from '../../keys/reencrypt.ts';
import { backupSqlite, sqliteFilesExist } from '../../storage/backup.ts';
import {
  DatabaseAccessError,
  fsReason,
  migrateToLatest,
  migrationStatus,
  openDatabase,
  parseDatabaseUrl,
  refuseNewerSchema,
  type DatabaseHandle,
} from '../../storage/database.ts';
import { configFrom, output, table, withCommon, type GlobalOptions } from '../context.ts';
import { CliUsageError } from './clients.ts';

/** What `tessera backup` writes beside FILE when the key-encryption key lives in a file. */
export const KEY_SUFFIX = '.key-encryption-key';

/** The signing keys `encrypter` cannot open: what a backup or restore must warn about or refuse. */
function undecryptable<K extends { private_key: string }>(keys: K[], encrypter: { decrypt(sealed: string): unknown }): K[] {
  return keys.filter((k) => {
    try {
      encrypter.decrypt(k.private_key);
      return false;
    } catch {
      return true;
    }
  });
}

async function withDatabase<T>(url: string, create: boolean, fn: (db: DatabaseHandle) => Promise<T>): Promise<T> {
  const db = openDatabase(url, { create });
  try {
    return await fn(db);
  } finally {
    await db.close();
  }
}

export function migrateCommand(): Command {
  return withCommon(new Command('migrate').description('create or upgrade the database schema; --status only shows it'))
    .option('--status', 'list applied and pending migrations; changes nothing')
    .action(async (f: GlobalOptions & { status?: boolean }) => {
      const url = configFrom(f).databaseUrl;
      if (f.status) {
        await withDatabase(url, false, async (db) => {
          const s = await migrationStatus(db);
          const value = {
            database: db.displayUrl,
            applied: s.applied.map((m) => ({ name: m.name, applied_at: m.appliedAt })),
            pending: s.pending,
            unknown: s.unknown,
          };
          output(f, value, (v) => {
            const rows = [
              ...v.applied.map((m) => [m.name, 'applied', m.applied_at]),
              ...v.pending.map((n) => [n, 'pending', '-']),
              ...v.unknown.map((n) => [n, 'unknown', 'applied by a newer Tessera']),
            ];
            const summary = v.unknown.length
              ? 'this database was upgraded by a newer Tessera: this version refuses to use it'
              : v.pending.length
                ? `${v.pending.length} pending: run \`tessera migrate\``
                : 'up to date';
            return `${v.database}: ${summary}\n${table(['MIGRATION', 'STATUS', 'APPLIED'], rows)}`;
          });
        });
        return;
      }
      await withDatabase(url, true, async (db) => {
        const applied = await migrateToLatest(db);
        output(f, { applied, database: db.displayUrl }, (r) =>
          r.applied.length ? `applied ${r.applied.join(', ')} to ${r.database}` : `${r.database} is up to date`,
        );
      });
    });
}

interface BackupFlags extends GlobalOptions {
  out: string;
  key: boolean;
}

export function backupCommand(): Command {
  return withCommon(new Command('backup').description('a consistent copy of the SQLite database while it runs, with its key-encryption key'))
    .requiredOption('--out <file>', 'the backup file to create (must not exist)')
    .option('--no-key', 'do not copy the key-encryption key file beside the backup')
    .action(async (f: BackupFlags) => {
      const config = configFrom(f);
      if (parseDatabaseUrl(config.databaseUrl).dialect !== 'sqlite') {
        throw new CliUsageError('tessera backup copies SQLite databases; back up PostgreSQL with pg_dump (docs/operations.md)');
      }
      const out = resolve(f.out);
      const keyOut = `${out}${KEY_SUFFIX}`;
      if (f.key && existsSync(keyOut)) throw conflict(`${keyOut} already exists; choose a new file for the backup`);
      await withDatabase(config.databaseUrl, false, async (db) => {
        const { bytes } = await backupSqlite(db, out);
        const kek = loadKeyEncrypter(config.keys, { create: false });
        let keyFile: string | null = null;
        if (kek.file && f.key) {
          copyFileSync(kek.file, keyOut, constants.COPYFILE_EXCL);
          chmodSync(keyOut, 0o600);
          keyFile = keyOut;
        }
        const active = (await new KyselyKeyStore(db.db).listUnretired()).filter((k) => k.status === 'active');
        const unreadable = undecryptable(active, kek.encrypter);
        if (unreadable.length) {
          process.stderr.write(
            `tessera: warning: the key-encryption key from ${kek.source} does not decrypt the signing keys ${unreadable.map((k) => k.kid).join(', ')}; a restore of this backup will need the key they were stored with, or \`tessera keys recover\`\n`,
          );
        } else {
          // The other sealed secrets (authenticator apps, providers' client secrets, outbox mail):
          // a restore with this key alone would lose those it does not open.
          const others = await needingAnotherKey(db.db, kek.encrypter);
          if (others.length) {
            process.stderr.write(
              `tessera: warning: the key-encryption key from ${kek.source} alone does not open ${others.length} stored secret(s) (${others.slice(0, 5).join(', ')}${others.length > 5 ? ', …' : ''}); run \`tessera keys reencrypt\` (docs/operations.md) before relying on this backup\n`,
            );
          }
        }
        const keySource = config.keys.encryptionKey ? 'environment' : kek.file ? 'file' : 'missing';
        output(f, { database: db.displayUrl, backup: out, bytes, key_file: keyFile, key_source: keySource }, (r) => {
          const lines = [`backed up ${r.database} to ${r.backup} (${r.bytes} bytes, mode 0600)`];
          if (r.key_file) {
            lines.push(
              `the key-encryption key is in ${r.key_file} (mode 0600): a restore needs both files; whoever holds both can sign tokens, so keep them as safe as the key itself (ideally apart)`,
            );
          } else if (r.key_source === 'environment') {
            lines.push('the key-encryption key comes from TESSERA_KEY_ENCRYPTION_KEY and is not in the backup: keep it in your secret store; a restore needs it');
          } else if (r.key_source === 'file') {
            lines.push(`the key-encryption key (${config.keys.encryptionKeyFile}) was not copied (--no-key): keep it; a restore needs it`);
          } else {
            lines.push(`no key-encryption key found at ${config.keys.encryptionKeyFile}: the signing keys in this backup cannot be decrypted without it`);
          }
          return lines.join('\n');
        });
      });
    });
}

interface RestoreFlags extends GlobalOptions {
  from: string;
  key?: string;
}

export function restoreCommand(): Command {
  return withCommon(new Command('restore').description('restore a `tessera backup` into a new SQLite database (the server stopped)'))
    .requiredOption('--from <file>', 'the backup file')
    .option('--key <file>', `its key-encryption key (default: the backup file's name + ${KEY_SUFFIX}, when present)`)
    .action(async (f: RestoreFlags) => {
      const config = configFrom(f);
      const { dialect, target } = parseDatabaseUrl(config.databaseUrl);
      if (dialect !== 'sqlite') throw new CliUsageError('tessera restore writes SQLite databases; restore PostgreSQL with pg_restore (docs/operations.md)');
      const from = resolve(f.from);
      if (!existsSync(from)) throw new DatabaseAccessError(`the backup ${from} does not exist`);
      if (sqliteFilesExist(target)) {
        throw conflict(`${config.databaseUrl} already exists; restore into a new path (stop the server and move the old database and its -wal and -shm files aside first)`);
      }

      // Which key-encryption key opens the backup's signing keys, and where it must go.
      let keyCopy: { from: string; to: string } | undefined;
      if (!config.keys.encryptionKey) {
        const given = f.key ?? (existsSync(`${from}${KEY_SUFFIX}`) ? `${from}${KEY_SUFFIX}` : undefined);
        const dest = config.keys.encryptionKeyFile;
        if (given !== undefined) {
          if (!existsSync(given)) throw new DatabaseAccessError(`the key file ${given} does not exist`);
          if (existsSync(dest)) {
            if (readFileSync(dest, 'utf8').trim() !== readFileSync(given, 'utf8').trim()) {
              throw conflict(`${dest} already holds a different key-encryption key; move it aside, or point TESSERA_KEY_ENCRYPTION_KEY_FILE elsewhere`);
            }
          } else {
            keyCopy = { from: given, to: dest };
          }
        } else if (!existsSync(dest)) {
          throw new CliUsageError(
            `no key-encryption key for the backup: pass --key FILE (the ${KEY_SUFFIX} file written beside it), or set TESSERA_KEY_ENCRYPTION_KEY`,
          );
        }
      }
      const kek = loadKeyEncrypter(keyCopy ? { encryptionKey: undefined, encryptionKeyFile: keyCopy.from } : config.keys, { create: false });

      try {
        mkdirSync(dirname(resolve(target)), { recursive: true });
        copyFileSync(from, target, constants.COPYFILE_EXCL);
        chmodSync(target, 0o600);
      } catch (error) {
        throw new DatabaseAccessError(`cannot write ${target}: ${fsReason(error)}`);
      }
      let ok = false;
      try {
        const result = await withDatabase(config.databaseUrl, false, async (db) => {
          const status = await migrationStatus(db);
          refuseNewerSchema(db, status);
          if (!status.applied.length) throw new CliUsageError(`${from} is not a Tessera backup (it has no Tessera schema)`);
          const keys = await new KyselyKeyStore(db.db).listUnretired();
          const unreadable = undecryptable(keys, kek.encrypter);
          if (unreadable.length) {
            throw new KeyEncryptionError(
              `the key-encryption key from ${kek.source} does not decrypt the backup's signing keys (${unreadable.map((k) => k.kid).join(', ')}); give the key they were stored with (--key or TESSERA_KEY_ENCRYPTION_KEY)`,
            );
          }
          return { database: db.displayUrl, pending: status.pending };
        });
        if (keyCopy) {
          mkdirSync(dirname(resolve(keyCopy.to)), { recursive: true });
          copyFileSync(keyCopy.from, keyCopy.to, constants.COPYFILE_EXCL);
          chmodSync(keyCopy.to, 0o600);
        }
        ok = true;
        output(f, { ...result, key_file: keyCopy?.to ?? null }, (r) =>
          [
            `restored ${from} into ${r.database}`,
            ...(r.key_file ? [`key-encryption key written to ${r.key_file} (mode 0600)`] : []),
            r.pending.length ? `${r.pending.length} migrations pending: \`tessera serve\` or \`tessera migrate\` applies them` : 'start it with `tessera serve`',
          ].join('\n'),
        );
      } finally {
        if (!ok) for (const p of [target, `${target}-wal`, `${target}-shm`]) rmSync(p, { force: true });
      }
    });
}
