import type { LoadResult } from './load.ts';

export interface ContenderResult {
  id: string;
  label: string;
  runs: LoadResult[];
  median: { rps: number; p50: number; p99: number; cpuUs?: number; mainUs?: number; dbUs?: number; genUs?: number };
  non2xx: number;
  errors: number;
  timeouts: number;
  statusCodes: Record<string, number>;
}

export interface Ratio {
  name: string;
  value: number;
  unit: '×' | 'ms' | '%' | '/s';
}

export interface ScenarioResult {
  name: string;
  title: string;
  measures: string;
  contenders: ContenderResult[];
  ratios: Ratio[];
  /** Gateway only: the same contenders at one connection — latency without queueing. */
  unloaded?: ContenderResult[];
}

export interface MemoryResult {
  tokens: number;
  issued: number;
  non2xx: number;
  rssBeforeMB: number;
  rssAfterMB: number;
  growthMB: number;
  rps: number;
}

export interface Check {
  target: string;
  pass: boolean | null;
  detail: string;
}

export interface Results {
  meta: {
    date: string;
    commit: string;
    /** The checkout compared with (`--baseline`), when there is one. */
    baseline?: string;
    node: string;
    cpu: string;
    cores: number;
    loadAverage: number[];
    settings: { duration: number; warmup: number; connections: number; rounds: number; quick: boolean; memoryTokens: number; loadGenerator?: string };
  };
  notes: string[];
  scenarios: ScenarioResult[];
  memory?: MemoryResult;
  checks: Check[];
}

const f0 = (n: number) => Math.round(n).toLocaleString('en-US');
const f2 = (n: number) => n.toFixed(2);

export function ratioText(r: Ratio): string {
  if (r.unit === '/s') return `${r.value.toFixed(1)}/s`;
  if (r.unit === 'ms' && !r.name.startsWith('Latency added')) return `${r.value.toFixed(2)} ms`;
  return r.unit === '×' ? `${r.value.toFixed(2)}×` : r.unit === '%' ? `${(r.value * 100).toFixed(0)} %` : `${r.value >= 0 ? '+' : ''}${r.value.toFixed(2)} ms`;
}

export function markdown(r: Results): string {
  const s = r.meta.settings;
  const lines: string[] = [
    `# Tessera benchmark — ${r.meta.date}`,
    '',
    `- Machine: ${r.meta.cpu}, ${r.meta.cores} cores (load average at start ${r.meta.loadAverage.map((l) => l.toFixed(2)).join(' / ')})`,
    `- Node ${r.meta.node}, commit ${r.meta.commit}${r.meta.baseline ? `; baseline ${r.meta.baseline}` : ''}`,
    `- Load generator: ${s.loadGenerator ?? 'autocannon'}${s.loadGenerator === 'wrk' ? ' (a process of its own, one thread)' : ' (in the harness process)'}`,
    `- ${s.duration} s × ${s.connections} connections after a ${s.warmup} s warm-up, ${s.rounds} round(s) alternating contenders; medians over rounds${s.quick ? ' (quick smoke run: numbers are indicative only)' : ''}`,
    '- Throughput counts 2xx answers only; latencies are of 2xx answers (autocannon) or of every answer (wrk: its histogram does not tell statuses apart; any failure is flagged in the table). Ratios pair the two runs of each round and take the median over rounds.',
    '- "CPU µs/answer": CPU time (user + system) of the server process and its workers per answer, median over rounds; PostgreSQL\'s own backends are not included. Steadier than req/s on a shared box.',
    '- "Main µs/answer": of that, the time on the server\'s main threads (its event loops, from `/proc/<pid>/task/<pid>/stat`): work there holds every other request back; libuv\'s threadpool (argon2, RS256 signed off the loop) and V8\'s helper threads are the difference.',
    '- "DB µs/answer" (PostgreSQL rows): CPU time of the PostgreSQL backends serving the contender\'s database per answer (pg_stat_activity, `/proc/<pid>/stat`), which the columns before leave out.',
    '- "Load µs/answer": CPU time of the load generator itself per answer (wrk\'s process, or the harness process running autocannon): what the server under test did not get of the cores.',
    '- "Other CPU": share of the whole machine used by processes outside the bench during each run (other users; PostgreSQL\'s backends for the PostgreSQL rows). High values mean the run was starved.',
    '',
  ];
  for (const n of r.notes) lines.push(`> ${n}`, '');
  for (const sc of r.scenarios) {
    lines.push(`## ${sc.title} (\`${sc.name}\`)`, '', sc.measures, '');
    lines.push('| Contender | req/s | CPU µs/answer | main µs/answer | DB µs/answer | load µs/answer | p50 ms | p99 ms | non-2xx | errors | req/s per round | other CPU per round |', '|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|---|');
    for (const c of sc.contenders) {
      const other = c.runs.map((x) => (x.background === undefined ? '?' : `${Math.round(x.background * 100)} %`)).join(', ');
      lines.push(`| ${c.label} | ${f0(c.median.rps)} | ${c.median.cpuUs === undefined ? '?' : f0(c.median.cpuUs)} | ${c.median.mainUs === undefined ? '?' : f0(c.median.mainUs)} | ${c.median.dbUs === undefined ? '' : f0(c.median.dbUs)} | ${c.median.genUs === undefined ? '?' : c.median.genUs.toFixed(1)} | ${f2(c.median.p50)} | ${f2(c.median.p99)} | ${c.non2xx} | ${c.errors + c.timeouts} | ${c.runs.map((x) => f0(x.rps)).join(', ')} | ${other} |`);
    }
    if (sc.unloaded?.length) {
      lines.push('', 'At one connection (each request alone: the latency a hop adds, without queueing):', '');
      lines.push('| Contender | req/s | p50 ms | p99 ms | non-2xx | errors |', '|---|---:|---:|---:|---:|---:|');
      for (const c of sc.unloaded) lines.push(`| ${c.label} | ${f0(c.median.rps)} | ${f2(c.median.p50)} | ${f2(c.median.p99)} | ${c.non2xx} | ${c.errors + c.timeouts} |`);
    }
    if (sc.ratios.length) {
      lines.push('');
      for (const ratio of sc.ratios) lines.push(`- ${ratio.name}: **${ratioText(ratio)}**`);
    }
    lines.push('');
  }
  if (r.memory) {
    const m = r.memory;
    lines.push('## Memory (`memory`)', '', `${f0(m.issued)} client-credentials tokens issued by one fresh Tessera (SQLite) process at ${f0(m.rps)} req/s (${m.non2xx} non-2xx).`, '');
    lines.push('| RSS before | RSS after | Growth |', '|---:|---:|---:|', `| ${m.rssBeforeMB.toFixed(1)} MB | ${m.rssAfterMB.toFixed(1)} MB | ${m.growthMB.toFixed(1)} MB |`, '');
  }
  if (r.checks.length) {
    lines.push('## Targets', '', '| Target | Result | Measured |', '|---|---|---|');
    for (const c of r.checks) lines.push(`| ${c.target} | ${c.pass === null ? 'not measured' : c.pass ? 'met' : '**MISSED**'} | ${c.detail} |`);
    lines.push('');
  }
  return lines.join('\n');
}
