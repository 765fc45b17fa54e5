/**
 * The metrics' cost on the client-credentials path, in one process: two Fastify apps over one
 * SQLite database, one without metrics and one with (TESSERA_METRICS_TOKEN set), the same
 * token request injected (light-my-request, no sockets) in alternating batches, and this
 * process's CPU time per request. Less exposed to other processes than the end-to-end
 * measurement (bench/metrics-overhead.ts), which a busy machine makes noisy.
 *
 *   node bench/metrics-overhead-in-process.ts [--batches 12] [--batch 4000]
 */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { parseArgs } from 'node:util';
import { openTessera } from '../src/app/tessera.ts';
import { SYSTEM } from '../src/audit/actor.ts';
import { loadConfig } from '../src/config/config.ts';
import { buildHttpApp } from '../src/http/app.ts';
import { silentLogger } from '../src/lib/logger.ts';
import { TesseraMetrics } from '../src/observability/metrics.ts';
import { median } from './lib/load.ts';

const { values } = parseArgs({ options: { batches: { type: 'string', default: '12' }, batch: { type: 'string', default: '4000' } } });
const batches = Number(values.batches);
const batchSize = Number(values.batch);

const dir = mkdtempSync(join(tmpdir(), 'tessera-metrics-overhead-'));
const env = { TESSERA_DATABASE_URL: `sqlite:${join(dir, 'tessera.db')}`, TESSERA_KEY_ENCRYPTION_KEY: randomBytes(32).toString('base64'), TESSERA_LOG_LEVEL: 'error' };
const off = await openTessera(loadConfig(env, { port: 0 }), { log: silentLogger });
const metrics = new TesseraMetrics();
const on = await openTessera(loadConfig({ ...env, TESSERA_METRICS_TOKEN: 'bench-metrics-token-0123456789' }, { port: 0 }), { log: silentLogger, metrics });
const created = await off.services.clients.create({ name: 'Overhead', grantTypes: ['client_credentials'] }, SYSTEM);
const authorization = `Basic ${Buffer.from(`${created.client_id}:${created.client_secret}`).toString('base64')}`;
const variants = [
  { name: 'metrics off', app: buildHttpApp(off) },
  { name: 'metrics on', app: buildHttpApp(on, { metrics }) },
];
for (const v of variants) await v.app.ready();

async function batch(app: (typeof variants)[number]['app'], n: number): Promise<number> {
  const before = process.cpuUsage();
  for (let i = 0; i < n; i++) {
    const res = await app.inject({ method: 'POST', url: '/connect/token', headers: { authorization, 'content-type': 'application/x-www-form-urlencoded' }, payload: 'grant_type=client_credentials' });
    if (res.statusCode !== 200) throw new Error(`token: ${res.statusCode} ${res.body}`);
  }
  const used = process.cpuUsage(before);
  return (used.user + used.system) / n;
}

// Warm both up (JIT, caches), then alternate.
for (const v of variants) await batch(v.app, batchSize);
const results = new Map(variants.map((v) => [v.name, [] as number[]]));
for (let i = 0; i < batches; i++) {
  for (const v of i % 2 ? [...variants].reverse() : variants) results.get(v.name)!.push(await batch(v.app, batchSize));
}
const scraped = await metrics.render();
if (!/tessera_tokens_issued_total\{grant_type="client_credentials"\} [1-9]/.test(scraped)) throw new Error('metrics on, but no tokens counted');

process.stdout.write(`| | CPU µs per token (median of ${batches} batches of ${batchSize}) | batches |\n|---|---|---|\n`);
for (const [name, us] of results) process.stdout.write(`| ${name} | ${median(us).toFixed(1)} | ${us.map((v) => v.toFixed(1)).join(', ')} |\n`);

// What metrics add to one token request, alone: the onResponse observation (cached child)
// and the tokens counter, without the rest of the request around them.
const micro = new TesseraMetrics();
const calls = 1_000_000;
const microRuns: number[] = [];
for (let run = 0; run < 5; run++) {
  const before = process.cpuUsage();
  for (let i = 0; i < calls; i++) {
    micro.httpRequest('POST', '/connect/token', 200, 0.0001 + (i % 7) * 0.00001);
    micro.tokenIssued('client_credentials');
  }
  const used = process.cpuUsage(before);
  microRuns.push(((used.user + used.system) * 1000) / calls);
}
process.stdout.write(`\nThe metric calls of one token request alone: ${median(microRuns).toFixed(0)} ns (median of 5 runs of ${calls}: ${microRuns.map((v) => v.toFixed(0)).join(', ')})\n`);
for (const v of variants) await v.app.close();
await off.close();
await on.close();
