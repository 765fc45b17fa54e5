import type { Kysely } from 'kysely';
import type { Selectable } from 'kysely';
import type { Database, InitialAccessTokensTable } from '../storage/schema.ts';

/** An initial access token (RFC 7591 §3) as stored: only the SHA-256 of the token itself. */
export interface InitialAccessToken {
  id: string;
  tokenHash: string;
  label: string;
  createdBy: string;
  createdAt: number;
  expiresAt: number;
  maxUses: number | null;
  uses: number;
  revokedAt: number | null;
}

export interface InitialAccessTokenStore {
  insert(token: Omit<InitialAccessToken, 'uses' | 'revokedAt'>): Promise<void>;
  list(): Promise<InitialAccessToken[]>;
  /** Marks it revoked; false when there is no such token or it was revoked already. */
  revoke(id: string, now: number): Promise<boolean>;
  /**
   * Spends one use of the token with this hash if it is unrevoked, unexpired and has uses
   * left — in one conditional UPDATE, so two registrations racing for the last use cannot
   * both win. True when a use was spent.
   */
  consume(tokenHash: string, now: number): Promise<boolean>;
  /** Gives back a use spent by `consume` when the registration it was spent on failed. */
  refund(tokenHash: string): Promise<void>;
}

function fromRow(row: Selectable<InitialAccessTokensTable>): InitialAccessToken {
  return {
    id: row.id,
    tokenHash: row.token_hash,
    label: row.label,
    createdBy: row.created_by,
    createdAt: Number(row.created_at),
    expiresAt: Number(row.expires_at),
    maxUses: row.max_uses === null ? null : Number(row.max_uses),
    uses: Number(row.uses),
    revokedAt: row.revoked_at === null ? null : Number(row.revoked_at),
  };
}

export class KyselyInitialAccessTokenStore implements InitialAccessTokenStore {
  readonly #db: Kysely<Database>;
  constructor(db: Kysely<Database>) {
    this.#db = db;
  }

  async insert(t: Omit<InitialAccessToken, 'uses' | 'revokedAt'>): Promise<void> {
    await this.#db
      .insertInto('initial_access_tokens')
      .values({ id: t.id, token_hash: t.tokenHash, label: t.label, created_by: t.createdBy, created_at: t.createdAt, expires_at: t.expiresAt, max_uses: t.maxUses, uses: 0, revoked_at: null })
      .execute();
  }

  async list(): Promise<InitialAccessToken[]> {
    const rows = await this.#db.selectFrom('initial_access_tokens').selectAll().orderBy('created_at').orderBy('id').execute();
    return rows.map(fromRow);
  }

  async revoke(id: string, now: number): Promise<boolean> {
    const result = await this.#db.updateTable('initial_access_tokens').set({ revoked_at: now }).where('id', '=', id).where('revoked_at', 'is', null).executeTakeFirst();
    return Number(result.numUpdatedRows) > 0;
  }

  async consume(tokenHash: string, now: number): Promise<boolean> {
    const result = await this.#db
      .updateTable('initial_access_tokens')
      .set((eb) => ({ uses: eb('uses', '+', 1) }))
      .where('token_hash', '=', tokenHash)
      .where('revoked_at', 'is', null)
      .where('expires_at', '>', now)
      .where((eb) => eb.or([eb('max_uses', 'is', null), eb('uses', '<', eb.ref('max_uses'))]))
      .executeTakeFirst();
    return Number(result.numUpdatedRows) > 0;
  }

  async refund(tokenHash: string): Promise<void> {
    await this.#db
      .updateTable('initial_access_tokens')
      .set((eb) => ({ uses: eb('uses', '-', 1) }))
      .where('token_hash', '=', tokenHash)
      .where('uses', '>', 0)
      .execute();
  }
}
