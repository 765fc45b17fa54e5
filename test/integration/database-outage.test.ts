import { spawn } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, test, vi } from 'vitest';
import { createTestDatabase, POSTGRES_ADMIN_URL } from '../support/databases.ts';
import { basic, postForm, startTestServer, type TestServer } from '../support/server.ts';
import { SYSTEM } from '../../src/audit/actor.ts';

/**
 * DESIGN.md: background work logs and survives its failures; an unhandled rejection is a bug.
 * The database goes away under a running server (its connections killed, new ones refused)
 * and comes back: the server keeps answering what needs no database, says it is not ready,
 * never crashes, and recovers by itself.
 */
/** Refuses new connections to `database` and kills the open ones (or lets them in again). */
async function setConnections(admin: pg.Client, database: string, allowed: boolean): Promise<void> {
  await admin.query(`alter database ${database} allow_connections ${allowed}`);
  if (!allowed) await admin.query('select pg_terminate_backend(pid) from pg_stat_activity where datname = $1 and pid <> pg_backend_pid()', [database]);
}

describe('the database goes away under a running server (PostgreSQL)', () => {
  let server: TestServer;
  let admin: pg.Client;
  let database: string;
  // What would have ended a server process: an unhandled rejection or an uncaught exception
  // (pg emits a lost connection as an 'error' event on its client).
  const crashes: unknown[] = [];
  const onCrash = (reason: unknown) => crashes.push(reason);

  beforeAll(async () => {
    process.on('unhandledRejection', onCrash);
    process.on('uncaughtExceptionMonitor', onCrash);
    server = await startTestServer('postgres', { env: { TESSERA_CHANGE_POLL_MS: '100' } });
    database = new URL(server.databaseUrl).pathname.slice(1);
    admin = new pg.Client({ connectionString: POSTGRES_ADMIN_URL });
    await admin.connect();
  });

  afterAll(async () => {
    process.off('unhandledRejection', onCrash);
    process.off('uncaughtExceptionMonitor', onCrash);
    if (admin) {
      await setConnections(admin, database, true).catch(() => {});
      await admin.end();
    }
    await server?.close();
  });

  test('keeps answering what it can, reports not ready, never crashes, and recovers by itself', async () => {
    const { url, tessera } = server;
    const cached = await tessera.services.clients.create({ name: 'Cached app', grantTypes: ['client_credentials'] }, SYSTEM);
    const uncached = await tessera.services.clients.create({ name: 'Uncached app', grantTypes: ['client_credentials'] }, SYSTEM);
    const token = (app: { client_id: string; client_secret?: string | null }) =>
      postForm(`${url}/connect/token`, { grant_type: 'client_credentials' }, { authorization: basic(app.client_id, app.client_secret!) });
    const ready = async () => (await fetch(`${url}/health/ready`)).status;
    // One token request puts the app in the node's cache.
    expect((await token(cached)).status).toBe(200);
    expect(await ready()).toBe(200);

    // ---- the database goes away: new connections refused, the open ones killed ----
    await setConnections(admin, database, false);
    // Changes arriving now (another node rotated keys, changed settings or APIs) need reads
    // that fail: each is logged and retried, none rejects unhandled.
    tessera.feed.notifyLocal('keys', 'outage-test');
    tessera.feed.notifyLocal('settings', 'outage-test');
    tessera.feed.notifyLocal('api', 'outage-test');

    // What needs no database still works.
    const discovery = await fetch(`${url}/.well-known/openid-configuration`);
    expect(discovery.status).toBe(200);
    const jwks = await fetch(`${url}/.well-known/jwks.json`);
    expect(jwks.status).toBe(200);
    expect(((await jwks.json()) as { keys: unknown[] }).keys.length).toBeGreaterThanOrEqual(2);
    const issued = await token(cached);
    expect(issued.status).toBe(200);
    expect(((await issued.json()) as { access_token: string }).access_token).toMatch(/^ey/);

    // What needs the database fails promptly in OAuth's shape, and readiness says so.
    const refused = await token(uncached);
    expect(refused.status).toBe(500);
    expect(await refused.json()).toMatchObject({ error: 'server_error' });
    const health = await fetch(`${url}/health/ready`);
    expect(health.status).toBe(503);
    expect(await health.json()).toMatchObject({ status: 'fail', checks: { database: { status: 'fail' } } });

    // Every background job told the log, once per run of failures, and keeps trying.
    await vi.waitFor(
      () =>
        expect(server.log.messages('error')).toEqual(
          expect.arrayContaining([
            'change feed poll failed; retrying',
            'key ring reload failed; retrying',
            'settings reload failed; retrying',
            'gateway API reload failed; retrying',
          ]),
        ),
      { timeout: 10_000, interval: 50 },
    );
    await new Promise((r) => setTimeout(r, 500)); // several poll intervals, all failing
    expect(server.log.messages('error').filter((m) => m === 'change feed poll failed; retrying')).toHaveLength(1);
    expect(await ready()).toBe(503);

    // ---- the database comes back ----
    await setConnections(admin, database, true);
    await vi.waitFor(async () => expect(await ready()).toBe(200), { timeout: 15_000, interval: 100 });

    // A change written straight into the database (as the CLI or another node does) reaches
    // this node through the change feed: a shorter access-token lifetime.
    const direct = new pg.Client({ connectionString: server.databaseUrl });
    await direct.connect();
    try {
      const now = Math.floor(Date.now() / 1000);
      await direct.query(`insert into settings (key, value, updated_at) values ('access_token_ttl', '120', $1)`, [now]);
      await direct.query(`insert into change_events (kind, key, at) values ('settings', 'access_token_ttl', $1)`, [now]);
    } finally {
      await direct.end();
    }
    await vi.waitFor(async () => expect(((await (await token(cached)).json()) as { expires_in: number }).expires_in).toBe(120), {
      timeout: 15_000,
      interval: 100,
    });
    // A request that must read the database works again.
    expect((await token(uncached)).status).toBe(200);

    // Each job reported that it works again; nothing was left unhandled; the server is alive.
    await vi.waitFor(
      () =>
        expect(server.log.messages('info')).toEqual(
          expect.arrayContaining(['change feed poll works again', 'key ring reload works again', 'settings reload works again', 'gateway API reload works again']),
        ),
      { timeout: 40_000, interval: 100 },
    );
    expect(crashes).toEqual([]);
    expect((await fetch(`${url}/.well-known/openid-configuration`)).status).toBe(200);
  }, 90_000);
});

