import type { Kysely } from 'kysely';
import { iso } from '../clients/client-view.ts';
import { epochSeconds, type Clock } from '../clock.ts';
import { notFound } from '../errors.ts';
import type { Database } from '../storage/schema.ts';

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

/**
 * What a user has granted and where they are signed in: consents with their live refresh
 * tokens, and sessions. Revoking a grant forgets the consent and ends every refresh-token
 * family of that user and app (access tokens already issued run out on their own).
 */
export class AccessService {
  readonly #db: Kysely<Database>;
  readonly #clock: Clock;
  constructor(db: Kysely<Database>, clock: Clock) {
    this.#db = db;
    this.#clock = clock;
  }

  async grants(filter: { userId?: string; clientId?: string }): Promise<GrantView[]> {
    const now = epochSeconds(this.#clock);
    let q = this.#db
      .selectFrom('consents')
      .innerJoin('clients', 'clients.id', 'consents.client_id')
      .innerJoin('users', 'users.id', 'consents.user_id')
      .select(['consents.client_id', 'clients.name as client_name', 'consents.user_id', 'users.username', 'consents.scopes', 'consents.created_at', 'consents.updated_at']);
    if (filter.userId) q = q.where('consents.user_id', '=', filter.userId);
    if (filter.clientId) q = q.where('consents.client_id', '=', filter.clientId);
    const rows = await q.orderBy('consents.updated_at', 'desc').limit(1000).execute();
    let families = this.#db
      .selectFrom('refresh_token_families')
      .select(['user_id', 'client_id', (eb) => eb.fn.countAll<number>().as('n')])
      .where('revoked_at', 'is', null)
      .where('expires_at', '>', now);
    if (filter.userId) families = families.where('user_id', '=', filter.userId);
    if (filter.clientId) families = families.where('client_id', '=', filter.clientId);
    const counts = new Map((await families.groupBy(['user_id', 'client_id']).execute()).map((f) => [`${f.user_id}|${f.client_id}`, Number(f.n)]));
    return rows.map((r) => ({
      client_id: r.client_id,
      client_name: r.client_name,
      user_id: r.user_id,
      username: r.username,
      scopes: JSON.parse(r.scopes) as string[],
      granted_at: iso(Number(r.created_at)),
      updated_at: iso(Number(r.updated_at)),
      active_refresh_tokens: counts.get(`${r.user_id}|${r.client_id}`) ?? 0,
    }));
  }

  async revokeGrant(userId: string, clientId: string): Promise<void> {
    const now = epochSeconds(this.#clock);
    const deleted = await this.#db.deleteFrom('consents').where('user_id', '=', userId).where('client_id', '=', clientId).executeTakeFirst();
    const revoked = await this.#db
      .updateTable('refresh_token_families')
      .set({ revoked_at: now })
      .where('user_id', '=', userId)
      .where('client_id', '=', clientId)
      .where('revoked_at', 'is', null)
      .executeTakeFirst();
    if (Number(deleted.numDeletedRows) === 0 && Number(revoked.numUpdatedRows) === 0) throw notFound('grant', `${userId}/${clientId}`);
  }

  async sessions(userId: string): Promise<SessionView[]> {
    const now = epochSeconds(this.#clock);
    const rows = await this.#db
      .selectFrom('sessions')
      .select(['sid', 'auth_time', 'created_at', 'expires_at', 'last_seen_at', 'ip', 'user_agent'])
      .where('user_id', '=', userId)
      .where('revoked_at', 'is', null)
      .where('expires_at', '>', now)
      .orderBy('created_at', 'desc')
      .limit(1000)
      .execute();
    return rows.map((r) => ({
      sid: r.sid!,
      auth_time: iso(Number(r.auth_time)),
      created_at: iso(Number(r.created_at)),
      expires_at: iso(Number(r.expires_at)),
      last_seen_at: iso(Number(r.last_seen_at)),
      ip: r.ip,
      user_agent: r.user_agent,
    }));
  }

  async revokeSession(userId: string, sid: string): Promise<void> {
    const now = epochSeconds(this.#clock);
    const r = await this.#db
      .updateTable('sessions')
      .set({ revoked_at: now })
      .where('user_id', '=', userId)
      .where('sid', '=', sid)
      .where('revoked_at', 'is', null)
      .executeTakeFirst();
    if (Number(r.numUpdatedRows) === 0) throw notFound('session', sid);
  }

  async revokeAllSessions(userId: string): Promise<number> {
    const now = epochSeconds(this.#clock);
    const r = await this.#db.updateTable('sessions').set({ revoked_at: now }).where('user_id', '=', userId).where('revoked_at', 'is', null).executeTakeFirst();
    return Number(r.numUpdatedRows);
  }
}
