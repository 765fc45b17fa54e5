/**
 * `npm run bench [-- options]`: Tessera side by side with node-oidc-provider and two
 * Fastify floors, each in its own process on 127.0.0.1, driven by wrk (a process of its own)
 * or autocannon (in this one).
 * Writes bench/results/latest.json and latest.md and prints the table. See
 * docs/performance.md.
 *
 *   --duration S      seconds per measured run (default 10)
 *   --warmup S        seconds of warm-up before each run (default 2)
 *   --connections N   concurrent connections (default 32)
 *   --rounds N        alternating rounds A B A B … (default 3)
 *   --only a,b        scenarios: client-credentials, introspection, refresh-token,
 *                     authorization-code, password-sign-in, gateway, memory
 *   --contenders a,b  only these contender ids (e.g. tessera-sqlite,oidc-provider)
 *   --memory-tokens N tokens issued in the memory scenario (default 200000)
 *   --quick           smoke run: 2 s runs, 0.5 s warm-up, 1 round, 5000 memory tokens
 *   --no-postgres     skip the PostgreSQL rows even when PostgreSQL is reachable
 *   --cpu-prof        run every Tessera child with --cpu-prof (profiles in <out>/profiles)
 *   --out DIR         where results go (default bench/results)
 *   --baseline DIR    also run the Tessera of another checkout DIR (its dependencies
 *                     installed) on SQLite, next to this one, and report the ratio: a
 *                     before/after comparison in one run (docs/performance.md)
 *   --load-generator G  wrk (default when wrk is on PATH) or autocannon
 *   --check           exit 1 unless every target is met
 */
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { availableParallelism, cpus, loadavg } from 'node:os';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { rssBytes, sleep } from './lib/child.ts';
import { evaluateTargets } from './lib/checks.ts';
import { basic, FORM } from './lib/flows.ts';
import { Lab } from './lib/lab.ts';
import { loadGenerator, median, runLoad, useLoadGenerator, type LoadResult } from './lib/load.ts';
import { wrkOnPath } from './lib/wrk.ts';
import { markdown, ratioText, type ContenderResult, type MemoryResult, type Ratio, type Results, type ScenarioResult } from './lib/report.ts';
import { SCENARIO_NAMES, SCENARIOS, type Contender } from './lib/scenarios.ts';
import { postgresReachable, ROOT, supportsWorkers } from './lib/tessera.ts';

const { values: flags } = parseArgs({
  options: {
    duration: { type: 'string' },
    warmup: { type: 'string' },
    connections: { type: 'string' },
    rounds: { type: 'string' },
    only: { type: 'string' },
    contenders: { type: 'string' },
    'memory-tokens': { type: 'string' },
    quick: { type: 'boolean', default: false },
    'no-postgres': { type: 'boolean', default: false },
    'cpu-prof': { type: 'boolean', default: false },
    out: { type: 'string' },
    check: { type: 'boolean', default: false },
    baseline: { type: 'string' },
    'load-generator': { type: 'string' },
  },
});

function num(name: string, value: string | undefined, fallback: number, min: number): number {
  if (value === undefined) return fallback;
  const n = Number(value);
  if (!Number.isFinite(n) || n < min) {
    process.stderr.write(`bench: --${name} must be a number ≥ ${min} (got "${value}")\n`);
    process.exit(2);
  }
  return n;
}

const chosen = flags['load-generator'];
if (chosen !== undefined) {
  if (chosen !== 'wrk' && chosen !== 'autocannon') {
    process.stderr.write(`bench: --load-generator must be wrk or autocannon (got "${chosen}")\n`);
    process.exit(2);
  }
  if (chosen === 'wrk' && !wrkOnPath()) {
    process.stderr.write('bench: --load-generator wrk: no wrk on PATH (apt-get install wrk)\n');
    process.exit(2);
  }
  useLoadGenerator(chosen);
}