/**
 * The same outage under `tessera serve`, a process of its own: it must not exit, and its log
 * (pino JSON on stdout, shared by Fastify and the background work) must tell the operator.
 */
describe('tessera serve survives a database outage (PostgreSQL)', () => {
  test('logs the failure, answers 503 on /health/ready, recovers, and still stops cleanly', async () => {
    const db = await createTestDatabase('postgres');
    const database = new URL(db.url).pathname.slice(1);
    const admin = new pg.Client({ connectionString: POSTGRES_ADMIN_URL });
    await admin.connect();
    const main = join(import.meta.dirname, '..', '..', 'src', 'cli', 'main.ts');
    const child = spawn(process.execPath, [main, 'serve', '--port', '0', '--database', db.url], {
      env: {
        ...process.env,
        TESSERA_KEY_ENCRYPTION_KEY_FILE: join(mkdtempSync(join(tmpdir(), 'tessera-outage-')), 'kek'),
        TESSERA_ADMIN_PASSWORD: 'correct horse battery staple',
        TESSERA_CHANGE_POLL_MS: '100',
        TESSERA_LOG_LEVEL: 'info',
      },
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
    const logged = () =>
      stdout
        .split('\n')
        .filter((l) => l.startsWith('{'))
        .map((l) => JSON.parse(l) as { level: number; msg: string; err?: { message: string } });
    try {
      await vi.waitFor(() => expect(stdout).toMatch(/listening on http:\/\/127\.0\.0\.1:\d+/), { timeout: 30_000, interval: 50 });
      const url = /http:\/\/127\.0\.0\.1:\d+/.exec(stdout)![0];
      const ready = async () => (await fetch(`${url}/health/ready`)).status;
      expect(await ready()).toBe(200);

      await setConnections(admin, database, false);
      await vi.waitFor(() => expect(logged().map((l) => l.msg)).toContain('change feed poll failed; retrying'), { timeout: 10_000, interval: 50 });
      expect(logged().find((l) => l.msg === 'change feed poll failed; retrying')).toMatchObject({ level: 50, err: { message: expect.any(String) } });
      expect(await ready()).toBe(503);
      expect((await fetch(`${url}/.well-known/jwks.json`)).status).toBe(200);
      expect(child.exitCode).toBeNull();

      await setConnections(admin, database, true);
      await vi.waitFor(async () => expect(await ready()).toBe(200), { timeout: 15_000, interval: 100 });
      await vi.waitFor(() => expect(logged().map((l) => l.msg)).toContain('change feed poll works again'), { timeout: 15_000, interval: 50 });
      expect(stderr).not.toMatch(/unhandled|uncaught|Error/i);

      child.kill('SIGTERM');
      expect(await exited).toBe(0);
    } finally {
      if (child.exitCode === null) child.kill('SIGKILL');
      await setConnections(admin, database, true).catch(() => {});
      await admin.end();
      await db.drop();
    }
  }, 90_000);
});
