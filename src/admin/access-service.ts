import type { Actor } from '../audit/actor.ts';
import type { AuditLog } from '../audit/audit-log.ts';
import { epochSeconds, type Clock } from '../clock.ts';
import { notFound } from '../errors.ts';
import type { ClientService } from '../clients/client-service.ts';
import type { ConsentStore } from '../identity/consent-store.ts';
import type { SessionStore } from '../identity/session-store.ts';
import type { UserService } from '../identity/user-service.ts';
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
  /** Find users by id or username, apps by id (a missing one is a 404). */
  users: Pick<UserService, 'find'>;
  clients: Pick<ClientService, 'show'>;
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
 * Users are named by id or username, apps by client_id.
 */
export class AccessService {
  readonly #d: AccessServiceDeps;
  constructor(deps: AccessServiceDeps) {
    this.#d = deps;
  }

  /** The grants of a user, or to an app. */
  async grants(of: { user: string } | { app: string }): Promise<GrantView[]> {
    const filter = 'user' in of ? { userId: (await this.#d.users.find(of.user)).id } : { clientId: (await this.#d.clients.show(of.app)).client_id };
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

  async revokeGrant(userRef: string, appId: string, actor: Actor): Promise<void> {
    const userId = (await this.#d.users.find(userRef)).id;
    const clientId = (await this.#d.clients.show(appId)).client_id;
    const now = epochSeconds(this.#d.clock);
    const forgotten = await this.#d.consents.revoke(userId, clientId);
    const revoked = await this.#d.refresh.revokeForGrant(userId, clientId, now);
    if (!forgotten && revoked === 0) throw notFound('grant', `${userId}/${clientId}`);
    await this.#d.audit.record({ action: 'grant.revoke', targetId: userId, details: { client_id: clientId } }, actor);
  }

  async sessions(userRef: string): Promise<SessionView[]> {
    const userId = (await this.#d.users.find(userRef)).id;
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

  async revokeSession(userRef: string, sid: string, actor: Actor): Promise<void> {
    const userId = (await this.#d.users.find(userRef)).id;
    if (!(await this.#d.sessions.revokeBySid(userId, sid, epochSeconds(this.#d.clock)))) throw notFound('session', sid);
    await this.#d.audit.record({ action: 'session.revoke', targetId: userId, details: { sid } }, actor);
  }

  /** "Sign out everywhere else": every session of the user but `keepSid` (audited as session.revoke_all). */
  async revokeOtherSessions(userRef: string, keepSid: string, actor: Actor): Promise<number> {
    const userId = (await this.#d.users.find(userRef)).id;
    const ended = await this.#d.sessions.revokeOthers(userId, keepSid, epochSeconds(this.#d.clock));
    await this.#d.audit.record({ action: 'session.revoke_all', targetId: userId, details: { ended } }, actor);
    return ended;
  }

  async revokeAllSessions(userRef: string, actor: Actor): Promise<number> {
    const userId = (await this.#d.users.find(userRef)).id;
    const ended = await this.#d.sessions.revokeAllForUser(userId, epochSeconds(this.#d.clock));
    await this.#d.audit.record({ action: 'session.revoke_all', targetId: userId, details: { ended } }, actor);
    return ended;
  }
}
