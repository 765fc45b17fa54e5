import { execFile, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, test, vi } from 'vitest';
import { createTestDatabase, type TestDatabase } from '../support/databases.ts';
import { tempDir } from '../support/nginx.ts';

/**
 * docs/production.md's systemd unit and environment file, as written: the unit passes
 * `systemd-analyze verify`, and its ExecStart (bin/tessera serve) runs with the environment
 * file's settings (database and key-encryption key filled in), serves, and exits 0 on the
 * SIGTERM systemd sends. The guide's nginx configuration is run by reverse-proxy.test.ts.
 */
// Three Node processes start (--workers 2): give a busy CI box time.
vi.setConfig({ testTimeout: 240_000, hookTimeout: 60_000 });

const ROOT = join(import.meta.dirname, '..', '..');
const guide = readFileSync(join(ROOT, 'docs', 'production.md'), 'utf8');
const configuration = readFileSync(join(ROOT, 'docs', 'configuration.md'), 'utf8');

/** The ```ini block of the guide whose first line is `# <path>`, without that line. */
function block(path: string): string {
  const found = [...guide.matchAll(/^```ini\n# (\S+)\n([\s\S]*?)^```$/gm)].find((m) => m[1] === path);
  if (!found) throw new Error(`docs/production.md has no \`\`\`ini block starting with "# ${path}"`);
  return found[2]!;
}

function environmentFile(): Record<string, string> {
  const env: Record<string, string> = {};
  for (const line of block('/etc/tessera/tessera.env').split('\n')) {
    if (!line.trim() || line.startsWith('#')) continue;
    const eq = line.indexOf('=');
    env[line.slice(0, eq)] = line.slice(eq + 1);
  }
  return env;
}

/** The unit with the install directory and environment file moved to where they are here. */
function unitHere(envFile: string): string {
  const unit = block('/etc/systemd/system/tessera.service');
  expect(unit).toContain('/opt/tessera');
  expect(unit).toContain('EnvironmentFile=/etc/tessera/tessera.env');
  return unit.replaceAll('/opt/tessera', ROOT).replaceAll('/etc/tessera/tessera.env', envFile);
}

const SYSTEMD_ANALYZE = '/usr/bin/systemd-analyze';

describe('the production guide', () => {
  let files: ReturnType<typeof tempDir>;
  let database: TestDatabase;

  beforeAll(async () => {
    files = tempDir('tessera-guide-');
    database = await createTestDatabase('postgres');
  });
  afterAll(async () => {
    await database?.drop();
    files?.remove();
  });

  test('every variable of the environment file is a documented setting', () => {
    const env = environmentFile();
    expect(Object.keys(env).length).toBeGreaterThanOrEqual(5);
    for (const name of Object.keys(env)) expect(configuration, name).toContain(`| \`${name}\` |`);
  });

  test.skipIf(!existsSync(SYSTEMD_ANALYZE))(
    `the systemd unit passes systemd-analyze verify${existsSync(SYSTEMD_ANALYZE) ? '' : ` — skipped: no ${SYSTEMD_ANALYZE}`}`,
    async () => {
      const envFile = join(files.dir, 'tessera.env');
      writeFileSync(envFile, '');
      const unitFile = join(files.dir, 'tessera.service');
      writeFileSync(unitFile, unitHere(envFile));
      const result = await new Promise<{ code: number; output: string }>((resolve) =>
        execFile(SYSTEMD_ANALYZE, ['verify', unitFile], (error, stdout, stderr) =>
          resolve({ code: error ? ((error as { code?: number }).code ?? 1) : 0, output: stdout + stderr }),
        ),
      );
      // Unknown keys and bad values are warnings with exit code 0: none may appear.
      expect(result).toEqual({ code: 0, output: '' });
    },
  );

  test("the unit's ExecStart serves with the guide's environment and exits 0 on SIGTERM", async () => {
    const unit = unitHere(join(files.dir, 'tessera.env'));
    const execStart = /^ExecStart=(.+)$/m.exec(unit)![1]!.split(' ');
    expect(execStart).toEqual([join(ROOT, 'bin', 'tessera'), 'serve']);
    expect(unit).toMatch(/^KillMode=mixed$/m); // SIGTERM to the main process alone, as sent below
    const timeoutStop = Number(/^TimeoutStopSec=(\d+)$/m.exec(unit)![1]);

    const env: Record<string, string> = {
      ...environmentFile(),
      TESSERA_DATABASE_URL: database.url,
      TESSERA_KEY_ENCRYPTION_KEY: randomBytes(32).toString('base64'),
      TESSERA_PORT: '0',
      TESSERA_LOG_LEVEL: 'warn',
    };
    const child = spawn(execStart[0]!, execStart.slice(1), { cwd: files.dir, env: { PATH: process.env.PATH!, ...env } });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
    try {
      const deadline = Date.now() + 180_000;
      while (!stdout.includes('\n') && child.exitCode === null && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
      const firstLine = stdout.split('\n')[0]!;
      expect(firstLine, stderr).toMatch(/^Tessera listening on http:\/\/127\.0\.0\.1:\d+ \(issuer https:\/\/id\.example\.com, .*2 workers/);
      const url = /http:\/\/127\.0\.0\.1:\d+/.exec(firstLine)![0];
      expect((await fetch(`${url}/health/ready`)).status).toBe(200);
      const discovery = (await (await fetch(`${url}/.well-known/openid-configuration`)).json()) as { issuer: string };
      expect(discovery.issuer).toBe('https://id.example.com');

      const stopping = Date.now();
      child.kill('SIGTERM');
      expect(await exited).toBe(0);
      expect(Date.now() - stopping).toBeLessThan(timeoutStop * 1000);
      expect(stderr).toBe('');
    } finally {
      if (child.exitCode === null) child.kill('SIGKILL');
    }
  });
});
