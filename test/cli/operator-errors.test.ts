import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { chmodSync, existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer, type AddressInfo, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, test, vi } from 'vitest';
import { EXIT } from '../../src/cli/exit-codes.ts';
import { openDatabase } from '../../src/storage/database.ts';
import { MIGRATION_NAMES } from '../../src/storage/migrations/index.ts';
import { CLI_MAIN, cliRunner, type CliRun } from '../support/cli-runner.ts';
import { createTestDatabase, DIALECTS, type TestDatabase } from '../support/databases.ts';
import { migrateToBefore } from '../support/migrations.ts';

/**
 * Issue 13, "Errors an operator sees": each mistake gives one line on stderr and the exit
 * code docs/operations.md lists, from a real `tessera` process; commands that only read never
 * migrate or create anything.
 */
vi.setConfig({ testTimeout: 120_000 });

const KEK = Buffer.alloc(32, 7).toString('base64');
const dirs: string[] = [];
function tempDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'tessera-errors-'));
  dirs.push(dir);
  return dir;
}
afterAll(() => {
  for (const dir of dirs) {
    chmodSync(dir, 0o700);
    rmSync(dir, { recursive: true, force: true });
  }
});

/** `tessera args…` with exactly these arguments (no --database added), optionally as another user. */
function run(args: string[], env: Record<string, string> = {}, as?: { uid: number; gid: number }): Promise<CliRun> {
  return new Promise((resolve) => {
    execFile(process.execPath, [CLI_MAIN, ...args], { env: { ...process.env, TESSERA_LOG_LEVEL: 'silent', TESSERA_KEY_ENCRYPTION_KEY: KEK, ...env }, timeout: 60_000, ...as }, (error, stdout, stderr) =>
      resolve({ code: error ? ((error as { code?: number }).code ?? 1) : 0, stdout, stderr }),
    );
  });
}

/** Exit `code`, exactly one line on stderr matching `pattern`, and no stack trace. */
function expectOneLine(r: CliRun, code: number, pattern: RegExp): void {
  expect(r.code, r.stderr).toBe(code);
  const lines = r.stderr.trimEnd().split('\n');
  expect(lines, r.stderr).toHaveLength(1);
  expect(lines[0]).toMatch(pattern);
  expect(r.stderr).not.toMatch(/unexpected error|\n\s+at /);
}

