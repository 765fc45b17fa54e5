import type { Kysely } from 'kysely';
import { pickBatch } from '../storage/batch-delete.ts';
import type { Database, UpstreamSignInsTable } from '../storage/schema.ts';

/** A sign-in sent to an upstream provider and not yet back. */
export interface PendingSignIn {
  /** SHA-256 of the `state` sent upstream; the state itself is never stored. */
  stateHash: string;
  providerId: string;
  nonce: string;
  /** PKCE (RFC 7636) verifier; only its S256 challenge went upstream. */
  codeVerifier: string;
  /** SHA-256 of the value in the browser's cookie: the callback must come from the same browser. */
  browserHash: string;
  /** The redirect_uri sent upstream, repeated in the token request (RFC 6749 §4.1.3). */
  redirectUri: string;
  /** The /connect/authorize request to resume after sign-in, if there is one. */
  returnTo: string | null;
  createdAt: number;
  expiresAt: number;
}

export type PendingConsumeResult =
  | { status: 'consumed'; signIn: PendingSignIn }
  /** The state was used before: a replayed callback. */
  | { status: 'replayed'; signIn: PendingSignIn }
  | { status: 'unknown' };

export interface PendingSignInStore {
  insert(signIn: PendingSignIn): Promise<void>;
  /** Marks the sign-in used; exactly one caller ever gets `consumed`. */
  consume(stateHash: string, now: number): Promise<PendingConsumeResult>;
  /** Deletes up to `limit` sign-ins that expired before `before`; returns how many. */
  purgeExpired(before: number, limit: number): Promise<number>;
}

export class KyselyPendingSignInStore implements PendingSignInStore {
  readonly #db: Kysely<Database>;
  constructor(db: Kysely<Database>) {
    this.#db = db;
  }

  async insert(s: PendingSignIn): Promise<void> {
    await this.#db
      .insertInto('upstream_sign_ins')
      .values({
        state_hash: s.stateHash,
        provider_id: s.providerId,
        nonce: s.nonce,
        code_verifier: s.codeVerifier,
        browser_hash: s.browserHash,
        redirect_uri: s.redirectUri,
        return_to: s.returnTo,
        created_at: s.createdAt,
        expires_at: s.expiresAt,
        consumed_at: null,
      })
      .execute();
  }

  async consume(stateHash: string, now: number): Promise<PendingConsumeResult> {
    // A conditional UPDATE is atomic on both dialects: of two concurrent callbacks, one wins.
    const consumed = await this.#db
      .updateTable('upstream_sign_ins')
      .set({ consumed_at: now })
      .where('state_hash', '=', stateHash)
      .where('consumed_at', 'is', null)
      .returningAll()
      .executeTakeFirst();
    if (consumed) return { status: 'consumed', signIn: fromRow(consumed) };
    const used = await this.#db.selectFrom('upstream_sign_ins').selectAll().where('state_hash', '=', stateHash).executeTakeFirst();
    return used ? { status: 'replayed', signIn: fromRow(used) } : { status: 'unknown' };
  }

  async purgeExpired(before: number, limit: number): Promise<number> {
    const db = this.#db;
    const result = await db
      .deleteFrom('upstream_sign_ins')
      .where('state_hash', 'in', pickBatch(db, db.selectFrom('upstream_sign_ins').select('state_hash').where('expires_at', '<', before).limit(limit)))
      .executeTakeFirst();
    return Number(result.numDeletedRows);
  }
}

function fromRow(r: UpstreamSignInsTable): PendingSignIn {
  return {
    stateHash: r.state_hash,
    providerId: r.provider_id,
    nonce: r.nonce,
    codeVerifier: r.code_verifier,
    browserHash: r.browser_hash,
    redirectUri: r.redirect_uri,
    returnTo: r.return_to,
    createdAt: r.created_at,
    expiresAt: r.expires_at,
  };
}
