import autocannon from 'autocannon';
import { backgroundShare, databaseBackendSeconds, sampleCpu, serverCpuSeconds, serverMainThreadSeconds } from './cpu.ts';
import { POSTGRES_ADMIN_URL } from './tessera.ts';
import { histogramPercentile, runWrk, wrkOnPath } from './wrk.ts';

export type LoadGenerator = 'wrk' | 'autocannon';

/**
 * wrk when it is on PATH: a separate C process that costs a few µs of CPU per request.
 * autocannon (in this process, JavaScript) costs tens, taken from the same cores as the server
 * under test on a small machine, which compresses every ratio toward 1. `--load-generator`
 * chooses; docs/performance.md "How it runs" has both costs.
 */
let generator: LoadGenerator = wrkOnPath() ? 'wrk' : 'autocannon';

export function useLoadGenerator(g: LoadGenerator): void {
  generator = g;
}

export function loadGenerator(): LoadGenerator {
  return generator;
}

/**
 * How many entries a pool of single-use requests (authorization codes) holds per request
 * expected at the previous run's rate. autocannon sends exactly one request per entry (an
 * `amount` run, which lasts as long as the pool does); wrk runs for a duration and has no
 * request count, so its pool carries a margin and a spent pool ends the run early (wrk.lua).
 */
export function poolMargin(): number {
  return generator === 'wrk' ? 1.5 : 1;
}

/** One request of a varying load: its headers (over the load's) and body. */
export interface RequestVariant {
  headers?: Record<string, string>;
  body: string;
}

/** Requests that differ from one to the next; both generators implement each kind. */
export type Variation =
  /** Request i is variants[i mod n] (password sign-in: forms rotated). */
  | { kind: 'cycle'; variants: RequestVariant[] }
  /**
   * Each variant at most once, in order (one pre-minted code per request). autocannon sends
   * exactly one request per variant; wrk sends them for the duration and nothing once they
   * are spent (the run then ends with its last answer): no variant is ever sent twice.
   */
  | { kind: 'once'; variants: RequestVariant[] }
  /**
   * Refresh-token rotation: the body is `bodyPrefix` + a refresh token never presented
   * before, taken from a stack that starts with `seeds`; a 200's `refresh_token` goes back on it.
   */
  | { kind: 'chain'; seeds: string[]; bodyPrefix: string };

/** What a load generator sends, for how long (or how many requests). */
export interface RawLoad {
  /** Full URL, path included. */
  url: string;
  connections: number;
  /** Seconds; ignored when `amount` is set. */
  duration?: number;
  /** Exact number of requests (the memory scenario). */
  amount?: number;
  method?: string;
  headers?: Record<string, string>;
  body?: string;
  vary?: Variation;
}

/** One load run and what is measured beside it. */
export interface LoadSpec extends RawLoad {
  /** The server under test: its CPU time (with its workers) per answer is recorded. */
  serverPid?: number;
  /** The status that counts as a success (default: any 2xx), e.g. 303 for a sign-in. */
  okStatus?: number;
  /** PostgreSQL rows: the server's database, whose backends' CPU time per answer is recorded. */
  databaseName?: string;
}

/** autocannon only: raw per-request hooks (setup work that is not measured, e.g. minting codes). */
export interface AutocannonLoad extends LoadSpec {
  requests?: autocannon.Request[];
}

