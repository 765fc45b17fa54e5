import { randomBytes } from 'node:crypto';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { Session } from 'node:inspector/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openTessera } from '../src/app/tessera.ts';
import { SYSTEM } from '../src/audit/actor.ts';
import { loadConfig } from '../src/config/config.ts';
import { silentLogger } from '../src/lib/logger.ts';
import { parseForm } from '../src/oauth/params.ts';
import { epochSeconds } from '../src/clock.ts';
import { RequestLog } from '../src/http/edge-log.ts';
const dir = mkdtempSync(join(tmpdir(), 'tessera-cc-'));
const env = { TESSERA_DATABASE_URL: `sqlite:${join(dir, 'tessera.db')}`, TESSERA_KEY_ENCRYPTION_KEY: randomBytes(32).toString('base64'), TESSERA_LOG_LEVEL: 'error' };
const tessera = await openTessera(loadConfig(env, { port: 0 }), { log: silentLogger });
await tessera.services.apis.create({ name: 'Bench', basePath: '/bench-api', upstream: 'http://127.0.0.1:9/', scopes: [{ name: 'bench.read' }], routes: [{ methods: ['GET'], path: '/items', scopes: ['bench.read'] }] }, SYSTEM);
const created = await tessera.services.clients.create({ name: 'Bench service', grantTypes: ['client_credentials'], scopes: ['bench.read'] }, SYSTEM);
const authorization = `Basic ${Buffer.from(`${created.client_id}:${created.client_secret}`).toString('base64')}`;
await tessera.startBackground?.();
const body = 'grant_type=client_credentials&scope=bench.read';
const log = new RequestLog(silentLogger as any, () => silentLogger as any);
async function run(n: number) {
  const t = process.threadCpuUsage();
  for (let i = 0; i < n; i++) {
    const r = tessera.endpoints.token({ params: parseForm(body), authorization, now: epochSeconds(tessera.clock), log });
    const a = r instanceof Promise ? await r : r;
    JSON.stringify(a);
  }
  const u = process.threadCpuUsage(t);
  return (u.user + u.system) / n;
}
await run(20000);
const s = new Session(); s.connect();
if (process.argv[2]) { await s.post('Profiler.enable'); await s.post('Profiler.setSamplingInterval', { interval: 50 }); await s.post('Profiler.start'); }
const rs = [] as number[];
for (let i = 0; i < 5; i++) rs.push(await run(20000));
if (process.argv[2]) writeFileSync(process.argv[2], JSON.stringify((await s.post('Profiler.stop')).profile));
console.log('core µs/call', rs.map((x) => x.toFixed(1)).join(' '));
process.exit(0);
