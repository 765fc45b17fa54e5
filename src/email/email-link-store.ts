import type { Kysely } from 'kysely';
import { pickBatch } from '../storage/batch-delete.ts';
import type { Database, EmailLinksTable } from '../storage/schema.ts';

/** What a link sent by email is for. */
export type LinkPurpose = 'password_reset' | 'email_verify' | 'invite';

export interface EmailLink {
  tokenHash: string;
  purpose: LinkPurpose;
  /** Null for an invitation: its user does not exist yet. */
  userId: string | null;
  email: string;
  /** Purpose-specific (an invitation's roles). */
  data: Record<string, unknown>;
  /** The actor label of whoever caused the link (an admin for an invitation). */
  createdBy: string;
  createdAt: number;
  expiresAt: number;
  usedAt: number | null;
}

/** Links sent by email, stored by the SHA-256 of their token only; each one is used at most once. */
export interface EmailLinkStore {
  insert(link: EmailLink): Promise<void>;
  /** The link, used or not, expired or not (a page may show why a link no longer works). */
  find(tokenHash: string): Promise<EmailLink | undefined>;
  /**
   * Marks the link used if it is of `purpose`, unused and not expired at `now`; exactly one
   * caller ever gets it back (a conditional UPDATE is atomic on both dialects).
   */
  consume(tokenHash: string, purpose: LinkPurpose, now: number): Promise<EmailLink | undefined>;
  /** Marks every unused link of the user for `purpose` used (a reset ends the other reset links); how many. */
  useAllForUser(userId: string, purpose: LinkPurpose, now: number): Promise<number>;
  /** Unused, unexpired invitations, newest first. */
  listOpenInvitations(now: number): Promise<EmailLink[]>;
  /** Deletes up to `limit` links that expired before `before`; how many. */
  purgeExpired(before: number, limit: number): Promise<number>;
}

export class KyselyEmailLinkStore implements EmailLinkStore {
  readonly #db: Kysely<Database>;
  constructor(db: Kysely<Database>) {
    this.#db = db;
  }

  async insert(link: EmailLink): Promise<void> {
    await this.#db.insertInto('email_links').values(toRow(link)).execute();
  }

  async find(tokenHash: string): Promise<EmailLink | undefined> {
    const row = await this.#db.selectFrom('email_links').selectAll().where('token_hash', '=', tokenHash).executeTakeFirst();
    return row && fromRow(row);
  }

  async consume(tokenHash: string, purpose: LinkPurpose, now: number): Promise<EmailLink | undefined> {
    const row = await this.#db
      .updateTable('email_links')
      .set({ used_at: now })
      .where('token_hash', '=', tokenHash)
      .where('purpose', '=', purpose)
      .where('used_at', 'is', null)
      .where('expires_at', '>', now)
      .returningAll()
      .executeTakeFirst();
    return row && fromRow(row);
  }

  async useAllForUser(userId: string, purpose: LinkPurpose, now: number): Promise<number> {
    const r = await this.#db
      .updateTable('email_links')
      .set({ used_at: now })
      .where('user_id', '=', userId)
      .where('purpose', '=', purpose)
      .where('used_at', 'is', null)
      .executeTakeFirst();
    return Number(r.numUpdatedRows);
  }

  async listOpenInvitations(now: number): Promise<EmailLink[]> {
    const rows = await this.#db
      .selectFrom('email_links')
      .selectAll()
      .where('purpose', '=', 'invite')
      .where('used_at', 'is', null)
      .where('expires_at', '>', now)
      .orderBy('created_at', 'desc')
      .limit(500)
      .execute();
    return rows.map(fromRow);
  }

  async purgeExpired(before: number, limit: number): Promise<number> {
    const db = this.#db;
    const r = await db
      .deleteFrom('email_links')
      .where('token_hash', 'in', pickBatch(db, db.selectFrom('email_links').select('token_hash').where('expires_at', '<', before).limit(limit)))
      .executeTakeFirst();
    return Number(r.numDeletedRows);
  }
}

function toRow(link: EmailLink): EmailLinksTable {
  return {
    token_hash: link.tokenHash,
    purpose: link.purpose,
    user_id: link.userId,
    email: link.email,
    data: JSON.stringify(link.data),
    created_by: link.createdBy,
    created_at: link.createdAt,
    expires_at: link.expiresAt,
    used_at: link.usedAt,
  };
}

function fromRow(row: EmailLinksTable): EmailLink {
  return {
    tokenHash: row.token_hash,
    purpose: row.purpose as LinkPurpose,
    userId: row.user_id,
    email: row.email,
    data: JSON.parse(row.data) as Record<string, unknown>,
    createdBy: row.created_by,
    createdAt: Number(row.created_at),
    expiresAt: Number(row.expires_at),
    usedAt: row.used_at === null ? null : Number(row.used_at),
  };
}
