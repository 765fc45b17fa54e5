import { setTimeout as sleep } from 'node:timers/promises';
import type { Kysely } from 'kysely';
import type { AuditStore } from '../audit/audit-store.ts';
import { epochSeconds, type Clock } from '../clock.ts';
import type { SecondStepStore } from '../identity/mfa/second-step-store.ts';
import type { PendingSignInStore } from '../federation/pending-sign-in-store.ts';
import type { EmailLinkStore } from '../email/email-link-store.ts';
import type { GuessThrottleStore } from '../identity/guess-throttle-store.ts';
import type { PasskeyStore } from '../identity/passkey-store.ts';
import type { SessionStore } from '../identity/session-store.ts';
import type { Logger } from '../lib/logger.ts';
import type { CodeStore } from '../oauth/code-store.ts';
import type { DeviceAuthorizationStore } from '../oauth/device-store.ts';
import type { ClientAssertionJtiStore } from '../oauth/client-assertion-store.ts';
import type { PushedRequestStore } from '../oauth/pushed-request-store.ts';
import type { RefreshStore } from '../oauth/refresh-store.ts';
import type { RevocationStore } from '../oauth/revocation-store.ts';
import { purgeChanges } from '../storage/change-feed.ts';
import type { Database } from '../storage/schema.ts';
import type { DpopReplayStore } from '../oauth/dpop-replay-store.ts';

/**
 * One kind of row the cleanup removes. `purge` deletes at most `limit` rows that are no longer
 * needed as of `now` (each store owns its SQL and says what "no longer needed" means) and
 * answers how many it deleted.
 */
export interface PurgeJob {
  /** The name the log line uses for the count (`authorization_codes`). */
  name: string;
  purge(now: number, limit: number): Promise<number>;
}

const HOUR = 3600;
const DAY = 86_400;

export interface ExpiringStores {
  codes: CodeStore;
  /** Device authorization requests (RFC 8628); optional for callers built before it. */
  devices?: DeviceAuthorizationStore;
  /** The jti of accepted client assertions (private_key_jwt); optional for callers built before it. */
  clientAssertionJtis?: ClientAssertionJtiStore;
  /** Pushed authorization requests (RFC 9126); optional for callers built before it. */
  pushedRequests?: PushedRequestStore;
  refresh: RefreshStore;
  sessions: SessionStore;
  revocations: RevocationStore;
  throttle: GuessThrottleStore;
  pendingSignIns: PendingSignInStore;
  secondSteps: SecondStepStore;
  passkeys: PasskeyStore;
  audit: AuditStore;
  /** Links sent by email (reset, verification, invitation). */
  emailLinks: EmailLinkStore;
  /** DPoP proofs seen (RFC 9449); optional for callers built before it. */
  dpopProofs?: DpopReplayStore;
  /** For the change feed's table, which has no store of its own. */
  db: Kysely<Database>;
}

/**
 * Every table whose rows expire, with how long each row is kept past its expiry where that
 * still serves a purpose (docs/architecture.md, "Cleanup"). Audit events are kept
 * `auditRetentionDays` (0: forever).
 */