const quick = flags.quick;
const settings = {
  duration: num('duration', flags.duration, quick ? 2 : 10, 0.5),
  warmup: num('warmup', flags.warmup, quick ? 0.5 : 2, 0),
  connections: num('connections', flags.connections, 32, 1),
  rounds: num('rounds', flags.rounds, quick ? 1 : 3, 1),
  quick,
  memoryTokens: num('memory-tokens', flags['memory-tokens'], quick ? 5000 : 200_000, 100),
  loadGenerator: loadGenerator(),
};
const only = flags.only ? flags.only.split(',').map((s) => s.trim()) : SCENARIO_NAMES;
for (const name of only) {
  if (!SCENARIO_NAMES.includes(name)) {
    process.stderr.write(`bench: unknown scenario "${name}" (known: ${SCENARIO_NAMES.join(', ')})\n`);
    process.exit(2);
  }
}
const contenderFilter = flags.contenders ? new Set(flags.contenders.split(',').map((s) => s.trim())) : undefined;
const wanted = (id: string) => !contenderFilter || contenderFilter.has(id);
const baselineRoot = flags.baseline === undefined ? undefined : resolve(flags.baseline);
if (baselineRoot && !existsSync(join(baselineRoot, 'bin', 'tessera'))) {
  process.stderr.write(`bench: --baseline ${flags.baseline}: no bin/tessera there (a checkout of Tessera with npm ci done)\n`);
  process.exit(2);
}
const outDir = resolve(flags.out ?? join(ROOT, 'bench', 'results'));
mkdirSync(outDir, { recursive: true });

const log = (line: string) => process.stderr.write(`${line}\n`);
const notes: string[] = [];

const usePostgres = !flags['no-postgres'] && (await postgresReachable());
const workers = await supportsWorkers();
const cpuProfDir = flags['cpu-prof'] ? join(outDir, 'profiles', new Date().toISOString().replace(/[:.]/g, '-')) : undefined;
if (cpuProfDir) mkdirSync(cpuProfDir, { recursive: true });
const lab = new Lab({
  postgres: usePostgres,
  ...(flags['no-postgres'] ? { noPostgresReason: 'PostgreSQL rows skipped (--no-postgres).' } : {}),
  workers,
  ...(cpuProfDir ? { cpuProfDir } : {}),
  ...(baselineRoot ? { baselineRoot } : {}),
});

const results: Results = {
  meta: {
    date: new Date().toISOString(),
    commit: commit(ROOT),
    ...(baselineRoot ? { baseline: `${commit(baselineRoot)} (${baselineRoot})` } : {}),
    node: process.version,
    cpu: cpus()[0]?.model ?? 'unknown CPU',
    cores: availableParallelism(),
    loadAverage: loadavg(),
    settings,
  },
  notes,
  scenarios: [],
  checks: [],
};

let failed = false;
const stopping = () => void lab.close().finally(() => process.exit(130));
process.once('SIGINT', stopping);
process.once('SIGTERM', stopping);

