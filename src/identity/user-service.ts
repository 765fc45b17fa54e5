import { randomUUID } from 'node:crypto';
import { changedFields } from '../audit/actions.ts';
import type { Actor } from '../audit/actor.ts';
import type { AuditLog } from '../audit/audit-log.ts';
import { epochSeconds, type Clock } from '../clock.ts';
import { conflict, notFound, validationError } from '../errors.ts';
import { matchLocale } from '../i18n/negotiate.ts';
import { isUuid, text } from '../lib/text.ts';
import { iso } from '../lib/time.ts';
import type { ChangeFeed } from '../storage/change-feed.ts';
import { MAX_PASSWORD_LENGTH, MIN_PASSWORD_LENGTH, type Passwords } from './passwords.ts';
import type { Logger } from '../lib/logger.ts';
import type { GuessThrottleStore } from './guess-throttle-store.ts';
import type { SessionStore } from './session-store.ts';
import type { RoleStore, UserStore } from './user-store.ts';
import { usernameKey, type User } from './user.ts';

export interface UserInput {
  username?: string;
  password?: string;
  email?: string | null;
  name?: string | null;
  givenName?: string | null;
  familyName?: string | null;
  roles?: string[];
  /**
   * The language mail to the user is written in (docs/languages.md): one of the available
   * languages (a tag matching one, `de-AT` → `de`); null or absent: not known yet.
   */
  locale?: string | null;
  /** Set only by flows that proved the address (an accepted invitation); never from an admin's input. */
  emailVerified?: boolean;
  /**
   * Set only by an invitation accepted with a passkey: the id the passkey's user handle already
   * names, and no password (the passkey signs in; a reset link can set a password later).
   */
  passkeyAccount?: { id: string };
}

/** A change to a user: profile fields, roles, a new password, disabling. Absent = unchanged. */
export interface UserUpdate {
  email?: string | null;
  name?: string | null;
  givenName?: string | null;
  familyName?: string | null;
  roles?: string[];
  password?: string;
  /** true ends the user's sessions and invalidates every token issued for them. */
  disabled?: boolean;
  /** The language mail to the user is written in; null forgets it (the operator's default applies). */
  locale?: string | null;
}

export interface UserView {
  id: string;
  username: string;
  email: string | null;
  /** Whether the user proved the address by following a link sent to it. */
  email_verified: boolean;
  name: string | null;
  given_name: string | null;
  family_name: string | null;
  disabled: boolean;
  /** The language mail to the user is written in; null: not known (the operator's default). */
  locale: string | null;
  roles: string[];
  permissions: string[];
  created_at: string;
  updated_at: string;
}

export interface UserServiceDeps {
  users: UserStore;
  roles: RoleStore;
  clock: Clock;
  feed: ChangeFeed;
  /** Disabling a user or setting a new password ends their sessions here. */
  sessions: SessionStore;
  /** A user's own password change revokes their refresh tokens here. */
  refresh: { revokeForUser(userId: string, now: number): Promise<number> };
  /** Sign-in throttle counters, which an admin may clear (`unlock`). */
  throttle: GuessThrottleStore;
  /** New passwords are hashed here (PasswordHasher). */
  passwords: Passwords;
  audit: AuditLog;
  log: Logger;
  /** The languages Tessera offers (config.languages.available): what a user's `locale` may name. */
  locales: readonly string[];
}

/** A user's sign-in throttle counters right now (src/identity/guess-throttle.ts). */
export interface SignInThrottleView {
  user_id: string;
  username: string;
  counters: Array<{
    /** What is guessed: `password`. */
    guess: string;
    /** `device` (a browser that signed in as the user before), `client` (one IP address without one), `account` (every such client). */
    counter: string;
    /** The IP address of a `client` counter, else null. */
    ip: string | null;
    failures: number;
    /** How long the next attempt through this counter must wait, seconds (0: none). */
    wait_seconds: number;
    /** When the counter forgets its failures unless more come. */
    forgotten_at: string;
  }>;
}

export interface UnlockResult {
  user_id: string;
  username: string;
  /** How many counters were cleared (0: there was nothing to clear). */
  cleared: number;
}

/** The built-in role that holds every permission; at least one active user always keeps it. */
const ADMIN_ROLE = 'admin';
const USERNAME = /^[A-Za-z0-9][A-Za-z0-9._@+-]{0,99}$/;
const EMAIL = /^[^\s@<>"]{1,64}@[^\s@<>"]{1,255}$/;