export interface LoadResult {
  /** Successful (2xx, or `okStatus`) responses per second over the run. */
  rps: number;
  /**
   * Latency in ms, sub-millisecond resolution: of successful answers (autocannon), of every
   * answer (wrk, whose histogram does not tell statuses apart; a run with failures is flagged anyway).
   */
  p50: number;
  p99: number;
  ok: number;
  non2xx: number;
  errors: number;
  timeouts: number;
  seconds: number;
  statusCodes: Record<string, number>;
  /** Which generator sent the load. */
  generator?: LoadGenerator;
  /** The pool of single-use requests ran out before the duration (wrk; the run ended early). */
  exhausted?: boolean;
  /** CPU time of the load generator itself per answer, in µs (wrk's process; autocannon: this process). */
  genUs?: number;
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

/** What either generator hands back; runLoad adds the server's side. */
interface Generated {
  seconds: number;
  statusCodes: Record<string, number>;
  errors: number;
  timeouts: number;
  p50: number;
  p99: number;
  cpuSeconds?: number;
  exhausted?: boolean;
}

/** Runs one load with the chosen generator (the server under test is always another process). */
export async function runLoad(spec: LoadSpec): Promise<LoadResult> {
  return measured(spec, generator);
}

/** autocannon whatever the choice: for setup loads that need its per-response hooks. */
export async function runAutocannonLoad(spec: AutocannonLoad): Promise<LoadResult> {
  return measured(spec, 'autocannon');
}

async function measured(spec: AutocannonLoad, using: LoadGenerator): Promise<LoadResult> {
  const before = spec.databaseName === undefined ? undefined : await databaseBackendSeconds(POSTGRES_ADMIN_URL, spec.databaseName);
  const cpuBefore = sampleCpu();
  const serverBefore = spec.serverPid === undefined ? undefined : serverCpuSeconds(spec.serverPid);
  const mainBefore = spec.serverPid === undefined ? undefined : serverMainThreadSeconds(spec.serverPid);
  const g = using === 'wrk' ? await generateWrk(spec) : await runAutocannon(spec);
  const background = backgroundShare(cpuBefore, sampleCpu());
  const serverAfter = spec.serverPid === undefined ? undefined : serverCpuSeconds(spec.serverPid);
  const mainAfter = spec.serverPid === undefined ? undefined : serverMainThreadSeconds(spec.serverPid);
  let answers = 0;
  let twoxx = 0;
  for (const [code, n] of Object.entries(g.statusCodes)) {
    answers += n;
    if (Number(code) >= 200 && Number(code) <= 299) twoxx += n;
  }
  const ok = spec.okStatus === undefined ? twoxx : (g.statusCodes[String(spec.okStatus)] ?? 0);
  const perAnswer = (a: number | undefined, b: number | undefined) => (a !== undefined && b !== undefined && answers > 0 ? ((b - a) * 1e6) / answers : undefined);
  const cpuUs = perAnswer(serverBefore, serverAfter);
  const mainUs = perAnswer(mainBefore, mainAfter);
  const genUs = perAnswer(0, g.cpuSeconds);
  let dbUs: number | undefined;
  if (spec.databaseName !== undefined && before) {
    const after = await databaseBackendSeconds(POSTGRES_ADMIN_URL, spec.databaseName);
    if (after && answers > 0) {
      let seconds = 0;
      for (const [pid, s] of after) seconds += s - (before.get(pid) ?? 0);
      dbUs = (seconds * 1e6) / answers;
    }
  }
  return {
    ...(background !== undefined ? { background } : {}),
    ...(cpuUs !== undefined ? { cpuUs } : {}),
    ...(mainUs !== undefined ? { mainUs } : {}),
    ...(dbUs !== undefined ? { dbUs } : {}),
    ...(genUs !== undefined ? { genUs } : {}),
    generator: using,
    ...(g.exhausted ? { exhausted: true } : {}),
    rps: g.seconds > 0 ? ok / g.seconds : 0,
    p50: g.p50,
    p99: g.p99,
    ok,
    non2xx: answers - ok,
    errors: g.errors,
    timeouts: g.timeouts,
    seconds: g.seconds,
    statusCodes: g.statusCodes,
  };
}

async function generateWrk(spec: LoadSpec): Promise<Generated> {
  const r = await runWrk(spec);
  return {
    seconds: r.seconds,
    statusCodes: r.statusCodes,
    errors: r.errors,
    timeouts: r.timeouts,
    p50: histogramPercentile(r.latency, 0.5) / 1000,
    p99: histogramPercentile(r.latency, 0.99) / 1000,
    ...(r.cpuSeconds !== undefined ? { cpuSeconds: r.cpuSeconds } : {}),
    ...(r.exhausted ? { exhausted: true } : {}),
  };
}

/** autocannon's form of a varying load: one request whose setupRequest picks the next variant. */
function autocannonRequests(spec: AutocannonLoad): { requests?: autocannon.Request[]; amount?: number } {
  const v = spec.vary;
  if (!v) return spec.requests ? { requests: spec.requests } : {};
  const base: autocannon.Request = { method: spec.method ?? 'GET', ...(spec.headers ? { headers: spec.headers } : {}) };
  if (v.kind === 'chain') {
    const queue = [...v.seeds];
    let last = queue[0]!;
    return {
      requests: [
        {
          ...base,
          setupRequest: (req) => {
            const token = queue.pop() ?? last; // empty only after failures: the reuse then shows as non-2xx
            last = token;
            return { ...req, body: `${v.bodyPrefix}${encodeURIComponent(token)}` };
          },
          onResponse: (status, body) => {
            if (status !== 200) return;
            const next = (JSON.parse(body) as { refresh_token?: string }).refresh_token;
            if (next) queue.push(next);
          },
        },
      ],
    };
  }
  let next = 0;
  const request: autocannon.Request = {
    ...base,
    setupRequest: (req) => {
      const x = v.variants[next++ % v.variants.length]!;
      return { ...req, headers: { ...spec.headers, ...x.headers }, body: x.body };
    },
  };
  // Exactly one request per variant: autocannon counts requests.
  return v.kind === 'once' ? { requests: [request], amount: v.variants.length } : { requests: [request] };
}

/**
 * Runs autocannon in this process. Latencies are collected from every response event rather
 * than autocannon's histogram, which keeps whole milliseconds only — too coarse for "the
 * gateway adds ≤ 1 ms".
 */
function runAutocannon(spec: AutocannonLoad): Promise<Generated> {
  let latencies = new Float64Array(1 << 16);
  let n = 0;
  const { requests, amount = spec.amount } = autocannonRequests(spec);
  // autocannon ends an `amount` run on its next one-second tick and reports that as the
  // duration (2 000 requests done in 1.3 s report 2 s); time such runs to the last answer.
  const started = performance.now();
  let lastAnswer = started;
  const cpu = process.cpuUsage();
  return new Promise((resolve, reject) => {
    const instance = autocannon(
      {
        url: spec.url,
        connections: spec.connections,
        ...(amount !== undefined ? { amount } : { duration: spec.duration ?? 10 }),
        ...(spec.method ? { method: spec.method } : {}),
        ...(spec.headers ? { headers: spec.headers } : {}),
        ...(spec.body !== undefined ? { body: spec.body } : {}),
        ...(requests ? { requests } : {}),
        timeout: 30,
      },
      (error, result) => {
        if (error) return reject(error);
        const used = process.cpuUsage(cpu);
        const sorted = latencies.subarray(0, n).sort();
        const statusCodes: Record<string, number> = {};
        for (const [code, stat] of Object.entries(result.statusCodeStats ?? {})) statusCodes[code] = stat.count;
        resolve({
          seconds: amount !== undefined && n > 0 ? (lastAnswer - started) / 1000 : result.duration,
          statusCodes,
          errors: result.errors,
          timeouts: result.timeouts,
          p50: percentile(sorted, 0.5),
          p99: percentile(sorted, 0.99),
          // This process's CPU during the run: autocannon, plus the harness's hooks (chaining's JSON.parse).
          cpuSeconds: (used.user + used.system) / 1e6,
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