try {
  for (const scenario of SCENARIOS) {
    if (!only.includes(scenario.name)) continue;
    log(`\n== ${scenario.title} ==`);
    const contenders = await scenario.contenders(lab, wanted, notes);
    if (!contenders.length) {
      log('  (no contenders selected)');
      continue;
    }
    const runs = new Map<string, LoadResult[]>(contenders.map((c) => [c.id, []]));
    for (let round = 1; round <= settings.rounds; round++) {
      for (const c of contenders) {
        const measured = async (seconds: number, connections: number) => ({
          ...(await c.load(seconds, connections)),
          ...(c.pid ? { serverPid: c.pid } : {}),
          ...(c.databaseName ? { databaseName: c.databaseName } : {}),
        });
        if (settings.warmup > 0) c.observe?.((await runLoad(await measured(settings.warmup, settings.connections))).rps);
        const result = await runLoad(await measured(settings.duration, settings.connections));
        c.observe?.(result.rps);
        runs.get(c.id)!.push(result);
        if (result.exhausted) {
          const note = `${scenario.title}: ${c.label} spent its pool of single-use requests before the duration in at least one run; that run ended with its last answer (${result.seconds.toFixed(1)} s) and its rate is over that time. No code or token was sent twice.`;
          if (!notes.some((n) => n.startsWith(`${scenario.title}: ${c.label} spent`))) notes.push(note);
        }
        const bad = result.non2xx + result.errors + result.timeouts;
        const other = `${result.cpuUs === undefined ? '' : `  ${Math.round(result.cpuUs)} µs CPU/answer`}${result.mainUs === undefined ? '' : ` (main ${Math.round(result.mainUs)})`}${result.dbUs === undefined ? '' : `  DB ${Math.round(result.dbUs)} µs`}${result.genUs === undefined ? '' : `  load ${result.genUs.toFixed(1)} µs`}${result.exhausted ? '  (pool spent: ended early)' : ''}${result.background === undefined ? '' : `  other CPU ${Math.round(result.background * 100)} %`}`;
        log(`  round ${round}/${settings.rounds} ${c.id.padEnd(20)} ${Math.round(result.rps).toString().padStart(7)} req/s  p50 ${result.p50.toFixed(2)} ms  p99 ${result.p99.toFixed(2)} ms${other}${bad ? `  !! ${result.non2xx} non-2xx ${JSON.stringify(result.statusCodes)}, ${result.errors} errors` : ''}`);
      }
    }
    // The gateway's added latency is a property of one request's path; at 32 connections
    // the p50 is mostly queueing (Little's law), which the throughput ratio already shows.
    let unloaded: Map<string, LoadResult[]> | undefined;
    if (scenario.name === 'gateway') {
      unloaded = new Map(contenders.map((c) => [c.id, []]));
      const seconds = Math.min(settings.duration, 5);
      for (let round = 1; round <= settings.rounds; round++) {
        for (const c of contenders) {
          const result = await runLoad(await c.load(seconds, 1));
          unloaded.get(c.id)!.push(result);
          log(`  round ${round}/${settings.rounds} ${c.id.padEnd(20)} one connection: p50 ${result.p50.toFixed(3)} ms  p99 ${result.p99.toFixed(3)} ms`);
        }
      }
    }
    // Password sign-in: the token path's p99 alone, then with sign-ins at full rate beside it
    // (argon2 must not starve it). Pairs are measured back to back in each round.
    let underLoad: { alone: Map<string, LoadResult[]>; together: Map<string, LoadResult[]> } | undefined;
    if (contenders.some((c) => c.companion)) {
      underLoad = { alone: new Map(), together: new Map() };
      for (let round = 1; round <= settings.rounds; round++) {
        for (const c of contenders) {
          if (!c.companion) continue;
          const pid = c.pid === undefined ? {} : { serverPid: c.pid };
          const alone = await runLoad({ ...(await c.companion(settings.duration, settings.connections)), ...pid });
          const [together, signIns] = await Promise.all([
            runLoad({ ...(await c.companion(settings.duration, settings.connections)), ...pid }),
            runLoad(await c.load(settings.duration, settings.connections)),
          ]);
          (underLoad.alone.get(c.id) ?? underLoad.alone.set(c.id, []).get(c.id)!).push(alone);
          (underLoad.together.get(c.id) ?? underLoad.together.set(c.id, []).get(c.id)!).push(together);
          log(
            `  round ${round}/${settings.rounds} ${c.id.padEnd(20)} client credentials alone: ${Math.round(alone.rps)} req/s p99 ${alone.p99.toFixed(2)} ms; beside ${Math.round(signIns.rps)} sign-ins/s: ${Math.round(together.rps)} req/s p99 ${together.p99.toFixed(2)} ms${together.non2xx + signIns.non2xx ? `  !! ${together.non2xx} + ${signIns.non2xx} failed ${JSON.stringify(signIns.statusCodes)}` : ''}`,
          );
        }
      }
    }
    results.scenarios.push(summarize(scenario, contenders, runs, unloaded, underLoad));
  }
  if (only.includes('memory') && wanted('tessera-sqlite')) results.memory = await memory();
} catch (error) {
  failed = true;
  log(`bench: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}`);
  notes.push(`The run stopped early: ${error instanceof Error ? error.message.split('\n')[0] : String(error)}`);
} finally {
  await lab.close();
}

results.checks = evaluateTargets(results);
const md = markdown(results);
writeFileSync(join(outDir, 'latest.json'), `${JSON.stringify(results, null, 2)}\n`);
writeFileSync(join(outDir, 'latest.md'), `${md}\n`);
process.stdout.write(`\n${md}\n`);
log(`results: ${join(outDir, 'latest.json')}, ${join(outDir, 'latest.md')}${cpuProfDir ? `\nCPU profiles: ${cpuProfDir} (summarize: node bench/profile-summary.ts <file>)` : ''}`);

