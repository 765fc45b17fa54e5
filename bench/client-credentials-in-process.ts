/**
 * CPU per client-credentials token in one process, Tessera beside the "Fastify + one ES256
 * signature" floor (bench/servers/floor-es256.ts, rebuilt here): both apps get the same
 * requests injected (light-my-request, no sockets) into their node:http request listener —
 * for Tessera the token edge that `tessera serve` answers plain token requests with
 * (src/http/token-edge.ts); `--fastify` injects into Fastify's router instead, as
 * `app.inject()` does, for the route behind it —, `--concurrency` at a time, and this
 * process's main-thread CPU per answer is reported for each, alternating batches so both
 * see the same machine load. The difference is what Tessera does beyond HTTP + one
 * signature (client authentication, scope checks, claims, headers), steadier than
 * `npm run bench` on a busy machine; the socket writes are not in it.
 *
 *   node bench/client-credentials-in-process.ts [--batches 8] [--batch 4000] [--concurrency 16] [--profile out.cpuprofile] [--fastify]
 *   node bench/client-credentials-in-process.ts --wrk 3 --batches 4 --pino   (sockets: wrk -t1 -c32, 3 s per app per batch)
 *
 * Both apps share one process (and its heap and GC), so the floor reads a few µs higher than
 * in `npm run bench`; the ratio is what to compare.
 */
import { generateKeyPairSync, randomBytes, randomUUID, sign } from 'node:crypto';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { Session } from 'node:inspector/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import Fastify, { type FastifyInstance } from 'fastify';
import inject from 'light-my-request';
import { openTessera } from '../src/app/tessera.ts';
import { SYSTEM } from '../src/audit/actor.ts';
import { loadConfig } from '../src/config/config.ts';
import { buildHttpApp } from '../src/http/app.ts';
import { silentLogger } from '../src/lib/logger.ts';
import { median } from './lib/load.ts';
import { createLogger } from '../src/observability/logging.ts';
import { spawn } from 'node:child_process';

const { values } = parseArgs({
  options: {
    batches: { type: 'string', default: '8' },
    batch: { type: 'string', default: '4000' },
    concurrency: { type: 'string', default: '16' },
    profile: { type: 'string' },
    /** Listen on loopback and load both apps with wrk (-t1 -c32) for this many seconds each, per batch: sockets included. */
    wrk: { type: 'string' },
    /** Tessera with the pino logger `serve` uses (level error) instead of a silent one. */
    pino: { type: 'boolean', default: false },
    /** Inject into Fastify's router (`app.inject()`), not the server's request listener (the token edge). */
    fastify: { type: 'boolean', default: false },
  },
});
const batches = Number(values.batches);
const batchSize = Number(values.batch);
const concurrency = Number(values.concurrency);

// As the bench sets Tessera up (bench/lib/tessera.ts): a gateway API declaring bench.read, a service app.
const dir = mkdtempSync(join(tmpdir(), 'tessera-cc-'));
const env = { TESSERA_DATABASE_URL: `sqlite:${join(dir, 'tessera.db')}`, TESSERA_KEY_ENCRYPTION_KEY: randomBytes(32).toString('base64'), TESSERA_LOG_LEVEL: 'error' };
const tessera = await openTessera(loadConfig(env, { port: 0 }), { log: silentLogger });
await tessera.services.apis.create(
  { name: 'Bench', basePath: '/bench-api', upstream: 'http://127.0.0.1:9/', scopes: [{ name: 'bench.read' }], routes: [{ methods: ['GET'], path: '/items', scopes: ['bench.read'] }] },
  SYSTEM,
);
const created = await tessera.services.clients.create({ name: 'Bench service', grantTypes: ['client_credentials'], scopes: ['bench.read'] }, SYSTEM);
const authorization = `Basic ${Buffer.from(`${created.client_id}:${created.client_secret}`).toString('base64')}`;
const app = buildHttpApp(tessera, values.pino ? { loggerInstance: createLogger('error') } : {});
await app.ready();

