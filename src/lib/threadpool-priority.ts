/**
 * libuv's threadpool a few nice steps below the event loop (issue 16).
 *
 * Every RS256 ID token is signed there (node:crypto's callback form, src/keys/jwt.ts), 250 to
 * 1,150 µs of CPU each depending on the machine, while the event loop does the rest of each
 * token request in series: parsing, the database, the ES256 access token, the answer. At
 * equal priority the kernel time-slices them when both want a core, so the event loop —
 * the one part that cannot spread over cores — waits behind signatures. A few nice steps
 * down, the kernel runs the event loop first whenever it has work, and the signatures take
 * every cycle it leaves; measured on two cores with the load generator beside it, the
 * refresh and code exchange answered ~4–8 % more per second at the same CPU per answer
 * (docs/performance.md, step 19).
 *
 * Linux keeps a nice value per thread, so setpriority() on a thread id lowers that thread
 * alone; lowering needs no privilege. libuv names its threadpool threads `libuv-worker`
 * (Node ≥ 22.14); they are found by that name under /proc/self/task. The same pool also runs
 * DNS lookups, async file access and node:crypto's other callback work, at the same lower
 * priority: they too then yield to the event loop, never stop.
 */
import { randomFill } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import { getPriority, setPriority } from 'node:os';

const THREAD_NAME = 'libuv-worker';

/**
 * Lowers one thread by `steps` nice steps, at most to 19, and answers its nice value now.
 * Linux keeps nice per thread, so this touches that thread alone; lowering needs no
 * privilege. Also the password-hashing threads' (src/identity/password-worker.ts).
 */
export function lowerThreadPriority(tid: number, steps: number): number {
  setPriority(tid, Math.min(19, getPriority(tid) + steps));
  return getPriority(tid);
}

export interface ThreadpoolPriority {
  /** The threadpool's threads and the nice value each now has (empty when none was changed). */
  threads: Array<{ tid: number; nice: number }>;
  /** Why the threadpool runs at the event loop's priority after all; one line for the log. */
  warning?: string;
}

/**
 * Lowers every threadpool thread by `niceSteps` (at most to nice 19); 0 changes nothing.
 * The pool is created at its first work, so one tiny job is queued first. Never throws:
 * a system that refuses is reported in `warning` and the server runs on as before.
 */
export async function lowerThreadpoolPriority(niceSteps: number, tasksDir = '/proc/self/task'): Promise<ThreadpoolPriority> {
  if (!Number.isInteger(niceSteps) || niceSteps < 0) throw new RangeError(`nice steps must be a non-negative integer (got ${niceSteps})`);
  if (niceSteps === 0) return { threads: [] };
  const normal = (reason: string): ThreadpoolPriority => ({
    threads: [],
    warning: `libuv's threadpool (RS256 signatures) runs at the event loop's priority (${reason})`,
  });
  if (process.platform !== 'linux') return normal('per-thread priorities are set on Linux only');
  await new Promise<void>((resolve) => randomFill(new Uint8Array(1), () => resolve()));
  const threads: ThreadpoolPriority['threads'] = [];
  try {
    for (const entry of readdirSync(tasksDir)) {
      let name: string;
      try {
        name = readFileSync(`${tasksDir}/${entry}/comm`, 'utf8').trim();
      } catch {
        continue; // a thread that ended meanwhile
      }
      if (name !== THREAD_NAME) continue;
      const tid = Number(entry);
      threads.push({ tid, nice: lowerThreadPriority(tid, niceSteps) });
    }
  } catch (error) {
    return { ...normal(`its priority could not be lowered: ${error instanceof Error ? error.message : String(error)}`), threads };
  }
  if (threads.length === 0) return normal(`no thread named ${THREAD_NAME} under ${tasksDir}`);
  return { threads };
}
