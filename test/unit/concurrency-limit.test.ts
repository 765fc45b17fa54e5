import { expect, test } from 'vitest';
import { ConcurrencyLimit } from '../../src/lib/concurrency-limit.ts';

const tick = () => new Promise((r) => setImmediate(r));

test('runs at most `limit` tasks at once, the others in arrival order, and passes results and errors through', async () => {
  const limit = new ConcurrencyLimit(2);
  let active = 0;
  let peak = 0;
  const started: number[] = [];
  const gates: Array<() => void> = [];
  const tasks = Array.from({ length: 5 }, (_, i) =>
    limit.run(async () => {
      started.push(i);
      active++;
      peak = Math.max(peak, active);
      await new Promise<void>((r) => gates.push(r));
      active--;
      if (i === 3) throw new Error('task 3 failed');
      return i * 10;
    }),
  );
  const settled = Promise.allSettled(tasks);
  await tick();
  expect(started).toEqual([0, 1]);
  expect(limit.waiting).toBe(3);
  while (gates.length) {
    gates.shift()!();
    await tick();
    await tick();
  }
  const results = await settled;
  expect(peak).toBe(2);
  expect(started).toEqual([0, 1, 2, 3, 4]);
  expect(results.map((r) => (r.status === 'fulfilled' ? r.value : (r.reason as Error).message))).toEqual([0, 10, 20, 'task 3 failed', 40]);
  expect(limit.running).toBe(0);
  expect(limit.waiting).toBe(0);
});

test('refuses a limit that is not a positive integer', () => {
  expect(() => new ConcurrencyLimit(0)).toThrow(RangeError);
  expect(() => new ConcurrencyLimit(1.5)).toThrow(RangeError);
});
