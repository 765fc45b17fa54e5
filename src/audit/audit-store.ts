import type { Kysely } from 'kysely';
import type { AuditEventsTable, Database } from '../storage/schema.ts';

export type AuditRow = AuditEventsTable;

export interface AuditQuery {
  actor?: string | undefined;
  action?: string | undefined;
  targetType?: string | undefined;
  targetId?: string | undefined;
  since?: number | undefined;
  until?: number | undefined;
  before?: string | undefined;
  limit: number;
}

/** The append-only audit table. Ids sort by time, so `before` is a stable cursor. */
export interface AuditStore {
  append(row: AuditRow): Promise<void>;
  /** Newest first. */
  list(query: AuditQuery): Promise<AuditRow[]>;
}

export class KyselyAuditStore implements AuditStore {
  readonly #db: Kysely<Database>;
  constructor(db: Kysely<Database>) {
    this.#db = db;
  }

  async append(row: AuditRow): Promise<void> {
    await this.#db.insertInto('audit_events').values(row).execute();
  }

  list(query: AuditQuery): Promise<AuditRow[]> {
    let q = this.#db.selectFrom('audit_events').selectAll();
    if (query.actor) q = q.where('actor', '=', query.actor);
    if (query.action) q = q.where('action', '=', query.action);
    if (query.targetType) q = q.where('target_type', '=', query.targetType);
    if (query.targetId) q = q.where('target_id', '=', query.targetId);
    if (query.since !== undefined) q = q.where('at', '>=', query.since);
    if (query.until !== undefined) q = q.where('at', '<=', query.until);
    if (query.before) q = q.where('id', '<', query.before);
    return q.orderBy('id', 'desc').limit(query.limit).execute();
  }
}
