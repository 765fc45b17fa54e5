import { userInfo } from 'node:os';
import { Command, Option } from 'commander';
import { openTessera, type Tessera } from '../app/tessera.ts';
import { operator, type Actor } from '../audit/actor.ts';
import { loadConfig, type ConfigOverrides, type TesseraConfig } from '../config/config.ts';
import { stderrLogger } from '../lib/logger.ts';

export interface GlobalOptions {
  database?: string;
  json?: boolean;
}

/** Every command takes --database and --json (docs/cli.md). */
export function withCommon(cmd: Command): Command {
  return cmd
    .addOption(new Option('--database <url>', 'sqlite:<path> or postgres://… (env TESSERA_DATABASE_URL)'))
    .addOption(new Option('--json', 'print JSON instead of text'));
}

export function configFrom(opts: GlobalOptions, extra: ConfigOverrides = {}): TesseraConfig {
  return loadConfig(process.env, { databaseUrl: opts.database, ...extra });
}

/**
 * Opens Tessera for a command that changes something: pending migrations run first (a newer
 * schema is refused). The database must exist: only `serve` and `migrate` create one, so a
 * mistyped --database fails instead of answering from a new empty database. Signing keys
 * that cannot be decrypted do not stop it (`tessera keys recover` is the way out).
 */
export async function withTessera<T>(opts: GlobalOptions, fn: (t: Tessera) => Promise<T>): Promise<T> {
  return run(opts, fn, false);
}

/** For a command that only reads: never migrates and writes nothing (docs/operations.md). */
export async function readTessera<T>(opts: GlobalOptions, fn: (t: Tessera) => Promise<T>): Promise<T> {
  return run(opts, fn, true);
}

async function run<T>(opts: GlobalOptions, fn: (t: Tessera) => Promise<T>, readOnly: boolean): Promise<T> {
  const warn = (m: string) => process.stderr.write(`tessera: warning: ${m}\n`);
  const tessera = await openTessera(configFrom(opts), {
    warn,
    log: stderrLogger(),
    readOnly,
    createDatabase: false,
    requireSigningKeys: false,
  });
  try {
    const ignored = tessera.environmentSettingsWarning();
    if (ignored) warn(ignored);
    return await fn(tessera);
  } finally {
    await tessera.close();
  }
}

/** Prints `value` as JSON with --json, else the human text `render` makes of it. */
export function output<T>(opts: GlobalOptions, value: T, render: (v: T) => string): void {
  process.stdout.write(opts.json ? `${JSON.stringify(value, null, 2)}\n` : `${render(value)}\n`);
}

export function collect(value: string, previous: string[] = []): string[] {
  return [...previous, value];
}

export async function readStdin(): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString('utf8').replace(/\r?\n$/, '');
}

/** Aligned "key: value" lines for human output. */
export function fields(entries: Array<[string, unknown]>): string {
  const width = Math.max(...entries.map(([k]) => k.length));
  return entries
    .map(([k, v]) => `${`${k}:`.padEnd(width + 2)}${Array.isArray(v) ? (v.length ? v.join(', ') : '-') : v === null || v === undefined || v === '' ? '-' : String(v)}`)
    .join('\n');
}

export function table(headers: string[], rows: string[][]): string {
  if (!rows.length) return '(none)';
  const widths = headers.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: string[]) => cells.map((c, i) => c.padEnd(widths[i]!)).join('  ').trimEnd();
  return [line(headers), ...rows.map(line)].join('\n');
}

/** Who makes changes from the CLI (the audit log's actor): the operating-system user. */
export function cliActor(): Actor {
  try {
    return operator(userInfo().username);
  } catch {
    // No passwd entry (some containers).
    return operator('unknown');
  }
}
