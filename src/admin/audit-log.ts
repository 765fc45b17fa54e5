import { randomUUID } from 'node:crypto';
import type { Kysely } from 'kysely';
import { iso } from '../clients/client-view.ts';
import { epochSeconds, type Clock } from '../clock.ts';
import { validationError } from '../errors.ts';
import type { Database } from '../storage/schema.ts';

export interface AuditEntry {
  /** Who: `user:<username>` (through the admin API), `cli:<os user>`, `system`. */
  actor: string;
  /** What: `<resource>.<verb>`, e.g. `app.create`, `user.password_reset`. */
  action: string;
  targetType?: string | null;
  targetId?: string | null;
  /** From where: the client IP for API calls, null for the CLI. */
  ip?: string | null;
  details?: Record<string, unknown>;
}

export interface AuditEventView {
  id: string;
  at: string;
  actor: string;
  action: string;
  target_type: string | null;
  target_id: string | null;
  ip: string | null;
  details: Record<string, unknown>;
}

export interface AuditFilter {
  actor?: string;
  action?: string;
  targetType?: string;
  targetId?: string;
  since?: number;
  until?: number;
  limit?: number;
  /** Cursor from a previous page (`next`). */
  before?: string;
}

/** Keys whose values are never written to the audit log, whatever the caller passes. */
const SECRET_KEY = /secret|password|token|hash|private|code_verifier|cookie/i;

/** Drops secrets from event details, recursively. */
export function redact(details: unknown, depth = 0): unknown {
  if (depth > 4) return '[…]';
  if (Array.isArray(details)) return details.slice(0, 50).map((v) => redact(v, depth + 1));
  if (details && typeof details === 'object') {
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(details)) out[k] = SECRET_KEY.test(k) ? '[redacted]' : redact(v, depth + 1);
    return out;
  }
  if (typeof details === 'string' && details.length > 500) return `${details.slice(0, 500)}…`;
  return details;
}

/** The audit trail: who changed what, when, from where. Append-only. */
export class AuditLog {
  readonly #db: Kysely<Database>;
  readonly #clock: Clock;
  constructor(db: Kysely<Database>, clock: Clock) {
    this.#db = db;
    this.#clock = clock;
  }

  async record(entry: AuditEntry): Promise<void> {
    await this.#db
      .insertInto('audit_events')
      .values({
        id: `${String(this.#clock.now()).padStart(15, '0')}-${randomUUID()}`,
        at: epochSeconds(this.#clock),
        actor: entry.actor,
        action: entry.action,
        target_type: entry.targetType ?? null,
        target_id: entry.targetId ?? null,
        ip: entry.ip ?? null,
        details: JSON.stringify(redact(entry.details ?? {})),
      })
      .execute();
  }

  /** Newest first. Ids sort by time, so `before` is a stable cursor. */
  async list(filter: AuditFilter = {}): Promise<{ items: AuditEventView[]; next: string | null }> {
    const limit = filter.limit ?? 50;
    if (!Number.isInteger(limit) || limit < 1 || limit > 500) throw validationError('limit must be from 1 to 500', 'limit');
    let q = this.#db.selectFrom('audit_events').selectAll();
    if (filter.actor) q = q.where('actor', '=', filter.actor);
    if (filter.action) q = q.where('action', '=', filter.action);
    if (filter.targetType) q = q.where('target_type', '=', filter.targetType);
    if (filter.targetId) q = q.where('target_id', '=', filter.targetId);
    if (filter.since !== undefined) q = q.where('at', '>=', filter.since);
    if (filter.until !== undefined) q = q.where('at', '<=', filter.until);
    if (filter.before) q = q.where('id', '<', filter.before);
    const rows = await q.orderBy('id', 'desc').limit(limit + 1).execute();
    const page = rows.slice(0, limit);
    return {
      items: page.map((r) => ({
        id: r.id,
        at: iso(Number(r.at)),
        actor: r.actor,
        action: r.action,
        target_type: r.target_type,
        target_id: r.target_id,
        ip: r.ip,
        details: JSON.parse(r.details) as Record<string, unknown>,
      })),
      next: rows.length > limit ? page.at(-1)!.id : null,
    };
  }
}