export class UserService {
  readonly #d: UserServiceDeps;
  constructor(deps: UserServiceDeps) {
    this.#d = deps;
  }

  /** Every user, or those whose username, email, name or id contains `search` (any case). */
  async list(search?: string): Promise<UserView[]> {
    const views = await Promise.all((await this.#d.users.list()).map((u) => this.#view(u)));
    const needle = search?.trim().toLowerCase();
    return needle ? views.filter((u) => [u.username, u.email ?? '', u.name ?? '', u.id].some((v) => v.toLowerCase().includes(needle))) : views;
  }

  async show(ref: string): Promise<UserView> {
    return this.#view(await this.find(ref));
  }

  /** By id or username. */
  async find(ref: string): Promise<User> {
    // PostgreSQL refuses NUL in text, and no id or username contains one.
    if (ref.includes('\0') || ref.length > 200) throw notFound('user', ref.replaceAll('\0', '?').slice(0, 200));
    const user = (isUuid(ref) ? await this.#d.users.findById(ref) : undefined) ?? (await this.#d.users.findByUsername(ref));
    if (!user) throw notFound('user', ref);
    return user;
  }

  /**
   * Remembers the language of the pages the user is using (signing in, choosing a language,
   * accepting an invitation) as the one mail to them is written in. Written and audited
   * (`user.locale_change`) only when it differs from the language mail is written in now
   * (theirs, or `defaultLocale` while they have none): signing in again in the same language
   * changes nothing. `locale` is one the pages offer (the caller negotiated it).
   */
  async rememberLocale(userId: string, locale: string, defaultLocale: string, actor: Actor): Promise<void> {
    const user = await this.#d.users.findById(userId);
    if (!user || (user.locale ?? defaultLocale) === locale) return;
    await this.#setLocale({ ...user }, locale, actor);
  }

  /**
   * An admin's choice of a user's language (create, update, an invitation): a tag that names an available
   * language, in that language's own spelling; null or "" for "not known". Any other value is
   * refused, so mail never falls back silently from a language the admin believes was set.
   */
  checkLocale(value: string | null | undefined): string | null {
    if (value === undefined || value === null || value.trim() === '') return null;
    const found = matchLocale(value, this.#d.locales);
    if (!found) throw validationError(`locale "${value.slice(0, 35)}" is not an available language (${this.#d.locales.join(', ')})`, 'locale');
    return found;
  }

  /** Stores a change of the user's language (the pages', an admin's), audited `user.locale_change`. */
  async #setLocale(user: User, locale: string | null, actor: Actor): Promise<void> {
    await this.#d.users.setLocale(user.id, locale);
    await this.#d.audit.record({ action: 'user.locale_change', targetId: user.id, details: { locale, previous: user.locale ?? null } }, actor);
    user.locale = locale;
  }

  /** A username a new account may take (trimmed): the syntax, and no one has it yet. */
  async checkNewUsername(raw: string | undefined): Promise<string> {
    if (raw === undefined) throw validationError('username is required', 'username', { key: 'validation.username.required' });
    const username = raw.trim();
    if (!USERNAME.test(username)) {
      throw validationError('username must be 1–100 characters: letters, digits and . _ @ + - (starting with a letter or digit)', 'username', { key: 'validation.username.invalid' });
    }
    if (await this.#d.users.findByUsername(username)) throw conflict(`user "${username}" already exists`, 'username', { key: 'validation.username.taken', values: { username } });
    return username;
  }

  async create(input: UserInput, actor: Actor): Promise<UserView> {
    const now = epochSeconds(this.#d.clock);
    const username = await this.checkNewUsername(input.username);
    const passkeyAccount = input.passkeyAccount;
    if (passkeyAccount && !isUuid(passkeyAccount.id)) throw validationError('the account id must be a UUID', 'id');
    if (input.password === undefined && !passkeyAccount) throw validationError('password is required', 'password', { key: 'validation.password.required' });
    const roles = await this.#roles(input.roles ?? []);
    const user: User = {
      id: passkeyAccount?.id ?? randomUUID(),
      username,
      email: email(input.email ?? null),
      emailVerified: input.emailVerified === true && input.email != null,
      name: optionalText(input.name, 'name'),
      givenName: optionalText(input.givenName, 'given_name'),
      familyName: optionalText(input.familyName, 'family_name'),
      locale: this.checkLocale(input.locale),
      passwordHash: input.password === undefined ? null : await this.#d.passwords.hash(password(input.password)),
      passwordChangedAt: now,
      disabled: false,
      tokensValidAfter: 0,
      createdAt: now,
      updatedAt: now,
    };
    try {
      await this.#d.users.insert(user, roles);
    } catch (error) {
      // Two creators raced past the check above; the unique index decided.
      if (await this.#d.users.findByUsername(username)) throw conflict(`user "${username}" already exists`, 'username', { key: 'validation.username.taken', values: { username } });
      throw error;
    }
    const view = await this.#view(user);
    await this.#d.audit.record({ action: 'user.create', targetId: user.id, details: { username: user.username, roles: view.roles, ...(user.locale ? { locale: user.locale } : {}) } }, actor);
    return view;
  }

  /**
   * Changes a user in one step. Each kind of change is audited as its own action: profile
   * fields and roles (`user.update`), a new password (`user.password_reset`), disabling or
   * enabling (`user.disable` / `user.enable`, only when the state changes).
   */
  async update(ref: string, input: UserUpdate, actor: Actor): Promise<UserView> {
    const user = { ...(await this.find(ref)) };
    const now = epochSeconds(this.#d.clock);
    const { password: newPassword, disabled, locale: newLocale, ...profile } = input;
    const locale = newLocale === undefined ? undefined : this.checkLocale(newLocale);
    const localeChanged = locale !== undefined && locale !== (user.locale ?? null);
    if (profile.email !== undefined) {
      const next = email(profile.email);
      // A new address is not verified until its owner proves it (a change of case is the same mailbox).
      if (next?.toLowerCase() !== user.email?.toLowerCase()) user.emailVerified = false;
      user.email = next;
    }
    if (profile.name !== undefined) user.name = optionalText(profile.name, 'name');
    if (profile.givenName !== undefined) user.givenName = optionalText(profile.givenName, 'given_name');
    if (profile.familyName !== undefined) user.familyName = optionalText(profile.familyName, 'family_name');
    const roles = profile.roles === undefined ? undefined : await this.#roles(profile.roles);
    if (newPassword !== undefined) {
      user.passwordHash = await this.#d.passwords.hash(password(newPassword));
      user.passwordChangedAt = now;
    }
    const toggled = disabled !== undefined && disabled !== user.disabled;
    const fields = changedFields(profile);
    if (!fields.length && newPassword === undefined && !toggled) {
      if (localeChanged) await this.#setLocale(user, locale, actor);
      return this.#view(user);
    }
    if ((roles !== undefined && !roles.includes(ADMIN_ROLE)) || (toggled && disabled)) {
      await this.#keepAnAdmin(user, roles !== undefined && !roles.includes(ADMIN_ROLE) ? `removing the admin role from "${user.username}"` : `disabling "${user.username}"`);
    }
    if (toggled) {
      user.disabled = disabled;
      // Disabling invalidates every token issued for the user (a "valid after" epoch, not a scan).
      if (disabled) user.tokensValidAfter = now + 1;
    }
    user.updatedAt = Math.max(now, user.updatedAt);
    await this.#d.users.save(user);
    // A new password or disabling ends every session (a thief's too).
    if (newPassword !== undefined || (toggled && disabled)) await this.#d.sessions.revokeAllForUser(user.id, now);
    if (roles !== undefined) await this.#d.users.setRoles(user.id, roles, now);
    this.#d.feed.notifyLocal('user', user.id);
    if (localeChanged) await this.#setLocale(user, locale, actor);

    if (fields.length) await this.#d.audit.record({ action: 'user.update', targetId: user.id, details: { fields } }, actor);
    if (newPassword !== undefined) await this.#d.audit.record({ action: 'user.password_reset', targetId: user.id, details: {} }, actor);
    if (toggled) await this.#d.audit.record({ action: disabled ? 'user.disable' : 'user.enable', targetId: user.id, details: {} }, actor);
    return this.#view(user);
  }

  /**
   * Deletes a user: their sessions, authorization codes, refresh tokens, consents and
   * provider links go with them, and access tokens issued for them stop working on every
   * node (the change feed drops the cached user). Audit entries keep the id. Refused for the
   * last active admin and for a user that apps act on behalf of.
   */
  async delete(ref: string, actor: Actor): Promise<void> {
    const user = await this.find(ref);
    await this.#keepAnAdmin(user, `deleting "${user.username}"`);
    const apps = await this.#d.users.appsActingFor(user.id);
    if (apps.length) throw conflict(`user "${user.username}" cannot be deleted: apps act on their behalf (${apps.join(', ')}); delete those apps or change them first`);
    if (!(await this.#d.users.delete(user.id, epochSeconds(this.#d.clock)))) throw notFound('user', ref);
    this.#d.feed.notifyLocal('user', user.id);
    await this.#d.audit.record({ action: 'user.delete', targetId: user.id, details: { username: user.username } }, actor);
  }

  /** The user's sign-in throttle counters: who is being slowed, and for how long. */
  async signInThrottle(ref: string): Promise<SignInThrottleView> {
    const user = await this.find(ref);
    const account = usernameKey(user.username);
    const now = epochSeconds(this.#d.clock);
    const rows = await this.#d.throttle.listForAccount(account);
    return {
      user_id: user.id,
      username: user.username,
      counters: rows
        .filter((r) => r.expiresAt > now)
        .map((r) => {
          const [guess = '', counter = ''] = r.key.split(':');
          const prefix = `${guess}:client:`;
          const ip = counter === 'client' && r.key.endsWith(`:${account}`) ? r.key.slice(prefix.length, r.key.length - account.length - 1) : null;
          return { guess, counter, ip: ip === '-' ? null : ip, failures: r.failures, wait_seconds: Math.max(0, r.blockedUntil - now), forgotten_at: iso(r.expiresAt) };
        }),
    };
  }

  /**
   * Clears the user's sign-in throttling: every counter of their account (their devices, the
   * clients that failed as them, the account-wide one). Counters of IP addresses stay: they
   * concern everyone behind the address, not this user. Audited as `user.unlock`.
   */
  async unlock(ref: string, actor: Actor): Promise<UnlockResult> {
    const user = await this.find(ref);
    const cleared = await this.#d.throttle.clearAccount(usernameKey(user.username));
    this.#d.log.info({ userId: user.id, username: user.username, cleared, actor: actor.label }, 'sign-in throttling cleared');
    await this.#d.audit.record({ action: 'user.unlock', targetId: user.id, details: { cleared } }, actor);
    return { user_id: user.id, username: user.username, cleared };
  }

  /** Refuses a change that would leave no active (not disabled) user with the admin role. */
  async #keepAnAdmin(user: User, change: string): Promise<void> {
    if (user.disabled || !(await this.#d.users.rolesOf(user.id)).includes(ADMIN_ROLE)) return;
    if ((await this.#d.users.countActiveWithRole(ADMIN_ROLE, user.id)) > 0) return;
    throw conflict(`${change} is refused: they are the last active admin (give another active user the admin role first)`);
  }

  /**
   * The user's own new password (the caller checked the current one: AccountService). Whoever
   * knew the old password may be signed in elsewhere or hold an app's refresh token, so every
   * session of the user ends and every refresh token is revoked; the caller starts a new
   * session for the browser that made the change. Consents stay, and access tokens already
   * issued run out on their own. Audited `user.password_change`.
   */
  async changeOwnPassword(userId: string, newPassword: string, keepSid: string, actor: Actor): Promise<void> {
    const user = { ...(await this.find(userId)) };
    const now = epochSeconds(this.#d.clock);
    user.passwordHash = await this.#d.passwords.hash(password(newPassword));
    user.passwordChangedAt = now;
    user.updatedAt = Math.max(now, user.updatedAt);
    await this.#d.users.save(user);
    const others = await this.#d.sessions.revokeOthers(user.id, keepSid, now);
    // The asking session too: it began before the change, so it no longer resolves (SessionService.resolve).
    await this.#d.sessions.revokeAllForUser(user.id, now);
    const revoked = await this.#d.refresh.revokeForUser(user.id, now);
    this.#d.feed.notifyLocal('user', user.id);
    await this.#d.audit.record({ action: 'user.password_change', targetId: user.id, details: { other_sessions_ended: others, refresh_tokens_revoked: revoked } }, actor);
  }

  /**
   * A new password set through a reset link sent by email: like an admin's reset it ends every
   * session; it also revokes every refresh token and invalidates every token issued for the
   * user (the "valid after" epoch), since whoever had the old password may hold some. The
   * address the link went to is now proven. Audited `user.password_reset` {by: 'email_link'}.
   */
  async resetPasswordByEmail(userId: string, newPassword: string, actor: Actor): Promise<void> {
    const found = await this.#d.users.findById(userId);
    if (!found) throw notFound('user', userId);
    const user = { ...found };
    const now = epochSeconds(this.#d.clock);
    user.passwordHash = await this.#d.passwords.hash(password(newPassword));
    user.passwordChangedAt = now;
    user.tokensValidAfter = now + 1;
    if (user.email) user.emailVerified = true;
    user.updatedAt = Math.max(now, user.updatedAt);
    await this.#d.users.save(user);
    await this.#d.sessions.revokeAllForUser(user.id, now);
    await this.#d.refresh.revokeForUser(user.id, now);
    this.#d.feed.notifyLocal('user', user.id);
    await this.#d.audit.record({ action: 'user.password_reset', targetId: user.id, details: { by: 'email_link' } }, actor);
  }

  /**
   * The user followed a verification link sent to `address`: it becomes their address, verified
   * (for a change made at the account page, the change takes effect only now). Audited
   * `user.email_verify`.
   */
  async confirmEmail(userId: string, address: string, actor: Actor): Promise<UserView> {
    const found = await this.#d.users.findById(userId);
    if (!found) throw notFound('user', userId);
    const user = { ...found, email: email(address), emailVerified: true };
    user.updatedAt = Math.max(epochSeconds(this.#d.clock), user.updatedAt);
    await this.#d.users.save(user);
    this.#d.feed.notifyLocal('user', user.id);
    await this.#d.audit.record({ action: 'user.email_verify', targetId: user.id, details: { email: user.email ?? '' } }, actor);
    return this.#view(user);
  }

  setDisabled(ref: string, disabled: boolean, actor: Actor): Promise<UserView> {
    return this.update(ref, { disabled }, actor);
  }

  setPassword(ref: string, newPassword: string, actor: Actor): Promise<UserView> {
    return this.update(ref, { password: newPassword }, actor);
  }

  async #roles(names: string[]): Promise<string[]> {
    const out: string[] = [];
    for (const name of names) {
      if (!(await this.#d.roles.findRole(name))) throw validationError(`role "${name}" does not exist`, 'roles');
      if (!out.includes(name)) out.push(name);
    }
    return out;
  }

  async #view(user: User): Promise<UserView> {
    const p = await this.#d.users.principal(user.id);
    return {
      id: user.id,
      username: user.username,
      email: user.email,
      email_verified: user.emailVerified,
      name: user.name,
      given_name: user.givenName,
      family_name: user.familyName,
      disabled: user.disabled,
      locale: user.locale ?? null,
      roles: p?.roles ?? [],
      permissions: p?.permissions ?? [],
      created_at: iso(user.createdAt),
      updated_at: iso(user.updatedAt),
    };
  }
}

function password(p: string): string {
  if (p.length < MIN_PASSWORD_LENGTH) throw validationError(`password must be at least ${MIN_PASSWORD_LENGTH} characters`, 'password', { key: 'validation.password.tooShort', values: { min: MIN_PASSWORD_LENGTH } });
  if (p.length > MAX_PASSWORD_LENGTH) throw validationError(`password must be at most ${MAX_PASSWORD_LENGTH} characters`, 'password', { key: 'validation.password.tooLong', values: { max: MAX_PASSWORD_LENGTH } });
  return p;
}

/** An email address as users may have it (trimmed), null for none; a validation error otherwise. */
export function checkedEmail(e: string | null): string | null {
  return email(e);
}

function email(e: string | null): string | null {
  if (e === null || e.trim() === '') return null;
  const v = e.trim();
  if (v.length > 320 || !EMAIL.test(v)) throw validationError(`"${v.slice(0, 100)}" is not a valid email address`, 'email', { key: 'validation.email.invalid', values: { email: v.slice(0, 100) } });
  return v;
}

function optionalText(v: string | null | undefined, field: string): string | null {
  if (v === undefined || v === null || v.trim() === '') return null;
  return text(v, field, 1, 200);
}
