import { randomUUID } from 'node:crypto';
import { visitor, type Actor } from '../audit/actor.ts';
import type { AuditLog } from '../audit/audit-log.ts';
import { epochSeconds, type Clock } from '../clock.ts';
import { randomToken, sha256 } from '../lib/crypto.ts';
import type { Logger } from '../lib/logger.ts';
import type { MetricsRecorder } from '../lib/metrics.ts';
import type { DeviceCookies } from './device-cookie.ts';
import { refundGuess, reserveGuess, settleRightGuess } from './guess-gate.ts';
import { countersFor, type Counter } from './guess-throttle.ts';
import type { Counted, GuessThrottleStore } from './guess-throttle-store.ts';
import { MAX_PASSWORD_LENGTH, type Passwords } from './passwords.ts';
import type { Session, SessionStore } from './session-store.ts';
import type { Principal, User } from './user.ts';
import { usernameKey } from './user.ts';
import type { UserStore } from './user-store.ts';

export interface SignedIn {
  session: Session;
  principal: Principal;
}

export interface SignInMeta {
  ip: string | null;
  userAgent: string | null;
  /** The browser's device cookie (src/identity/device-cookie.ts), if it sent one. */
  deviceCookie?: string;
}

export type SignInResult =
  /** `deviceCookie`: the browser's new device cookie value (this sign-in's entry first). */
  | { ok: true; cookieValue: string; session: Session; deviceCookie: string }
  | { ok: false; reason: 'invalid_credentials' }
  | { ok: false; reason: 'throttled'; retryAfter: number };

/** A password asked again of a signed-in user: right, wrong, or too many wrong ones lately. */
export type PasswordCheck = { ok: true } | Extract<SignInResult, { ok: false }>;

/** The password step: right (no session yet), or refused as a sign-in is. */
export type PasswordResult = { ok: true; user: User } | Extract<SignInResult, { ok: false }>;

/** Where a session's user is read on every request (the app's registry cache: cached, invalidated by the change feed). */
export interface PrincipalLookup {
  principal(userId: string): Principal | Promise<Principal | undefined>;
}

export interface SessionServiceDeps {
  sessions: SessionStore;
  users: UserStore;
  cache: PrincipalLookup;
  /** Counters of failed sign-ins (per device, client, IP and account). */
  throttle: GuessThrottleStore;
  /** Signs and reads device cookies. */
  devices: DeviceCookies;
  /** argon2id, off the event loop (PasswordHasher). */
  passwords: Passwords;
  clock: Clock;
  sessionTtl: number;
  log: Logger;
  /** Sign-ins, refused sign-ins and sign-outs are recorded here. */
  audit: AuditLog;
  /** Counts sign-ins by outcome (`tessera_sign_ins_total`); none when absent. */
  metrics?: MetricsRecorder;
}

/** Password sign-in and server-side sessions (the browser holds only a random id). */
export class SessionService {
  readonly #d: SessionServiceDeps;
  #dummyHash: Promise<string> | undefined;

  constructor(deps: SessionServiceDeps) {
    this.#d = deps;
  }

