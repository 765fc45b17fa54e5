import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { histogramPercentile, runWrk, uncorrected, wrkOnPath } from '../../bench/lib/wrk.ts';

/**
 * The bench's wrk driver (bench/lib/wrk.ts + wrk.lua) against a small server that records
 * every request: each way of varying requests sends what it promises — above all, a pooled
 * entry (an authorization code, a refresh token) is never sent twice.
 */

test('uncorrected() takes wrk 4\'s coordinated-omission correction out again', () => {
  // Raw latencies (µs → count) and wrk's stats_correct applied to them, as in stats.c.
  const raw = new Map<number, number>([[90, 50], [100, 400], [130, 30], [350, 3], [1000, 1]]);
  const requests = [...raw.values()].reduce((a, b) => a + b, 0);
  const connections = 4;
  const durationUs = 12_000;
  const e = Math.floor(durationUs / Math.floor(requests / connections));
  const max = Math.max(...raw.keys());
  const data = new Map(raw);
  for (let n = e * 2; n <= max; n++) {
    const count = raw.get(n) ?? 0;
    for (let m = n - e; count && m > e; m -= e) data.set(m, (data.get(m) ?? 0) + count);
  }
  expect([...data.values()].reduce((a, b) => a + b, 0)).toBeGreaterThan(requests); // the correction added samples
  const back = uncorrected([...data], durationUs, requests, connections);
  expect(new Map([...back].sort((a, b) => a[0] - b[0]))).toEqual(raw);
  expect(histogramPercentile(back, 0.5)).toBe(100);
  expect(histogramPercentile(back, 0.99)).toBe(130); // index ⌊0.99 · 484⌋ = 479 of the sorted samples
});

const haveWrk = wrkOnPath();

describe.skipIf(!haveWrk)('wrk driver', () => {
  const seen: { method: string; url: string; headers: Record<string, string | string[] | undefined>; body: string }[] = [];
  let server: Server;
  let url = '';
  let tokens = 0;
  beforeAll(async () => {
    server = createServer((req, res) => {
      let body = '';
      req.on('data', (c: Buffer) => (body += c.toString()));
      req.on('end', () => {
        seen.push({ method: req.method!, url: req.url!, headers: req.headers, body });
        const form = new URLSearchParams(body);
        if (form.get('grant_type') === 'refresh_token') {
          // A rotation: the successor is new; the refresh_token field is not first in the JSON.
          res.setHeader('content-type', 'application/json');
          res.end(JSON.stringify({ access_token: 'a', token_type: 'Bearer', refresh_token: `rt/${++tokens}+x` }));
          return;
        }
        if (req.url!.startsWith('/fail')) res.statusCode = 400;
        if (req.url === '/login') res.statusCode = 303;
        res.end('{}');
      });
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  afterAll(() => new Promise<void>((r) => server.close(() => r())));

  test('fixed request: method, headers and body as given; statuses counted exactly', async () => {
    seen.length = 0;
    const r = await runWrk({ url: `${url}/fail?x=1`, connections: 4, duration: 0.5, method: 'POST', headers: { authorization: 'Basic Zm9vOmJhcg==', 'content-type': 'application/x-www-form-urlencoded' }, body: 'grant_type=client_credentials' });
    // The server may have seen a few more: requests in flight when the run ended are not answers.
    expect(Object.keys(r.statusCodes)).toEqual(['400']);
    expect(r.answers).toBe(r.statusCodes['400']);
    expect(seen.length - r.answers).toBeGreaterThanOrEqual(0);
    expect(seen.length - r.answers).toBeLessThanOrEqual(4);
    expect(r.errors + r.timeouts).toBe(0);
    expect(r.seconds).toBeGreaterThan(0.4);
    expect(r.seconds).toBeLessThan(1.5);
    expect(new Set(seen.map((s) => `${s.method} ${s.url} ${s.headers.authorization} ${s.body}`))).toEqual(new Set(['POST /fail?x=1 Basic Zm9vOmJhcg== grant_type=client_credentials']));
    expect(histogramPercentile(r.latency, 0.99)).toBeGreaterThanOrEqual(histogramPercentile(r.latency, 0.5));
    expect(r.cpuSeconds).toBeGreaterThanOrEqual(0);
  });

  test('once: every variant at most once, in order; a spent pool ends the run early with nothing sent twice', async () => {
    seen.length = 0;
    const variants = Array.from({ length: 3000 }, (_, i) => ({ body: `code=${i}` }));
    const r = await runWrk({ url: `${url}/token`, connections: 8, duration: 20, method: 'POST', vary: { kind: 'once', variants } });
    expect(r.exhausted).toBe(true);
    expect(r.seconds).toBeLessThan(10); // ended with its last answer, not after 20 s
    expect(seen.map((s) => s.body).sort()).toEqual(variants.map((v) => v.body).sort());
    expect(r.statusCodes).toEqual({ '200': 3000 });
  });

  test('amount: exactly that many requests', async () => {
    seen.length = 0;
    const r = await runWrk({ url: `${url}/t`, connections: 5, amount: 777 });
    expect(seen.length).toBe(777);
    expect(r.answers).toBe(777);
    expect(r.exhausted).toBe(true);
  });

  test('cycle: variants in turn, each with its own headers', async () => {
    seen.length = 0;
    const variants = [0, 1, 2].map((i) => ({ headers: { cookie: `c=${i}` }, body: `n=${i}` }));
    const r = await runWrk({ url: `${url}/login`, connections: 2, duration: 0.5, method: 'POST', vary: { kind: 'cycle', variants } });
    expect(Object.keys(r.statusCodes)).toEqual(['303']);
    for (const s of seen) expect(s.body).toBe(`n=${String(s.headers.cookie).slice(2)}`);
    expect(new Set(seen.map((s) => s.body))).toEqual(new Set(['n=0', 'n=1', 'n=2']));
  });

  test('chain: every refresh token presented once, each answer\'s successor presented next', async () => {
    seen.length = 0;
    tokens = 0;
    const seeds = ['seed/1', 'seed/2', 'seed/3', 'seed/4'];
    const r = await runWrk({ url: `${url}/token`, connections: 2, duration: 0.5, method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, vary: { kind: 'chain', seeds, bodyPrefix: 'grant_type=refresh_token&refresh_token=' } });
    const presented = seen.map((s) => new URLSearchParams(s.body).get('refresh_token')!);
    expect(presented.length).toBeGreaterThan(100);
    expect(new Set(presented).size).toBe(presented.length); // never twice
    for (const t of presented) expect(seeds.includes(t) || /^rt\/\d+\+x$/.test(t)).toBe(true); // URL-encoded and decoded intact
    expect(r.statusCodes['200']).toBeGreaterThan(presented.length - 3); // all but those in flight at the end
    expect(r.exhausted).toBe(false);
  });
});
