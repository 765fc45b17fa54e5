import { visitor, type Actor } from '../audit/actor.ts';
import { ServiceError, type PageText } from '../errors.ts';
import { MAX_PASSWORD_LENGTH, MIN_PASSWORD_LENGTH } from './passwords.ts';
import type { SessionService, SignedIn } from './session-service.ts';
import type { Session } from './session-store.ts';
import type { UserService, UserUpdate } from './user-service.ts';

/** Where the account page was used from (the audit entry's address; the device cookie counts password guesses). */
export interface AccountMeta {
  ip: string | null;
  userAgent: string | null;
  deviceCookie?: string | undefined;
}

/** Profile fields as the form sends them (the name may be empty: no name). */
export interface ProfileInput {
  name: string;
  email: string;
}

/** Field → message, shown next to the field: a catalogue key (the page translates it) or, for a service error without one, its English text. */
export type FieldErrors = Partial<Record<string, PageText | string>>;

export type ProfileResult = { ok: true; emailChanged: boolean } | { ok: false; errors: FieldErrors };

export interface PasswordInput {
  current: string;
  next: string;
  confirm: string;
}

export type PasswordResult =
  /** The browser's new session (the old one ended with the others): set its cookie. */
  | { ok: true; cookieValue: string; session: Session }
  | { ok: false; errors: FieldErrors; retryAfter?: number };

/** A session of the user as the Sessions page lists it. */
export interface AccountSession {
  sid: string;
  /** The browser asking: "This device". */
  current: boolean;
  ip: string | null;
  userAgent: string | null;
  /** Epoch seconds. */
  signedInAt: number;
  lastSeenAt: number;
}

/** An app the user consented to. */
export interface ConnectedApp {
  clientId: string;
  name: string;
  scopes: string[];
  /** Epoch seconds. */
  grantedAt: number;
}

/**
 * What the account page reads and revokes through AccessService (src/admin/access-service.ts;
 * described here by shape, since identity sits below admin).
 */
export interface AccessForAccount {
  grants(of: { user: string }): Promise<Array<{ client_id: string; client_name: string; scopes: string[]; granted_at: string }>>;
  revokeGrant(userRef: string, appId: string, actor: Actor): Promise<void>;
  sessions(userRef: string): Promise<Array<{ sid: string; created_at: string; last_seen_at: string; ip: string | null; user_agent: string | null }>>;
  revokeSession(userRef: string, sid: string, actor: Actor): Promise<void>;
  revokeOtherSessions(userRef: string, keepSid: string, actor: Actor): Promise<number>;
}

/** Session ids are UUIDs (or, for sessions older than them, a hash): nothing else reaches the store. */
const SID = /^[A-Za-z0-9_-]{1,100}$/;

export interface AccountServiceDeps {
  access: AccessForAccount;
  users: Pick<UserService, 'find' | 'update' | 'changeOwnPassword'>;
  sessions: Pick<SessionService, 'recheckPassword' | 'startSession'>;
}

/**
 * What a signed-in user may do to their own account at /account. Each change goes through the
 * service that owns it (users, sessions, grants), so it is validated and audited there; the
 * actor is the user at the pages (`user:<username>` with their address).
 */
export class AccountService {
  readonly #d: AccountServiceDeps;
  constructor(deps: AccountServiceDeps) {
    this.#d = deps;
  }

  /** The user's own actor at the pages. */
  actor(signedIn: SignedIn, meta: AccountMeta): Actor {
    return visitor(signedIn.principal.user.username, meta.ip);
  }

  /**
   * Name and email. Only what differs is saved (the audit entry's `fields` says what changed).
   * A new email is stored unverified (UserService); the email area sends the verification link
   * when it sees the `user.update` entry naming `email` (src/email), so nothing is sent here.
   */
  async updateProfile(signedIn: SignedIn, input: ProfileInput, meta: AccountMeta): Promise<ProfileResult> {
    const user = await this.#d.users.find(signedIn.principal.user.id);
    const name = input.name.trim() === '' ? null : input.name.trim();
    const email = input.email.trim() === '' ? null : input.email.trim();
    const change: UserUpdate = {};
    if (name !== user.name) change.name = name;
    if (email !== user.email) change.email = email;
    // A change of case only is the same mailbox: it stays verified (as UserService keeps it).
    const emailChanged = email?.toLowerCase() !== user.email?.toLowerCase();
    if (!Object.keys(change).length) return { ok: true, emailChanged: false };
    const actor = this.actor(signedIn, meta);
    try {
      await this.#d.users.update(user.id, change, actor);
    } catch (error) {
      if (error instanceof ServiceError && error.code === 'validation_failed') return { ok: false, errors: { [error.field ?? 'form']: error.text ?? error.message } };
      throw error;
    }
    return { ok: true, emailChanged };
  }

