import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { Socket } from 'node:net';
import { createPostgresDatabase } from '../../test/support/databases.ts';
import { run, startChild, type Child } from './child.ts';

export const ROOT = resolve(import.meta.dirname, '..', '..');
/** The CLI of a checkout: this one, or another one to compare with (`--baseline DIR`). */
const cliOf = (root: string) => join(root, 'bin', 'tessera');

export const REDIRECT_URI = 'http://127.0.0.1:9/cb';
export const USERNAME = 'bench-user';
export const PASSWORD = 'bench correct horse battery';
export const GATEWAY_PATH = '/bench-api/items';

export type Dialect = 'sqlite' | 'postgres';

/** A provisioned Tessera database: the apps and user every scenario uses. */
export interface TesseraSetup {
  dialect: Dialect;
  databaseUrl: string;
  /** The checkout whose `bin/tessera` set it up and serves it. */
  root: string;
  env: Record<string, string>;
  /** Confidential client_credentials app (scope bench.read, the gateway's scope). */
  service: { id: string; secret: string };
  /** Confidential authorization_code app (openid offline_access), redirect REDIRECT_URI. */
  web: { id: string; secret: string };
  drop(): Promise<void>;
}

export const POSTGRES_ADMIN_URL = process.env.TESSERA_BENCH_POSTGRES_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';

/** True when something listens on PostgreSQL's address (the bench then adds its rows). */
export function postgresReachable(): Promise<boolean> {
  const url = new URL(POSTGRES_ADMIN_URL);
  return new Promise((done) => {
    const socket = new Socket();
    const finish = (ok: boolean) => {
      socket.destroy();
      done(ok);
    };
    socket.setTimeout(1000, () => finish(false));
    socket.once('error', () => finish(false));
    socket.connect(Number(url.port || 5432), url.hostname, () => finish(true));
  });
}

async function createDatabase(dialect: Dialect): Promise<{ url: string; dir: string; drop(): Promise<void> }> {
  const dir = mkdtempSync(join(tmpdir(), 'tessera-bench-'));
  if (dialect === 'sqlite') {
    return { url: `sqlite:${join(dir, 't.db')}`, dir, drop: async () => rmSync(dir, { recursive: true, force: true }) };
  }
  const db = await createPostgresDatabase(POSTGRES_ADMIN_URL, 'tessera_bench');
  return {
    url: db.url,
    dir,
    drop: async () => {
      rmSync(dir, { recursive: true, force: true });
      await db.drop();
    },
  };
}

async function cli(root: string, env: Record<string, string>, databaseUrl: string, args: string[]): Promise<unknown> {
  const out = await run('sh', [cliOf(root), ...args, '--database', databaseUrl, '--json'], { env, cwd: root });
  return JSON.parse(out);
}

/**
 * A fresh database set up through the real CLI (docs/cli.md), as an operator would:
 * a user who may approve apps, the gateway's API, and the two apps.
 */
export async function provisionTessera(dialect: Dialect, upstreamUrl: string, root = ROOT): Promise<TesseraSetup> {
  const db = await createDatabase(dialect);
  const env: Record<string, string> = {
    TESSERA_KEY_ENCRYPTION_KEY_FILE: join(db.dir, 'kek'),
    TESSERA_ADMIN_PASSWORD: 'bench-admin-password',
    TESSERA_REDIRECT_URI_POLICY: 'development',
    TESSERA_LOG_LEVEL: 'error',
  };
  try {
    // Only `migrate` and `serve` create a database; every other command refuses a missing one.
    await cli(root, env, db.url, ['migrate']);
    // The redirect-URI policy is a saved setting; a baseline checkout older than
    // `tessera settings` has no such command and reads TESSERA_REDIRECT_URI_POLICY instead.
    const settingsCommand = await cli(root, env, db.url, ['settings', 'set', 'redirect_uri_policy', 'development']).then(
      () => true,
      (error: unknown) => error,
    );
    if (settingsCommand !== true && root === ROOT) throw settingsCommand;
    await cli(root, env, db.url, ['users', 'create', '--username', USERNAME, '--password', PASSWORD, '--role', 'developer']);
    await cli(root, env, db.url, [
      'apis', 'create', '--name', 'Bench', '--base-path', '/bench-api', '--upstream', upstreamUrl,
      '--scope', 'bench.read=Read bench items', '--route', 'GET /items bench.read',
    ]);
    const service = (await cli(root, env, db.url, ['clients', 'create', '--name', 'Bench service', '--grant', 'client_credentials', '--scope', 'bench.read'])) as { client_id: string; client_secret: string };
    const web = (await cli(root, env, db.url, [
      'clients', 'create', '--name', 'Bench web', '--grant', 'authorization_code', '--redirect-uri', REDIRECT_URI, '--scope', 'openid offline_access',
    ])) as { client_id: string; client_secret: string };
    return {
      dialect,
      databaseUrl: db.url,
      root,
      env,
      service: { id: service.client_id, secret: service.client_secret },
      web: { id: web.client_id, secret: web.client_secret },
      drop: db.drop,
    };
  } catch (error) {
    await db.drop();
    throw error;
  }
}

export interface StartOptions {
  workers?: number;
  /** Directory for `--cpu-prof` output (the profile is written when the server stops). */
  cpuProfDir?: string;
}

/** `tessera serve --port 0` as a child process; resolves once it prints its URL. */
export function startTessera(name: string, setup: TesseraSetup, options: StartOptions = {}): Promise<Child> {
  const args = [cliOf(setup.root), 'serve', '--port', '0', '--database', setup.databaseUrl];
  if (options.workers && options.workers > 1) args.push('--workers', String(options.workers));
  const env: Record<string, string | undefined> = { ...setup.env };
  if (options.cpuProfDir) env.NODE_OPTIONS = `${process.env.NODE_OPTIONS ?? ''} --cpu-prof --cpu-prof-dir=${options.cpuProfDir}`.trim();
  return startChild(name, 'sh', args, { env, cwd: setup.root, timeoutMs: 60_000 });
}

/** Whether this checkout's `tessera serve` knows `--workers` (added in the same release). */
export async function supportsWorkers(): Promise<boolean> {
  try {
    const help = await run('sh', [cliOf(ROOT), 'serve', '--help'], { cwd: ROOT });
    return help.includes('--workers');
  } catch {
    return false;
  }
}
