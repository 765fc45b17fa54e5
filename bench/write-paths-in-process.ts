/**
 * CPU per refresh rotation and per code exchange on SQLite, in one process: a Tessera over a
 * fresh SQLite database, refresh tokens and codes written straight through the stores (what
 * the code flow would have stored), then the token requests injected (light-my-request, no
 * sockets) `--concurrency` at a time, so group commit batches them as under load. Reports
 * this process's CPU per answer (all threads: the RS256 signature on libuv's threadpool is
 * in it) and the main thread's alone. No sockets and no load generator: it shows what
 * Tessera's own code costs, steadier than `npm run bench` on a busy machine, but not
 * the socket writes, which the end-to-end bench includes.
 *
 *   node bench/write-paths-in-process.ts [--path refresh|code] [--batches 8] [--batch 2000] [--concurrency 16] [--postgres] [--profile out.cpuprofile] [--checkpoint-thread] [--legacy-tokens]
 *
 * `--checkpoint-thread` checkpoints the SQLite WAL on its thread, as `tessera serve` does
 * (src/storage/sqlite-checkpointer.ts); without it the connection checkpoints in its commits.
 * The event loop's delay (its longest stalls: a checkpoint inside a COMMIT is one) is
 * reported beside the CPU.
 *
 * `--postgres` runs on a fresh PostgreSQL database instead (TESSERA_BENCH_POSTGRES_URL, default
 * the local one) and reports its backends' CPU per answer beside this process's.
 *
 * `--profile` writes a CPU profile of the measured requests alone (not start-up, not the
 * writes that set each batch up), for bench/profile-summary.ts.
 */
import { createHash, randomBytes, randomUUID } from 'node:crypto';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { Session } from 'node:inspector/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { openTessera } from '../src/app/tessera.ts';
import { SYSTEM } from '../src/audit/actor.ts';
import { loadConfig } from '../src/config/config.ts';
import { buildHttpApp } from '../src/http/app.ts';
import { sha256 } from '../src/lib/crypto.ts';
import { silentLogger } from '../src/lib/logger.ts';
import { parseForm } from '../src/oauth/params.ts';
import { codeStoreFor } from '../src/oauth/code-store.ts';
import { refreshStoreFor } from '../src/oauth/refresh-store.ts';
import { mintRefreshToken, newFamilyKey } from '../src/oauth/refresh-token-format.ts';
import { median } from './lib/load.ts';
import { databaseBackendSeconds } from './lib/cpu.ts';
import { POSTGRES_ADMIN_URL } from './lib/tessera.ts';
import { createPostgresDatabase } from '../test/support/databases.ts';

const { values } = parseArgs({
  options: {
    path: { type: 'string', default: 'refresh' },
    batches: { type: 'string', default: '8' },
    batch: { type: 'string', default: '2000' },
    concurrency: { type: 'string', default: '16' },
    profile: { type: 'string' },
    /** Call the token endpoint's core directly (no Fastify, no light-my-request): what the protocol code costs alone. */
    direct: { type: 'boolean', default: false },
    /** A PRAGMA run on the server's connection first, e.g. --pragma 'wal_autocheckpoint = 0' (experiments). */
    pragma: { type: 'string', multiple: true },
    postgres: { type: 'boolean', default: false },
    'checkpoint-thread': { type: 'boolean', default: false },
    /** Refresh tokens as before migration 0026 (rows of refresh_tokens), for comparison. */
    'legacy-tokens': { type: 'boolean', default: false },
  },
});
const path = values.path === 'code' ? 'code' : 'refresh';
const batches = Number(values.batches);
const batchSize = Number(values.batch);
const concurrency = Number(values.concurrency);
const REDIRECT = 'https://app.example.com/callback';

const dir = mkdtempSync(join(tmpdir(), 'tessera-write-paths-'));
const pgDatabase = values.postgres ? await createPostgresDatabase(POSTGRES_ADMIN_URL, 'tessera_write_paths') : undefined;
const env = { TESSERA_DATABASE_URL: pgDatabase?.url ?? `sqlite:${join(dir, 'tessera.db')}`, TESSERA_KEY_ENCRYPTION_KEY: randomBytes(32).toString('base64'), TESSERA_LOG_LEVEL: 'error' };
const tessera = await openTessera(loadConfig(env, { port: 0 }), { log: silentLogger, resolver: async () => ['93.184.215.14'] }); // the redirect URI's host "resolves" (no DNS here)
const user = await tessera.services.users.create({ username: 'bench', password: 'correct horse battery staple', roles: ['developer'] }, SYSTEM);
const userId = (user as { id: string }).id;
const created = await tessera.services.clients.create({ name: 'Bench web', grantTypes: ['authorization_code'], redirectUris: [REDIRECT], scopes: ['openid', 'offline_access'] }, SYSTEM);
const authorization = `Basic ${Buffer.from(`${created.client_id}:${created.client_secret}`).toString('base64')}`;
const refreshStore = refreshStoreFor(tessera.database);
const codeStore = codeStoreFor(tessera.database);
for (const p of values.pragma ?? []) tessera.database.sqlite?.statement(`PRAGMA ${p}`).run();
const checkpointer = values['checkpoint-thread'] ? tessera.database.startWalCheckpoints?.({ log: silentLogger }) : undefined;
const app = buildHttpApp(tessera);
await app.ready();

const now = () => Math.floor(Date.now() / 1000);
const SCOPE = 'openid offline_access';

