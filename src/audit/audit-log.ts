import { randomUUID } from 'node:crypto';
import { epochSeconds, type Clock } from '../clock.ts';
import { validationError } from '../errors.ts';
import { iso } from '../lib/time.ts';
import { AUDIT_TARGETS, type AuditAction, type AuditDetails } from './actions.ts';
import { actorIp, type Actor } from './actor.ts';
import type { AuditStore } from './audit-store.ts';

/** One change to record: what (the action fixes the target type), on which target, with which details. */
export interface AuditEntry<A extends AuditAction = AuditAction> {
  action: A;
  targetId: string | null;
  details: AuditDetails[A];
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

/**
 * The field names whose values are never written to the audit log, whatever the caller
 * passes: an explicit list (any case, `-` or `_`), so settings such as `access_token_ttl`
 * are recorded as they are. A new secret field must be added here.
 */
export const SECRET_FIELDS: ReadonlySet<string> = new Set([
  'password',
  'new_password',
  'password_hash',
  'secret',
  'client_secret',
  'secret_hash',
  'private_key',
  'private_jwk',
  'key_encryption_key',
  'code',
  'code_verifier',
  'access_token',
  'refresh_token',
  'id_token',
  'token',
  'assertion',
  'cookie',
  'authorization',
]);

const isSecret = (key: string) => SECRET_FIELDS.has(key.replace(/([a-z0-9])([A-Z])/g, '$1_$2').toLowerCase().replaceAll('-', '_'));

/** Drops secrets from event details, recursively. */
export function redact(details: unknown, depth = 0): unknown {
  if (depth > 4) return '[…]';
  if (Array.isArray(details)) return details.slice(0, 50).map((v) => redact(v, depth + 1));
  if (details && typeof details === 'object') {
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(details)) out[k] = isSecret(k) ? '[redacted]' : redact(v, depth + 1);
    return out;
  }
  if (typeof details === 'string' && details.length > 500) return `${details.slice(0, 500)}…`;
  return details;
}

/**
 * Told of every entry once it is recorded (e.g. the security notices by email, src/email).
 * It runs inside `record`, so it must not throw nor wait: it queues its work.
 */
export type AuditListener = (entry: AuditEntry, actor: Actor, at: number) => void;

/**
 * The audit trail: who changed what, when, from where. Append-only; services record every
 * change they make here (adapters never do).
 */
export class AuditLog {
  readonly #store: AuditStore;
  readonly #clock: Clock;
  readonly #listeners: AuditListener[] = [];
  constructor(store: AuditStore, clock: Clock) {
    this.#store = store;
    this.#clock = clock;
  }

  /** Adds a listener for the entries recorded from now on (see AuditListener). */
  onRecorded(listener: AuditListener): void {
    this.#listeners.push(listener);
  }

  async record<A extends AuditAction>(entry: AuditEntry<A>, actor: Actor): Promise<void> {
    const at = epochSeconds(this.#clock);
    await this.#store.append({
      id: `${String(this.#clock.now()).padStart(15, '0')}-${randomUUID()}`,
      at,
      actor: actor.label,
      action: entry.action,
      target_type: AUDIT_TARGETS[entry.action],
      target_id: entry.targetId,
      ip: actorIp(actor),
      details: JSON.stringify(redact(entry.details)),
    });
    for (const listener of this.#listeners) listener(entry as AuditEntry, actor, at);
  }

  /** Newest first. Ids sort by time, so `before` is a stable cursor. */
  async list(filter: AuditFilter = {}): Promise<{ items: AuditEventView[]; next: string | null }> {
    const limit = filter.limit ?? 50;
    if (!Number.isInteger(limit) || limit < 1 || limit > 500) throw validationError('limit must be from 1 to 500', 'limit');
    const rows = await this.#store.list({ ...filter, limit: limit + 1 });
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
