import type { Kysely } from 'kysely';
import { pickBatch } from '../storage/batch-delete.ts';
import type { DatabaseHandle } from '../storage/database.ts';
import type { Database, SessionsTable } from '../storage/schema.ts';
import type { PgGroupCommit } from '../storage/pg-group-commit.ts';
import type { SqliteStatements } from '../storage/sqlite-statements.ts';
import { formatAmr, parseAmr } from './authentication-methods.ts';

export interface Session {
  idHash: string;
  /** Public session id for the ID token's `sid` claim (not the cookie secret). */
  sid: string;
  userId: string;
  /** When the user last authenticated (the last factor of the sign-in); OIDC `auth_time`. */
  authTime: number;
  /** How (RFC 8176 values, src/identity/authentication-methods.ts); empty for sessions older than second factors. */
  amr: string[];
  createdAt: number;
  expiresAt: number;
  /** When the session was last used to sign in to an app (kept to the minute). */
  lastSeenAt: number;
  revokedAt: number | null;
}

export interface SessionWithMeta extends Session {
  ip: string | null;
  userAgent: string | null;
}

/** Server-side sessions keyed by the SHA-256 of the cookie value. */
export interface SessionStore {
  insert(session: Session, meta: { ip: string | null; userAgent: string | null }): Promise<void>;
  find(idHash: string): Promise<Session | undefined>;
  touch(idHash: string, now: number): Promise<void>;
  revoke(idHash: string, now: number): Promise<void>;
  revokeAllForUser(userId: string, now: number): Promise<number>;
  /** Ends one session of a user by its public id; false when there is no such live session. */
  revokeBySid(userId: string, sid: string, now: number): Promise<boolean>;
  /** Ends every session of a user but one (`keepSid`: the browser asking); returns how many ended. */
  revokeOthers(userId: string, keepSid: string, now: number): Promise<number>;
  /** A user's live sessions, newest first, with where they were opened from. */
  listForUser(userId: string, now: number): Promise<SessionWithMeta[]>;
  /** Deletes up to `limit` sessions that expired before `before`; returns how many. */
  purgeExpired(before: number, limit: number): Promise<number>;
}

export class KyselySessionStore implements SessionStore {
  readonly #db: Kysely<Database>;
  constructor(db: Kysely<Database>) {
    this.#db = db;
  }

  async insert(s: Session, meta: { ip: string | null; userAgent: string | null }): Promise<void> {
    await this.#db
      .insertInto('sessions')
      .values({
        id_hash: s.idHash,
        sid: s.sid,
        user_id: s.userId,
        auth_time: s.authTime,
        created_at: s.createdAt,
        expires_at: s.expiresAt,
        last_seen_at: s.lastSeenAt,
        revoked_at: null,
        ip: meta.ip,
        user_agent: meta.userAgent?.slice(0, 400) ?? null,
        amr: formatAmr(s.amr),
      })
      .execute();
  }

  async find(idHash: string): Promise<Session | undefined> {
    const row = await this.#db.selectFrom('sessions').selectAll().where('id_hash', '=', idHash).executeTakeFirst();
    return row && fromRow(row);
  }

  async touch(idHash: string, now: number): Promise<void> {
    await this.#db.updateTable('sessions').set({ last_seen_at: now }).where('id_hash', '=', idHash).execute();
  }

  async revoke(idHash: string, now: number): Promise<void> {
    await this.#db.updateTable('sessions').set({ revoked_at: now }).where('id_hash', '=', idHash).where('revoked_at', 'is', null).execute();
  }

  async revokeAllForUser(userId: string, now: number): Promise<number> {
    const r = await this.#db
      .updateTable('sessions')
      .set({ revoked_at: now })
      .where('user_id', '=', userId)
      .where('revoked_at', 'is', null)
      .executeTakeFirst();
    return Number(r.numUpdatedRows);
  }

