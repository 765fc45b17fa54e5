import { spawn } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { createServer } from 'node:net';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, test, vi } from 'vitest';
import { CLI_MAIN, cliRunner } from '../support/cli-runner.ts';
import { createTestDatabase, type TestDatabase } from '../support/databases.ts';
import { scrape } from '../support/metrics.ts';

/** `tessera serve` with TESSERA_METRICS_LISTEN: its own listener, in one process and summed over --workers. */
vi.setConfig({ testTimeout: 120_000 });

const TOKEN = 'serve-metrics-token-0123456789';

describe('tessera serve: metrics on their own address', () => {
  let database: TestDatabase;
  let env: Record<string, string>;
  const { json, tessera } = cliRunner(() => ({ databaseUrl: database.url, env }));

  beforeAll(async () => {
    database = await createTestDatabase('sqlite');
    env = { TESSERA_KEY_ENCRYPTION_KEY_FILE: join(mkdtempSync(join(tmpdir(), 'tessera-metrics-')), 'kek'), TESSERA_LOG_LEVEL: 'silent', TESSERA_ADMIN_PASSWORD: 'correct horse battery staple' };
    // Commands other than serve and migrate refuse a database that does not exist yet.
    expect((await tessera(['migrate'])).code).toBe(0);
  });
  afterAll(async () => database?.drop());

  /** Starts serve and waits for the "Metrics at" line. */
  async function serve(args: string[], extraEnv: Record<string, string>) {
    const child = spawn(process.execPath, [CLI_MAIN, 'serve', '--port', '0', '--database', database.url, ...args], { env: { ...process.env, ...env, ...extraEnv } });
    let stdout = '';
    let stderr = '';
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
    const lines = await new Promise<string[]>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`no metrics line: ${stdout} ${stderr}`)), 60_000);
      child.stdout.on('data', (chunk: Buffer) => {
        stdout += chunk.toString();
        if (/^Metrics at .*\n/m.test(stdout)) {
          clearTimeout(timer);
          resolve(stdout.split('\n'));
        }
      });
      void exited.then((code) => reject(new Error(`exited ${code}: ${stderr}`)));
    });
    const url = /^Tessera listening on (http:\/\/127\.0\.0\.1:\d+)/.exec(lines[0]!)![1]!;
    const metricsUrl = /^Metrics at (http:\/\/\S+\/metrics)/m.exec(lines.join('\n'))![1]!;
    return { child, url, metricsUrl, lines, exited };
  }

  async function tokens(url: string, app: { client_id: string; client_secret: string }, n: number): Promise<void> {
    const authorization = `Basic ${Buffer.from(`${app.client_id}:${app.client_secret}`).toString('base64')}`;
    for (let i = 0; i < n; i++) {
      // A new connection each time, so the primary's round-robin reaches every worker.
      const res = await fetch(`${url}/connect/token`, { method: 'POST', headers: { authorization, 'content-type': 'application/x-www-form-urlencoded', connection: 'close' }, body: 'grant_type=client_credentials' });
      expect(res.status).toBe(200);
    }
  }

  test('one process: the address prints on start, asks for the token, counts what the main port served', async () => {
    const app = await json(['clients', 'create', '--name', 'metrics-single', '--grant', 'client_credentials']);
    const server = await serve([], { TESSERA_METRICS_LISTEN: '127.0.0.1:0', TESSERA_METRICS_TOKEN: TOKEN });
    try {
      expect(server.lines.find((l) => l.startsWith('Metrics at'))).toMatch(/\(bearer token required\)$/);
      expect((await fetch(server.metricsUrl)).status).toBe(401);
      expect((await fetch(`${server.url}/metrics`, { headers: { authorization: `Bearer ${TOKEN}` } })).status).toBe(404);
      await tokens(server.url, app, 3);
      const parsed = await scrape(server.metricsUrl, TOKEN);
      expect(parsed.value('tessera_tokens_issued_total', { grant_type: 'client_credentials' })).toBe(3);
      expect(parsed.count('tessera_http_request_duration_seconds', { method: 'POST', route: '/connect/token', status: '200' })).toBe(3);
      server.child.kill('SIGTERM');
      expect(await server.exited).toBe(0);
    } finally {
      if (server.child.exitCode === null) server.child.kill('SIGKILL');
    }
  });

  test('--workers 2: the primary serves the sum of both workers', async () => {
    const app = await json(['clients', 'create', '--name', 'metrics-workers', '--grant', 'client_credentials']);
    const server = await serve(['--workers', '2'], { TESSERA_METRICS_LISTEN: '127.0.0.1:0' });
    try {
      await tokens(server.url, app, 6);
      const parsed = await scrape(server.metricsUrl);
      expect(parsed.value('tessera_tokens_issued_total', { grant_type: 'client_credentials' })).toBe(6);
      expect(parsed.count('tessera_http_request_duration_seconds', { method: 'POST', route: '/connect/token', status: '200' })).toBe(6);
      server.child.kill('SIGTERM');
      expect(await server.exited).toBe(0);
    } finally {
      if (server.child.exitCode === null) server.child.kill('SIGKILL');
    }
  });

  test('a taken metrics address: one line on stderr, exit 2 (a setting the operator got wrong)', async () => {
    const taken = createServer();
    await new Promise<void>((resolve) => taken.listen(0, '127.0.0.1', resolve));
    const port = (taken.address() as AddressInfo).port;
    try {
      const child = spawn(process.execPath, [CLI_MAIN, 'serve', '--port', '0', '--database', database.url], { env: { ...process.env, ...env, TESSERA_METRICS_LISTEN: `127.0.0.1:${port}` } });
      let stderr = '';
      child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
      const code = await new Promise<number | null>((resolve) => child.once('exit', (c) => resolve(c)));
      expect(code).toBe(2);
      expect(stderr.trim().split('\n')).toEqual([`tessera: TESSERA_METRICS_LISTEN 127.0.0.1:${port}: the address is already in use`]);
    } finally {
      await new Promise((r) => taken.close(r));
    }
  });
});
