import type { Actor } from '../audit/actor.ts';
import type { AuditLog } from '../audit/audit-log.ts';
import { epochSeconds, type Clock } from '../clock.ts';
import { notFound } from '../errors.ts';
import type { ConsentStore } from '../identity/consent-store.ts';
import type { SessionStore } from '../identity/session-store.ts';
import { iso } from '../lib/time.ts';
import type { RefreshStore } from '../oauth/refresh-store.ts';

export interface GrantView {
  client_id: string;
  client_name: string;
  user_id: string;
  username: string;
  scopes: string[];
  granted_at: string;
  updated_at: string;
  /** Refresh-token families still alive for this user and app. */
  active_refresh_tokens: number;
}

export interface SessionView {
  sid: string;
  auth_time: string;
  created_at: string;
  expires_at: string;
  last_seen_at: string;
  ip: string | null;
  user_agent: string | null;
}

export interface AccessServiceDeps {
  consents: ConsentStore;
  refresh: RefreshStore;
  sessions: SessionStore;
  audit: AuditLog;
  clock: Clock;
}

/**
 * What a user has granted and where they are signed in: consents with their live refresh
 * tokens, and sessions. Revoking a grant forgets the consent and ends every refresh-token
 * family of that user and app (access tokens already issued run out on their own).
 */
export class AccessService {
  readonly #d: AccessServiceDeps;
  constructor(deps: AccessServiceDeps) {
    this.#d = deps;
  }

  async grants(filter: { userId?: string; clientId?: string }): Promise<GrantView[]> {
    const now = epochSeconds(this.#d.clock);
    const [consents, live] = await Promise.all([this.#d.consents.list(filter), this.#d.refresh.countLive(filter, now)]);
    return consents.map((c) => ({
      client_id: c.clientId,
      client_name: c.clientName,
      user_id: c.userId,
      username: c.username,
      scopes: c.scopes,
      granted_at: iso(c.createdAt),
      updated_at: iso(c.updatedAt),
      active_refresh_tokens: live.get(`${c.userId}|${c.clientId}`) ?? 0,
    }));
  }

  async revokeGrant(userId: string, clientId: string, actor: Actor): Promise<void> {
    const now = epochSeconds(this.#d.clock);
    const forgotten = await this.#d.consents.revoke(userId, clientId);
    const revoked = await this.#d.refresh.revokeForGrant(userId, clientId, now);
    if (!forgotten && revoked === 0) throw notFound('grant', `${userId}/${clientId}`);
    await this.#d.audit.record({ action: 'grant.revoke', targetId: userId, details: { client_id: clientId } }, actor);
  }

  async sessions(userId: string): Promise<SessionView[]> {
    const sessions = await this.#d.sessions.listForUser(userId, epochSeconds(this.#d.clock));
    return sessions.map((s) => ({
      sid: s.sid,
      auth_time: iso(s.authTime),
      created_at: iso(s.createdAt),
      expires_at: iso(s.expiresAt),
      last_seen_at: iso(s.lastSeenAt),
      ip: s.ip,
      user_agent: s.userAgent,
    }));
  }

  async revokeSession(userId: string, sid: string, actor: Actor): Promise<void> {
    if (!(await this.#d.sessions.revokeBySid(userId, sid, epochSeconds(this.#d.clock)))) throw notFound('session', sid);
    await this.#d.audit.record({ action: 'session.revoke', targetId: userId, details: { sid } }, actor);
  }

  async revokeAllSessions(userId: string, actor: Actor): Promise<number> {
    const ended = await this.#d.sessions.revokeAllForUser(userId, epochSeconds(this.#d.clock));
    await this.#d.audit.record({ action: 'session.revoke_all', targetId: userId, details: { ended } }, actor);
    return ended;
  }
}
