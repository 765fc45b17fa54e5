import type { Kysely } from 'kysely';
import { pickBatch } from '../../storage/batch-delete.ts';
import type { Database, PendingSecondStepsTable } from '../../storage/schema.ts';
import { formatAmr, parseAmr } from '../authentication-methods.ts';

/**
 * A sign-in between its first step (a password) and its second (a code, a passkey, or an
 * enrolment): no session exists yet. Keyed by the SHA-256 of a random cookie value, bound to
 * the browser's CSRF value, short-lived, and consumed once.
 */
export interface PendingSecondStep {
  idHash: string;
  userId: string;
  /** What the first step proved (`['pwd']`). */
  amr: string[];
  /** SHA-256 of the browser's CSRF cookie value: the step must finish in the browser that began it. */
  browserHash: string;
  /** Where to go once signed in (a safe return_to, src/http/page-kit.ts). */
  returnTo: string | null;
  /** The user has no factor and must enrol one before signing in. */
  enrol: boolean;
  createdAt: number;
  expiresAt: number;
  consumedAt: number | null;
}

export interface SecondStepStore {
  insert(step: PendingSecondStep): Promise<void>;
  find(idHash: string): Promise<PendingSecondStep | undefined>;
  /** Marks it used; exactly one caller ever gets true. */
  consume(idHash: string, now: number): Promise<boolean>;
  purgeExpired(before: number, limit: number): Promise<number>;
}

export class KyselySecondStepStore implements SecondStepStore {
  readonly #db: Kysely<Database>;
  constructor(db: Kysely<Database>) {
    this.#db = db;
  }

  async insert(s: PendingSecondStep): Promise<void> {
    await this.#db
      .insertInto('pending_second_steps')
      .values({
        id_hash: s.idHash,
        user_id: s.userId,
        amr: formatAmr(s.amr),
        browser_hash: s.browserHash,
        return_to: s.returnTo,
        enrol: s.enrol ? 1 : 0,
        created_at: s.createdAt,
        expires_at: s.expiresAt,
        consumed_at: null,
      })
      .execute();
  }

  async find(idHash: string): Promise<PendingSecondStep | undefined> {
    const row = await this.#db.selectFrom('pending_second_steps').selectAll().where('id_hash', '=', idHash).executeTakeFirst();
    return row && fromRow(row);
  }

  async consume(idHash: string, now: number): Promise<boolean> {
    const r = await this.#db.updateTable('pending_second_steps').set({ consumed_at: now }).where('id_hash', '=', idHash).where('consumed_at', 'is', null).executeTakeFirst();
    return Number(r.numUpdatedRows) > 0;
  }

  async purgeExpired(before: number, limit: number): Promise<number> {
    const r = await this.#db
      .deleteFrom('pending_second_steps')
      .where('id_hash', 'in', pickBatch(this.#db, this.#db.selectFrom('pending_second_steps').select('id_hash').where('expires_at', '<', before).limit(limit)))
      .executeTakeFirst();
    return Number(r.numDeletedRows);
  }
}

function fromRow(r: PendingSecondStepsTable): PendingSecondStep {
  return {
    idHash: r.id_hash,
    userId: r.user_id,
    amr: parseAmr(r.amr),
    browserHash: r.browser_hash,
    returnTo: r.return_to,
    enrol: r.enrol === 1,
    createdAt: Number(r.created_at),
    expiresAt: Number(r.expires_at),
    consumedAt: r.consumed_at === null ? null : Number(r.consumed_at),
  };
}
