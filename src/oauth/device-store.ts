import type { Kysely } from 'kysely';
import { formatAmr, parseAmr } from '../identity/authentication-methods.ts';
import { pickBatch } from '../storage/batch-delete.ts';
import type { Database, DeviceAuthorizationsTable } from '../storage/schema.ts';

export type DeviceStatus = 'pending' | 'approved' | 'denied' | 'used';

/** One device authorization request (RFC 8628 §3.1–3.2), as stored: both codes hashed. */
export interface DeviceAuthorization {
  deviceCodeHash: string;
  userCodeHash: string;
  clientId: string;
  scope: string;
  /** RFC 8707: the resource named in the device authorization request. */
  resource: string | null;
  status: DeviceStatus;
  /** Set once the user approved: who, in which session, when and how they signed in. */
  userId: string | null;
  sessionId: string | null;
  authTime: number | null;
  amr: string[];
  /** Seconds the device must wait between polls; grows by 5 on every `slow_down`. */
  interval: number;
  lastPolledAt: number | null;
  createdAt: number;
  expiresAt: number;
}

/** What a poll found (RFC 8628 §3.5); `approved` is answered to exactly one poll. */
export type PollResult =
  | { kind: 'unknown' }
  | { kind: 'expired'; auth: DeviceAuthorization }
  | { kind: 'slow_down'; auth: DeviceAuthorization }
  | { kind: 'pending' | 'denied' | 'used'; auth: DeviceAuthorization }
  | { kind: 'approved'; auth: DeviceAuthorization };

export interface DeviceAuthorizationStore {
  insert(auth: Omit<DeviceAuthorization, 'status' | 'userId' | 'sessionId' | 'authTime' | 'amr' | 'lastPolledAt'>): Promise<void>;
  /** A pending request by its user code's hash (expired ones too: the caller tells). */
  findByUserCode(userCodeHash: string): Promise<DeviceAuthorization | undefined>;
  /** The user's answer: only a pending, unexpired request changes; whether it did. */
  decide(userCodeHash: string, decision: { approve: true; userId: string; sessionId: string; authTime: number; amr: string[] } | { approve: false; userId: string }, now: number): Promise<boolean>;
  /** One poll by the device: records it, slows a device polling faster than its interval, hands out an approval once. */
  poll(deviceCodeHash: string, now: number): Promise<PollResult>;
  /** Deletes up to `limit` requests that expired before `before`; how many. */
  purgeExpired(before: number, limit: number): Promise<number>;
}

/** RFC 8628 §3.5: "the interval MUST be increased by 5 seconds for this and all subsequent requests". */
export const SLOW_DOWN_STEP = 5;

export class KyselyDeviceAuthorizationStore implements DeviceAuthorizationStore {
  readonly #db: Kysely<Database>;
  constructor(db: Kysely<Database>) {
    this.#db = db;
  }

  async insert(a: Omit<DeviceAuthorization, 'status' | 'userId' | 'sessionId' | 'authTime' | 'amr' | 'lastPolledAt'>): Promise<void> {
    await this.#db
      .insertInto('device_authorizations')
      .values({
        device_code_hash: a.deviceCodeHash,
        user_code_hash: a.userCodeHash,
        client_id: a.clientId,
        scope: a.scope,
        resource: a.resource,
        status: 'pending',
        user_id: null,
        session_id: null,
        auth_time: null,
        amr: null,
        interval: a.interval,
        last_polled_at: null,
        created_at: a.createdAt,
        expires_at: a.expiresAt,
      })
      .execute();
  }

  async findByUserCode(userCodeHash: string): Promise<DeviceAuthorization | undefined> {
    const row = await this.#db.selectFrom('device_authorizations').selectAll().where('user_code_hash', '=', userCodeHash).executeTakeFirst();
    return row ? fromRow(row) : undefined;
  }

  async decide(
    userCodeHash: string,
    d: { approve: true; userId: string; sessionId: string; authTime: number; amr: string[] } | { approve: false; userId: string },
    now: number,
  ): Promise<boolean> {
    const r = await this.#db
      .updateTable('device_authorizations')
      .set(
        d.approve
          ? { status: 'approved', user_id: d.userId, session_id: d.sessionId, auth_time: d.authTime, amr: formatAmr(d.amr) }
          : { status: 'denied', user_id: d.userId },
      )
      .where('user_code_hash', '=', userCodeHash)
      .where('status', '=', 'pending')
      .where('expires_at', '>', now)
      .executeTakeFirst();
    return Number(r.numUpdatedRows) === 1;
  }

  async poll(deviceCodeHash: string, now: number): Promise<PollResult> {
    const row = await this.#db.selectFrom('device_authorizations').selectAll().where('device_code_hash', '=', deviceCodeHash).executeTakeFirst();
    if (!row) return { kind: 'unknown' };
    const auth = fromRow(row);
    if (auth.expiresAt <= now && auth.status !== 'used') return { kind: 'expired', auth };
    if (auth.status === 'approved') {
      // Exactly one poll turns an approval into tokens: the conditional update is the lock.
      const r = await this.#db
        .updateTable('device_authorizations')
        .set({ status: 'used', last_polled_at: now })
        .where('device_code_hash', '=', deviceCodeHash)
        .where('status', '=', 'approved')
        .executeTakeFirst();
      return Number(r.numUpdatedRows) === 1 ? { kind: 'approved', auth } : { kind: 'used', auth };
    }
    if (auth.status !== 'pending') return { kind: auth.status, auth };
    const tooFast = auth.lastPolledAt !== null && now - auth.lastPolledAt < auth.interval;
    const interval = tooFast ? auth.interval + SLOW_DOWN_STEP : auth.interval;
    await this.#db
      .updateTable('device_authorizations')
      .set({ last_polled_at: now, interval })
      .where('device_code_hash', '=', deviceCodeHash)
      .execute();
    const updated = { ...auth, interval, lastPolledAt: now };
    return tooFast ? { kind: 'slow_down', auth: updated } : { kind: 'pending', auth: updated };
  }

  async purgeExpired(before: number, limit: number): Promise<number> {
    const r = await this.#db
      .deleteFrom('device_authorizations')
      .where(
        'device_code_hash',
        'in',
        pickBatch(this.#db, this.#db.selectFrom('device_authorizations').select('device_code_hash').where('expires_at', '<', before).limit(limit)),
      )
      .executeTakeFirst();
    return Number(r.numDeletedRows);
  }
}

function fromRow(r: DeviceAuthorizationsTable): DeviceAuthorization {
  return {
    deviceCodeHash: r.device_code_hash,
    userCodeHash: r.user_code_hash,
    clientId: r.client_id,
    scope: r.scope,
    resource: r.resource,
    status: r.status as DeviceStatus,
    userId: r.user_id,
    sessionId: r.session_id,
    authTime: r.auth_time === null ? null : Number(r.auth_time),
    amr: parseAmr(r.amr),
    interval: Number(r.interval),
    lastPolledAt: r.last_polled_at === null ? null : Number(r.last_polled_at),
    createdAt: Number(r.created_at),
    expiresAt: Number(r.expires_at),
  };
}
