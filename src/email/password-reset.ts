import { visitor } from '../audit/actor.ts';
import { epochSeconds, type Clock } from '../clock.ts';
import { validationError } from '../errors.ts';
import type { GuessThrottleStore } from '../identity/guess-throttle-store.ts';
import { MAX_PASSWORD_LENGTH, MIN_PASSWORD_LENGTH } from '../identity/passwords.ts';
import { usernameKey, type User } from '../identity/user.ts';
import type { UserService } from '../identity/user-service.ts';
import type { UserStore } from '../identity/user-store.ts';
import type { Logger } from '../lib/logger.ts';
import type { JobQueue } from './job-queue.ts';
import { LINK_TTL, type Links } from './links.ts';
import type { Mailer } from './mailer.ts';
import { countMailRequest } from './request-throttle.ts';

export interface PasswordResetDeps {
  users: UserStore;
  userService: UserService;
  links: Links;
  mailer: Mailer;
  jobs: JobQueue;
  throttle: GuessThrottleStore;
  clock: Clock;
  log: Logger;
  /** The absolute URL of a path on Tessera (the issuer, read per use). */
  url: (path: string) => string;
}

export type ResetRequestOutcome = { ok: true } | { ok: false; reason: 'throttled'; retryAfter: number } | { ok: false; reason: 'not_configured' };
export type ResetOutcome = { ok: true; username: string } | { ok: false; reason: 'invalid_link' };

/** At most this many accounts get a link for one address (several users may share one). */
const MAX_ACCOUNTS_PER_ADDRESS = 5;

/**
 * "Forgot password?": a single-use link by email (30 minutes), then a new password that ends
 * every session and invalidates every token of the user. The answer to a request is the same
 * whether or not the account exists: the request is throttled on what was typed (existing or
 * not), and the lookup and the mail happen after the answer, in the background.
 */
export class PasswordReset {
  readonly #d: PasswordResetDeps;
  constructor(deps: PasswordResetDeps) {
    this.#d = deps;
  }

  get available(): boolean {
    return this.#d.mailer.configured;
  }

  /**
   * `identifier`: a username or an email address, as typed. `meta.locale`: the language of the
   * page the request came from, which the mail is written in (the person asking reads that
   * one; the account's own language otherwise).
   */
  async request(identifier: string, meta: { ip: string | null; locale?: string }): Promise<ResetRequestOutcome> {
    if (!this.available) return { ok: false, reason: 'not_configured' };
    const typed = identifier.replaceAll('\0', '').trim().slice(0, 320);
    const retryAfter = await countMailRequest(this.#d.throttle, 'reset', usernameKey(typed), meta.ip, epochSeconds(this.#d.clock));
    if (retryAfter !== undefined) {
      this.#d.log.info({ ip: meta.ip }, 'password reset request throttled');
      return { ok: false, reason: 'throttled', retryAfter };
    }
    if (typed) this.#d.jobs.add('password reset request', () => this.#mailLinks(typed, meta.ip, meta.locale));
    return { ok: true };
  }

  /** The user a reset link is for, while it still works (the /reset page shows its form only then). */
  async check(token: string | undefined): Promise<User | undefined> {
    const link = await this.#d.links.peek(token, 'password_reset');
    const user = link?.userId ? await this.#d.users.findById(link.userId) : undefined;
    return user && !user.disabled ? user : undefined;
  }

  /**
   * Sets the new password if the link still works. The password is checked first, so a
   * password too short does not use up the link.
   */
  async complete(token: string | undefined, newPassword: string, meta: { ip: string | null }): Promise<ResetOutcome> {
    if (newPassword.length < MIN_PASSWORD_LENGTH) throw validationError(`password must be at least ${MIN_PASSWORD_LENGTH} characters`, 'password', { key: 'validation.password.tooShort', values: { min: MIN_PASSWORD_LENGTH } });
    if (newPassword.length > MAX_PASSWORD_LENGTH) throw validationError(`password must be at most ${MAX_PASSWORD_LENGTH} characters`, 'password', { key: 'validation.password.tooLong', values: { max: MAX_PASSWORD_LENGTH } });
    const link = await this.#d.links.consume(token, 'password_reset');
    const user = link?.userId ? await this.#d.users.findById(link.userId) : undefined;
    if (!link || !user || user.disabled) return { ok: false, reason: 'invalid_link' };
    await this.#d.userService.resetPasswordByEmail(user.id, newPassword, visitor(user.username, meta.ip));
    // Other reset links sent before this one stop working too.
    await this.#d.links.useAllForUser(user.id, 'password_reset');
    this.#d.log.info({ userId: user.id, ip: meta.ip }, 'password reset by email link');
    return { ok: true, username: user.username };
  }

  async #mailLinks(typed: string, ip: string | null, locale: string | undefined): Promise<void> {
    const byName = typed.length <= 200 ? await this.#d.users.findByUsername(typed) : undefined;
    const accounts = byName ? [byName] : typed.includes('@') ? (await this.#d.users.listByEmail(typed)).slice(0, MAX_ACCOUNTS_PER_ADDRESS) : [];
    const reachable = accounts.filter((u) => u.email && !u.disabled);
    if (!reachable.length) {
      // Logged for the operator; the person who asked sees the same answer either way.
      this.#d.log.info({ ip, found: accounts.length }, 'password reset asked for an account without a usable email address (none sent)');
      return;
    }
    for (const user of reachable) {
      const { token } = await this.#d.links.create('password_reset', { userId: user.id, email: user.email!, createdBy: visitor(null, ip).label });
      this.#d.mailer.send(
        'password_reset',
        user.email!,
        { username: user.username, link: this.#d.url(`/reset?${new URLSearchParams({ token })}`), expires_minutes: LINK_TTL.password_reset / 60 },
        user.id,
        locale ?? user.locale,
      );
    }
  }
}