  async revokeBySid(userId: string, sid: string, now: number): Promise<boolean> {
    const r = await this.#db
      .updateTable('sessions')
      .set({ revoked_at: now })
      .where('user_id', '=', userId)
      .where('sid', '=', sid)
      .where('revoked_at', 'is', null)
      .executeTakeFirst();
    return Number(r.numUpdatedRows) > 0;
  }

  async revokeOthers(userId: string, keepSid: string, now: number): Promise<number> {
    const r = await this.#db
      .updateTable('sessions')
      .set({ revoked_at: now })
      .where('user_id', '=', userId)
      // Sessions from before public ids (sid null) go by their hash, as fromRow names them.
      .where((eb) => eb.or([eb.and([eb('sid', 'is not', null), eb('sid', '!=', keepSid)]), eb.and([eb('sid', 'is', null), eb('id_hash', '!=', keepSid)])]))
      .where('revoked_at', 'is', null)
      .executeTakeFirst();
    return Number(r.numUpdatedRows);
  }

  async listForUser(userId: string, now: number): Promise<SessionWithMeta[]> {
    const rows = await this.#db
      .selectFrom('sessions')
      .selectAll()
      .where('user_id', '=', userId)
      .where('revoked_at', 'is', null)
      .where('expires_at', '>', now)
      .orderBy('created_at', 'desc')
      .limit(1000)
      .execute();
    return rows.map((r) => ({ ...fromRow(r), ip: r.ip, userAgent: r.user_agent }));
  }

  async purgeExpired(before: number, limit: number): Promise<number> {
    const r = await this.#db
      .deleteFrom('sessions')
      .where('id_hash', 'in', pickBatch(this.#db, this.#db.selectFrom('sessions').select('id_hash').where('expires_at', '<', before).limit(limit)))
      .executeTakeFirst();
    return Number(r.numDeletedRows);
  }
}

function fromRow(r: SessionsTable): Session {
  return {
    idHash: r.id_hash,
    sid: r.sid ?? r.id_hash,
    userId: r.user_id,
    authTime: r.auth_time,
    amr: parseAmr(r.amr),
    createdAt: r.created_at,
    expiresAt: r.expires_at,
    lastSeenAt: r.last_seen_at,
    revokedAt: r.revoked_at,
  };
}

/**
 * SQLite: find and touch (every authorize with a session) on statements prepared once
 * (src/storage/sqlite-statements.ts); the rest through Kysely.
 */
export class SqliteSessionStore extends KyselySessionStore {
  readonly #s: SqliteStatements;
  constructor(db: Kysely<Database>, statements: SqliteStatements) {
    super(db);
    this.#s = statements;
  }

  override find(idHash: string): Promise<Session | undefined> {
    return this.#s.run(() => {
      const row = this.#s.statement('SELECT * FROM sessions WHERE id_hash = ?').get(idHash) as SessionsTable | undefined;
      return row && fromRow(row);
    });
  }

  override touch(idHash: string, now: number): Promise<void> {
    return this.#s.write(() => {
      this.#s.statement('UPDATE sessions SET last_seen_at = ? WHERE id_hash = ?').run(now, idHash);
    });
  }
}

/** PostgreSQL: the session touch of every authorize through group commit (src/storage/pg-group-commit.ts). */
export class PostgresSessionStore extends KyselySessionStore {
  readonly #group: PgGroupCommit;
  constructor(db: Kysely<Database>, group: PgGroupCommit) {
    super(db);
    this.#group = group;
  }

  override async touch(idHash: string, now: number): Promise<void> {
    await this.#group.query({ name: 'tessera_session_touch', sql: 'UPDATE sessions SET last_seen_at = $1 WHERE id_hash = $2', parameters: [now, idHash] });
  }
}

/** The session store for a database: prepared statements on SQLite, group commit on PostgreSQL. */
export function sessionStoreFor(handle: DatabaseHandle): SessionStore {
  if (handle.sqlite) return new SqliteSessionStore(handle.db, handle.sqlite);
  if (handle.groupCommit) return new PostgresSessionStore(handle.db, handle.groupCommit);
  return new KyselySessionStore(handle.db);
}