const missed = results.checks.filter((c) => c.pass === false);
if (flags.check && missed.length) {
  log(`\nbench --check: ${missed.length} target(s) missed:`);
  for (const m of missed) log(`  - ${m.target}: ${m.detail}`);
  process.exitCode = 1;
}
if (failed) process.exitCode = 1;

function rowsOf(contenders: Contender[], runs: Map<string, LoadResult[]>): ContenderResult[] {
  return contenders.map((c) => {
    const rs = runs.get(c.id)!;
    const statusCodes: Record<string, number> = {};
    for (const r of rs) for (const [code, n] of Object.entries(r.statusCodes)) statusCodes[code] = (statusCodes[code] ?? 0) + n;
    return {
      id: c.id,
      label: c.label,
      runs: rs,
      median: {
        rps: median(rs.map((r) => r.rps)),
        p50: median(rs.map((r) => r.p50)),
        p99: median(rs.map((r) => r.p99)),
        ...(rs.every((r) => r.cpuUs !== undefined) && rs.length ? { cpuUs: median(rs.map((r) => r.cpuUs!)) } : {}),
        ...(rs.every((r) => r.mainUs !== undefined) && rs.length ? { mainUs: median(rs.map((r) => r.mainUs!)) } : {}),
        ...(rs.every((r) => r.dbUs !== undefined) && rs.length ? { dbUs: median(rs.map((r) => r.dbUs!)) } : {}),
        ...(rs.every((r) => r.genUs !== undefined) && rs.length ? { genUs: median(rs.map((r) => r.genUs!)) } : {}),
      },
      non2xx: rs.reduce((a, r) => a + r.non2xx, 0),
      errors: rs.reduce((a, r) => a + r.errors, 0),
      timeouts: rs.reduce((a, r) => a + r.timeouts, 0),
      statusCodes,
    };
  });
}

