/**
 * Instructions per answer, counted by valgrind's callgrind: Tessera (`tessera serve`, SQLite)
 * beside its floor, and with `--baseline DIR` another checkout's Tessera.
 * `--scenario client-credentials` (default): a client-credentials token, beside the "Fastify +
 * one ES256 signature" floor (bench/servers/floor-es256.ts). `--scenario gateway`: a GET through
 * the gateway with a bearer token, beside the bare node:http proxy (bench/servers/floor-proxy.ts),
 * both in front of the same upstream (bench/servers/upstream.ts, not counted).
 *
 *   node bench/instructions.ts [--scenario client-credentials|gateway] [--answers 2000] [--warm 3000] [--baseline ../tessera-before]
 *
 * On a shared VM req/s and even CPU time per answer move by ±20 % from one run to the next
 * (docs/performance.md); an instruction count does not: the floor gave 431.0k and 431.1k per
 * answer in two runs. It is not time — cache misses and the kernel's share (the socket write)
 * are not in it — so it tells whether a change removed work, not how fast the result runs.
 *
 * Each server runs under callgrind (~50× slower). After `--warm` tokens (so V8 has optimized
 * the path), the counters are zeroed, exactly `--answers` tokens are asked for (autocannon,
 * 16 connections), and the counts dumped; then the counters are zeroed again for as long as
 * that load took, with no requests, and dumped: what the process does on its own in that
 * time (timers: Tessera's SQLite commit check runs every 20 ms, which under callgrind's
 * slowness is a few answers' worth) is subtracted. Every thread of the process is counted
 * (the signing, the threadpool, SQLite's checkpoint thread).
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { sleep, startChild, stopProcess, type Child } from './lib/child.ts';
import { basic, FORM, postForm, untilAnswered } from './lib/flows.ts';
import { runAutocannonLoad } from './lib/load.ts';
import { GATEWAY_PATH, provisionTessera, ROOT, type TesseraSetup } from './lib/tessera.ts';

function fail(message: string): never {
  process.stderr.write(`bench/instructions: ${message}\n`);
  process.exit(2);
}

let flags: { answers: string; warm: string; baseline?: string; scenario: string };
try {
  flags = parseArgs({
    options: { answers: { type: 'string', default: '2000' }, warm: { type: 'string', default: '3000' }, baseline: { type: 'string' }, scenario: { type: 'string', default: 'client-credentials' } },
  }).values as typeof flags;
} catch (error) {
  fail((error as Error).message);
}
const scenario = flags.scenario;
if (scenario !== 'client-credentials' && scenario !== 'gateway') fail(`--scenario must be client-credentials or gateway, not "${scenario}"`);
const answers = Number(flags.answers);
const warm = Number(flags.warm);
if (!Number.isInteger(answers) || answers < 100) fail('--answers must be a whole number ≥ 100');
if (!Number.isInteger(warm) || warm < 0) fail('--warm must be a whole number ≥ 0');
const baselineRoot = flags.baseline === undefined ? undefined : resolve(flags.baseline);
for (const tool of ['valgrind', 'callgrind_control']) {
  if (spawnSync(tool, ['--version'], { stdio: 'ignore' }).error) fail(`${tool} is not on PATH (Debian: apt-get install -y valgrind)`);
}

interface Counted {
  name: string;
  /** Instructions per answer, the process's own idle work subtracted. */
  perAnswer: number;
  /** The same without the subtraction. */
  rawPerAnswer: number;
}

const out = mkdtempSync(join(tmpdir(), 'tessera-instructions-'));

/** Total instructions of one callgrind dump (its `summary:` line). */
function summary(file: string): number {
  const match = /^summary: (\d+)$/m.exec(readFileSync(file, 'utf8'));
  if (!match) throw new Error(`no summary line in ${file}`);
  return Number(match[1]);
}

function control(command: '-z' | '-d', pid: number): void {
  const result = spawnSync('callgrind_control', [command, String(pid)], { encoding: 'utf8' });
  if (result.status !== 0) throw new Error(`callgrind_control ${command} ${pid} failed: ${result.stderr || result.stdout}`);
}

/** The request every answer is for. */
interface Ask {
  path: string;
  method: 'GET' | 'POST';
  headers: Record<string, string>;
  body?: string;
}

const tokenAsk = (setup: TesseraSetup): Ask => ({
  path: '/connect/token',
  method: 'POST',
  headers: { authorization: basic(setup.service.id, setup.service.secret), 'content-type': FORM },
  body: 'grant_type=client_credentials&scope=bench.read',
});

/**
 * `args`: the server's arguments to node. `ready`: after it printed its URL, what must happen
 * before it is counted (the gateway's route learnt), and the request to count.
 */
