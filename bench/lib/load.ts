import autocannon from 'autocannon';
import { backgroundShare, databaseBackendSeconds, sampleCpu, serverCpuSeconds, serverMainThreadSeconds } from './cpu.ts';
import { POSTGRES_ADMIN_URL } from './tessera.ts';

/** One load run: what autocannon sends, for how long (or how many requests). */
export interface LoadSpec {
  url: string;
  connections: number;
  /** Seconds; ignored when `amount` is set. */
  duration?: number;
  /** Exact number of requests (pool-based scenarios: one pre-minted code per request). */
  amount?: number;
  method?: string;
  headers?: Record<string, string>;
  body?: string;
  requests?: autocannon.Request[];
  /** The server under test: its CPU time (with its workers) per answer is recorded. */
  serverPid?: number;
  /** The status that counts as a success (default: any 2xx), e.g. 303 for a sign-in. */
  okStatus?: number;
  /** PostgreSQL rows: the server's database, whose backends' CPU time per answer is recorded. */
  databaseName?: string;
}

export interface LoadResult {
  /** Successful (2xx, or `okStatus`) responses per second over the run. */
  rps: number;
  /** Latency of 2xx responses in ms, sub-millisecond resolution. */
  p50: number;
  p99: number;
  ok: number;
  non2xx: number;
  errors: number;
  timeouts: number;
  seconds: number;
  statusCodes: Record<string, number>;
  /** Share of the machine (0–1) that processes outside the bench used during the run (PostgreSQL counts here). */
  background?: number;
  /**
   * CPU time the server process (and its workers) spent per answer, in µs: steadier than
   * req/s on a shared box, since a starved server does less work but not more per request.
   * PostgreSQL's own backends are not counted.
   */
  cpuUs?: number;
  /** Of cpuUs, the part spent on the server's main threads (its event loops), in µs per answer. */
  mainUs?: number;
  /** PostgreSQL rows: CPU time of the database's own backends per answer, in µs (not in cpuUs). */
  dbUs?: number;
}

/**
 * Runs autocannon in this process (the server under test is always another process).
 * Latencies are collected from every response event rather than autocannon's histogram,
 * which keeps whole milliseconds only — too coarse for "the gateway adds ≤ 1 ms".
 */
export async function runLoad(spec: LoadSpec): Promise<LoadResult> {
  if (spec.databaseName === undefined) return runAutocannon(spec);
  const before = await databaseBackendSeconds(POSTGRES_ADMIN_URL, spec.databaseName);
  const result = await runAutocannon(spec);
  const after = await databaseBackendSeconds(POSTGRES_ADMIN_URL, spec.databaseName);
  const answers = result.ok + result.non2xx;
  if (!before || !after || answers === 0) return result;
  let seconds = 0;
  for (const [pid, s] of after) seconds += s - (before.get(pid) ?? 0);
  return { ...result, dbUs: (seconds * 1e6) / answers };
}

function runAutocannon(spec: LoadSpec): Promise<LoadResult> {
  let latencies = new Float64Array(1 << 16);
  let n = 0;
  const cpuBefore = sampleCpu();
  const serverBefore = spec.serverPid === undefined ? undefined : serverCpuSeconds(spec.serverPid);
  const mainBefore = spec.serverPid === undefined ? undefined : serverMainThreadSeconds(spec.serverPid);
  // autocannon ends an `amount` run on its next one-second tick and reports that as the
  // duration (2 000 requests done in 1.3 s report 2 s); time such runs to the last answer.
  const started = performance.now();
  let lastAnswer = started;
  return new Promise((resolve, reject) => {
    const instance = autocannon(
      {
        url: spec.url,
        connections: spec.connections,
        ...(spec.amount !== undefined ? { amount: spec.amount } : { duration: spec.duration ?? 10 }),
        ...(spec.method ? { method: spec.method } : {}),
        ...(spec.headers ? { headers: spec.headers } : {}),
        ...(spec.body !== undefined ? { body: spec.body } : {}),
        ...(spec.requests ? { requests: spec.requests } : {}),
        timeout: 30,
      },
      (error, result) => {
        if (error) return reject(error);
        const sorted = latencies.subarray(0, n).sort();
        const ok = spec.okStatus === undefined ? result['2xx'] : (result.statusCodeStats?.[String(spec.okStatus)]?.count ?? 0);
        const statusCodes: Record<string, number> = {};
        for (const [code, stat] of Object.entries(result.statusCodeStats ?? {})) statusCodes[code] = stat.count;
        const background = backgroundShare(cpuBefore, sampleCpu());
        const serverAfter = spec.serverPid === undefined ? undefined : serverCpuSeconds(spec.serverPid);
        const answers = result['2xx'] + result.non2xx;
        const failed = answers - ok;
        const mainAfter = spec.serverPid === undefined ? undefined : serverMainThreadSeconds(spec.serverPid);
        const cpuUs = serverBefore !== undefined && serverAfter !== undefined && answers > 0 ? ((serverAfter - serverBefore) * 1e6) / answers : undefined;
        const mainUs = mainBefore !== undefined && mainAfter !== undefined && answers > 0 ? ((mainAfter - mainBefore) * 1e6) / answers : undefined;
        const seconds = spec.amount !== undefined && n > 0 ? (lastAnswer - started) / 1000 : result.duration;
        resolve({
          ...(background !== undefined ? { background } : {}),
          ...(cpuUs !== undefined ? { cpuUs } : {}),
          ...(mainUs !== undefined ? { mainUs } : {}),
          rps: seconds > 0 ? ok / seconds : 0,
          p50: percentile(sorted, 0.5),
          p99: percentile(sorted, 0.99),
          ok,
          non2xx: failed,
          errors: result.errors,
          timeouts: result.timeouts,
          seconds,
          statusCodes,
        });
      },
    );
    instance.on('response', (_client: unknown, status: number, _bytes: number, ms: number) => {
      lastAnswer = performance.now();
      if (spec.okStatus === undefined ? status < 200 || status > 299 : status !== spec.okStatus) return;
      if (n === latencies.length) {
        const bigger = new Float64Array(latencies.length * 2);
        bigger.set(latencies);
        latencies = bigger;
      }
      latencies[n++] = ms;
    });
  });
}

function percentile(sorted: Float64Array, q: number): number {
  if (sorted.length === 0) return 0;
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]!;
}

export function median(values: number[]): number {
  if (values.length === 0) return 0;
  const s = [...values].sort((a, b) => a - b);
  const mid = s.length >> 1;
  return s.length % 2 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
}
