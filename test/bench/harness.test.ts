import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, expect, test } from 'vitest';
import type { Results } from '../../bench/lib/report.ts';
import { wrkOnPath } from '../../bench/lib/wrk.ts';

/**
 * Smoke test of `npm run bench`: a --quick run of two scenarios with a few contenders
 * (no PostgreSQL, no workers) must produce sane results. This checkout is also its own
 * `--baseline`, which exercises the before/after plumbing without a second checkout. It runs the
 * default load generator: wrk when it is on PATH (CI installs it), else autocannon; the wrk
 * driver's request pools are tested in wrk.test.ts. The targets themselves are asserted by
 * `npm run bench -- --check`, never here: a shared CI box measures noise.
 */
const root = resolve(import.meta.dirname, '..', '..');
const out = mkdtempSync(join(tmpdir(), 'tessera-bench-test-'));
afterAll(() => rmSync(out, { recursive: true, force: true }));

test('bench --quick writes results with non-zero throughput and only 2xx answers', { timeout: 180_000 }, async () => {
  const args = [
    join(root, 'bench', 'run.ts'),
    '--quick', '--duration', '1', '--warmup', '0.3', '--connections', '8', '--no-postgres',
    '--only', 'client-credentials,password-sign-in,gateway',
    '--contenders', 'tessera-sqlite,tessera-baseline,oidc-provider,fastify-es256,upstream-direct,gateway-sqlite',
    '--baseline', root,
    '--out', out,
  ];
  const { code, stderr } = await new Promise<{ code: number | null; stderr: string }>((done) => {
    const child = execFile(process.execPath, args, { cwd: root, timeout: 170_000 }, (error, _stdout, stderr) => done({ code: error ? ((error as { code?: number }).code ?? 1) : 0, stderr }));
    child.stdin?.end();
  });
  expect(code, stderr).toBe(0);

  const results = JSON.parse(readFileSync(join(out, 'latest.json'), 'utf8')) as Results;
  expect(results.meta.node).toBe(process.version);
  expect(results.meta.cores).toBeGreaterThan(0);
  expect(results.meta.settings.loadGenerator).toBe(wrkOnPath() ? 'wrk' : 'autocannon');
  expect(results.scenarios.map((s) => s.name)).toEqual(['client-credentials', 'password-sign-in', 'gateway']);
  const ids = results.scenarios.flatMap((s) => s.contenders.map((c) => c.id));
  // tessera-baseline brings the baseline's gateway into the gateway scenario (gateway-baseline),
  // and signs in beside this checkout's Tessera (password hashing before/after in the same rounds).
  expect(ids).toEqual(['tessera-sqlite', 'tessera-baseline', 'oidc-provider', 'fastify-es256', 'tessera-sqlite', 'tessera-baseline', 'upstream-direct', 'gateway-sqlite', 'gateway-baseline']);
  for (const scenario of results.scenarios) {
    for (const c of scenario.contenders) {
      expect(c.median.rps, `${scenario.name} ${c.id}`).toBeGreaterThan(0);
      expect(c.median.p50, `${scenario.name} ${c.id}`).toBeGreaterThan(0);
      expect(c.median.p99, `${scenario.name} ${c.id}`).toBeGreaterThanOrEqual(c.median.p50);
      expect(c.non2xx + c.errors + c.timeouts, `${scenario.name} ${c.id} ${JSON.stringify(c.statusCodes)}`).toBe(0);
      // Every server's CPU time per answer is measured from /proc (a token costs tens of µs at least).
      expect(c.median.cpuUs, `${scenario.name} ${c.id} CPU per answer`).toBeGreaterThan(1);
      // The main thread's share (the event loop) is part of it, never more.
      expect(c.median.mainUs, `${scenario.name} ${c.id} main-thread CPU per answer`).toBeGreaterThan(0);
      expect(c.median.mainUs!, `${scenario.name} ${c.id}`).toBeLessThanOrEqual(c.median.cpuUs! * 1.05);
      // The load generator's own CPU per answer is recorded too (whole clock ticks: 0 is possible at low rates).
      expect(c.median.genUs, `${scenario.name} ${c.id} load generator CPU per answer`).toBeGreaterThanOrEqual(0);
      for (const r of c.runs) expect(r.generator).toBe(results.meta.settings.loadGenerator);
    }
  }
  // A ratio is of two measured quantities: never 0 or NaN (a ratio with nothing to pair was reported as 0.00× once).
  for (const scenario of results.scenarios) {
    for (const r of scenario.ratios.filter((r) => r.unit === '×' || r.unit === '%')) expect(r.value, `${scenario.name}: ${r.name}`).toBeGreaterThan(0);
  }
  const cc = results.scenarios[0]!;
  expect(cc.ratios.map((r) => r.name)).toContain('Tessera (SQLite) / node-oidc-provider');
  expect(cc.ratios.map((r) => r.name)).toEqual(expect.arrayContaining(['Tessera (SQLite) / baseline throughput', 'Tessera (SQLite) / baseline CPU per answer']));
  expect(cc.ratios.map((r) => r.name)).not.toContain('Baseline Tessera (SQLite) / node-oidc-provider');
  expect(results.meta.baseline).toContain(root);
  expect(results.checks.find((c) => c.target.startsWith('client-credentials: no loss against the baseline'))?.pass).not.toBeUndefined();
  // Password sign-in: every POST /login answered its 303; argon2 runs off the main thread, so
  // most of a sign-in's CPU time is too; the token path's p99 beside it is reported.
  const signIn = results.scenarios[1]!.contenders[0]!;
  expect(signIn.median.rps).toBeGreaterThan(0);
  expect(signIn.median.mainUs!).toBeLessThan(signIn.median.cpuUs! / 2);
  const signInRatios = results.scenarios[1]!.ratios.map((r) => r.name);
  expect(signInRatios).toEqual(
    expect.arrayContaining([
      'Tessera (SQLite): sign-ins per second per core',
      'Tessera (SQLite): client-credentials p99 beside sign-ins / alone',
      'Baseline Tessera (SQLite): sign-ins per second per core',
      'Baseline Tessera (SQLite): client-credentials p99 beside sign-ins / alone',
    ]),
  );
  expect(results.checks.find((c) => c.target.startsWith('Tessera (SQLite): client-credentials p99 beside sign-ins'))?.pass).not.toBeNull();
  expect(results.scenarios[2]!.ratios.map((r) => r.name)).toEqual(
    expect.arrayContaining(['Latency added by the gateway at p50', 'Gateway / baseline gateway throughput', 'Gateway / baseline gateway CPU per answer']),
  );
  // Every target is listed; the ones this run did not measure say so.
  expect(results.checks.find((c) => c.target.startsWith('RSS'))?.pass).toBeNull();
  expect(existsSync(join(out, 'latest.md'))).toBe(true);
  expect(readFileSync(join(out, 'latest.md'), 'utf8')).toContain('| Tessera (SQLite) |');
  expect(readFileSync(join(out, 'latest.md'), 'utf8')).toContain('| main µs/answer |');
  expect(readFileSync(join(out, 'latest.md'), 'utf8')).toContain('| load µs/answer |');
});
