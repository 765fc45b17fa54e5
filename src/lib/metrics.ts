/**
 * What the core tells the metrics, without importing a metrics library: the layers below
 * `src/observability` count into these plain shapes, and `src/observability/metrics.ts`
 * (prom-client) implements the recorder and reads the counters when Prometheus scrapes.
 */

/**
 * Hits and misses of one in-memory cache. Two plain numbers: counting costs the hot path an
 * increment, no allocation and no call; the metrics read them at scrape time.
 */
export class CacheStats {
  hits = 0;
  misses = 0;
}

/** How a sign-in ended (`tessera_sign_ins_total{outcome}`). */
export type SignInOutcome = 'success' | 'invalid_credentials' | 'disabled' | 'throttled' | 'failed' | 'refused';

/** Events the core reports as they happen. */
export interface MetricsRecorder {
  /** A token response was issued for a grant type the token endpoint supports. */
  tokenIssued(grantType: string): void;
  /** A sign-in ended: with a password or a passkey on the login page, or through an upstream identity provider. */
  signIn(method: 'password' | 'provider' | 'passkey', outcome: SignInOutcome): void;
  /** An email left the outbox: sent, failed once (retried later), or given up (dropped). */
  mail(message: string, outcome: MailOutcome): void;
}

/** What became of one attempt to send an email (`tessera_emails_total{message,outcome}`). */
export type MailOutcome = 'sent' | 'retry' | 'dropped';

/** Metrics off (the CLI's commands, tests that assert nothing about metrics). */
export const noMetrics: MetricsRecorder = { tokenIssued() {}, signIn() {}, mail() {} };