// bench/servers/floor-es256.ts, in this process.
const { privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
const header = Buffer.from(JSON.stringify({ alg: 'ES256', typ: 'at+jwt', kid: 'floor' })).toString('base64url');
const floor = Fastify({ logger: false });
floor.addContentTypeParser('application/x-www-form-urlencoded', { parseAs: 'string' }, (_req, body, done) => done(null, body));
floor.post('/connect/token', async (_req, reply) => {
  const now = Math.floor(Date.now() / 1000);
  const claims = { iss: 'http://127.0.0.1', sub: 'floor-client', aud: 'bench', client_id: 'floor-client', scope: 'bench.read', iat: now, exp: now + 3600, jti: randomUUID() };
  const input = `${header}.${Buffer.from(JSON.stringify(claims)).toString('base64url')}`;
  const signature = sign('sha256', Buffer.from(input), { key: privateKey, dsaEncoding: 'ieee-p1363' }).toString('base64url');
  return reply.header('cache-control', 'no-store').send({ access_token: `${input}.${signature}`, token_type: 'Bearer', expires_in: 3600, scope: 'bench.read' });
});
await floor.ready();

const payload = 'grant_type=client_credentials&scope=bench.read';
const headers = { authorization, 'content-type': 'application/x-www-form-urlencoded' };

let profiler: Session | undefined;
let profile: object | undefined;

const urls = new Map<FastifyInstance, string>();
const wrkScript = join(dir, 'cc.lua');
if (values.wrk) {
  urls.set(app, await app.listen({ port: 0, host: '127.0.0.1' }));
  urls.set(floor, await floor.listen({ port: 0, host: '127.0.0.1' }));
  writeFileSync(wrkScript, `wrk.method = "POST"\nwrk.body = "${payload}"\nwrk.headers["Authorization"] = "${authorization}"\nwrk.headers["Content-Type"] = "application/x-www-form-urlencoded"\n`);
}

/** wrk in a child process (its CPU is not this thread's): main-thread CPU µs per answer over the run. */
async function wrkBatch(target: FastifyInstance): Promise<number> {
  const before = process.threadCpuUsage();
  const out = await new Promise<string>((resolve, reject) => {
    const child = spawn('wrk', ['-t1', '-c32', `-d${values.wrk}s`, '-s', wrkScript, `${urls.get(target)}/connect/token`]);
    let text = '';
    child.stdout.on('data', (d) => (text += d));
    child.on('exit', () => resolve(text));
    child.on('error', reject);
  });
  const used = process.threadCpuUsage(before);
  const n = Number(/(\d+) requests in/.exec(out)?.[1]);
  if (/Non-2xx/.test(out) || !n) throw new Error(`wrk: ${out}`);
  return (used.user + used.system) / n;
}

async function batch(target: FastifyInstance, n: number, profiled = false): Promise<number> {
  if (values.wrk) return wrkBatch(target);
  let left = n;
  // What node:http hands each request to: Tessera's token edge (gateway-edge.ts took Fastify's
  // place on the server), Fastify's router for the floor.
  const listener = target.server.listeners('request')[0] as Parameters<typeof inject>[0];
  const worker = async () => {
    while (left-- > 0) {
      const res = values.fastify ? await target.inject({ method: 'POST', url: '/connect/token', headers, payload }) : await inject(listener, { method: 'POST', url: '/connect/token', headers, payload });
      if (res.statusCode !== 200) throw new Error(`token: ${res.statusCode} ${res.body}`);
    }
  };
  if (profiled && profiler) await profiler.post('Profiler.start');
  const before = process.threadCpuUsage();
  await Promise.all(Array.from({ length: concurrency }, worker));
  const used = process.threadCpuUsage(before);
  if (profiled && profiler) profile = (await profiler.post('Profiler.stop')).profile;
  return (used.user + used.system) / n;
}

await batch(app, batchSize); // warm up: JIT, caches
await batch(floor, batchSize);
if (values.profile) {
  profiler = new Session();
  profiler.connect();
  await profiler.post('Profiler.enable');
  await profiler.post('Profiler.setSamplingInterval', { interval: 100 });
}
const ours: number[] = [];
const theirs: number[] = [];
const ratios: number[] = [];
for (let i = 0; i < batches; i++) {
  const t = await batch(app, batchSize, i === batches - 1);
  const f = await batch(floor, batchSize);
  ours.push(t);
  theirs.push(f);
  ratios.push(f / t);
}
const fmt = (xs: number[]) => xs.map((v) => v.toFixed(1)).join(', ');
process.stdout.write(
  `client credentials, main-thread CPU µs/answer: Tessera median ${median(ours).toFixed(1)} (${fmt(ours)}); floor ${median(theirs).toFixed(1)} (${fmt(theirs)}); floor/Tessera ${(median(ratios) * 100).toFixed(0)} %; ${batches} batches of ${batchSize}, ${concurrency} at a time\n`,
);
if (values.profile && profile) writeFileSync(values.profile, JSON.stringify(profile));
await app.close();
await floor.close();
await tessera.close();
