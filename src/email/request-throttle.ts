import { countersFor, type BackoffPolicy, type CounterKind } from '../identity/guess-throttle.ts';
import type { GuessThrottleStore } from '../identity/guess-throttle-store.ts';

const MINUTE = 60;
const HOUR = 3600;

/**
 * How often anyone may ask for mail to an account (src/identity/guess-throttle.ts counts every
 * request as a "failure": nothing ever resets it). `free` failures cost nothing and the next
 * one starts the wait, so per account and address 3 requests go through, then each waits,
 * doubling from a minute; per account from anywhere: 6; per IP address over every account: 21
 * (an office shares one). Unknown accounts are counted exactly like real ones, so
 * the throttle tells nothing about which exist.
 */
export const MAIL_REQUEST_POLICIES: Readonly<Record<CounterKind, BackoffPolicy>> = {
  device: { free: 2, baseDelay: MINUTE, maxDelay: HOUR, forgetAfter: HOUR },
  client: { free: 2, baseDelay: MINUTE, maxDelay: HOUR, forgetAfter: HOUR },
  account: { free: 5, baseDelay: MINUTE, maxDelay: HOUR, forgetAfter: HOUR },
  ip: { free: 20, baseDelay: MINUTE, maxDelay: HOUR, forgetAfter: HOUR },
};

/**
 * Counts one request for mail (`kind`: `reset`, `verify_resend`) about `account` from `ip`:
 * undefined when allowed, else how many seconds until it is. A counter already waiting refuses
 * at once (nothing counted); else each counter takes the request atomically.
 */
export async function countMailRequest(store: GuessThrottleStore, kind: string, account: string, ip: string | null, now: number): Promise<number | undefined> {
  const counters = countersFor(`mail_${kind}`, { account, ip }, MAIL_REQUEST_POLICIES);
  const keys = counters.map((c) => c.key);
  const wait = (rows: Array<{ blockedUntil: number }>) => Math.max(1, ...rows.map((r) => r.blockedUntil - now));
  const waiting = await store.waiting(keys, now);
  if (waiting.length) return wait(waiting);
  for (const counter of counters) {
    if (!(await store.reserve(counter, now))) return wait(await store.waiting(keys, now));
  }
  return undefined;
}