export function expiryJobs(s: ExpiringStores, auditRetentionDays: number): PurgeJob[] {
  const jobs: PurgeJob[] = [
    // A replayed code is recognised (and what it gave revoked) until an hour after it expired.
    { name: 'authorization_codes', purge: (now, n) => s.codes.purgeExpired(now - HOUR, n) },
    // A device still polling an hour after its request expired learns expired_token until then.
    ...(s.devices ? [{ name: 'device_authorizations', purge: (now: number, n: number) => s.devices!.purgeExpired(now - HOUR, n) }] : []),
    // A jti is kept until its assertion expires: after that the assertion is refused for its exp.
    ...(s.clientAssertionJtis ? [{ name: 'client_assertion_jtis', purge: (now: number, n: number) => s.clientAssertionJtis!.purgeExpired(now, n) }] : []),
    // A request_uri is single-use and short-lived: nothing is learnt from it after it expired.
    ...(s.pushedRequests ? [{ name: 'pushed_authorization_requests', purge: (now: number, n: number) => s.pushedRequests!.purgeExpired(now, n) }] : []),
    // Refresh tokens go with their family once the family's absolute lifetime is over: until
    // then a revoked family's tokens, and a live family's used ones, keep detecting reuse.
    { name: 'refresh_tokens', purge: (now, n) => s.refresh.purgeExpiredTokens(now - HOUR, n) },
    { name: 'refresh_token_families', purge: (now, n) => s.refresh.purgeExpiredFamilies(now - HOUR, n) },
    { name: 'sessions', purge: (now, n) => s.sessions.purgeExpired(now - DAY, n) },
    // A revoked token's entry outlives the token by 5 minutes, for nodes whose clocks lag.
    { name: 'revoked_tokens', purge: (now, n) => s.revocations.purgeExpired(now - 300, n) },
    // Throttle rows go once their window and their lock are over (they count for nothing then).
    { name: 'guess_throttle', purge: (now, n) => s.throttle.deleteExpired(now, n) },
    // A passkey ceremony's challenge is useless once expired (single use, five minutes).
    { name: 'webauthn_challenges', purge: (now, n) => s.passkeys.purgeExpiredChallenges(now, n) },
    { name: 'upstream_sign_ins', purge: (now, n) => s.pendingSignIns.purgeExpired(now - HOUR, n) },
    { name: 'pending_second_steps', purge: (now, n) => s.secondSteps.purgeExpired(now, n) },
    // A day past expiry, so a late click still learns that its link expired rather than "unknown".
    { name: 'email_links', purge: (now, n) => s.emailLinks.purgeExpired(now - DAY, n) },
    // Nodes read only changes newer than their cursor; a day is far beyond any poll interval.
    // A proof is refused for its age by then: its jti need not be remembered any longer.
    ...(s.dpopProofs ? [{ name: 'dpop_proof_jtis', purge: (now: number, n: number) => s.dpopProofs!.purgeExpired(now, n) }] : []),
    { name: 'change_events', purge: (now, n) => purgeChanges(s.db, now - DAY, n) },
  ];
  if (auditRetentionDays > 0) {
    jobs.push({ name: 'audit_events', purge: (now, n) => s.audit.purgeBefore(now - auditRetentionDays * DAY, n) });
  }
  return jobs;
}

export interface CleanupOptions {
  clock: Clock;
  log: Logger;
  /** Rows per statement (default 500). */
  batchSize?: number;
  /** Pause between two batches, so other writers get the database in between (default 20 ms). */
  pauseMs?: number;
}

/**
 * Removes expired rows in small batches: each job deletes `batchSize` rows per statement
 * until a batch comes back short, pausing between batches, so no statement holds locks for
 * long (SQLite has one writer; PostgreSQL row locks block concurrent updates) whatever the
 * backlog. Every node runs it (app/tessera.ts, through a BackgroundTask); the stores' batch
 * deletes skip rows another node is deleting (storage/batch-delete.ts), so running it on
 * several nodes at once is safe. A failing job does not keep the others from running; the
 * run then fails as a whole, so the background task logs it and tries again.
 */
export class Cleanup {
  readonly #jobs: readonly PurgeJob[];
  readonly #clock: Clock;
  readonly #log: Logger;
  readonly #batchSize: number;
  readonly #pauseMs: number;
  #stopped = false;

  constructor(jobs: readonly PurgeJob[], options: CleanupOptions) {
    this.#jobs = jobs;
    this.#clock = options.clock;
    this.#log = options.log;
    this.#batchSize = options.batchSize ?? 500;
    this.#pauseMs = options.pauseMs ?? 20;
  }

  /** Stops between two batches (a run in progress ends early; later runs do nothing). */
  stop(): void {
    this.#stopped = true;
  }

  /** One pass over every job; logs and returns how many rows each removed. */
  async run(): Promise<Record<string, number>> {
    const started = Date.now();
    const now = epochSeconds(this.#clock);
    const removed: Record<string, number> = {};
    const failures: Array<{ job: string; error: unknown }> = [];
    for (const job of this.#jobs) {
      if (this.#stopped) break;
      try {
        removed[job.name] = await this.#drain(job, now);
      } catch (error) {
        failures.push({ job: job.name, error });
      }
    }
    const total = Object.values(removed).reduce((a, b) => a + b, 0);
    if (total > 0) {
      const counts = Object.fromEntries(Object.entries(removed).filter(([, n]) => n > 0));
      this.#log.info({ removed: counts, ms: Date.now() - started }, `cleanup removed ${total} expired rows`);
    }
    if (failures.length) {
      const names = failures.map((f) => f.job).join(', ');
      const first = failures[0]!.error;
      throw new Error(`cleanup of ${names} failed: ${first instanceof Error ? first.message : String(first)}`, { cause: first });
    }
    return removed;
  }

  async #drain(job: PurgeJob, now: number): Promise<number> {
    let total = 0;
    for (;;) {
      const n = await job.purge(now, this.#batchSize);
      total += n;
      if (n < this.#batchSize || this.#stopped) return total;
      await sleep(this.#pauseMs);
    }
  }
}