function summarize(
  scenario: (typeof SCENARIOS)[number],
  contenders: Contender[],
  runs: Map<string, LoadResult[]>,
  unloadedRuns?: Map<string, LoadResult[]>,
  underLoad?: { alone: Map<string, LoadResult[]>; together: Map<string, LoadResult[]> },
): ScenarioResult {
  const rows = rowsOf(contenders, runs);
  const unloaded = unloadedRuns ? rowsOf(contenders, unloadedRuns) : undefined;
  const by = (id: string) => rows.find((r) => r.id === id);
  const ratios: Ratio[] = [];
  // Ratios pair the runs of one round (A and B measured back to back, under the same
  // background load) and take the median over rounds: steadier than a ratio of medians.
  const paired = (a: ContenderResult, b: ContenderResult, f: (x: LoadResult, y: LoadResult) => number) =>
    median(a.runs.map((x, i) => f(x, b.runs[i]!)).filter((v) => Number.isFinite(v)));
  const times = (name: string, a?: ContenderResult, b?: ContenderResult, unit: Ratio['unit'] = '×') => {
    if (a && b) ratios.push({ name, value: paired(a, b, (x, y) => x.rps / y.rps), unit });
  };
  // Before/after in one run: this checkout against --baseline, by throughput and by the
  // server's CPU time per answer (the steadier of the two on a shared box).
  const baseline = by('tessera-baseline');
  const current = by('tessera-sqlite');
  if (baseline && current) {
    times('Tessera (SQLite) / baseline throughput', current, baseline);
    if (current.runs.every((r) => r.cpuUs !== undefined) && baseline.runs.every((r) => r.cpuUs !== undefined)) {
      ratios.push({ name: 'Tessera (SQLite) / baseline CPU per answer', value: paired(current, baseline, (x, y) => x.cpuUs! / y.cpuUs!), unit: '×' });
    }
  }
  // What durability costs: every commit synced (group commit shares one sync per batch).
  const full = by('tessera-sqlite-full');
  if (full && current) {
    times('Tessera (SQLite), synchronous = full / normal throughput', full, current);
    if (full.runs.every((r) => r.cpuUs !== undefined) && current.runs.every((r) => r.cpuUs !== undefined)) {
      ratios.push({ name: 'Tessera (SQLite), synchronous = full / normal CPU per answer', value: paired(full, current, (x, y) => x.cpuUs! / y.cpuUs!), unit: '×' });
    }
  }
  const baselinePg = by('tessera-baseline-postgres');
  const currentPg = by('tessera-postgres');
  if (baselinePg && currentPg) {
    times('Tessera (PostgreSQL) / baseline throughput', currentPg, baselinePg);
    // The database's CPU is measured only where the scenario touches it (not on client
    // credentials, answered from the cache): without it the ratio is the server's alone, not 0.
    const withDatabase = [...currentPg.runs, ...baselinePg.runs].every((r) => r.dbUs !== undefined);
    const perAnswer = (r: LoadResult) => (r.cpuUs === undefined ? Number.NaN : r.cpuUs + (withDatabase ? r.dbUs! : 0));
    const value = paired(currentPg, baselinePg, (x, y) => perAnswer(x) / perAnswer(y));
    if (value > 0) ratios.push({ name: `Tessera (PostgreSQL) / baseline CPU per answer${withDatabase ? ', database included' : ''}`, value, unit: '×' });
  }
  // Sign-ins: this checkout's rows and, with --baseline, the other checkout's (before/after in the same rounds).
  for (const t of rows.filter((r) => r.id.startsWith('tessera-'))) {
    if (scenario.name === 'password-sign-in' && t.median.cpuUs) {
      // CPU time per sign-in, every thread of the process included (argon2's too): how many one core can do.
      ratios.push({ name: `${t.label}: sign-ins per second per core`, value: 1e6 / t.median.cpuUs, unit: '/s' });
    }
    const alone = underLoad?.alone.get(t.id);
    const together = underLoad?.together.get(t.id);
    if (alone?.length && together?.length) {
      ratios.push({ name: `${t.label}: client-credentials p99 alone`, value: median(alone.map((r) => r.p99)), unit: 'ms' });
      ratios.push({ name: `${t.label}: client-credentials p99 beside sign-ins at full rate`, value: median(together.map((r) => r.p99)), unit: 'ms' });
      ratios.push({ name: `${t.label}: client-credentials p99 beside sign-ins / alone`, value: median(together.map((r, i) => r.p99 / alone[i]!.p99)), unit: '×' });
    }
  }
  for (const t of rows.filter((r) => r.id.startsWith('tessera-') && !r.id.startsWith('tessera-baseline'))) {
    times(`${t.label} / node-oidc-provider`, t, by('oidc-provider'));
    times(`${t.label} / node-oidc-provider (PostgreSQL adapter)`, t, by('oidc-provider-postgres'));
    if (scenario.name === 'client-credentials') {
      times(`${t.label} / Fastify + ES256 floor`, t, by('fastify-es256'), '%');
      times(`${t.label} / Fastify fixed-JSON floor`, t, by('fastify-json'), '%');
    }
  }
  // How far above node-oidc-provider the machine allows at all: the floor does nothing but HTTP + one signature.
  times('Fastify + ES256 floor / node-oidc-provider', by('fastify-es256'), by('oidc-provider'));
  times('Speed-up from 1 to 2 workers (SQLite)', by('tessera-sqlite-2w'), by('tessera-sqlite'));
  // The same speed-up for a server that does nothing but HTTP + one signature: what this
  // machine allows with the load generator on the same cores.
  times('Speed-up from 1 to 2 processes (ES256 floor)', by('fastify-es256-2w'), by('fastify-es256'));
  const direct = by('upstream-direct');
  const gw = by('gateway-sqlite');
  if (direct && gw) {
    times('Gateway / direct throughput', gw, direct, '%');
    ratios.push({ name: 'Latency added by the gateway at p50', value: paired(gw, direct, (x, y) => x.p50 - y.p50), unit: 'ms' });
    ratios.push({ name: 'Latency added by the gateway at p99', value: paired(gw, direct, (x, y) => x.p99 - y.p99), unit: 'ms' });
  }
  const proxy = by('proxy-floor');
  times('Bare proxy / direct throughput', proxy, direct, '%');
  if (proxy && direct) ratios.push({ name: 'Latency added by the bare proxy at p50', value: paired(proxy, direct, (x, y) => x.p50 - y.p50), unit: 'ms' });
  times('Gateway / bare proxy throughput', gw, proxy, '%');
  // With --baseline: this checkout's gateway against the other's, and each against the bare proxy.
  const gwBefore = by('gateway-baseline');
  times('Baseline gateway / bare proxy throughput', gwBefore, proxy, '%');
  if (gw && gwBefore) {
    times('Gateway / baseline gateway throughput', gw, gwBefore);
    if (gw.runs.every((r) => r.cpuUs !== undefined) && gwBefore.runs.every((r) => r.cpuUs !== undefined)) {
      ratios.push({ name: 'Gateway / baseline gateway CPU per answer', value: paired(gw, gwBefore, (x, y) => x.cpuUs! / y.cpuUs!), unit: '×' });
    }
  }
  if (gw && proxy && gw.runs.every((r) => r.cpuUs !== undefined) && proxy.runs.every((r) => r.cpuUs !== undefined)) {
    ratios.push({ name: 'Gateway / bare proxy CPU per answer', value: paired(gw, proxy, (x, y) => x.cpuUs! / y.cpuUs!), unit: '×' });
  }
  const gw1 = unloaded?.find((r) => r.id === 'gateway-sqlite');
  const direct1 = unloaded?.find((r) => r.id === 'upstream-direct');
  const proxy1 = unloaded?.find((r) => r.id === 'proxy-floor');
  if (gw1 && direct1) ratios.push({ name: 'Latency added by the gateway at p50, one connection', value: paired(gw1, direct1, (x, y) => x.p50 - y.p50), unit: 'ms' });
  if (proxy1 && direct1) ratios.push({ name: 'Latency added by the bare proxy at p50, one connection', value: paired(proxy1, direct1, (x, y) => x.p50 - y.p50), unit: 'ms' });
  for (const r of ratios) log(`  ${r.name}: ${ratioText(r)}`);
  return { name: scenario.name, title: scenario.title, measures: scenario.measures, contenders: rows, ratios, ...(unloaded ? { unloaded } : {}) };
}

