import type { Counter } from './guess-throttle.ts';
import type { Counted, GuessThrottleStore } from './guess-throttle-store.ts';

export type Reservation = { retryAfter: number } | { counted: Array<[Counter, Counted]> };

/**
 * Counts one guess (a password, a TOTP code…) on every counter, or refuses it (nothing
 * counted) when one must wait: a read first (a flood on a waiting counter costs no write),
 * then one atomic reservation per counter (two parallel attempts cannot both take the last
 * free one).
 */
export async function reserveGuess(throttle: GuessThrottleStore, counters: Counter[], now: number): Promise<Reservation> {
  const keys = counters.map((c) => c.key);
  const retryAfter = (waiting: Array<{ blockedUntil: number }>) => ({ retryAfter: Math.max(1, ...waiting.map((w) => w.blockedUntil - now)) });
  const waiting = await throttle.waiting(keys, now);
  if (waiting.length) return retryAfter(waiting);
  const counted: Array<[Counter, Counted]> = [];
  for (const counter of counters) {
    const state = await throttle.reserve(counter, now);
    if (!state) {
      // Another attempt made this counter wait since the read: give back what was counted.
      await refundGuess(throttle, counted, now);
      return retryAfter(await throttle.waiting(keys, now));
    }
    counted.push([counter, state]);
  }
  return { counted };
}

/** A guess that decided nothing (the check itself failed): every counter gets it back. */
export async function refundGuess(throttle: GuessThrottleStore, counted: Array<[Counter, Counted]>, now: number): Promise<void> {
  for (const [counter] of counted) await throttle.refund(counter, now);
}

/** A right guess: this device or client starts again from zero; the shared counters get the attempt back. */
export async function settleRightGuess(throttle: GuessThrottleStore, counted: Array<[Counter, Counted]>, now: number): Promise<void> {
  for (const [counter] of counted) {
    if (counter.kind === 'device' || counter.kind === 'client') await throttle.reset(counter.key);
    else await throttle.refund(counter, now);
  }
}
