import { spawn } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, test, vi } from 'vitest';

/**
 * Issue 16: every process that serves (one, or each of `--workers N`) runs libuv's
 * threadpool, where RS256 ID tokens are signed, TESSERA_THREADPOOL_NICE steps (default 5)
 * below its event loop. Read from the kernel (/proc), not from what the server says.
 */
vi.setConfig({ testTimeout: 120_000 });

const ROOT = join(import.meta.dirname, '..', '..');
const dir = mkdtempSync(join(tmpdir(), 'tessera-threadpool-serve-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** A thread's name and nice value (field 19 of its stat; the name may hold spaces). */
function thread(pid: number, tid: string): { name: string; nice: number } {
  const stat = readFileSync(`/proc/${pid}/task/${tid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return { name: readFileSync(`/proc/${pid}/task/${tid}/comm`, 'utf8').trim(), nice: Number(fields[19 - 3]) };
}

function threadsOf(pid: number): Array<{ name: string; nice: number }> {
  return readdirSync(`/proc/${pid}/task`).map((tid) => thread(pid, tid));
}

function childrenOf(pid: number): number[] {
  return readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').trim().split(/\s+/).filter(Boolean).map(Number);
}

/** Starts `tessera serve` with `env` and `args`, runs `check(pid)` once it listens, then stops it. */
async function serving(name: string, env: Record<string, string>, args: string[], check: (pid: number, url: string) => void | Promise<void>): Promise<void> {
  const child = spawn(process.execPath, [join(ROOT, 'src', 'cli', 'main.ts'), 'serve', ...args], {
    cwd: ROOT,
    env: {
      PATH: process.env.PATH ?? '',
      TESSERA_DATABASE_URL: `sqlite:${join(dir, `${name}.db`)}`,
      TESSERA_KEY_ENCRYPTION_KEY_FILE: join(dir, `${name}.kek`),
      TESSERA_PORT: '0',
      TESSERA_LOG_LEVEL: 'warn',
      TESSERA_ADMIN_PASSWORD: 'correct horse battery staple',
      ...env,
    },
  });
  let out = '';
  child.stdout.on('data', (c: Buffer) => (out += c.toString()));
  child.stderr.on('data', (c: Buffer) => (out += c.toString()));
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  try {
    const end = Date.now() + 90_000;
    while (!/listening on http:\/\/127\.0\.0\.1:\d+/.test(out) && child.exitCode === null && Date.now() < end) await new Promise((r) => setTimeout(r, 100));
    expect(out).toMatch(/listening on http:\/\/127\.0\.0\.1:\d+/);
    await check(child.pid!, /listening on (http:\/\/127\.0\.0\.1:\d+)/.exec(out)![1]!);
    // A warning about the threadpool would mean it was not lowered.
    expect(out).not.toMatch(/libuv's threadpool/);
  } finally {
    child.kill('SIGTERM');
    await exited;
  }
}

describe.runIf(process.platform === 'linux')('tessera serve lowers its threadpool', () => {
  test('one process: its libuv threads 5 nice steps below its event loop by default, every other thread as it was', async () => {
    await serving('single', {}, [], (pid) => {
      const threads = threadsOf(pid);
      const main = thread(pid, String(pid));
      const pool = threads.filter((t) => t.name === 'libuv-worker');
      expect(pool.length).toBeGreaterThan(0);
      for (const t of pool) expect(t.nice).toBe(Math.min(19, main.nice + 5));
      // The password-hashing threads keep their own (lower) priority; the rest the process's.
      for (const t of threads.filter((t) => t.name !== 'libuv-worker' && t.nice !== main.nice)) expect(t.nice, t.name).toBe(Math.min(19, main.nice + 10));
    });
  });

  test('--workers 2: each worker lowers its own; TESSERA_THREADPOOL_NICE chooses the steps', async () => {
    await serving('workers', { TESSERA_THREADPOOL_NICE: '7' }, ['--workers', '2'], (primary) => {
      const workers = childrenOf(primary);
      expect(workers).toHaveLength(2);
      for (const pid of workers) {
        const main = thread(pid, String(pid));
        const pool = threadsOf(pid).filter((t) => t.name === 'libuv-worker');
        expect(pool.length).toBeGreaterThan(0);
        for (const t of pool) expect(t.nice).toBe(Math.min(19, main.nice + 7));
      }
    });
  });

  test('TESSERA_THREADPOOL_NICE=0 keeps the threadpool at the event loop’s priority', async () => {
    await serving('zero', { TESSERA_THREADPOOL_NICE: '0' }, [], async (pid, url) => {
      // The console's files are read asynchronously: libuv's threads exist after this.
      const page = await fetch(`${url}/admin/`);
      expect(page.status).toBe(200);
      await page.text();
      const main = thread(pid, String(pid));
      const pool = threadsOf(pid).filter((t) => t.name === 'libuv-worker');
      expect(pool.length).toBeGreaterThan(0);
      for (const t of pool) expect(t.nice).toBe(main.nice);
    });
  });
});
