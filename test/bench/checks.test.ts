/**
 * The `--check` targets judged on a run's ratios (bench/lib/checks.ts), on made-up results:
 * what passes and fails at each line, and that a speed-up or latency target names what its
 * floor reached in the same run, so a miss the machine itself imposes reads as one.
 */
import { expect, test } from 'vitest';
import { evaluateTargets } from '../../bench/lib/checks.ts';
import type { Check, ContenderResult, Ratio, Results, ScenarioResult } from '../../bench/lib/report.ts';

function contender(id: string, label: string, rps: number): ContenderResult {
  return { id, label, runs: [], median: { rps, p50: 1, p99: 2 }, non2xx: 0, errors: 0, timeouts: 0, statusCodes: { 200: 1 } };
}

function scenario(name: string, contenders: ContenderResult[], ratios: Array<[string, number]>): ScenarioResult {
  return { name, title: name, measures: '', contenders, ratios: ratios.map(([n, value]): Ratio => ({ name: n, value, unit: '×' })) };
}

function results(scenarios: ScenarioResult[]): Results {
  return {
    meta: { date: '', commit: '', node: '', cpu: '', cores: 2, loadAverage: [0, 0, 0], settings: { duration: 5, warmup: 2, connections: 32, rounds: 3, quick: false, memoryTokens: 0 } },
    notes: [],
    scenarios,
    checks: [],
  };
}

const find = (checks: Check[], target: string) => {
  const found = checks.find((c) => c.target === target);
  if (!found) throw new Error(`no check "${target}" among ${checks.map((c) => c.target).join(' | ')}`);
  return found;
};

function gateway(added: number, proxyAdded?: number): ScenarioResult {
  const ratios: Array<[string, number]> = [
    ['Gateway / direct throughput', 0.25],
    ['Gateway / bare proxy throughput', 1.02],
    ['Latency added by the gateway at p50, one connection', added],
  ];
  if (proxyAdded !== undefined) ratios.push(['Latency added by the bare proxy at p50, one connection', proxyAdded]);
  return scenario('gateway', [contender('upstream-direct', 'Upstream', 20000), contender('gateway-sqlite', 'Gateway', 5000)], ratios);
}

test('the one-connection latency target is judged on the gateway and names what the bare proxy added', () => {
  const target = 'gateway adds ≤ 0.2 ms at one connection';
  const missed = find(evaluateTargets(results([gateway(0.28, 0.27)])), target);
  expect(missed.pass).toBe(false);
  expect(missed.detail).toBe('+0.28 ms (the bare proxy: +0.27 ms)');
  const met = find(evaluateTargets(results([gateway(0.13, 0.12)])), target);
  expect(met.pass).toBe(true);
  expect(met.detail).toBe('+0.13 ms (the bare proxy: +0.12 ms)');
  // A run without the proxy's one-connection figure still judges the gateway.
  expect(find(evaluateTargets(results([gateway(0.2)])), target)).toEqual({ target, pass: true, detail: '+0.20 ms' });
  expect(find(evaluateTargets(results([gateway(0.35, 0.1)])), 'gateway ≥ 95 % of the bare-proxy floor')).toMatchObject({ pass: true, detail: '102 %' });
});

test('the workers and floor targets of client credentials, with the floor named beside the speed-up', () => {
  const cc = (speedUp: number, floorSpeedUp: number, vsFloor: number) =>
    scenario(
      'client-credentials',
      [contender('tessera-sqlite', 'Tessera (SQLite)', 4000), contender('fastify-es256', 'Fastify + one ES256 signature (floor)', 4700)],
      [
        ['Speed-up from 1 to 2 workers (SQLite)', speedUp],
        ['Speed-up from 1 to 2 processes (ES256 floor)', floorSpeedUp],
        ['Tessera (SQLite) / Fastify + ES256 floor', vsFloor],
      ],
    );
  const missed = evaluateTargets(results([cc(1.62, 1.77, 0.849)]));
  expect(find(missed, 'client credentials ≥ 1.8× from 1 to 2 workers')).toMatchObject({ pass: false, detail: '1.62× (the ES256 floor: 1.77×)' });
  // 84.9 % would round to the target itself: the miss shows one more digit.
  expect(find(missed, 'client credentials (SQLite) ≥ 85 % of the ES256 floor')).toMatchObject({ pass: false, detail: '84.9 %' });
  const met = evaluateTargets(results([cc(1.8, 1.9, 0.85)]));
  expect(find(met, 'client credentials ≥ 1.8× from 1 to 2 workers')).toMatchObject({ pass: true, detail: '1.80× (the ES256 floor: 1.90×)' });
  expect(find(evaluateTargets(results([cc(1.797, 1.9, 0.9)])), 'client credentials ≥ 1.8× from 1 to 2 workers')).toMatchObject({ pass: false, detail: '1.797× (the ES256 floor: 1.90×)' });
  expect(find(met, 'client credentials (SQLite) ≥ 85 % of the ES256 floor').pass).toBe(true);
  // Scenarios not run are "not measured" (null), never a pass.
  const none = evaluateTargets(results([]));
  expect(find(none, 'client credentials ≥ 1.8× from 1 to 2 workers').pass).toBeNull();
  expect(find(none, 'gateway adds ≤ 0.2 ms at one connection')).toMatchObject({ pass: null, detail: 'not measured' });
});
