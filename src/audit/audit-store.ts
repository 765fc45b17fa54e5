import type { Kysely } from 'kysely';
import { pickBatch } from '../storage/batch-delete.ts';
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
  /** Deletes up to `limit` events recorded before `before` (the retention); returns how many. */
  purgeBefore(before: number, limit: number): Promise<number>;
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

  async purgeBefore(before: number, limit: number): Promise<number> {
    const db = this.#db;
    const r = await db
      .deleteFrom('audit_events')
      .where('id', 'in', pickBatch(db, db.selectFrom('audit_events').select('id').where('at', '<', before).limit(limit)))
      .executeTakeFirst();
    return Number(r.numDeletedRows);
  }
}
