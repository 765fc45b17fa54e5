import { randomUUID } from 'node:crypto';
import { visitor, type Actor } from '../audit/actor.ts';
import type { AuditLog } from '../audit/audit-log.ts';
import { epochSeconds, type Clock } from '../clock.ts';
import { validationError } from '../errors.ts';
import { MAX_PASSWORD_LENGTH, MIN_PASSWORD_LENGTH } from '../identity/passwords.ts';
import type { PasskeyService } from '../identity/passkey-service.ts';
import type { SessionService } from '../identity/session-service.ts';
import type { Session } from '../identity/session-store.ts';
import { checkedEmail, type UserService } from '../identity/user-service.ts';
import type { RoleStore } from '../identity/user-store.ts';
import { sha256 } from '../lib/crypto.ts';
import { iso } from '../lib/time.ts';
import type { Logger } from '../lib/logger.ts';
import type { EmailLink, EmailLinkStore } from './email-link-store.ts';
import { LINK_TTL, type Links } from './links.ts';
import type { Mailer } from './mailer.ts';

export interface InvitationsDeps {
  links: Links;
  store: EmailLinkStore;
  mailer: Mailer;
  users: UserService;
  roles: RoleStore;
  sessions: SessionService;
  passkeys: PasskeyService;
  audit: AuditLog;
  clock: Clock;
  log: Logger;
  url: (path: string) => string;
}

export interface InvitationView {
  /** The link's id for admins: a prefix of its hash, never the token. */
  id: string;
  email: string;
  roles: string[];
  /** The language the invitation was written in (mail and page); null: the operator's default. */
  locale: string | null;
  invited_by: string;
  created_at: string;
  expires_at: string;
}

/** What navigator.credentials.create() is given (JSON). */
export type RegistrationOptions = Awaited<ReturnType<PasskeyService['startNewAccountRegistration']>>;

export type AcceptOutcome = { ok: true; cookieValue: string; session: Session; username: string } | { ok: false; reason: 'invalid_link' };

/**
 * Invitations: an admin invites an address (CLI, admin API, console); the invitee follows a
 * single-use link (7 days, stored hashed) to `/invite`, chooses a username and password, and
 * is signed in. The account is created only then, with the address verified (the link proved
 * it) and the roles the admin chose. Audited `user.invite` and `user.invite_accept`.
 *
 * Or, instead of a password, a passkey (`passkeyOptions`, then `acceptWithPasskey`): the
 * account is created, without a password, only once the browser's registration verifies, and
 * the link is used up then.
 */
export class Invitations {
  readonly #d: InvitationsDeps;
  constructor(deps: InvitationsDeps) {
    this.#d = deps;
  }

  get available(): boolean {
    return this.#d.mailer.configured;
  }