/** 200 000 client-credentials tokens against one fresh Tessera; RSS before and after. */
async function memory(): Promise<MemoryResult> {
  log(`\n== Memory: ${settings.memoryTokens.toLocaleString('en-US')} tokens ==`);
  const t = await lab.tessera('tessera-sqlite', true);
  const spec = {
    url: `${t.url}${t.tokenPath}`,
    connections: settings.connections,
    method: 'POST',
    headers: { authorization: basic(t.service.id, t.service.secret), 'content-type': FORM },
    body: `grant_type=client_credentials&scope=${t.serviceScope}`,
  };
  // Warm up first so JIT code and start-up allocations are in the baseline.
  await runLoad({ ...spec, amount: Math.min(5000, settings.memoryTokens) });
  await sleep(2000);
  const before = rssBytes(t.child.pid) ?? 0;
  const result = await runLoad({ ...spec, amount: settings.memoryTokens });
  await sleep(3000);
  const after = rssBytes(t.child.pid) ?? 0;
  await t.child.stop();
  const mb = (b: number) => b / (1024 * 1024);
  const out = { tokens: settings.memoryTokens, issued: result.ok, non2xx: result.non2xx, rssBeforeMB: mb(before), rssAfterMB: mb(after), growthMB: mb(after - before), rps: result.rps };
  log(`  RSS ${out.rssBeforeMB.toFixed(1)} MB → ${out.rssAfterMB.toFixed(1)} MB (+${out.growthMB.toFixed(1)} MB) over ${result.ok} tokens at ${Math.round(result.rps)} req/s`);
  return out;
}

function commit(root: string): string {
  try {
    const sha = execFileSync('git', ['rev-parse', '--short', 'HEAD'], { cwd: root, encoding: 'utf8' }).trim();
    const dirty = execFileSync('git', ['status', '--porcelain', '--', 'src'], { cwd: root, encoding: 'utf8' }).trim();
    return dirty ? `${sha} (+ uncommitted changes in src/)` : sha;
  } catch {
    return 'unknown';
  }
}