async function count(name: string, args: string[], env: Record<string, string>, cwd: string, ready: (url: string) => Promise<Ask>): Promise<Counted> {
  const file = join(out, `${name.replace(/\W+/g, '-')}.out`);
  const child = await startChild(name, 'valgrind', ['--tool=callgrind', '--smc-check=all-non-file', '--dump-instr=no', `--callgrind-out-file=${file}`, process.execPath, ...args], {
    env,
    cwd,
    timeoutMs: 300_000,
  });
  try {
    const ask = await ready(child.url);
    const load = async (amount: number) => {
      const result = await runAutocannonLoad({ url: `${child.url}${ask.path}`, connections: 16, amount, method: ask.method, headers: ask.headers, ...(ask.body !== undefined ? { body: ask.body } : {}) });
      if (result.non2xx > 0 || result.errors > 0 || result.timeouts > 0) {
        throw new Error(`${name}: of ${amount} requests ${result.non2xx} were answered with a non-2xx status, ${result.errors} failed, ${result.timeouts} timed out`);
      }
    };
    if (warm > 0) await load(warm);
    control('-z', child.pid);
    const started = Date.now();
    await load(answers);
    control('-d', child.pid);
    const took = Date.now() - started;
    control('-z', child.pid);
    await sleep(took);
    control('-d', child.pid);
    // Dumps are numbered in order: .1 under load, .2 idle for as long.
    const loaded = summary(`${file}.1`);
    const idle = summary(`${file}.2`);
    const counted = { name, perAnswer: (loaded - idle) / answers, rawPerAnswer: loaded / answers };
    process.stdout.write(`  ${name}: ${(counted.perAnswer / 1000).toFixed(1)}k instructions per answer (${(counted.rawPerAnswer / 1000).toFixed(1)}k before the idle ${took} ms is subtracted)\n`);
    return counted;
  } finally {
    await stopProcess(child.process);
  }
}

const serve = (setup: TesseraSetup) => [join(setup.root, 'src', 'cli', 'main.ts'), 'serve', '--port', '0', '--database', setup.databaseUrl];

/** The gateway's ask: a token from the Tessera under count, then its route answering 200 (it learns APIs through the change feed). */
async function gatewayAsk(url: string, setup: TesseraSetup): Promise<Ask> {
  const res = await postForm(`${url}/connect/token`, { grant_type: 'client_credentials', scope: 'bench.read' }, basic(setup.service.id, setup.service.secret));
  if (res.status !== 200) throw new Error(`no token for the gateway (${res.status})`);
  const headers = { authorization: `Bearer ${((await res.json()) as { access_token: string }).access_token}` };
  await untilAnswered(`${url}${GATEWAY_PATH}`, headers, 200, 250);
  return { path: GATEWAY_PATH, method: 'GET', headers };
}

const setups: TesseraSetup[] = [];
let upstream: Child | undefined;
try {
  process.stdout.write(`Instructions per answer, ${scenario} (callgrind; ${answers} answers after ${warm} to warm up)\n`);
  let upstreamUrl = 'http://127.0.0.1:9/';
  if (scenario === 'gateway') {
    upstream = await startChild('upstream', process.execPath, [join(ROOT, 'bench', 'servers', 'upstream.ts')], { cwd: ROOT });
    upstreamUrl = upstream.url;
  }
  const current = await provisionTessera('sqlite', upstreamUrl);
  setups.push(current);
  const floor =
    scenario === 'gateway'
      ? await count('bare node:http proxy (floor)', [join(ROOT, 'bench', 'servers', 'floor-proxy.ts')], { BENCH_UPSTREAM: upstreamUrl }, ROOT, async () => ({ path: GATEWAY_PATH, method: 'GET', headers: {} }))
      : await count('Fastify + ES256 floor', [join(ROOT, 'bench', 'servers', 'floor-es256.ts')], {}, ROOT, async () => tokenAsk(current));
  const ask = (setup: TesseraSetup) => (url: string) => (scenario === 'gateway' ? gatewayAsk(url, setup) : Promise.resolve(tokenAsk(setup)));
  const tessera = await count('Tessera (SQLite)', serve(current), current.env, ROOT, ask(current));
  process.stdout.write(`  floor / Tessera: ${((floor.perAnswer / tessera.perAnswer) * 100).toFixed(1)} %\n`);
  if (baselineRoot !== undefined) {
    const before = await provisionTessera('sqlite', upstreamUrl, baselineRoot);
    setups.push(before);
    const baseline = await count('baseline Tessera (SQLite)', serve(before), before.env, baselineRoot, ask(before));
    process.stdout.write(`  Tessera / baseline: ${(tessera.perAnswer / baseline.perAnswer).toFixed(3)}×\n`);
  }
} catch (error) {
  process.stderr.write(`bench/instructions: ${(error as Error).message}\n`);
  process.exitCode = 2;
} finally {
  for (const s of setups) await s.drop();
  if (upstream) await upstream.stop();
  rmSync(out, { recursive: true, force: true });
}