  /**
   * `locale`, when the admin knows the invitee's language: the mail is written in it and the
   * link opens the page in it (`ui_locales`, which the page's language chooser still
   * overrides); without it, the operator's default and the invitee's browser decide.
   */
  async invite(input: { email: string; roles?: string[] | undefined; locale?: string | null | undefined }, actor: Actor): Promise<InvitationView> {
    this.#d.mailer.requireConfigured('inviting users');
    const address = checkedEmail(input.email ?? '');
    if (!address) throw validationError('email is required', 'email', { key: 'validation.email.required' });
    const locale = this.#d.users.checkLocale(input.locale);
    const roles: string[] = [];
    for (const name of input.roles ?? []) {
      if (!(await this.#d.roles.findRole(name))) throw validationError(`role "${name.slice(0, 64)}" does not exist`, 'roles');
      if (!roles.includes(name)) roles.push(name);
    }
    const invitedBy = actor.kind === 'user' ? actor.username : actor.label;
    const { token, link } = await this.#d.links.create('invite', { userId: null, email: address, data: locale ? { roles, locale } : { roles }, createdBy: actor.label });
    const page = new URLSearchParams(locale ? { token, ui_locales: locale } : { token });
    this.#d.mailer.send('invite', address, { username: '', email: address, link: this.#d.url(`/invite?${page}`), expires_days: LINK_TTL.invite / 86_400, invited_by: invitedBy }, null, locale);
    await this.#d.audit.record({ action: 'user.invite', targetId: null, details: { email: address, roles, ...(locale ? { locale } : {}) } }, actor);
    return view(link);
  }

  /** Open invitations (not accepted, not expired), newest first. */
  async list(): Promise<InvitationView[]> {
    return (await this.#d.store.listOpenInvitations(epochSeconds(this.#d.clock))).map(view);
  }

  /** The invitation a link is for, while it works. */
  async check(token: string | undefined): Promise<{ email: string; roles: string[] } | undefined> {
    const link = await this.#d.links.peek(token, 'invite');
    return link ? { email: link.email, roles: rolesOf(link) } : undefined;
  }

  /**
   * Creates the account and signs the invitee in. The username and password are checked (by
   * UserService.create) before the link is used, so a taken username does not waste it; of
   * two accepts racing with one link, the loser's account is removed again.
   */
  async accept(token: string | undefined, input: { username: string; password: string }, meta: { ip: string | null; userAgent: string | null }): Promise<AcceptOutcome> {
    const link = await this.#d.links.peek(token, 'invite');
    if (!link) return { ok: false, reason: 'invalid_link' };
    if (input.password.length < MIN_PASSWORD_LENGTH) throw validationError(`password must be at least ${MIN_PASSWORD_LENGTH} characters`, 'password', { key: 'validation.password.tooShort', values: { min: MIN_PASSWORD_LENGTH } });
    if (input.password.length > MAX_PASSWORD_LENGTH) throw validationError(`password must be at most ${MAX_PASSWORD_LENGTH} characters`, 'password', { key: 'validation.password.tooLong', values: { max: MAX_PASSWORD_LENGTH } });
    const actor = visitor(input.username.trim().slice(0, 100), meta.ip);
    const user = await this.#d.users.create({ username: input.username, password: input.password, email: link.email, emailVerified: true, roles: rolesOf(link) }, actor);
    const used = await this.#d.links.consume(token, 'invite');
    if (!used) {
      await this.#d.users.delete(user.id, actor);
      return { ok: false, reason: 'invalid_link' };
    }
    await this.#d.audit.record({ action: 'user.invite_accept', targetId: user.id, details: { email: link.email, username: user.username } }, actor);
    this.#d.log.info({ userId: user.id, invitedBy: link.createdBy }, 'invitation accepted');
    const started = await this.#d.sessions.startSession(user.id, meta, { amr: ['pwd'] });
    return { ok: true, ...started, username: user.username };
  }

  /**
   * The first half of accepting with a passkey: WebAuthn registration options for the account
   * to be (a new id, the chosen username), bound to this browser's ceremony handle. The link
   * and the username are checked now, so the person is told before their authenticator asks;
   * nothing is created and the link is not used.
   */
  async passkeyOptions(token: string | undefined, input: { username: string }, browserHandle: string): Promise<{ ok: true; options: RegistrationOptions } | { ok: false; reason: 'invalid_link' }> {
    const link = await this.#d.links.peek(token, 'invite');
    if (!link) return { ok: false, reason: 'invalid_link' };
    const username = await this.#d.users.checkNewUsername(input.username);
    return { ok: true, options: await this.#d.passkeys.startNewAccountRegistration({ id: randomUUID(), username }, browserHandle) };
  }

  /**
   * The second half: the browser's answer verified (PasskeyRefused if not), then the account
   * created without a password (the id the options named), the passkey stored, and the link
   * used; the invitee is signed in with what the passkey proved. Of two accepts racing with
   * one link, the loser's account (and its passkey) is removed again.
   */
  async acceptWithPasskey(
    token: string | undefined,
    input: { username: string; passkeyName: string; response: unknown },
    browserHandle: string,
    meta: { ip: string | null; userAgent: string | null },
  ): Promise<AcceptOutcome> {
    const link = await this.#d.links.peek(token, 'invite');
    if (!link) return { ok: false, reason: 'invalid_link' };
    const { passkey, amr } = await this.#d.passkeys.verifyNewAccountRegistration(browserHandle, input.response, input.passkeyName);
    const actor = visitor(input.username.trim().slice(0, 100), meta.ip);
    const user = await this.#d.users.create({ username: input.username, passkeyAccount: { id: passkey.userId }, email: link.email, emailVerified: true, roles: rolesOf(link) }, actor);
    try {
      await this.#d.passkeys.addVerified(passkey, actor);
    } catch (error) {
      await this.#d.users.delete(user.id, actor);
      throw error;
    }
    const used = await this.#d.links.consume(token, 'invite');
    if (!used) {
      await this.#d.users.delete(user.id, actor);
      return { ok: false, reason: 'invalid_link' };
    }
    await this.#d.audit.record({ action: 'user.invite_accept', targetId: user.id, details: { email: link.email, username: user.username, with: 'passkey' } }, actor);
    this.#d.log.info({ userId: user.id, invitedBy: link.createdBy }, 'invitation accepted with a passkey');
    const started = await this.#d.sessions.startSession(user.id, meta, { amr });
    return { ok: true, ...started, username: user.username };
  }
}

function localeOf(link: EmailLink): string | null {
  return typeof link.data.locale === 'string' ? link.data.locale : null;
}

function rolesOf(link: EmailLink): string[] {
  return Array.isArray(link.data.roles) ? link.data.roles.filter((r): r is string => typeof r === 'string') : [];
}

function view(link: EmailLink): InvitationView {
  return {
    id: sha256(link.tokenHash).slice(0, 16),
    email: link.email,
    roles: rolesOf(link),
    locale: localeOf(link),
    invited_by: link.createdBy,
    created_at: iso(link.createdAt),
    expires_at: iso(link.expiresAt),
  };
}
