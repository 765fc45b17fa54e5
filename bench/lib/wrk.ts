import { spawn } from 'node:child_process';
import { accessSync, constants, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { RawLoad } from './load.ts';

/**
 * wrk (C, one epoll loop) as the load generator: a separate process that costs a few µs of CPU
 * per request where autocannon in the harness costs tens, so on a 2-core box the server under
 * test keeps most of the machine. bench/lib/wrk.lua does the per-request work (pools,
 * refresh-token chaining, status counts); this module writes its inputs, runs it and reads
 * its result. Debian's wrk 4.1.0 (`apt-get install wrk`).
 */

const SCRIPT = join(import.meta.dirname, 'wrk.lua');

/** What bench/lib/wrk.lua's done() writes. */
interface WrkOutput {
  /** µs from the start of the run to its end (wrk's own clock). */
  duration: number;
  requests: number;
  errors: { connect: number; read: number; write: number; status: number; timeout: number };
  statuses: Record<string, number>;
  sent: number;
  answered: number;
  exhausted: boolean;
  cpuStartTicks: number;
  cpuEndTicks: number;
  /** [µs, count] of every latency recorded, after wrk's coordinated-omission correction. */
  latency: [number, number][];
}

export interface WrkResult {
  seconds: number;
  statusCodes: Record<string, number>;
  answers: number;
  errors: number;
  timeouts: number;
  /** Latency of every answer, µs → count, as measured (wrk's correction undone). */
  latency: Map<number, number>;
  /** CPU seconds wrk itself used during the run (its start-up, reading the pools, excluded). */
  cpuSeconds?: number;
  /** The pool (codes, refresh tokens, `amount`) ran out before the duration. */
  exhausted: boolean;
}

let scratch: string | undefined;
let runs = 0;

/** HTTP/1.1 request bytes as wrk.format would build them (Host first, Content-Length when there is a body). */
export function rawRequest(url: URL, method: string, headers: Record<string, string>, body: string | undefined): string {
  const lines = [`${method} ${url.pathname}${url.search} HTTP/1.1`, `Host: ${url.host}`];
  for (const [name, value] of Object.entries(headers)) lines.push(`${name}: ${value}`);
  if (body !== undefined) lines.push(`Content-Length: ${Buffer.byteLength(body)}`);
  return `${lines.join('\r\n')}\r\n\r\n${body ?? ''}`;
}

function entries(items: string[]): Buffer {
  return Buffer.concat(items.flatMap((s) => {
    const bytes = Buffer.from(s);
    return [Buffer.from(`${bytes.length}\n`), bytes];
  }));
}

/**
 * Runs wrk once. Durations are whole seconds for wrk's -d; a fractional one (the quick
 * mode's warm-ups) is ended by SIGINT that many seconds after the script says it started,
 * which wrk handles like the end of -d (it reports, and runs done()).
 */
export async function runWrk(load: RawLoad): Promise<WrkResult> {
  if (scratch === undefined) {
    const dir = mkdtempSync(join(tmpdir(), 'tessera-wrk-'));
    process.once('exit', () => rmSync(dir, { recursive: true, force: true }));
    scratch = dir;
  }
  const base = join(scratch, String(runs++));
  const url = new URL(load.url);
  const method = load.method ?? 'GET';
  const headers = load.headers ?? {};
  let mode: string;
  let data: Buffer;
  const v = load.vary;
  if (!v) {
    mode = 'fixed';
    data = entries([rawRequest(url, method, headers, load.body)]);
  } else if (v.kind === 'chain') {
    mode = 'chain';
    const head = rawRequest(url, method, headers, '');
    data = entries([head.slice(0, head.lastIndexOf('Content-Length: ') + 'Content-Length: '.length), v.bodyPrefix, ...v.seeds]);
  } else {
    mode = v.kind;
    data = entries(v.variants.map((x) => rawRequest(url, method, { ...headers, ...x.headers }, x.body)));
  }
  writeFileSync(`${base}.data`, data);
  const seconds = load.amount !== undefined ? 3600 : (load.duration ?? 10);
  const whole = Number.isInteger(seconds);
  const args = ['-t1', `-c${load.connections}`, `-d${whole ? seconds : Math.ceil(seconds) + 1}s`, '--timeout', '30s', '-s', SCRIPT, load.url];
  const child = spawn('wrk', args, {
    stdio: ['ignore', 'ignore', 'pipe'],
    env: {
      ...process.env,
      TESSERA_WRK_MODE: mode,
      TESSERA_WRK_DATA: `${base}.data`,
      TESSERA_WRK_OUT: `${base}.json`,
      ...(load.amount !== undefined ? { TESSERA_WRK_AMOUNT: String(load.amount) } : {}),
    },
  });
  let stderr = '';
  let timer: NodeJS.Timeout | undefined;
  let fallback: NodeJS.Timeout | undefined;
  const stop = () => child.kill('SIGINT');
  child.stderr.setEncoding('utf8');
  let pending = '';
  child.stderr.on('data', (chunk: string) => {
    stderr += chunk;
    const lines = (pending + chunk).split('\n');
    pending = lines.pop()!;
    for (const line of lines) {
      if (line === 'tessera-wrk: started' && !whole) timer = setTimeout(stop, seconds * 1000);
      // A spent pool: stop as soon as the requests in flight are answered (or 2 s later,
      // when one of them never is — its error is counted).
      if (line === 'tessera-wrk: exhausted') fallback = setTimeout(stop, 2000);
      if (line === 'tessera-wrk: drained') stop();
    }
  });
  const code = await new Promise<number | null>((resolve, reject) => {
    child.once('error', reject);
    child.once('close', (c) => resolve(c));
  });
  clearTimeout(timer);
  clearTimeout(fallback);
  let out: WrkOutput;
  try {
    out = JSON.parse(readFileSync(`${base}.json`, 'utf8')) as WrkOutput;
  } catch {
    throw new Error(`wrk ${args.join(' ')} exited ${code} without a result: ${stderr.replace(/tessera-wrk: \w+\n/g, '').trim()}`);
  } finally {
    rmSync(`${base}.data`, { force: true });
    rmSync(`${base}.json`, { force: true });
  }
  return {
    seconds: out.duration / 1e6,
    statusCodes: out.statuses,
    answers: out.answered,
    errors: out.errors.connect + out.errors.read + out.errors.write,
    timeouts: out.errors.timeout,
    latency: uncorrected(out.latency, out.duration, out.requests, load.connections),
    ...(out.cpuStartTicks >= 0 && out.cpuEndTicks >= 0 ? { cpuSeconds: (out.cpuEndTicks - out.cpuStartTicks) / 100 } : {}),
    exhausted: out.exhausted,
  };
}

/**
 * wrk 4 "corrects" its latency histogram for coordinated omission before done() sees it:
 * with e = duration / (requests / connections) µs (integer division, as in wrk.c), every
 * recorded latency n ≥ 2e also adds its count at n − e, n − 2e, … while above e
 * (stats_correct in stats.c). The autocannon path reports latencies as measured, so this
 * takes the correction out again: H'(m) = H(m) + Σ_{k≥1} H(m + k·e) for m > e, solved from
 * the top down. A value with H' = 0 has H = 0 and nothing above it in its chain, so the
 * sparse histogram suffices.
 */
export function uncorrected(corrected: [number, number][], durationUs: number, requests: number, connections: number): Map<number, number> {
  const out = new Map<number, number>();
  const perConnection = Math.floor(requests / connections);
  if (perConnection === 0) {
    for (const [v, c] of corrected) out.set(v, c);
    return out;
  }
  const e = Math.floor(durationUs / perConnection);
  const above = new Map<number, number>(); // T(m) = Σ_{k≥1} H(m + k·e)
  const sorted = [...corrected].sort((a, b) => b[0] - a[0]);
  for (const [m, c] of sorted) {
    if (m <= e) {
      out.set(m, c);
      continue;
    }
    const t = (out.get(m + e) ?? 0) + (above.get(m + e) ?? 0);
    above.set(m, t);
    const h = c - t;
    if (h > 0) out.set(m, h);
  }
  return out;
}

/** The q-quantile (as load.ts takes it: the value at index ⌊q·n⌋ of the sorted samples) of a histogram, in µs. */
export function histogramPercentile(histogram: Map<number, number>, q: number): number {
  let n = 0;
  for (const c of histogram.values()) n += c;
  if (n === 0) return 0;
  const index = Math.min(n - 1, Math.floor(q * n));
  let seen = 0;
  for (const v of [...histogram.keys()].sort((a, b) => a - b)) {
    seen += histogram.get(v)!;
    if (seen > index) return v;
  }
  return 0;
}

/** wrk on PATH? (Looked up once: the default load generator depends on it.) */
export function wrkOnPath(): boolean {
  for (const dir of (process.env.PATH ?? '').split(':')) {
    if (!dir) continue;
    try {
      accessSync(join(dir, 'wrk'), constants.X_OK);
      return true;
    } catch {
      // not there
    }
  }
  return false;
}
