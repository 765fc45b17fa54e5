import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { connect, type AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, test, vi } from 'vitest';
import { cliRunner } from '../support/cli-runner.ts';

/**
 * Issue 13, process lifecycle: however the server is started (`npm start`, `npx tessera
 * serve`, `bin/tessera serve`), SIGTERM to the process the operator started reaches the
 * server, which lets a request in flight finish, exits 0, frees the port and leaves no
 * process behind. The request in flight is a gateway call to an upstream that answers slowly.
 */
vi.setConfig({ testTimeout: 180_000 });

const ROOT = join(import.meta.dirname, '..', '..');
const dir = mkdtempSync(join(tmpdir(), 'tessera-lifecycle-'));
const databaseUrl = `sqlite:${join(dir, 'tessera.db')}`;
const env: Record<string, string> = {
  TESSERA_DATABASE_URL: databaseUrl,
  TESSERA_KEY_ENCRYPTION_KEY_FILE: join(dir, 'kek'),
  TESSERA_PORT: '0',
  TESSERA_LOG_LEVEL: 'info',
  TESSERA_ADMIN_PASSWORD: 'correct horse battery staple',
};
const { json } = cliRunner(() => ({ databaseUrl, env: { ...env, TESSERA_LOG_LEVEL: 'silent' } }), 60_000);

let upstream: Server;
/** Resolves the pending "the upstream has the request" promise of the current test. */
let onUpstreamRequest: () => void = () => {};
let client: { client_id: string; client_secret: string };

beforeAll(async () => {
  upstream = createServer((req, res) => {
    onUpstreamRequest();
    // Slow: the SIGTERM arrives while this request is in flight.
    setTimeout(() => res.writeHead(200, { 'content-type': 'text/plain' }).end('slow answer'), 2500);
  });
  await new Promise<void>((resolve) => upstream.listen(0, '127.0.0.1', resolve));
  const port = (upstream.address() as AddressInfo).port;
  await json(['migrate']);
  await json(['users', 'create', '--username', 'batch', '--password', 'correct horse battery staple', '--role', 'developer']);
  await json(['apis', 'create', '--name', 'Slow', '--base-path', '/slow', '--upstream', `http://127.0.0.1:${port}`, '--scope', 'slow.read=Read slowly', '--route', 'GET /report slow.read']);
  client = await json(['clients', 'create', '--name', 'Lifecycle', '--grant', 'client_credentials', '--on-behalf-of', 'batch', '--scope', 'slow.read']);
});

afterAll(async () => {
  await new Promise((resolve) => upstream?.close(resolve));
  rmSync(dir, { recursive: true, force: true });
});

/** npm's variables from `npm test` would make npm and npx think they run inside a script. */
function cleanEnv(): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(process.env)) if (v !== undefined && !k.startsWith('npm_')) out[k] = v;
  return { ...out, ...env, npm_config_update_notifier: 'false', npm_config_cache: join(dir, 'npm-cache') };
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

function portFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect(port, '127.0.0.1');
    socket.once('connect', () => {
      socket.destroy();
      resolve(false);
    });
    socket.once('error', () => resolve(true));
  });
}

async function until(check: () => boolean | Promise<boolean>, ms: number): Promise<boolean> {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    if (await check()) return true;
    await new Promise((r) => setTimeout(r, 100));
  }
  return check();
}

const LAUNCHERS: Array<[string, string, string[]]> = [
  ['npm start', 'npm', ['start']],
  ['npx tessera serve', 'npx', ['tessera', 'serve']],
  ['bin/tessera serve', join(ROOT, 'bin', 'tessera'), ['serve']],
];

describe.each(LAUNCHERS)('%s', (_name, command, args) => {
  test('SIGTERM drains the request in flight, exits 0, frees the port and leaves no process', async () => {
    const child: ChildProcess = spawn(command, args, { cwd: ROOT, env: cleanEnv() });
    let out = '';
    child.stdout!.on('data', (c: Buffer) => (out += c.toString()));
    child.stderr!.on('data', (c: Buffer) => (out += c.toString()));
    const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => child.once('exit', (code, signal) => resolve({ code, signal })));
    let serverPid: number | undefined;
    try {
      expect(await until(() => /listening on http:\/\/127\.0\.0\.1:\d+/.test(out), 90_000), out).toBe(true);
      const url = /listening on (http:\/\/127\.0\.0\.1:(\d+))/.exec(out)!;
      const base = url[1]!;
      const port = Number(url[2]);

      const tokenResponse = await fetch(`${base}/connect/token`, {
        method: 'POST',
        headers: {
          authorization: `Basic ${Buffer.from(`${client.client_id}:${client.client_secret}`).toString('base64')}`,
          'content-type': 'application/x-www-form-urlencoded',
        },
        body: 'grant_type=client_credentials&scope=slow.read',
      });
      expect(tokenResponse.status).toBe(200);
      const { access_token } = (await tokenResponse.json()) as { access_token: string };
      // The server's own pid, from its request log (npm and npx put processes in between).
      expect(await until(() => /"pid":\d+/.test(out), 10_000)).toBe(true);
      serverPid = Number(/"pid":(\d+)/.exec(out)![1]);

      const reached = new Promise<void>((resolve) => (onUpstreamRequest = resolve));
      const inFlight = fetch(`${base}/slow/report`, { headers: { authorization: `Bearer ${access_token}` } });
      await reached;
      child.kill('SIGTERM');

      const response = await inFlight;
      expect(response.status).toBe(200);
      expect(await response.text()).toBe('slow answer');
      const { code, signal } = await exited;
      if (command === 'npx') {
        // npm exec runs the bin under an `sh -c` of its own that dies of the forwarded SIGTERM
        // without passing it on; npm then ends itself with that signal. The server notices its
        // parent is gone and stops exactly as on SIGTERM (docs/operations.md).
        expect([0, null]).toContain(code);
      } else {
        expect({ code, signal }, out).toEqual({ code: 0, signal: null });
      }
      expect(await until(() => !alive(serverPid!), 15_000), `server ${serverPid} still running`).toBe(true);
      // It finished its drain and closed the database before exiting (stdout is still ours).
      expect(out).toMatch(/"msg":"stopped"/);
      expect(await portFree(port)).toBe(true);
    } finally {
      if (child.exitCode === null) child.kill('SIGKILL');
      if (serverPid && alive(serverPid)) process.kill(serverPid, 'SIGKILL');
    }
  });
});
