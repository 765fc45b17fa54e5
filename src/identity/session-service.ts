import { randomUUID } from 'node:crypto';
import { visitor } from '../audit/actor.ts';
import type { AuditLog } from '../audit/audit-log.ts';
import { epochSeconds, type Clock } from '../clock.ts';
import { randomToken, sha256 } from '../lib/crypto.ts';
import type { Logger } from '../lib/logger.ts';
import type { MetricsRecorder } from '../lib/metrics.ts';
import { ACCOUNT_POLICY, IP_POLICY, type LoginThrottleStore } from './login-throttle-store.ts';
import { hashPassword, MAX_PASSWORD_LENGTH, verifyPassword } from './passwords.ts';
import type { Session, SessionStore } from './session-store.ts';
import type { Principal } from './user.ts';
import { usernameKey } from './user.ts';
import type { UserStore } from './user-store.ts';

export interface SignedIn {
  session: Session;
  principal: Principal;
}

export type SignInResult =
  | { ok: true; cookieValue: string; session: Session }
  | { ok: false; reason: 'invalid_credentials' }
  | { ok: false; reason: 'throttled'; retryAfter: number };

/** Where a session's user is read on every request (the app's registry cache: cached, invalidated by the change feed). */
export interface PrincipalLookup {
  principal(userId: string): Principal | Promise<Principal | undefined>;
}

export interface SessionServiceDeps {
  sessions: SessionStore;
  users: UserStore;
  cache: PrincipalLookup;
  throttle: LoginThrottleStore;
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

  async signIn(rawUsername: string, password: string, meta: { ip: string | null; userAgent: string | null }): Promise<SignInResult> {
    // PostgreSQL refuses NUL in text; no valid username contains one, so make it a plain miss.
    const username = rawUsername.replaceAll('\0', '\uFFFD');
    const now = epochSeconds(this.#d.clock);
    const accountKey = `user:${usernameKey(username).slice(0, 200)}`;
    const ipKey = meta.ip ? `ip:${meta.ip}` : undefined;
    const keys = ipKey ? [accountKey, ipKey] : [accountKey];
    const typed = username.slice(0, 100);
    const lockedUntil = await this.#d.throttle.lockedUntil(keys, now);
    if (lockedUntil) {
      const known = username.length <= 200 ? await this.#d.users.findByUsername(username) : undefined;
      await this.#d.audit.record({ action: 'user.sign_in_failed', targetId: known?.id ?? null, details: { username: typed, reason: 'throttled' } }, visitor(null, meta.ip));
      this.#d.metrics?.signIn('password', 'throttled');
      return { ok: false, reason: 'throttled', retryAfter: lockedUntil - now };
    }

    const user = username.length <= 200 ? await this.#d.users.findByUsername(username) : undefined;
    // Hash even for unknown users, so response time does not tell which usernames exist.
    const stored = user?.passwordHash ?? (await this.#dummy());
    const passwordOk = password.length <= MAX_PASSWORD_LENGTH && (await verifyPassword(stored, password));
    if (!user || !passwordOk || user.disabled) {
      await this.#d.throttle.recordFailure(accountKey, ACCOUNT_POLICY, now);
      if (ipKey) await this.#d.throttle.recordFailure(ipKey, IP_POLICY, now);
      const reason = user && passwordOk ? 'disabled' : 'invalid_credentials';
      await this.#d.audit.record({ action: 'user.sign_in_failed', targetId: user?.id ?? null, details: { username: typed, reason } }, visitor(null, meta.ip));
      this.#d.metrics?.signIn('password', reason);
      return { ok: false, reason: 'invalid_credentials' };
    }
    await this.#d.throttle.reset(accountKey);
    const started = await this.startSession(user.id, meta);
    await this.#d.audit.record({ action: 'user.sign_in', targetId: user.id, details: { sid: started.session.sid } }, visitor(user.username, meta.ip));
    this.#d.metrics?.signIn('password', 'success');
    return { ok: true, ...started };
  }

  /** A new session for a user whose identity is already established (password above, or an upstream provider). */
  async startSession(userId: string, meta: { ip: string | null; userAgent: string | null }): Promise<{ cookieValue: string; session: Session }> {
    const now = epochSeconds(this.#d.clock);
    const cookieValue = randomToken();
    const session: Session = {
      idHash: sha256(cookieValue),
      sid: randomUUID(),
      userId,
      authTime: now,
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

  #dummy(): Promise<string> {
    this.#dummyHash ??= hashPassword(randomToken());
    return this.#dummyHash;
  }
}