/** `n` request bodies, each valid exactly once. */
async function bodies(n: number): Promise<string[]> {
  const out: string[] = [];
  const writes: Promise<void>[] = [];
  for (let i = 0; i < n; i++) {
    const t = now();
    if (path === 'refresh') {
      // As the code flow issues them (refresh-token-format.ts); `--legacy-tokens`: as before migration 0026, rows of refresh_tokens.
      const tokenKey = values['legacy-tokens'] ? null : newFamilyKey();
      const token = tokenKey === null ? randomBytes(32).toString('base64url') : mintRefreshToken(tokenKey, 0);
      const family = { id: randomUUID(), clientId: created.client_id, userId, scope: SCOPE, sessionId: null, authTime: t, amr: ['pwd'], resource: null, dpopJkt: null, createdAt: t, expiresAt: t + 86_400, revokedAt: null, tokenKey };
      writes.push(refreshStore.createFamily(family, sha256(token), t + 86_400));
      out.push(`grant_type=refresh_token&refresh_token=${token}`);
    } else {
      const code = randomBytes(32).toString('base64url');
      const verifier = randomBytes(32).toString('base64url');
      const challenge = createHash('sha256').update(verifier).digest('base64url');
      writes.push(
        codeStore.insert({ codeHash: sha256(code), clientId: created.client_id, userId, sessionId: null, redirectUri: REDIRECT, redirectUriInRequest: true, scope: SCOPE, nonce: null, codeChallenge: challenge, codeChallengeMethod: 'S256', authTime: t, amr: ['pwd'], createdAt: t, expiresAt: t + 600 }),
      );
      out.push(new URLSearchParams({ grant_type: 'authorization_code', code, redirect_uri: REDIRECT, code_verifier: verifier }).toString());
    }
  }
  await Promise.all(writes);
  return out;
}

let profiler: Session | undefined;
const profiles: object[] = [];

/** CPU seconds of the PostgreSQL backends serving the database so far (0 on SQLite). */
async function databaseSeconds(): Promise<number> {
  if (!pgDatabase) return 0;
  const seconds = await databaseBackendSeconds(POSTGRES_ADMIN_URL, new URL(pgDatabase.url).pathname.slice(1));
  return [...(seconds?.values() ?? [])].reduce((a, b) => a + b, 0);
}

async function batch(n: number): Promise<{ total: number; main: number; wall: number; db: number }> {
  const todo = await bodies(n);
  let next = 0;
  const worker = async () => {
    while (next < todo.length) {
      const payload = todo[next++]!;
      if (values.direct) {
        await tessera.endpoints.token({ params: parseForm(payload), authorization, now: now() });
        continue;
      }
      const res = await app.inject({ method: 'POST', url: '/connect/token', headers: { authorization, 'content-type': 'application/x-www-form-urlencoded' }, payload });
      if (res.statusCode !== 200) throw new Error(`token: ${res.statusCode} ${res.body}`);
    }
  };
  if (profiler) await profiler.post('Profiler.start');
  const dbBefore = await databaseSeconds();
  const before = process.cpuUsage();
  const beforeMain = process.threadCpuUsage();
  const start = performance.now();
  await Promise.all(Array.from({ length: concurrency }, worker));
  const used = process.cpuUsage(before);
  const usedMain = process.threadCpuUsage(beforeMain);
  const wall = ((performance.now() - start) * 1000) / n;
  const db = ((await databaseSeconds()) - dbBefore) * 1e6 / n;
  if (profiler) profiles.push((await profiler.post('Profiler.stop')).profile);
  return { total: (used.user + used.system) / n, main: (usedMain.user + usedMain.system) / n, wall, db };
}

await batch(batchSize); // warm up: JIT, caches
if (values.profile) {
  profiler = new Session();
  profiler.connect();
  await profiler.post('Profiler.enable');
  await profiler.post('Profiler.setSamplingInterval', { interval: 100 });
}
const total: number[] = [];
const main: number[] = [];
const walls: number[] = [];
const dbs: number[] = [];
const delay = monitorEventLoopDelay({ resolution: 1 });
for (let i = 0; i < batches; i++) {
  delay.enable();
  const r = await batch(batchSize);
  delay.disable();
  total.push(r.total);
  main.push(r.main);
  walls.push(r.wall);
  dbs.push(r.db);
}
const fmt = (xs: number[]) => xs.map((v) => v.toFixed(0)).join(', ');
process.stdout.write(
  `${path}: CPU µs/answer median ${median(total).toFixed(0)} (${fmt(total)}); main thread ${median(main).toFixed(0)} (${fmt(main)}); ${pgDatabase ? `PostgreSQL ${median(dbs).toFixed(0)} (${fmt(dbs)}); ` : ''}wall ${median(walls).toFixed(0)} (${fmt(walls)}); ${batches} batches of ${batchSize}, ${concurrency} at a time\n`,
);
process.stdout.write(
  `event-loop delay over the measured batches: p50 ${(delay.percentile(50) / 1e6).toFixed(2)} ms, p99 ${(delay.percentile(99) / 1e6).toFixed(2)} ms, max ${(delay.max / 1e6).toFixed(2)} ms${checkpointer ? `; checkpoint thread ${JSON.stringify(checkpointer.stats)}` : ''}\n`,
);
// The last batch's profile: one is enough, and profile-summary reads one profile per file.
if (values.profile) writeFileSync(values.profile, JSON.stringify(profiles.at(-1)));
await app.close();
await tessera.close();
await pgDatabase?.drop();
