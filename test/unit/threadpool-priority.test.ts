import { execFile } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, describe, expect, test } from 'vitest';
import { lowerThreadpoolPriority } from '../../src/lib/threadpool-priority.ts';

/**
 * Issue 16: libuv's threadpool (where RS256 ID tokens are signed) runs a few nice steps below
 * the event loop. Each case runs in a process of its own, so the test runner's own threads
 * keep their priority, and reads every thread's nice value back from the kernel.
 */
const MODULE = new URL('../../src/lib/threadpool-priority.ts', import.meta.url).href;
const dir = mkdtempSync(join(tmpdir(), 'tessera-threadpool-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

interface Run {
  result: { threads: Array<{ tid: number; nice: number }>; warning?: string };
  /** Every thread of the process after the call: its name and the kernel's nice value for it. */
  threads: Array<{ tid: number; name: string; nice: number }>;
  pid: number;
}

/** Runs lowerThreadpoolPriority(steps) in a fresh process; `threadpoolSize` sets UV_THREADPOOL_SIZE. */
async function run(steps: number, threadpoolSize = 4): Promise<Run> {
  const script = join(dir, `run-${steps}-${threadpoolSize}.mjs`);
  writeFileSync(
    script,
    `import { readdirSync, readFileSync } from 'node:fs';
import { lowerThreadpoolPriority } from ${JSON.stringify(MODULE)};
const result = await lowerThreadpoolPriority(${steps});
const threads = readdirSync('/proc/self/task').map((tid) => {
  const stat = readFileSync('/proc/self/task/' + tid + '/stat', 'utf8');
  // Fields after the name (which may hold spaces): state is field 3, nice field 19.
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return { tid: Number(tid), name: readFileSync('/proc/self/task/' + tid + '/comm', 'utf8').trim(), nice: Number(fields[19 - 3]) };
});
process.stdout.write(JSON.stringify({ result, threads, pid: process.pid }));
`,
  );
  const { stdout } = await promisify(execFile)(process.execPath, [script], {
    timeout: 20_000,
    env: { ...process.env, UV_THREADPOOL_SIZE: String(threadpoolSize) },
  });
  return JSON.parse(stdout) as Run;
}

describe('lowerThreadpoolPriority', () => {
  test.runIf(process.platform === 'linux')('lowers every libuv threadpool thread by the steps asked, and no other thread', async () => {
    const { result, threads, pid } = await run(5, 3);
    const main = threads.find((t) => t.tid === pid)!;
    const pool = threads.filter((t) => t.name === 'libuv-worker');
    expect(pool).toHaveLength(3);
    expect(result.warning).toBeUndefined();
    expect(result.threads.map((t) => t.tid).sort()).toEqual(pool.map((t) => t.tid).sort());
    for (const t of pool) expect(t.nice).toBe(Math.min(19, main.nice + 5));
    for (const t of result.threads) expect(t.nice).toBe(Math.min(19, main.nice + 5));
    // The event loop, V8's helpers and every other thread keep the process's priority.
    for (const t of threads.filter((t) => t.name !== 'libuv-worker')) expect(t.nice, t.name).toBe(main.nice);
  });

  test.runIf(process.platform === 'linux')('stops at nice 19; 0 steps changes nothing and warns of nothing', async () => {
    const lowest = await run(19);
    expect(lowest.threads.filter((t) => t.name === 'libuv-worker').map((t) => t.nice)).toEqual([19, 19, 19, 19]);
    const same = await run(0);
    expect(same.result).toEqual({ threads: [] });
    const main = same.threads.find((t) => t.tid === same.pid)!;
    for (const t of same.threads) expect(t.nice, t.name).toBe(main.nice);
  });

  test.runIf(process.platform === 'linux')('a system where the threads cannot be found or read answers a warning, never an error', async () => {
    // A /proc/self/task look-alike with one thread that is not the pool's.
    const tasks = join(dir, 'task');
    mkdirSync(join(tasks, '1'), { recursive: true });
    writeFileSync(join(tasks, '1', 'comm'), 'node\n');
    expect(await lowerThreadpoolPriority(5, tasks)).toEqual({
      threads: [],
      warning: `libuv's threadpool (RS256 signatures) runs at the event loop's priority (no thread named libuv-worker under ${tasks})`,
    });
    const missing = await lowerThreadpoolPriority(5, join(dir, 'no-such-dir'));
    expect(missing.threads).toEqual([]);
    expect(missing.warning).toMatch(/^libuv's threadpool \(RS256 signatures\) runs at the event loop's priority \(its priority could not be lowered: ENOENT/);
  });

  test.runIf(process.platform !== 'linux')('elsewhere than Linux: one warning, nothing changed', async () => {
    expect(await lowerThreadpoolPriority(5)).toEqual({
      threads: [],
      warning: "libuv's threadpool (RS256 signatures) runs at the event loop's priority (per-thread priorities are set on Linux only)",
    });
  });

  test('refuses steps that make no sense', async () => {
    await expect(lowerThreadpoolPriority(-1)).rejects.toThrow(RangeError);
    await expect(lowerThreadpoolPriority(1.5)).rejects.toThrow(RangeError);
  });
});
