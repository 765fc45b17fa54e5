import { dirname, resolve } from 'node:path';
import { Kysely, Migrator, PostgresDialect, sql, type LogEvent } from 'kysely';
import pg from 'pg';
import type { Logger } from '../lib/logger.ts';
import { nodeSqliteDialect, openSqlite } from './node-sqlite-dialect.ts';
import { StaticMigrationProvider } from './migrations/index.ts';
import { createPrivateDirectory, createPrivateFile, tightenPrivateFiles } from './private-files.ts';
import type { Database } from './schema.ts';

export type Dialect = 'sqlite' | 'postgres';

export interface DatabaseHandle {
  db: Kysely<Database>;
  dialect: Dialect;
  /** The URL with any password removed, safe to print. */
  displayUrl: string;
  /** Failures counted for the metrics: statements that failed, connections lost (PostgreSQL). */
  stats: DatabaseStats;
  /** The PostgreSQL pool's connections right now; undefined on SQLite (no pool). */
  pool(): PoolStats | undefined;
  /**
   * PostgreSQL: a new client outside the pool, for a connection that LISTENs (a session of
   * its own, held for the node's life; see change-notifications.ts). Not connected yet.
   */
  listenerClient?: () => pg.Client;
  close(): Promise<void>;
}

/** How the listening connection names itself in pg_stat_activity. */
export const LISTENER_APPLICATION_NAME = 'tessera change listener';
/**
 * How long a listening connection may take to connect before the attempt counts as failed
 * (the node polls at its normal rate meanwhile; a loaded database can take seconds).
 */
const LISTENER_CONNECT_TIMEOUT_MS = 30_000;

export interface DatabaseStats {
  queryErrors: number;
  connectionErrors: number;
}

export interface PoolStats {
  /** Connections open (idle + in use). */
  total: number;
  idle: number;
  /** Queries waiting for a connection. */
  waiting: number;
  max: number;
}

/** Kysely's log hook: counts failed statements (Kysely reports each one once, whatever the dialect). */
function countErrors(stats: DatabaseStats) {
  return (event: LogEvent) => {
    if (event.level === 'error') stats.queryErrors++;
  };
}

export class DatabaseUrlError extends Error {}

// int8 (bigint) columns hold epoch seconds; they fit a JS number, so parse them as one.
pg.types.setTypeParser(20, (value: string) => Number(value));

export function parseDatabaseUrl(url: string): { dialect: Dialect; target: string } {
  if (url.startsWith('sqlite:')) {
    const path = url.slice('sqlite:'.length).replace(/^\/\/(?=\/)/, '');
    if (!path) throw new DatabaseUrlError('database URL "sqlite:" needs a path, e.g. sqlite:./data/tessera.db');
    return { dialect: 'sqlite', target: path };
  }
  if (url.startsWith('postgres://') || url.startsWith('postgresql://')) {
    try {
      new URL(url);
    } catch {
      throw new DatabaseUrlError(`database URL is not a valid postgres:// URL`);
    }
    return { dialect: 'postgres', target: url };
  }
  throw new DatabaseUrlError('database URL must start with sqlite: or postgres://');
}

export function redactDatabaseUrl(url: string): string {
  if (!url.startsWith('postgres')) return url;
  try {
    const u = new URL(url);
    if (u.password) u.password = '***';
    return u.toString();
  } catch {
    return 'postgres://…';
  }
}

export function openDatabase(url: string, options: { poolSize?: number; log?: Logger } = {}): DatabaseHandle {
  const { dialect, target } = parseDatabaseUrl(url);
  if (dialect === 'sqlite') {
    if (target !== ':memory:') prepareSqliteFile(target, options.log);
    const raw = openSqlite(target);
    const stats: DatabaseStats = { queryErrors: 0, connectionErrors: 0 };
    const db = new Kysely<Database>({ dialect: nodeSqliteDialect(raw), log: countErrors(stats) });
    return {
      db,
      dialect,
      displayUrl: url,
      stats,
      pool: () => undefined,
      close: async () => {
        await db.destroy();
      },
    };
  }
  const max = options.poolSize ?? 10;
  const pool = new pg.Pool({ connectionString: target, max });
  const stats: DatabaseStats = { queryErrors: 0, connectionErrors: 0 };
  // A connection lost under a client (database restarted, backend terminated) is emitted as an
  // 'error' event on that client; with no listener Node turns it into an uncaught exception and
  // the process dies. pg-pool listens only while a client is idle in the pool, not while a
  // query holds it, so every client gets a listener of its own. A query running on it fails on
  // its own; the pool drops the client and connects anew on the next query.
  pool.on('connect', (client) => {
    client.on('error', (error) => {
      stats.connectionErrors++;
      options.log?.warn({ err: error }, 'a database connection was lost');
    });
  });
  // Reported already by the client's own listener above.
  pool.on('error', () => {});
  const db = new Kysely<Database>({ dialect: new PostgresDialect({ pool }), log: countErrors(stats) });
  return {
    db,
    dialect,
    displayUrl: redactDatabaseUrl(url),
    // TCP keepalive: a connection that dies without a word (a network partition) is noticed.
    listenerClient: () => new pg.Client({ connectionString: target, application_name: LISTENER_APPLICATION_NAME, keepAlive: true, connectionTimeoutMillis: LISTENER_CONNECT_TIMEOUT_MS }),
    stats,
    pool: () => ({ total: pool.totalCount, idle: pool.idleCount, waiting: pool.waitingCount, max }),
    close: async () => {
      await db.destroy();
    },
  };
}

/**
 * The database file is owner-only before SQLite opens it: SQLite would create it 0644, and it
 * gives its -wal, -shm and -journal files the main file's mode, so an empty 0600 file made
 * first keeps all four owner-only. A directory Tessera creates is 0700. Files an earlier
 * version left open to others are tightened, with a warning each.
 */
function prepareSqliteFile(target: string, log: Logger | undefined): void {
  const path = resolve(target);
  createPrivateDirectory(dirname(path));
  createPrivateFile(path);
  for (const warning of tightenPrivateFiles([path, `${path}-wal`, `${path}-shm`, `${path}-journal`])) {
    log?.warn({ path }, warning);
  }
}

export async function migrateToLatest(handle: DatabaseHandle): Promise<string[]> {
  const migrator = new Migrator({
    db: handle.db,
    provider: new StaticMigrationProvider({ dialect: handle.dialect }),
    migrationTableName: 'tessera_migrations',
    migrationLockTableName: 'tessera_migrations_lock',
  });
  const { error, results } = await migrator.migrateToLatest();
  if (error) throw error instanceof Error ? error : new Error(String(error));
  return (results ?? []).filter((r) => r.status === 'Success').map((r) => r.migrationName);
}

/**
 * One round trip to the database (health checks). On PostgreSQL it also returns the database
 * server's clock in epoch seconds, to compare with this node's; SQLite runs in this process,
 * so there is no other clock to read.
 */
export async function probeDatabase(handle: DatabaseHandle): Promise<{ serverTime: number | undefined }> {
  if (handle.dialect === 'postgres') {
    const row = await sql<{ now: number }>`select extract(epoch from now())::float8 as now`.execute(handle.db);
    return { serverTime: row.rows[0]?.now ?? 0 };
  }
  await sql`select 1`.execute(handle.db);
  return { serverTime: undefined };
}
