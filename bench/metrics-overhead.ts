/**
 * What collecting metrics costs on the token hot path: the same checkout, the same SQLite
 * database, `tessera serve` once without metrics and once with TESSERA_METRICS_TOKEN set,
 * client-credentials tokens under load in alternation (A B A B …), and the server's CPU time
 * per answer (steadier than req/s on a shared machine). docs/performance.md has the numbers.
 *
 *   node bench/metrics-overhead.ts [--rounds 4] [--duration 8] [--connections 16]
 */
import { parseArgs } from 'node:util';
import { basic, FORM } from './lib/flows.ts';
import { median, runLoad } from './lib/load.ts';
import { provisionTessera, startTessera } from './lib/tessera.ts';

const { values } = parseArgs({
  options: {
    rounds: { type: 'string', default: '4' },
    duration: { type: 'string', default: '8' },
    warmup: { type: 'string', default: '2' },
    connections: { type: 'string', default: '16' },
  },
});
const rounds = Number(values.rounds);
const duration = Number(values.duration);
const warmup = Number(values.warmup);
const connections = Number(values.connections);

// Nothing listens there: the gateway is not measured here.
const setup = await provisionTessera('sqlite', 'http://127.0.0.1:9');
const variants: Array<{ name: string; env: Record<string, string> }> = [
  { name: 'metrics off', env: {} },
  { name: 'metrics on', env: { TESSERA_METRICS_TOKEN: 'bench-metrics-token-0123456789' } },
];
const results = new Map<string, { cpuUs: number[]; rps: number[] }>(variants.map((v) => [v.name, { cpuUs: [], rps: [] }]));
try {
  for (let round = 1; round <= rounds; round++) {
    for (const variant of variants) {
      const child = await startTessera(variant.name, { ...setup, env: { ...setup.env, ...variant.env } });
      try {
        const spec = {
          url: `${child.url}/connect/token`,
          connections,
          method: 'POST',
          headers: { authorization: basic(setup.service.id, setup.service.secret), 'content-type': FORM },
          body: 'grant_type=client_credentials&scope=bench.read',
          serverPid: child.pid,
        };
        await runLoad({ ...spec, duration: warmup });
        const run = await runLoad({ ...spec, duration });
        if (run.non2xx || run.errors) throw new Error(`${variant.name}: ${run.non2xx} non-2xx, ${run.errors} errors`);
        if (variant.env.TESSERA_METRICS_TOKEN) {
          // The metrics really were on: the scrape shows this run's tokens.
          const scraped = await (await fetch(`${child.url}/metrics`, { headers: { authorization: `Bearer ${variant.env.TESSERA_METRICS_TOKEN}` } })).text();
          if (!/tessera_tokens_issued_total\{grant_type="client_credentials"\} [1-9]/.test(scraped)) throw new Error('metrics on, but no tokens counted');
        }
        const r = results.get(variant.name)!;
        r.cpuUs.push(run.cpuUs ?? NaN);
        r.rps.push(run.rps);
        process.stdout.write(`round ${round} ${variant.name}: ${run.rps.toFixed(0)} req/s, ${run.cpuUs?.toFixed(1)} µs CPU per token, background ${((run.background ?? 0) * 100).toFixed(0)} %\n`);
      } finally {
        await child.stop();
      }
    }
  }
} finally {
  await setup.drop();
}
process.stdout.write('\n| | CPU µs per token (median) | req/s (median) | CPU µs per round |\n|---|---|---|---|\n');
for (const [name, r] of results) {
  process.stdout.write(`| ${name} | ${median(r.cpuUs).toFixed(1)} | ${median(r.rps).toFixed(0)} | ${r.cpuUs.map((v) => v.toFixed(1)).join(', ')} |\n`);
}
