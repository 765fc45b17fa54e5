import { epochSeconds, type Clock } from '../clock.ts';
import type { Logger } from '../lib/logger.ts';
import type { MetricsRecorder } from '../lib/metrics.ts';
import type { GuessThrottleStore } from './guess-throttle-store.ts';
import { GUESS_POLICIES, type Counter } from './guess-throttle.ts';
import { PasskeyRefused, type PasskeyService } from './passkey-service.ts';
import type { PrincipalLookup } from './session-service.ts';
import type { User } from './user.ts';

export interface PasskeySignInDeps {
  passkeys: PasskeyService;
  cache: PrincipalLookup;
  throttle: GuessThrottleStore;
  clock: Clock;
  log: Logger;
  metrics?: MetricsRecorder;
}

export type PasskeySignInResult =
  /** The user the passkey belongs to and the methods it proved; the caller completes the sign-in (session, audit, device cookie). */
  | { ok: true; user: User; amr: string[] }
  | { ok: false; reason: 'refused' }
  | { ok: false; reason: 'throttled'; retryAfter: number };

/**
 * Passwordless sign-in with a discoverable passkey ("Sign in with a passkey" on /login). A
 * signature cannot be guessed, but failed assertions (forged ids, replays, junk) are still
 * counted per IP address like other guesses (src/identity/guess-throttle.ts, the generous
 * `ip` policy; no account is known before the assertion verifies), so the endpoint cannot be
 * used to probe credential ids or burn CPU at full speed. A success gives the attempt back.
 */
export class PasskeySignIn {
  readonly #d: PasskeySignInDeps;
  constructor(deps: PasskeySignInDeps) {
    this.#d = deps;
  }

  async verify(browserHandle: string, body: unknown, meta: { ip: string | null; userAgent: string | null }): Promise<PasskeySignInResult> {
    const now = epochSeconds(this.#d.clock);
    const counter: Counter | undefined = meta.ip ? { key: `passkey:ip:${meta.ip}`, kind: 'ip', account: null, policy: GUESS_POLICIES.ip } : undefined;
    if (counter) {
      const waiting = await this.#d.throttle.waiting([counter.key], now);
      const reserved = waiting.length ? undefined : await this.#d.throttle.reserve(counter, now);
      if (!reserved) {
        const until = waiting[0]?.blockedUntil ?? (await this.#d.throttle.waiting([counter.key], now))[0]?.blockedUntil ?? now + 1;
        this.#d.metrics?.signIn('passkey', 'throttled');
        return { ok: false, reason: 'throttled', retryAfter: Math.max(1, until - now) };
      }
    }
    let assertion;
    try {
      assertion = await this.#d.passkeys.finishAuthentication(browserHandle, body, 'passwordless');
    } catch (error) {
      if (!(error instanceof PasskeyRefused)) throw error;
      this.#d.log.info({ ip: meta.ip, reason: error.reason, detail: error.message }, 'passkey sign-in refused');
      this.#d.metrics?.signIn('passkey', 'refused');
      return { ok: false, reason: 'refused' };
    }
    const principal = await this.#d.cache.principal(assertion.userId);
    if (!principal || principal.user.disabled) {
      this.#d.log.info({ ip: meta.ip, userId: assertion.userId, reason: 'disabled' }, 'passkey sign-in refused');
      this.#d.metrics?.signIn('passkey', 'disabled');
      return { ok: false, reason: 'refused' };
    }
    if (counter) await this.#d.throttle.refund(counter, now);
    return { ok: true, user: principal.user, amr: assertion.amr };
  }
}
