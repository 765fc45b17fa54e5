import type { Kysely } from 'kysely';
import { pickBatch } from '../storage/batch-delete.ts';
import type { Database, WebauthnCredentialsTable } from '../storage/schema.ts';

/** A WebAuthn credential a user registered (a passkey). */
export interface Passkey {
  /** The credential id, base64url (the authenticator's, unique across users). */
  id: string;
  userId: string;
  /** The COSE public key, base64url. */
  publicKey: string;
  /** The authenticator's signature counter as last seen (0: the authenticator keeps none). */
  counter: number;
  transports: string[];
  deviceType: 'singleDevice' | 'multiDevice';
  backedUp: boolean;
  name: string;
  createdAt: number;
  lastUsedAt: number | null;
}

/** `register_new_account`: the first passkey of an account made by accepting an invitation (the account does not exist until it verifies). */
export type CeremonyPurpose = 'register' | 'register_new_account' | 'passwordless' | 'second_factor';

/** The challenge of a WebAuthn ceremony in progress, bound to one browser (by its cookie's hash). */
export interface Challenge {
  idHash: string;
  challenge: string;
  purpose: CeremonyPurpose;
  /** The user the ceremony is for (registration, second factor; for a new account, the id it will get); null for passwordless. */
  userId: string | null;
  expiresAt: number;
}

/** Passkeys and their ceremonies' challenges. Every SQL statement about them lives here. */
export interface PasskeyStore {
  insert(passkey: Passkey): Promise<void>;
  find(id: string): Promise<Passkey | undefined>;
  /** A user's passkeys, oldest first. */
  listForUser(userId: string): Promise<Passkey[]>;
  /**
   * Records a verified use: the new counter, and when. With `expectedCounter`, only when the
   * stored counter is still that one (two parallel uses of a cloned key cannot both pass).
   */
  recordUse(id: string, expectedCounter: number, counter: number, now: number): Promise<boolean>;
  rename(userId: string, id: string, name: string): Promise<boolean>;
  /** Removes one passkey of a user; the removed passkey, or undefined when there was none. */
  delete(userId: string, id: string): Promise<Passkey | undefined>;
  /** Removes every passkey of a user; how many there were. */
  deleteAllForUser(userId: string): Promise<number>;

  putChallenge(challenge: Challenge): Promise<void>;
  /** Takes (deletes and answers) the challenge of `idHash`: a challenge is used at most once. */
  takeChallenge(idHash: string): Promise<Challenge | undefined>;
  /** Deletes up to `limit` challenges expired before `before`; how many. */
  purgeExpiredChallenges(before: number, limit: number): Promise<number>;
}

export class KyselyPasskeyStore implements PasskeyStore {
  readonly #db: Kysely<Database>;
  constructor(db: Kysely<Database>) {
    this.#db = db;
  }

  async insert(p: Passkey): Promise<void> {
    await this.#db
      .insertInto('webauthn_credentials')
      .values({
        id: p.id,
        user_id: p.userId,
        public_key: p.publicKey,
        counter: p.counter,
        transports: JSON.stringify(p.transports),
        device_type: p.deviceType,
        backed_up: p.backedUp ? 1 : 0,
        name: p.name,
        created_at: p.createdAt,
        last_used_at: p.lastUsedAt,
      })
      .execute();
  }

  async find(id: string): Promise<Passkey | undefined> {
    const row = await this.#db.selectFrom('webauthn_credentials').selectAll().where('id', '=', id).executeTakeFirst();
    return row && fromRow(row);
  }

  async listForUser(userId: string): Promise<Passkey[]> {
    const rows = await this.#db
      .selectFrom('webauthn_credentials')
      .selectAll()
      .where('user_id', '=', userId)
      .orderBy('created_at')
      .orderBy('id')
      .execute();
    return rows.map(fromRow);
  }

  async recordUse(id: string, expectedCounter: number, counter: number, now: number): Promise<boolean> {
    const r = await this.#db
      .updateTable('webauthn_credentials')
      .set({ counter, last_used_at: now })
      .where('id', '=', id)
      .where('counter', '=', expectedCounter)
      .executeTakeFirst();
    return Number(r.numUpdatedRows) > 0;
  }

  async rename(userId: string, id: string, name: string): Promise<boolean> {
    const r = await this.#db.updateTable('webauthn_credentials').set({ name }).where('id', '=', id).where('user_id', '=', userId).executeTakeFirst();
    return Number(r.numUpdatedRows) > 0;
  }

  async delete(userId: string, id: string): Promise<Passkey | undefined> {
    const row = await this.#db
      .deleteFrom('webauthn_credentials')
      .where('id', '=', id)
      .where('user_id', '=', userId)
      .returningAll()
      .executeTakeFirst();
    return row && fromRow(row);
  }

  async deleteAllForUser(userId: string): Promise<number> {
    const r = await this.#db.deleteFrom('webauthn_credentials').where('user_id', '=', userId).executeTakeFirst();
    return Number(r.numDeletedRows);
  }

  async putChallenge(c: Challenge): Promise<void> {
    // One ceremony per browser at a time: a new one replaces the one it started before.
    await this.#db.deleteFrom('webauthn_challenges').where('id_hash', '=', c.idHash).execute();
    await this.#db
      .insertInto('webauthn_challenges')
      .values({ id_hash: c.idHash, challenge: c.challenge, purpose: c.purpose, user_id: c.userId, expires_at: c.expiresAt })
      .execute();
  }

  async takeChallenge(idHash: string): Promise<Challenge | undefined> {
    // DELETE … RETURNING: of two parallel uses of one challenge, exactly one gets it.
    const row = await this.#db.deleteFrom('webauthn_challenges').where('id_hash', '=', idHash).returningAll().executeTakeFirst();
    if (!row) return undefined;
    return { idHash: row.id_hash, challenge: row.challenge, purpose: row.purpose as CeremonyPurpose, userId: row.user_id, expiresAt: Number(row.expires_at) };
  }

  async purgeExpiredChallenges(before: number, limit: number): Promise<number> {
    const r = await this.#db
      .deleteFrom('webauthn_challenges')
      .where('id_hash', 'in', pickBatch(this.#db, this.#db.selectFrom('webauthn_challenges').select('id_hash').where('expires_at', '<', before).limit(limit)))
      .executeTakeFirst();
    return Number(r.numDeletedRows);
  }
}

function fromRow(r: WebauthnCredentialsTable): Passkey {
  return {
    id: r.id,
    userId: r.user_id,
    publicKey: r.public_key,
    counter: Number(r.counter),
    transports: JSON.parse(r.transports) as string[],
    deviceType: r.device_type === 'multiDevice' ? 'multiDevice' : 'singleDevice',
    backedUp: r.backed_up === 1,
    name: r.name,
    createdAt: Number(r.created_at),
    lastUsedAt: r.last_used_at === null ? null : Number(r.last_used_at),
  };
}
