import type { Actor } from '../audit/actor.ts';
import { visitor } from '../audit/actor.ts';
import { epochSeconds, type Clock } from '../clock.ts';
import type { GuessThrottleStore } from '../identity/guess-throttle-store.ts';
import type { User } from '../identity/user.ts';
import type { UserService } from '../identity/user-service.ts';
import type { UserStore } from '../identity/user-store.ts';
import type { Logger } from '../lib/logger.ts';
import { LINK_TTL, type Links } from './links.ts';
import type { Mailer } from './mailer.ts';
import { countMailRequest } from './request-throttle.ts';

export interface EmailVerificationDeps {
  users: UserStore;
  userService: UserService;
  links: Links;
  mailer: Mailer;
  throttle: GuessThrottleStore;
  clock: Clock;
  log: Logger;
  url: (path: string) => string;
}

export type ResendOutcome = { ok: true } | { ok: false; reason: 'throttled'; retryAfter: number } | { ok: false; reason: 'no_address' | 'already_verified' | 'not_configured' };

/**
 * Email verification: a single-use link (24 hours) to the user's address whenever it is set or
 * changed (admin create/update, the account page: src/email/email-events.ts starts it from the
 * audit entry), and on request ("resend the link"). Following it marks the address verified,
 * which ID tokens and userinfo report as `email_verified`. A link is for one address: once the
 * user's address changed, links sent to an earlier one no longer work.
 */
export class EmailVerification {
  readonly #d: EmailVerificationDeps;
  constructor(deps: EmailVerificationDeps) {
    this.#d = deps;
  }

  get available(): boolean {
    return this.#d.mailer.configured;
  }

  /**
   * Sends a verification link to the user's current address (earlier links stop working).
   * Nothing to do when the user has no address or it is verified; throws
   * `email_not_configured` without SMTP.
   */
  async start(userId: string, actor: Actor): Promise<'sent' | 'no_address' | 'already_verified'> {
    this.#d.mailer.requireConfigured('email verification');
    const user = await this.#d.users.findById(userId);
    if (!user?.email || user.disabled) return 'no_address';
    if (user.emailVerified) return 'already_verified';
    await this.#d.links.useAllForUser(user.id, 'email_verify');
    const { token } = await this.#d.links.create('email_verify', { userId: user.id, email: user.email, createdBy: actor.label });
    this.#d.mailer.send(
      'email_verify',
      user.email,
      { username: user.username, email: user.email, link: this.#d.url(`/verify-email?${new URLSearchParams({ token })}`), expires_hours: LINK_TTL.email_verify / 3600 },
      user.id,
      user.locale,
    );
    return 'sent';
  }

  /** "Resend the link" by the signed-in user: throttled like reset requests. */
  async resend(user: User, meta: { ip: string | null }): Promise<ResendOutcome> {
    if (!this.#d.mailer.configured) return { ok: false, reason: 'not_configured' };
    if (!user.email) return { ok: false, reason: 'no_address' };
    if (user.emailVerified) return { ok: false, reason: 'already_verified' };
    const retryAfter = await countMailRequest(this.#d.throttle, 'verify', user.id, meta.ip, epochSeconds(this.#d.clock));
    if (retryAfter !== undefined) return { ok: false, reason: 'throttled', retryAfter };
    await this.start(user.id, visitor(user.username, meta.ip));
    return { ok: true };
  }

  /** The user and address a link would verify, while it works and the address is still theirs. */
  async check(token: string | undefined): Promise<{ user: User; email: string } | undefined> {
    const link = await this.#d.links.peek(token, 'email_verify');
    const user = link?.userId ? await this.#d.users.findById(link.userId) : undefined;
    if (!link || !user || user.disabled || !sameAddress(user.email, link.email)) return undefined;
    return { user, email: link.email };
  }

  /** Uses the link: the address becomes verified. Audited `user.email_verify`. */
  async confirm(token: string | undefined, meta: { ip: string | null }): Promise<{ ok: true; username: string; email: string } | { ok: false }> {
    // Checked before it is used up: a link for an address the user no longer has stays unusable.
    if (!(await this.check(token))) return { ok: false };
    const link = await this.#d.links.consume(token, 'email_verify');
    const user = link?.userId ? await this.#d.users.findById(link.userId) : undefined;
    if (!link || !user || !sameAddress(user.email, link.email)) return { ok: false };
    await this.#d.userService.confirmEmail(user.id, user.email!, visitor(user.username, meta.ip));
    return { ok: true, username: user.username, email: user.email! };
  }
}

function sameAddress(a: string | null, b: string): boolean {
  return a !== null && a.toLowerCase() === b.toLowerCase();
}
