import { randomUUID } from 'node:crypto';
import { epochSeconds, type Clock } from '../clock.ts';
import { randomToken, sha256 } from '../lib/crypto.ts';
import type { Logger } from '../lib/logger.ts';
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
    const lockedUntil = await this.#d.throttle.lockedUntil(keys, now);
    if (lockedUntil) return { ok: false, reason: 'throttled', retryAfter: lockedUntil - now };

    const user = username.length <= 200 ? await this.#d.users.findByUsername(username) : undefined;
    // Hash even for unknown users, so response time does not tell which usernames exist.
    const stored = user?.passwordHash ?? (await this.#dummy());
    const passwordOk = password.length <= MAX_PASSWORD_LENGTH && (await verifyPassword(stored, password));
    if (!user || !passwordOk || user.disabled) {
      await this.#d.throttle.recordFailure(accountKey, ACCOUNT_POLICY, now);
      if (ipKey) await this.#d.throttle.recordFailure(ipKey, IP_POLICY, now);
      return { ok: false, reason: 'invalid_credentials' };
    }
    await this.#d.throttle.reset(accountKey);
    return { ok: true, ...(await this.startSession(user.id, meta)) };
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

  async signOut(cookieValue: string | undefined): Promise<void> {
    if (!cookieValue || cookieValue.length > 100) return;
    await this.#d.sessions.revoke(sha256(cookieValue), epochSeconds(this.#d.clock));
  }

  #dummy(): Promise<string> {
    this.#dummyHash ??= hashPassword(randomToken());
    return this.#dummyHash;
  }
}
