import { existsSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { Kysely, Migrator, PostgresDialect, sql, type LogEvent } from 'kysely';
import pg from 'pg';
import type { Logger } from '../lib/logger.ts';
import { nodeSqliteDialect, openSqlite } from './node-sqlite-dialect.ts';
import { PgGroupCommit } from './pg-group-commit.ts';
import { CHECKPOINT_DEFAULTS, SqliteCheckpointer, type SqliteCheckpointerOptions } from './sqlite-checkpointer.ts';
import { SqliteStatements } from './sqlite-statements.ts';
import { MIGRATION_NAMES, StaticMigrationProvider } from './migrations/index.ts';
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
  /** SQLite: prepared statements on the same connection, for the hot write paths (sqlite-statements.ts). */
  sqlite?: SqliteStatements;
  /** PostgreSQL: the hot paths' writes, committed in groups (pg-group-commit.ts). */
  groupCommit?: PgGroupCommit;
  /**
   * SQLite file databases: checkpoint the WAL on a thread of its own from now on
   * (sqlite-checkpointer.ts), what a serving node does (Tessera's `startBackground`). Commands
   * that open the database briefly never call it: their connection checkpoints as SQLite
   * does by default. Started once; a second call answers the same checkpointer. A thread that
   * cannot be created is logged and answers undefined: the connection keeps checkpointing
   * itself and the node serves on. close() stops the thread before the connection closes.
   * Absent on PostgreSQL and `:memory:`.
   */
  startWalCheckpoints?: (options: SqliteCheckpointerOptions) => SqliteCheckpointer | undefined;
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

/** The database cannot be used: it does not exist, cannot be reached, or cannot be written. */
export class DatabaseAccessError extends Error {}

/**
 * The schema does not match this code: migrations this version does not know (a newer
 * Tessera upgraded the database), or pending ones where nothing may migrate.
 */
export class SchemaMismatchError extends Error {}

export interface OpenDatabaseOptions {
  poolSize?: number;
  /** SQLite only: PRAGMA synchronous (TESSERA_SQLITE_SYNCHRONOUS); default normal. */
  sqliteSynchronous?: 'normal' | 'full';
  log?: Logger;
  /**
   * Create an SQLite file (and its directory) that does not exist yet. Only `serve` and
   * `migrate` do; every other command refuses a path that names no database (a typo in
   * --database would otherwise make an empty one and answer from it).
   */
  create?: boolean;
}

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

export function openDatabase(url: string, options: OpenDatabaseOptions = {}): DatabaseHandle {
  const { dialect, target } = parseDatabaseUrl(url);
  if (dialect === 'sqlite') {
    if (target !== ':memory:') {
      if (options.create === false && !existsSync(target)) {
        throw new DatabaseAccessError(
          `database ${url} does not exist; check --database (or TESSERA_DATABASE_URL), or create it with \`tessera migrate\``,
        );
      }
      try {
        prepareSqliteFile(target, options.log);
      } catch (error) {
        const code = (error as { code?: string }).code;
        if (code === 'EACCES' || code === 'EPERM' || code === 'EROFS' || code === 'ENOENT' || code === 'ENOTDIR') {
          throw new DatabaseAccessError(`cannot create the directory of ${url}: ${fsReason(error)}`);
        }
        throw error;
      }
    }
    let raw;
    try {
      raw = openSqlite(target, options.sqliteSynchronous);
    } catch (error) {
      throw sqliteAccessError(url, error) ?? error;
    }
    const stats: DatabaseStats = { queryErrors: 0, connectionErrors: 0 };
    const db = new Kysely<Database>({ dialect: nodeSqliteDialect(raw), log: countErrors(stats) });
    const statements = new SqliteStatements(raw, db, stats);
    let checkpointer: SqliteCheckpointer | undefined;
    return {
      db,
      dialect,
      displayUrl: url,
      stats,
      sqlite: statements,
      pool: () => undefined,
      ...(target === ':memory:'
        ? {}
        : {
            startWalCheckpoints: (checkpointOptions: SqliteCheckpointerOptions) => {
              if (checkpointer) return checkpointer;
              let started: SqliteCheckpointer;
              try {
                started = new SqliteCheckpointer(raw, resolve(target), { writes: statements, ...checkpointOptions });
              } catch (error) {
                checkpointOptions.log.error({ err: error }, 'the WAL checkpoint thread could not start; the database connection checkpoints the WAL itself');
                return undefined;
              }
              checkpointer = started;
              statements.afterCommits(checkpointOptions.nudgeEveryBatches ?? CHECKPOINT_DEFAULTS.nudgeEveryBatches, () => started.nudge());
              return started;
            },
          }),
      close: async () => {
        if (checkpointer) {
          statements.afterCommits(0, undefined);
          await checkpointer.stop();
        }
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
    groupCommit: new PgGroupCommit(pool, stats),
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

/** A failed file-system call's reason in words ("permission denied", "read-only file system"…). */
export function fsReason(error: unknown): string {
  const code = (error as { code?: string }).code;
  const reasons: Record<string, string> = {
    EACCES: 'permission denied',
    EPERM: 'operation not permitted',
    EROFS: 'read-only file system',
    ENOENT: 'no such file or directory',
    ENOTDIR: 'a part of the path is not a directory',
    ENOSPC: 'no space left on the device',
  };
  return (code && reasons[code]) ?? (error instanceof Error ? error.message : String(error));
}

/**
 * SQLite's "cannot open" and "read-only" failures (a read-only data directory: SQLite also
 * writes the -wal and -shm files beside the database) as one operator-readable error.
 */
export function sqliteAccessError(url: string, error: unknown): DatabaseAccessError | undefined {
  const e = error as { code?: string; errcode?: number; errstr?: string; message?: string };
  if (e?.code !== 'ERR_SQLITE_ERROR' || typeof e.errcode !== 'number') return undefined;
  // Primary result codes (extended codes keep them in the low byte): READONLY, CANTOPEN, PERM, IOERR, FULL.
  const primary = e.errcode & 0xff;
  if (![3, 8, 10, 13, 14].includes(primary)) return undefined;
  return new DatabaseAccessError(
    `cannot use the database ${url}: ${e.errstr ?? e.message} (Tessera must be able to write the file and create its -wal and -shm files in the same directory)`,
  );
}

export interface MigrationStatus {
  /** Migrations recorded in the database that this code knows, oldest first. */
  applied: Array<{ name: string; appliedAt: string }>;
  /** Migrations this code has and the database lacks. */
  pending: string[];
  /** Migrations recorded in the database that this code does not know: a newer version ran. */
  unknown: string[];
}

const MIGRATION_TABLE = 'tessera_migrations';

/** What `tessera migrate --status` shows; reads only (no table is created). */
export async function migrationStatus(handle: DatabaseHandle): Promise<MigrationStatus> {
  const exists =
    handle.dialect === 'sqlite'
      ? (await sql<{ n: number }>`select count(*) as n from sqlite_master where type = 'table' and name = ${MIGRATION_TABLE}`.execute(handle.db)).rows[0]!.n > 0
      : (await sql<{ t: string | null }>`select to_regclass(${MIGRATION_TABLE})::text as t`.execute(handle.db)).rows[0]!.t !== null;
  const rows = exists
    ? (await sql<{ name: string; timestamp: string }>`select "name", "timestamp" from ${sql.table(MIGRATION_TABLE)} order by "name"`.execute(handle.db)).rows
    : [];
  const known = new Set(MIGRATION_NAMES);
  const done = new Set(rows.map((r) => r.name));
  return {
    applied: rows.filter((r) => known.has(r.name)).map((r) => ({ name: r.name, appliedAt: new Date(r.timestamp).toISOString() })),
    pending: MIGRATION_NAMES.filter((n) => !done.has(n)),
    unknown: rows.filter((r) => !known.has(r.name)).map((r) => r.name),
  };
}

/** Refuses a database upgraded by a newer Tessera: this code would misread or damage it. */
export function refuseNewerSchema(handle: DatabaseHandle, status: MigrationStatus): void {
  if (!status.unknown.length) return;
  throw new SchemaMismatchError(
    `the database ${handle.displayUrl} was upgraded by a newer Tessera (migrations this version does not know: ${status.unknown.join(', ')}); run that version or newer, or restore a backup taken before the upgrade`,
  );
}

/**
 * For commands that never migrate (list, show, get…): the schema must be exactly this
 * code's. An older one is left alone, with the command to run.
 */
export async function requireCurrentSchema(handle: DatabaseHandle): Promise<void> {
  const status = await migrationStatus(handle);
  refuseNewerSchema(handle, status);
  if (status.pending.length) {
    throw new SchemaMismatchError(
      status.applied.length
        ? `the database ${handle.displayUrl} needs migrating (pending: ${status.pending.join(', ')}); run \`tessera migrate\` (or start \`tessera serve\`, which migrates)`
        : `the database ${handle.displayUrl} has no Tessera schema; run \`tessera migrate\` (or start \`tessera serve\`) first`,
    );
  }
}

export async function migrateToLatest(handle: DatabaseHandle): Promise<string[]> {
  refuseNewerSchema(handle, await migrationStatus(handle));
  const migrator = new Migrator({
    db: handle.db,
    provider: new StaticMigrationProvider({ dialect: handle.dialect }),
    migrationTableName: 'tessera_migrations',
    migrationLockTableName: 'tessera_migrations_lock',
    // Numbers are handed out to work in parallel, so one may land after a higher one (0020 after
    // 0022): a database that already ran the higher one still gets the lower one, instead of
    // Kysely's "corrupted migrations" refusal. Each migration touches only its own columns/tables.
    allowUnorderedMigrations: true,
  });
  const { error, results } = await migrator.migrateToLatest();
  if (error) throw (handle.dialect === 'sqlite' && sqliteAccessError(handle.displayUrl, error)) || (error instanceof Error ? error : new Error(String(error)));
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
