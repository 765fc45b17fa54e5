import type { Kysely } from 'kysely';
import { pickBatch } from '../storage/batch-delete.ts';
import type { Database, EmailOutboxTable } from '../storage/schema.ts';

/** A message in the outbox (migration 0024): what is needed to send it, sealed. */
export interface OutboxEntry {
  id: string;
  message: string;
  userId: string | null;
  /** The recipient and the rendered message, encrypted with the key-encryption key. */
  sealed: string;
  attempts: number;
  createdAt: number;
  nextAttemptAt: number;
}

/**
 * Mail waiting for the SMTP server, shared by every node (src/email/mailer.ts). A node takes
 * messages with a lease (`claim`), so two nodes never send one at the same time; a node that
 * dies holding some lets them go when the lease runs out, and another sends them.
 */
export interface OutboxStore {
  insert(entries: readonly OutboxEntry[]): Promise<void>;
  /**
   * Up to `limit` messages due at `now` that nobody holds, oldest first, now held until
   * `now + leaseSeconds`; only those of `ids` when given. A conditional UPDATE: of two nodes
   * claiming at once, each message goes to one.
   */
  claim(now: number, leaseSeconds: number, limit: number, ids?: readonly string[]): Promise<OutboxEntry[]>;
  /** Sent, or given up. */
  remove(id: string): Promise<void>;
  /** Failed: tried again from `nextAttemptAt`, by any node. */
  retryLater(id: string, attempts: number, nextAttemptAt: number): Promise<void>;
  /** The earliest time a message nobody holds at `now` is due (only those of `ids` when given), if any is waiting. */
  nextDue(now: number, ids?: readonly string[]): Promise<number | undefined>;
  /** How many are waiting (every node's). */
  count(): Promise<number>;
}

export class KyselyOutboxStore implements OutboxStore {
  readonly #db: Kysely<Database>;
  constructor(db: Kysely<Database>) {
    this.#db = db;
  }

  async insert(entries: readonly OutboxEntry[]): Promise<void> {
    if (!entries.length) return;
    await this.#db.insertInto('email_outbox').values(entries.map(toRow)).execute();
  }

  async claim(now: number, leaseSeconds: number, limit: number, ids?: readonly string[]): Promise<OutboxEntry[]> {
    if (ids?.length === 0) return [];
    let due = this.#db.selectFrom('email_outbox').select('id').where('next_attempt_at', '<=', now).where('claimed_until', '<=', now);
    if (ids) due = due.where('id', 'in', [...ids]);
    const rows = await this.#db
      .updateTable('email_outbox')
      .set({ claimed_until: now + leaseSeconds })
      .where('id', 'in', pickBatch(this.#db, due.orderBy('created_at').orderBy('id').limit(limit)))
      // Again in the outer statement: on PostgreSQL a row another node claimed meanwhile is re-checked here.
      .where('claimed_until', '<=', now)
      .returningAll()
      .execute();
    return rows.map(fromRow).sort((a, b) => a.createdAt - b.createdAt || (a.id < b.id ? -1 : 1));
  }

  async remove(id: string): Promise<void> {
    await this.#db.deleteFrom('email_outbox').where('id', '=', id).execute();
  }

  async retryLater(id: string, attempts: number, nextAttemptAt: number): Promise<void> {
    await this.#db.updateTable('email_outbox').set({ attempts, next_attempt_at: nextAttemptAt, claimed_until: 0 }).where('id', '=', id).execute();
  }

  async nextDue(now: number, ids?: readonly string[]): Promise<number | undefined> {
    if (ids?.length === 0) return undefined;
    let query = this.#db
      .selectFrom('email_outbox')
      .select((eb) => eb.fn.min('next_attempt_at').as('due'))
      .where('claimed_until', '<=', now);
    if (ids) query = query.where('id', 'in', [...ids]);
    const row = await query.executeTakeFirst();
    return row?.due == null ? undefined : Number(row.due);
  }

  async count(): Promise<number> {
    const row = await this.#db.selectFrom('email_outbox').select((eb) => eb.fn.countAll().as('n')).executeTakeFirst();
    return Number(row?.n ?? 0);
  }
}

function toRow(e: OutboxEntry): EmailOutboxTable {
  return { id: e.id, message: e.message, user_id: e.userId, sealed: e.sealed, attempts: e.attempts, created_at: e.createdAt, next_attempt_at: e.nextAttemptAt, claimed_until: 0 };
}

function fromRow(r: EmailOutboxTable): OutboxEntry {
  return { id: r.id, message: r.message, userId: r.user_id, sealed: r.sealed, attempts: r.attempts, createdAt: r.created_at, nextAttemptAt: r.next_attempt_at };
}