  /**
   * A new password, the current one required. The new one is checked first (a typo there costs
   * no guess); the current one goes through the sign-in throttle. Then every other session ends,
   * every refresh token of the user is revoked (UserService.changeOwnPassword says why), and this
   * browser gets a new session, so the person who changed it stays signed in.
   */
  async changePassword(signedIn: SignedIn, input: PasswordInput, meta: AccountMeta): Promise<PasswordResult> {
    const errors: FieldErrors = {};
    if (input.current === '') errors.current = { key: 'account.password.error.currentRequired' };
    if (input.next.length < MIN_PASSWORD_LENGTH) errors.next = { key: 'account.password.error.tooShort', values: { min: MIN_PASSWORD_LENGTH } };
    else if (input.next.length > MAX_PASSWORD_LENGTH) errors.next = { key: 'account.password.error.tooLong', values: { max: MAX_PASSWORD_LENGTH } };
    else if (input.confirm !== input.next) errors.confirm = { key: 'account.password.error.mismatch' };
    if (Object.keys(errors).length) return { ok: false, errors };

    const user = await this.#d.users.find(signedIn.principal.user.id);
    if (user.passwordHash === null) return { ok: false, errors: { form: { key: 'account.password.none' } } };
    const check = await this.#d.sessions.recheckPassword(user, input.current, meta);
    if (!check.ok) {
      if (check.reason === 'throttled') return { ok: false, retryAfter: check.retryAfter, errors: { current: { key: 'account.password.error.throttled' } } };
      return { ok: false, errors: { current: { key: 'account.password.error.wrongCurrent' } } };
    }
    if (input.next === input.current) return { ok: false, errors: { next: { key: 'account.password.error.same' } } };

    await this.#d.users.changeOwnPassword(user.id, input.next, signedIn.session.sid, this.actor(signedIn, meta));
    const started = await this.#d.sessions.startSession(user.id, meta, { amr: signedIn.session.amr });
    return { ok: true, ...started };
  }

  /** The user's live sessions, newest first; the asking browser's is marked `current`. */
  async sessions(signedIn: SignedIn): Promise<AccountSession[]> {
    const list = await this.#d.access.sessions(signedIn.principal.user.id);
    return list.map((s) => ({
      sid: s.sid,
      current: s.sid === signedIn.session.sid,
      ip: s.ip,
      userAgent: s.user_agent,
      signedInAt: seconds(s.created_at),
      lastSeenAt: seconds(s.last_seen_at),
    }));
  }

  /**
   * Ends one of the user's other sessions (audited `session.revoke`). False when there is no
   * such live session of theirs (already ended, or not theirs): nothing changes. This browser's
   * own session ends through "Sign out" (/logout), not here.
   */
  async signOutSession(signedIn: SignedIn, sid: string, meta: AccountMeta): Promise<boolean> {
    if (!SID.test(sid) || sid === signedIn.session.sid) return false;
    try {
      await this.#d.access.revokeSession(signedIn.principal.user.id, sid, this.actor(signedIn, meta));
      return true;
    } catch (error) {
      if (error instanceof ServiceError && error.code === 'not_found') return false;
      throw error;
    }
  }

  /** "Sign out everywhere else": every session but this browser's (audited `session.revoke_all`); how many ended. */
  signOutOthers(signedIn: SignedIn, meta: AccountMeta): Promise<number> {
    return this.#d.access.revokeOtherSessions(signedIn.principal.user.id, signedIn.session.sid, this.actor(signedIn, meta));
  }

  /** The apps the user consented to. */
  async connectedApps(signedIn: SignedIn): Promise<ConnectedApp[]> {
    const grants = await this.#d.access.grants({ user: signedIn.principal.user.id });
    return grants.map((g) => ({ clientId: g.client_id, name: g.client_name, scopes: g.scopes, grantedAt: seconds(g.granted_at) }));
  }

  /**
   * "Remove access": forgets the consent and revokes the app's refresh tokens for this user
   * (AccessService.revokeGrant, audited `grant.revoke`). False when the app had no access.
   */
  async removeAccess(signedIn: SignedIn, clientId: string, meta: AccountMeta): Promise<boolean> {
    try {
      await this.#d.access.revokeGrant(signedIn.principal.user.id, clientId.slice(0, 100), this.actor(signedIn, meta));
      return true;
    } catch (error) {
      if (error instanceof ServiceError && error.code === 'not_found') return false;
      throw error;
    }
  }
}

function seconds(iso: string): number {
  return Math.floor(Date.parse(iso) / 1000);
}
