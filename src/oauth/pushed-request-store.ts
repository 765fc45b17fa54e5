import type { Kysely } from 'kysely';
import { pickBatch } from '../storage/batch-delete.ts';
import type { Database } from '../storage/schema.ts';

/** A pushed authorization request (RFC 9126 §2), as stored: by the SHA-256 of its request_uri. */
export interface PushedRequest {
  requestUriHash: string;
  clientId: string;
  /** The authorization request's parameters, as pushed (client_id included). */
  params: Record<string, string>;
  createdAt: number;
  /** When a browser first brought it to /connect/authorize; null before. */
  startedAt: number | null;
  expiresAt: number;
}

export interface PushedRequestStore {
  insert(request: Omit<PushedRequest, 'startedAt'>): Promise<void>;
  /**
   * The request, if it exists and has not expired at `now`. The first time (not yet started),
   * it is marked started and lives until `startedUntil`: the client had to bring the user
   * within `expires_in`, the user may then take as long as a sign-in takes.
   */
  start(requestUriHash: string, now: number, startedUntil: number): Promise<PushedRequest | undefined>;
  /** Deletes the request once it has given its answer; false when it was gone (used, or expired and purged). */
  consume(requestUriHash: string, now: number): Promise<boolean>;
  /** Deletes up to `limit` requests that expired before `before`; how many. */
  purgeExpired(before: number, limit: number): Promise<number>;
}

export class KyselyPushedRequestStore implements PushedRequestStore {
  readonly #db: Kysely<Database>;
  constructor(db: Kysely<Database>) {
    this.#db = db;
  }

  async insert(r: Omit<PushedRequest, 'startedAt'>): Promise<void> {
    await this.#db
      .insertInto('pushed_authorization_requests')
      .values({
        request_uri_hash: r.requestUriHash,
        client_id: r.clientId,
        params: JSON.stringify(r.params),
        created_at: r.createdAt,
        started_at: null,
        expires_at: r.expiresAt,
      })
      .execute();
  }

  async start(requestUriHash: string, now: number, startedUntil: number): Promise<PushedRequest | undefined> {
    await this.#db
      .updateTable('pushed_authorization_requests')
      .set({ started_at: now, expires_at: startedUntil })
      .where('request_uri_hash', '=', requestUriHash)
      .where('started_at', 'is', null)
      .where('expires_at', '>', now)
      .execute();
    const row = await this.#db
      .selectFrom('pushed_authorization_requests')
      .selectAll()
      .where('request_uri_hash', '=', requestUriHash)
      .where('expires_at', '>', now)
      .executeTakeFirst();
    if (!row) return undefined;
    return {
      requestUriHash: row.request_uri_hash,
      clientId: row.client_id,
      params: JSON.parse(row.params) as Record<string, string>,
      createdAt: Number(row.created_at),
      startedAt: row.started_at === null ? null : Number(row.started_at),
      expiresAt: Number(row.expires_at),
    };
  }

  async consume(requestUriHash: string, now: number): Promise<boolean> {
    const r = await this.#db
      .deleteFrom('pushed_authorization_requests')
      .where('request_uri_hash', '=', requestUriHash)
      .where('expires_at', '>', now)
      .executeTakeFirst();
    return Number(r.numDeletedRows) === 1;
  }

  async purgeExpired(before: number, limit: number): Promise<number> {
    const r = await this.#db
      .deleteFrom('pushed_authorization_requests')
      .where(
        'request_uri_hash',
        'in',
        pickBatch(this.#db, this.#db.selectFrom('pushed_authorization_requests').select('request_uri_hash').where('expires_at', '<', before).limit(limit)),
      )
      .executeTakeFirst();
    return Number(r.numDeletedRows);
  }
}
