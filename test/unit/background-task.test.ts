import { describe, expect, test, vi } from 'vitest';
import { BackgroundTask } from '../../src/lib/background-task.ts';
import { recordingLogger } from '../support/logger.ts';

describe('BackgroundTask', () => {
  test('a failed run is logged once per run of failures, retried with backoff, and its recovery logged', async () => {
    const log = recordingLogger();
    let calls = 0;
    const task = new BackgroundTask(
      'test reload',
      async () => {
        if (++calls <= 3) throw new Error(`down ${calls}`);
      },
      log,
      { firstRetryMs: 5, maxRetryMs: 20 },
    );
    task.request();
    await vi.waitFor(() => expect(calls).toBe(4), { timeout: 2000, interval: 5 });
    await task.idle();
    expect(log.entries).toMatchObject([
      { level: 'error', message: 'test reload failed; retrying', context: { job: 'test reload', err: { message: 'down 1' }, retryInMs: 5 } },
      { level: 'info', message: 'test reload works again', context: { failures: 3 } },
    ]);
    await task.stop();
  });

  test('requests during a run queue one more run, not one per request; runs never overlap', async () => {
    let running = 0;
    let overlapped = false;
    let runs = 0;
    let release!: () => void;
    const task = new BackgroundTask(
      'test reload',
      async () => {
        overlapped ||= running > 0;
        running++;
        runs++;
        if (runs === 1) await new Promise<void>((r) => (release = r));
        running--;
      },
      recordingLogger(),
    );
    task.request();
    task.request();
    task.request();
    await vi.waitFor(() => expect(release).toBeDefined());
    release();
    await task.idle();
    expect(runs).toBe(2);
    expect(overlapped).toBe(false);
    await task.stop();
  });

  test('a synchronous throw is handled like a rejection; stop cancels the pending retry', async () => {
    const log = recordingLogger();
    let calls = 0;
    const task = new BackgroundTask(
      'test reload',
      () => {
        calls++;
        throw new Error('sync');
      },
      log,
      { firstRetryMs: 10_000 },
    );
    task.request();
    await task.idle();
    expect(calls).toBe(1);
    expect(log.messages('error')).toEqual(['test reload failed; retrying']);
    await task.stop();
    task.request();
    expect(calls).toBe(1);
  });
});
