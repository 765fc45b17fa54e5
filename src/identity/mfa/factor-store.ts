import type { Kysely } from 'kysely';
import type { Database, UserFactorsTable } from '../../storage/schema.ts';

/** A TOTP factor of a user. The secret stays encrypted here; only the service opens it. */
export interface TotpFactor {
  id: string;
  userId: string;
  name: string;
  /** Sealed by the key-encryption key (src/keys/encryption.ts). */
  sealedSecret: string;
  lastUsedStep: number | null;
  createdAt: number;
  /** Null while the enrolment waits for its first code. */
  confirmedAt: number | null;
  lastUsedAt: number | null;
}

/** TOTP factors and recovery codes (stored hashed). */
export interface FactorStore {
  /** Replaces the user's unconfirmed TOTP factor, if any, with this one. */
  insertUnconfirmedTotp(factor: TotpFactor): Promise<void>;
  /** The user's TOTP factors, confirmed and not, oldest first. */
  listTotp(userId: string): Promise<TotpFactor[]>;
  /**
   * Records a code's step as used, only if it is later than the last one used: one atomic
   * statement, so of two concurrent uses of one code only one wins. Confirms an unconfirmed
   * factor. False when the step was used already.
   */
  useStep(factorId: string, step: number, now: number): Promise<boolean>;
  /** Deletes one factor of the user; false when there was none. */
  deleteTotp(userId: string, factorId: string): Promise<boolean>;
  /** Deletes every TOTP factor of the user (confirmed or not); how many confirmed ones there were. */
  deleteAllTotp(userId: string): Promise<number>;

  /** Replaces every recovery code of the user with these hashes. */
  replaceRecoveryCodes(userId: string, hashes: string[], now: number): Promise<void>;
  /** Marks a code used (atomic: only one caller wins); false when unknown or used already. */
  useRecoveryCode(userId: string, hash: string, now: number): Promise<boolean>;
  remainingRecoveryCodes(userId: string): Promise<number>;
  deleteRecoveryCodes(userId: string): Promise<number>;

  /** Names of the roles that require MFA (few: read at sign-in, not on every request). */
  rolesRequiringMfa(): Promise<string[]>;
}

export class KyselyFactorStore implements FactorStore {
  readonly #db: Kysely<Database>;
  constructor(db: Kysely<Database>) {
    this.#db = db;
  }

  async insertUnconfirmedTotp(f: TotpFactor): Promise<void> {
    await this.#db.transaction().execute(async (trx) => {
      await trx.deleteFrom('user_factors').where('user_id', '=', f.userId).where('type', '=', 'totp').where('confirmed_at', 'is', null).execute();
      await trx
        .insertInto('user_factors')
        .values({
          id: f.id,
          user_id: f.userId,
          type: 'totp',
          name: f.name,
          secret: f.sealedSecret,
          last_used_step: f.lastUsedStep,
          created_at: f.createdAt,
          confirmed_at: f.confirmedAt,
          last_used_at: f.lastUsedAt,
        })
        .execute();
    });
  }

  async listTotp(userId: string): Promise<TotpFactor[]> {
    const rows = await this.#db.selectFrom('user_factors').selectAll().where('user_id', '=', userId).where('type', '=', 'totp').orderBy('created_at').orderBy('id').execute();
    return rows.map(fromRow);
  }

  async useStep(factorId: string, step: number, now: number): Promise<boolean> {
    const r = await this.#db
      .updateTable('user_factors')
      .set((eb) => ({
        last_used_step: step,
        last_used_at: now,
        confirmed_at: eb.fn.coalesce('confirmed_at', eb.val(now)),
      }))
      .where('id', '=', factorId)
      .where((eb) => eb.or([eb('last_used_step', 'is', null), eb('last_used_step', '<', step)]))
      .executeTakeFirst();
    return Number(r.numUpdatedRows) > 0;
  }

  async deleteTotp(userId: string, factorId: string): Promise<boolean> {
    const r = await this.#db.deleteFrom('user_factors').where('user_id', '=', userId).where('id', '=', factorId).where('type', '=', 'totp').executeTakeFirst();
    return Number(r.numDeletedRows) > 0;
  }

  async deleteAllTotp(userId: string): Promise<number> {
    const rows = await this.#db.deleteFrom('user_factors').where('user_id', '=', userId).where('type', '=', 'totp').returning('confirmed_at').execute();
    return rows.filter((r) => r.confirmed_at !== null).length;
  }

  async replaceRecoveryCodes(userId: string, hashes: string[], now: number): Promise<void> {
    await this.#db.transaction().execute(async (trx) => {
      await trx.deleteFrom('recovery_codes').where('user_id', '=', userId).execute();
      if (hashes.length) await trx.insertInto('recovery_codes').values(hashes.map((code_hash) => ({ user_id: userId, code_hash, created_at: now, used_at: null }))).execute();
    });
  }

  async useRecoveryCode(userId: string, hash: string, now: number): Promise<boolean> {
    const r = await this.#db
      .updateTable('recovery_codes')
      .set({ used_at: now })
      .where('user_id', '=', userId)
      .where('code_hash', '=', hash)
      .where('used_at', 'is', null)
      .executeTakeFirst();
    return Number(r.numUpdatedRows) > 0;
  }

  async remainingRecoveryCodes(userId: string): Promise<number> {
    const row = await this.#db
      .selectFrom('recovery_codes')
      .select((eb) => eb.fn.countAll<number | string>().as('n'))
      .where('user_id', '=', userId)
      .where('used_at', 'is', null)
      .executeTakeFirstOrThrow();
    return Number(row.n);
  }

  async deleteRecoveryCodes(userId: string): Promise<number> {
    const r = await this.#db.deleteFrom('recovery_codes').where('user_id', '=', userId).executeTakeFirst();
    return Number(r.numDeletedRows);
  }

  async rolesRequiringMfa(): Promise<string[]> {
    const rows = await this.#db.selectFrom('roles').select('name').where('require_mfa', '=', 1).orderBy('name').execute();
    return rows.map((r) => r.name);
  }
}

function fromRow(r: UserFactorsTable): TotpFactor {
  return {
    id: r.id,
    userId: r.user_id,
    name: r.name,
    sealedSecret: r.secret,
    lastUsedStep: r.last_used_step === null ? null : Number(r.last_used_step),
    createdAt: Number(r.created_at),
    confirmedAt: r.confirmed_at === null ? null : Number(r.confirmed_at),
    lastUsedAt: r.last_used_at === null ? null : Number(r.last_used_at),
  };
}
