import { readdirSync, readFileSync } from 'node:fs';

/**
 * How much of the machine other processes used while a run was measured. On a shared box
 * this is what makes one run slower than the next; the bench records it per run so a
 * reader can tell a real difference from a noisy neighbour. Linux only (/proc).
 */
export interface CpuSample {
  busy: number;
  total: number;
  ours: number;
}

function machine(): { busy: number; total: number } {
  const fields = readFileSync('/proc/stat', 'utf8').split('\n', 1)[0]!.trim().split(/\s+/).slice(1).map(Number);
  const total = fields.reduce((a, b) => a + b, 0);
  const idle = (fields[3] ?? 0) + (fields[4] ?? 0); // idle + iowait
  return { busy: total - idle, total };
}

function ticksOf(statText: string): { ppid: number; ticks: number } {
  const rest = statText.slice(statText.lastIndexOf(')') + 2).split(' ');
  return { ppid: Number(rest[1]), ticks: Number(rest[11]) + Number(rest[12]) };
}

function processTable(): Map<number, { ppid: number; ticks: number }> {
  const stats = new Map<number, { ppid: number; ticks: number }>();
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    try {
      stats.set(Number(name), ticksOf(readFileSync(`/proc/${name}/stat`, 'utf8')));
    } catch {
      // exited meanwhile
    }
  }
  return stats;
}

/** `root` and every descendant of it. */
function treeOf(stats: Map<number, { ppid: number; ticks: number }>, root: number): Set<number> {
  const ours = new Set([root]);
  let grew = true;
  while (grew) {
    grew = false;
    for (const [pid, s] of stats) {
      if (!ours.has(pid) && ours.has(s.ppid)) {
        ours.add(pid);
        grew = true;
      }
    }
  }
  return ours;
}

/** utime + stime (clock ticks) of `root` and every descendant of it. */
function treeTicks(stats: Map<number, { ppid: number; ticks: number }>, root: number): number {
  let ticks = 0;
  for (const pid of treeOf(stats, root)) ticks += stats.get(pid)?.ticks ?? 0;
  return ticks;
}

/** utime + stime (clock ticks) of this process and every descendant (contenders, workers). */
function oursTicks(): number {
  return treeTicks(processTable(), process.pid);
}

/** Clock ticks per second (USER_HZ): 100 on every Linux this bench runs on. */
const TICKS_PER_SECOND = 100;

/** CPU seconds (user + system) used so far by a server process and its workers. */
export function serverCpuSeconds(pid: number): number | undefined {
  try {
    const stats = processTable();
    if (!stats.has(pid)) return undefined;
    return treeTicks(stats, pid) / TICKS_PER_SECOND;
  } catch {
    return undefined;
  }
}

/**
 * CPU seconds of the main threads only (the thread whose id is the process id: Node's event
 * loop) of a server process and its workers. What runs on libuv's threadpool (argon2,
 * RS256 signed with a callback, zlib) and V8's helper threads (GC, compiler) is left out:
 * this is the time that holds other requests back.
 */
export function serverMainThreadSeconds(pid: number): number | undefined {
  try {
    const stats = processTable();
    if (!stats.has(pid)) return undefined;
    let ticks = 0;
    for (const p of treeOf(stats, pid)) {
      try {
        ticks += ticksOf(readFileSync(`/proc/${p}/task/${p}/stat`, 'utf8')).ticks;
      } catch {
        // exited meanwhile
      }
    }
    return ticks / TICKS_PER_SECOND;
  } catch {
    return undefined;
  }
}

export function sampleCpu(): CpuSample | undefined {
  try {
    return { ...machine(), ours: oursTicks() };
  } catch {
    return undefined;
  }
}

/** Share of the whole machine (0–1) used by processes outside the bench between two samples. */
export function backgroundShare(before: CpuSample | undefined, after: CpuSample | undefined): number | undefined {
  if (!before || !after) return undefined;
  const total = after.total - before.total;
  if (total <= 0) return undefined;
  const other = after.busy - before.busy - (after.ours - before.ours);
  return Math.min(1, Math.max(0, other / total));
}

/**
 * CPU seconds so far of every PostgreSQL backend serving `database` (by pid, from
 * pg_stat_activity, then /proc/<pid>/stat): the database's own work for a contender, which
 * its process's CPU time leaves out. The server is local (it shares the cores).
 */
export async function databaseBackendSeconds(adminUrl: string, database: string): Promise<Map<number, number> | undefined> {
  const { default: pg } = await import('pg');
  const client = new pg.Client({ connectionString: adminUrl });
  try {
    await client.connect();
    const { rows } = await client.query<{ pid: number }>('select pid from pg_stat_activity where datname = $1', [database]);
    const out = new Map<number, number>();
    for (const { pid } of rows) {
      try {
        out.set(pid, ticksOf(readFileSync(`/proc/${pid}/stat`, 'utf8')).ticks / TICKS_PER_SECOND);
      } catch {
        // ended meanwhile, or not on this machine
      }
    }
    return out;
  } catch {
    return undefined;
  } finally {
    await client.end().catch(() => {});
  }
}
