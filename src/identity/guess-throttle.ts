/**
 * Throttling of guesses (a password at /login today; later a TOTP code), after OWASP's
 * "slow down online guessing attacks with device cookies": nothing here locks an account.
 * Failures are counted per counter (a key in the database, so every node counts together),
 * and once a counter has had its free failures, each further failure makes the next attempt
 * on that counter wait, twice as long each time, up to a cap. A counter forgets its failures
 * after a quiet period.
 *
 * Which counters an attempt uses depends on who makes it:
 * - a browser holding a device cookie signed for this user (it signed in as them before):
 *   only that device's own counter. Failures anybody else causes never slow it.
 * - anybody else: the (account, IP address) pair, the IP address (generous: an office NAT
 *   shares one), and the account as seen from every untrusted client (slows a distributed
 *   attack; never a lock).
 *
 * The module is generic over what is being guessed (`guess`: "password", later "totp"), so
 * each kind of secret has counters of its own under the same rules.
 */

export interface BackoffPolicy {
  /** Failures that cost nothing. */
  readonly free: number;
  /** The wait after the first failure beyond `free`, seconds; doubled for each further one. */
  readonly baseDelay: number;
  /** The longest wait, seconds. */
  readonly maxDelay: number;
  /** Seconds without a failure after which the counter starts again from zero (≥ maxDelay). */
  readonly forgetAfter: number;
}

/** What a counter counts failures of. */
export type CounterKind = 'device' | 'client' | 'ip' | 'account';

const MINUTE = 60;
const HOUR = 3600;
const DAY = 86_400;

/** The sign-in policies, per kind of counter (docs/sign-in.md states them). */
export const GUESS_POLICIES: Readonly<Record<CounterKind, BackoffPolicy>> = {
  /** A browser that signed in as this user before: its own typos only. */
  device: { free: 5, baseDelay: 1, maxDelay: 15 * MINUTE, forgetAfter: DAY },
  /** One account from one IP address, without a device cookie for it. */
  client: { free: 5, baseDelay: 1, maxDelay: 15 * MINUTE, forgetAfter: DAY },
  /** One IP address over every account: an office behind one NAT fails often, so it only slows. */
  ip: { free: 100, baseDelay: 1, maxDelay: MINUTE, forgetAfter: HOUR },
  /** One account from every client without its device cookie: a distributed attack waits, the owner's known browsers do not. */
  account: { free: 20, baseDelay: 1, maxDelay: 5 * MINUTE, forgetAfter: HOUR },
};

/** How long the next attempt must wait after the `failures`-th failure, seconds (0: none). */
export function waitAfter(policy: BackoffPolicy, failures: number): number {
  if (failures <= policy.free) return 0;
  const doublings = failures - policy.free - 1;
  // 2^31 s is far beyond any cap; stop doubling before numbers get silly.
  if (doublings >= 31) return policy.maxDelay;
  return Math.min(policy.maxDelay, policy.baseDelay * 2 ** doublings);
}

/**
 * The waits of a policy as a table: index i is the wait after failure i + 1, up to the first
 * failure that reaches the cap; every later failure waits `maxDelay`. (The store turns this
 * into one SQL expression, so a failure is counted and its wait set in one atomic statement.)
 */
export function waitTable(policy: BackoffPolicy): number[] {
  const out: number[] = [];
  for (let n = 1; ; n++) {
    const wait = waitAfter(policy, n);
    out.push(wait);
    if (wait >= policy.maxDelay) return out;
  }
}

export interface Counter {
  /** The database key: `<guess>:<kind>:…`. */
  readonly key: string;
  readonly kind: CounterKind;
  /** The account the counter concerns (a lowercased username), so an admin can clear it; null for an IP. */
  readonly account: string | null;
  readonly policy: BackoffPolicy;
}

export interface Guesser {
  /** The account as typed, lowercased (unknown usernames are counted like real ones). */
  account: string;
  /** The client's address, when known. */
  ip: string | null;
  /** Set when the client holds a device cookie signed for this (existing) user. */
  device?: { userId: string; deviceId: string };
}

/** The counters one attempt to guess `guess` uses (see the module comment). */
export function countersFor(guess: string, who: Guesser, policies: Readonly<Record<CounterKind, BackoffPolicy>> = GUESS_POLICIES): Counter[] {
  const account = who.account.slice(0, 200);
  if (who.device) {
    return [{ key: `${guess}:device:${who.device.userId}:${who.device.deviceId}`, kind: 'device', account, policy: policies.device }];
  }
  const counters: Counter[] = [
    { key: `${guess}:client:${who.ip ?? '-'}:${account}`, kind: 'client', account, policy: policies.client },
    { key: `${guess}:account:${account}`, kind: 'account', account, policy: policies.account },
  ];
  if (who.ip) counters.push({ key: `${guess}:ip:${who.ip}`, kind: 'ip', account: null, policy: policies.ip });
  return counters;
}