  /**
   * The password step alone (no session yet: a second step may follow, src/identity/mfa/),
   * throttled without lockouts (src/identity/guess-throttle.ts): the
   * attempt is counted on its counters before the password is hashed, so a counter that must
   * wait refuses at once (no argon2 for an attacker to burn) and parallel guesses cannot slip
   * past one check. A browser holding a device cookie for the user is counted on its own.
   */
  async authenticatePassword(rawUsername: string, password: string, meta: SignInMeta): Promise<PasswordResult> {
    // PostgreSQL refuses NUL in text; no valid username contains one, so make it a plain miss.
    const username = rawUsername.replaceAll('\0', '\uFFFD');
    const now = epochSeconds(this.#d.clock);
    const typed = username.slice(0, 100);
    const user = username.length <= 200 ? await this.#d.users.findByUsername(username) : undefined;
    const device = user ? this.#d.devices.deviceOf(meta.deviceCookie, user.id, now) : undefined;
    const counters = countersFor('password', {
      account: usernameKey(username),
      ip: meta.ip,
      device: device && user ? { userId: user.id, deviceId: device.deviceId } : undefined,
    });

    const reserved = await reserveGuess(this.#d.throttle, counters, now);
    if ('retryAfter' in reserved) {
      // Not audited one by one: an attacker hammering a waiting counter would fill the log.
      // The failure that started the wait was recorded (user.sign_in_throttled).
      this.#d.metrics?.signIn('password', 'throttled');
      return { ok: false, reason: 'throttled', retryAfter: reserved.retryAfter };
    }
    const { counted } = reserved;

    // Hash even for unknown users, so response time does not tell which usernames exist.
    const passwordOk = await this.#check(counted, now, async () => {
      const stored = user?.passwordHash ?? (await this.#dummy());
      return password.length <= MAX_PASSWORD_LENGTH && (await this.#d.passwords.verify(stored, password));
    });
    if (!user || !passwordOk || user.disabled) {
      const reason = user && passwordOk ? 'disabled' : 'invalid_credentials';
      const actor = visitor(null, meta.ip);
      this.#d.log.info({ username: typed, userId: user?.id ?? null, ip: meta.ip, reason, knownDevice: device !== undefined }, 'sign-in refused');
      await this.#d.audit.record({ action: 'user.sign_in_failed', targetId: user?.id ?? null, details: { username: typed, reason } }, actor);
      this.#d.metrics?.signIn('password', reason);
      await this.#recordWaits(counted, now, { username: typed, userId: user?.id ?? null, ip: meta.ip }, actor);
      return { ok: false, reason: 'invalid_credentials' };
    }

    await settleRightGuess(this.#d.throttle, counted, now);
    return { ok: true, user };
  }

  /** Password sign-in in one step (a user without a second factor): the password step, then the session. */
  async signIn(rawUsername: string, password: string, meta: SignInMeta): Promise<SignInResult> {
    const checked = await this.authenticatePassword(rawUsername, password, meta);
    if (!checked.ok) return checked;
    return this.completeSignIn(checked.user, meta, ['pwd']);
  }

  /**
   * Every step of a sign-in is done (`amr` says which): the session starts, the sign-in is
   * audited and counted, and the browser's device cookie gets this user's entry.
   */
  async completeSignIn(user: User, meta: SignInMeta, amr: readonly string[]): Promise<SignInResult & { ok: true }> {
    const now = epochSeconds(this.#d.clock);
    // No device cookie of this user's: a new device, which the user is told about by email (src/email).
    const newDevice = this.#d.devices.deviceOf(meta.deviceCookie, user.id, now) === undefined;
    const started = await this.startSession(user.id, meta, { amr });
    await this.#d.audit.record({ action: 'user.sign_in', targetId: user.id, details: { sid: started.session.sid, new_device: newDevice } }, visitor(user.username, meta.ip));
    // A passkey alone (no password) is counted as such; a passkey after a password is a password sign-in.
    const passkeyOnly = !amr.includes('pwd') && (amr.includes('hwk') || amr.includes('swk'));
    this.#d.metrics?.signIn(passkeyOnly ? 'passkey' : 'password', 'success');
    return { ok: true, ...started, deviceCookie: this.#d.devices.issue(meta.deviceCookie, user.id, now) };
  }

  /**
   * The signed-in user's password asked again (the account page's password change). Counted
   * on the same counters as /login, so a stolen session cannot guess the password any faster
   * than the sign-in page allows; a wrong one is recorded as a refused sign-in.
   */
  async recheckPassword(user: User, password: string, meta: SignInMeta): Promise<PasswordCheck> {
    const now = epochSeconds(this.#d.clock);
    const device = this.#d.devices.deviceOf(meta.deviceCookie, user.id, now);
    const counters = countersFor('password', {
      account: usernameKey(user.username),
      ip: meta.ip,
      device: device ? { userId: user.id, deviceId: device.deviceId } : undefined,
    });
    const reserved = await reserveGuess(this.#d.throttle, counters, now);
    if ('retryAfter' in reserved) return { ok: false, reason: 'throttled', retryAfter: reserved.retryAfter };
    const passwordOk = await this.#check(reserved.counted, now, async () => {
      const stored = user.passwordHash ?? (await this.#dummy());
      return user.passwordHash !== null && password.length <= MAX_PASSWORD_LENGTH && (await this.#d.passwords.verify(stored, password));
    });
    if (!passwordOk) {
      const actor = visitor(user.username, meta.ip);
      const typed = user.username.slice(0, 100);
      this.#d.log.info({ userId: user.id, ip: meta.ip, knownDevice: device !== undefined }, 'current password refused');
      await this.#d.audit.record({ action: 'user.sign_in_failed', targetId: user.id, details: { username: typed, reason: 'invalid_credentials' } }, actor);
      await this.#recordWaits(reserved.counted, now, { username: typed, userId: user.id, ip: meta.ip }, actor);
      return { ok: false, reason: 'invalid_credentials' };
    }
    await settleRightGuess(this.#d.throttle, reserved.counted, now);
    return { ok: true };
  }

  /** Each counter a failure made wait: recorded and logged once, when the wait starts. */
  async #recordWaits(counted: Array<[Counter, Counted]>, now: number, who: { username: string; userId: string | null; ip: string | null }, actor: Actor): Promise<void> {
    for (const [counter, state] of counted) {
      const wait = state.blockedUntil - now;
      if (wait <= 0) continue;
      this.#d.log.warn({ ...who, counter: counter.kind, failures: state.failures, waitSeconds: wait }, 'sign-in throttled');
      await this.#d.audit.record(
        { action: 'user.sign_in_throttled', targetId: who.userId, details: { username: who.username, counter: counter.kind, failures: state.failures, wait_seconds: wait } },
        actor,
      );
    }
  }

  /**
   * A new session for a user whose identity is already established: `amr` says how (RFC 8176
   * values: `['pwd']` after a password, `['pwd', 'otp', 'mfa']` after a password and a code,
   * `['fed']` through an upstream provider, a passkey's own; src/identity/authentication-methods.ts).
   */
  async startSession(userId: string, meta: { ip: string | null; userAgent: string | null }, auth: { amr: readonly string[] }): Promise<{ cookieValue: string; session: Session }> {
    const now = epochSeconds(this.#d.clock);
    const cookieValue = randomToken();
    const session: Session = {
      idHash: sha256(cookieValue),
      sid: randomUUID(),
      userId,
      authTime: now,
      amr: [...auth.amr],
      createdAt: now,
      expiresAt: now + this.#d.sessionTtl,
      lastSeenAt: now,
      revokedAt: null,
    };
    await this.#d.sessions.insert(session, meta);
    return { cookieValue, session };
  }

  /** The signed-in user behind a session cookie, if the session is still good. */
  async resolve(cookieValue: string | undefined): Promise<SignedIn | undefined> {
    if (!cookieValue || cookieValue.length > 100) return undefined;
    const session = await this.#d.sessions.find(sha256(cookieValue));
    const now = epochSeconds(this.#d.clock);
    if (!session || session.revokedAt !== null || session.expiresAt <= now) return undefined;
    const principal = await this.#d.cache.principal(session.userId);
    if (!principal || principal.user.disabled) return undefined;
    // A password change ends every session that began before it.
    if (principal.user.passwordChangedAt !== null && session.createdAt < principal.user.passwordChangedAt) return undefined;
    // "Last seen" for operators; written at most once a minute so /connect/authorize is a read
    // otherwise. A failed write costs only that information, not the sign-in: it is logged, and
    // the next request tries again.
    if (now - session.lastSeenAt >= 60) {
      session.lastSeenAt = now;
      await this.#d.sessions.touch(session.idHash, now).catch((error: unknown) => {
        this.#d.log.warn({ err: error }, 'recording when a session was last seen failed');
      });
    }
    return { session, principal };
  }

  /** Ends the browser's session, if it has a live one, and records the sign-out. */
  async signOut(cookieValue: string | undefined, ip: string | null): Promise<void> {
    if (!cookieValue || cookieValue.length > 100) return;
    const now = epochSeconds(this.#d.clock);
    const session = await this.#d.sessions.find(sha256(cookieValue));
    if (!session || session.revokedAt !== null || session.expiresAt <= now) return;
    await this.#d.sessions.revoke(session.idHash, now);
    const user = await this.#d.users.findById(session.userId);
    await this.#d.audit.record({ action: 'user.sign_out', targetId: session.userId, details: { sid: session.sid } }, visitor(user?.username ?? null, ip));
  }

  /**
   * The password check of a counted guess. When hashing gives no answer (its thread died, the
   * server is stopping) nothing was learned about the password, so the guess is given back
   * before the error goes on (503, src/http/error-reply.ts): a fault is not a wrong guess.
   */
  async #check(counted: Array<[Counter, Counted]>, now: number, check: () => Promise<boolean>): Promise<boolean> {
    try {
      return await check();
    } catch (error) {
      await refundGuess(this.#d.throttle, counted, now);
      throw error;
    }
  }

  #dummy(): Promise<string> {
    if (!this.#dummyHash) {
      const dummy = this.#d.passwords.hash(randomToken());
      // A failed hash is not kept: the next sign-in tries again.
      dummy.catch(() => {
        if (this.#dummyHash === dummy) this.#dummyHash = undefined;
      });
      this.#dummyHash = dummy;
    }
    return this.#dummyHash;
  }
}