describe('settings, port and data directory', () => {
  let sqliteUrl: string;
  beforeAll(async () => {
    sqliteUrl = `sqlite:${join(tempDir(), 'tessera.db')}`;
    expect((await run(['migrate', '--database', sqliteUrl])).code).toBe(0);
  });

  test('an invalid TESSERA_LOG_LEVEL or other setting: usage error, exit 2', async () => {
    const [level, ttl, url, kek] = await Promise.all([
      run(['serve', '--port', '0', '--database', sqliteUrl], { TESSERA_LOG_LEVEL: 'loud' }),
      run(['users', 'list', '--database', sqliteUrl], { TESSERA_ACCESS_TOKEN_TTL: 'soon' }),
      run(['users', 'list', '--database', 'mysql://nope']),
      run(['users', 'list', '--database', sqliteUrl], { TESSERA_KEY_ENCRYPTION_KEY: 'c2hvcnQ=' }),
    ]);
    expectOneLine(level, EXIT.usage, /^tessera: TESSERA_LOG_LEVEL must be one of fatal, error, warn, info, debug, trace, silent \(got "loud"\)$/);
    expectOneLine(ttl, EXIT.usage, /TESSERA_ACCESS_TOKEN_TTL must be a whole number/);
    expectOneLine(url, EXIT.usage, /database URL must start with sqlite: or postgres:\/\//);
    expectOneLine(kek, EXIT.usage, /TESSERA_KEY_ENCRYPTION_KEY must hold base64 of 32 random bytes/);
  });

  describe('a port in use', () => {
    let blocker: Server;
    let port: number;
    beforeAll(async () => {
      blocker = createServer();
      await new Promise<void>((resolve) => blocker.listen(0, '127.0.0.1', resolve));
      port = (blocker.address() as AddressInfo).port;
    });
    afterAll(() => new Promise<void>((resolve) => blocker.close(() => resolve())));

    test('serve exits 6 with one line, alone or with workers', async () => {
      const message = new RegExp(`^tessera: cannot listen on 127\\.0\\.0\\.1:${port}: the address is already in use`);
      expectOneLine(await run(['serve', '--port', String(port), '--database', sqliteUrl]), EXIT.listen, message);
      expectOneLine(await run(['serve', '--port', String(port), '--workers', '2', '--database', sqliteUrl]), EXIT.listen, message);
    });
  });

  test('a read-only data directory: exit 3 naming the database, for serve and for a command', async () => {
    const dir = tempDir();
    const url = `sqlite:${join(dir, 'tessera.db')}`;
    expect((await run(['migrate', '--database', url])).code).toBe(0);
    chmodSync(join(dir, 'tessera.db'), 0o600);
    chmodSync(dir, 0o555);
    // root writes anywhere whatever the mode bits: run as nobody then.
    const as = process.getuid?.() === 0 ? { uid: 65534, gid: 65534 } : undefined;
    const message = /^tessera: cannot use the database sqlite:.*tessera\.db: (attempt to write a readonly database|unable to open database file) \(Tessera must be able to write/;
    expectOneLine(await run(['serve', '--port', '0', '--database', url], {}, as), EXIT.database, message);
    expectOneLine(await run(['users', 'create', '--username', 'ro', '--password', 'correct horse battery staple', '--database', url], {}, as), EXIT.database, message);
    expectOneLine(await run(['serve', '--port', '0', '--database', `sqlite:${join(dir, 'new', 'tessera.db')}`], {}, as), EXIT.database, /^tessera: cannot create the directory of sqlite:.*: permission denied$/);
  });

  test('--database naming no SQLite file: refused (exit 3) and not created, except by migrate and serve', async () => {
    const dir = tempDir();
    const path = join(dir, 'wrong', 'path.db');
    const message = new RegExp(`^tessera: database sqlite:${path.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')} does not exist; check --database`);
    const commands = [['users', 'list'], ['users', 'create', '--username', 'x', '--password', 'correct horse battery staple'], ['migrate', '--status']];
    for (const r of await Promise.all(commands.map((args) => run([...args, '--database', `sqlite:${path}`])))) expectOneLine(r, EXIT.database, message);
    expect(existsSync(join(dir, 'wrong'))).toBe(false);
    expect((await run(['migrate', '--database', `sqlite:${path}`])).code).toBe(0);
    expect(existsSync(path)).toBe(true);
  });
});

describe.each(DIALECTS)('schema versions (%s)', (dialect) => {
  let database: TestDatabase;
  const env = { TESSERA_LOG_LEVEL: 'silent', TESSERA_KEY_ENCRYPTION_KEY: KEK };
  const { tessera, json } = cliRunner(() => ({ databaseUrl: database.url, env }));

  beforeAll(async () => {
    database = await createTestDatabase(dialect);
  });
  afterAll(async () => database?.drop());

  /** What would show that something wrote: the migrations, the tables, the signing keys, and for SQLite the file's bytes. */
  async function fingerprint(): Promise<string> {
    const handle = openDatabase(database.url, { create: false });
    try {
      const tables =
        dialect === 'sqlite'
          ? (await sql<{ name: string }>`select name from sqlite_master where type = 'table' order by name`.execute(handle.db)).rows
          : (await sql<{ name: string }>`select table_name as name from information_schema.tables where table_schema = 'public' order by table_name`.execute(handle.db)).rows;
      const names = tables.map((t) => t.name);
      const migrations = names.includes('tessera_migrations') ? (await sql<{ name: string }>`select name from tessera_migrations order by name`.execute(handle.db)).rows : [];
      const keys = names.includes('signing_keys') ? (await sql<{ n: number }>`select count(*) as n from signing_keys`.execute(handle.db)).rows[0]!.n : -1;
      return JSON.stringify({ names, migrations, keys: Number(keys) });
    } finally {
      await handle.close();
    }
  }
  const fileHash = () => (dialect === 'sqlite' ? createHash('sha256').update(readFileSync(database.url.slice('sqlite:'.length))).digest('hex') : '');

  test('an empty database: read-only commands refuse (exit 4) and create nothing', async () => {
    if (dialect === 'sqlite') {
      // An SQLite file that exists but has no schema (e.g. created by another tool).
      const handle = openDatabase(database.url);
      await handle.close();
    }
    const before = await fingerprint();
    const hash = fileHash();
    const [list, status] = await Promise.all([tessera(['users', 'list']), json(['migrate', '--status'])]);
    expectOneLine(list, EXIT.schema, /has no Tessera schema; run `tessera migrate`/);
    expect(status).toMatchObject({ applied: [], pending: [...MIGRATION_NAMES], unknown: [] });
    expect(await fingerprint()).toBe(before);
    expect(fileHash()).toBe(hash);
  });

  test('an older schema: read-only commands never migrate and say what to run; migrate --status lists applied and pending', async () => {
    // Bring the database to the state an earlier release left it in: all but the last migration.
    const handle = openDatabase(database.url);
    await migrateToBefore(handle, dialect);
    await handle.close();

    const before = await fingerprint();
    const hash = fileHash();
    const commands = [['users', 'list'], ['keys', 'list'], ['audit', 'list'], ['settings', 'get']];
    for (const r of await Promise.all(commands.map((args) => tessera(args)))) {
      expectOneLine(r, EXIT.schema, new RegExp(`needs migrating \\(pending: ${MIGRATION_NAMES.at(-1)}\\); run \`tessera migrate\``));
    }
    const [status, human] = await Promise.all([json(['migrate', '--status']), tessera(['migrate', '--status'])]);
    expect(status.applied.map((m: { name: string }) => m.name)).toEqual(MIGRATION_NAMES.slice(0, -1));
    expect(status.applied.every((m: { applied_at: string }) => !Number.isNaN(Date.parse(m.applied_at)))).toBe(true);
    expect(status.pending).toEqual([MIGRATION_NAMES.at(-1)]);
    expect(human.stdout).toMatch(/1 pending: run `tessera migrate`/);
    expect(human.stdout).toMatch(new RegExp(`${MIGRATION_NAMES.at(-1)}\\s+pending`));
    expect(await fingerprint()).toBe(before);
    expect(fileHash()).toBe(hash);

    // A command that changes something migrates first, as before.
    await json(['users', 'create', '--username', 'after-upgrade', '--password', 'correct horse battery staple']);
    expect((await json(['migrate', '--status'])).pending).toEqual([]);
    expect((await json(['users', 'list'])).map((u: { username: string }) => u.username)).toEqual(['after-upgrade']);
  });

  test('a schema from a newer Tessera (a migration this code does not know): serve, migrate and every command refuse with exit 4', async () => {
    const handle = openDatabase(database.url);
    await sql`insert into tessera_migrations (name, timestamp) values (${'9999-from-the-future'}, ${new Date().toISOString()})`.execute(handle.db);
    await handle.close();
    const message = /^tessera: the database .* was upgraded by a newer Tessera \(migrations this version does not know: 9999-from-the-future\); run that version or newer, or restore a backup taken before the upgrade$/;
    // One at a time: these open the same SQLite file.
    for (const args of [['serve', '--port', '0'], ['migrate'], ['users', 'list'], ['users', 'create', '--username', 'y', '--password', 'correct horse battery staple']]) {
      expectOneLine(await tessera(args), EXIT.schema, message);
    }
    const status = await tessera(['migrate', '--status']);
    expect(status.stdout).toMatch(/upgraded by a newer Tessera[\s\S]*9999-from-the-future\s+unknown/);
  });
});
