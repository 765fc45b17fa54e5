import { sql, type Kysely } from 'kysely';
import { pickBatch } from '../storage/batch-delete.ts';
import { formatAmr, parseAmr } from '../identity/authentication-methods.ts';
import type { DatabaseHandle } from '../storage/database.ts';
import type { AuthorizationCodesTable, Database } from '../storage/schema.ts';
import type { PgGroupCommit } from '../storage/pg-group-commit.ts';
import { PgKeyedReads } from '../storage/pg-keyed-reads.ts';
import type { SqliteStatements } from '../storage/sqlite-statements.ts';
import { pgText } from '../storage/pg-text.ts';
import { insertFamily, insertFamilyNow, pgFamilyCtes, type NewFamily } from './refresh-store.ts';

export interface AuthorizationCode {
  codeHash: string;
  clientId: string;
  userId: string;
  sessionId: string | null;
  redirectUri: string;
  redirectUriInRequest: boolean;
  scope: string;
  nonce: string | null;
  codeChallenge: string | null;
  codeChallengeMethod: string | null;
  authTime: number;
  /** How the user signed in (RFC 8176), copied from the session for the ID token. */
  amr: string[];
  /** RFC 8707: the resource named at authorization (the token request may only repeat it). */
  resource?: string | null;
  /** RFC 9449 §10: the DPoP key thumbprint (`dpop_jkt`) the token request's proof must match. */
  dpopJkt?: string | null;
  createdAt: number;
  expiresAt: number;
}

export type ConsumeResult =
  | { status: 'consumed'; code: AuthorizationCode }
  | { status: 'replayed'; code: AuthorizationCode; accessTokenJti: string | null; accessTokenExpiresAt: number | null; refreshFamilyId: string | null }
  | { status: 'unknown' };

/** What a code was exchanged for: what a replay of it revokes. */
export interface IssuedFromCode {
  accessTokenJti: string;
  accessTokenExpiresAt: number;
  refreshFamilyId: string | null;
}

/**
 * What `CodeStore.consumeAndDecide`'s `decide` answers: `value` is handed back to the caller
 * once the work committed; with `record`, what the code gave (and the new refresh family) is
 * written in the same transaction as the consume.
 */
export interface ConsumeDecision<T> {
  value: T;
  record?: { issued: IssuedFromCode; family: NewFamily | undefined };
}

/** Authorization codes, stored by SHA-256 hash only, consumed atomically. */
export interface CodeStore {
  /**
   * Whether an exchange reads the code first and writes once (`find`, then `exchange`), or
   * consumes it first (`consume`, then `recordIssued` with the new family). PostgreSQL saves a
   * commit's round trip with the one write. SQLite does neither: it has `consumeAndDecide`,
   * the whole exchange in the consume's own write (a read first cost more there, issue 16).
   */
  readonly exchangeInOneWrite: boolean;
  insert(code: AuthorizationCode): Promise<void>;
  /** Marks the code used; exactly one caller ever gets `consumed`. */
  consume(codeHash: string, now: number): Promise<ConsumeResult>;
  /**
   * Records what the code was exchanged for, so a later replay can revoke it. Answers
   * `replayed: true` when a replay came first — then the caller revokes what it issued.
   */
  recordIssued(codeHash: string, issued: IssuedFromCode): Promise<{ replayed: boolean }>;
  /** The code and whether it was consumed already; undefined when there is none. A read: it changes nothing. */
  find(codeHash: string): Promise<{ code: AuthorizationCode; consumed: boolean } | undefined>;
  /**
   * The writes of a whole exchange in one commit: consumes the code, records what it gave
   * and creates the new refresh family, if any. Only if the code was not consumed yet —
   * `false` (nothing written) when it was, or is gone. Consuming and recording being one
   * write, a replay always finds what the exchange gave.
   */
  exchange(codeHash: string, now: number, issued: IssuedFromCode, family: NewFamily | undefined): Promise<boolean>;
  /**
   * SQLite: the whole exchange as one write (issue 16). Consumes the code as `consume` does,
   * then calls `decide` with the result, synchronously, inside the same group-commit work;
   * what it asks to record is written in that transaction too, so the code's row is written
   * once and the exchange waits for one commit. `decide` must not throw for a refusal (return
   * it in `value`): a throw rolls the consume back with everything else. It may run more than
   * once (a batch that fails is rerun work by work), so it must have no effect beyond its
   * return value. Absent on PostgreSQL, which reads first and writes once (`exchange`).
   */
  consumeAndDecide?<T>(codeHash: string, now: number, decide: (result: ConsumeResult) => ConsumeDecision<T>): Promise<T>;
  /** Deletes up to `limit` codes that expired before `before`; returns how many. */
  purgeExpired(before: number, limit: number): Promise<number>;
}

export class KyselyCodeStore implements CodeStore {
  readonly exchangeInOneWrite: boolean = true;
  readonly #db: Kysely<Database>;
  constructor(db: Kysely<Database>) {
    this.#db = db;
  }

  async insert(c: AuthorizationCode): Promise<void> {
    await this.#db
      .insertInto('authorization_codes')
      .values({
        code_hash: c.codeHash,
        client_id: c.clientId,
        user_id: c.userId,
        session_id: c.sessionId,
        redirect_uri: c.redirectUri,
        redirect_uri_in_request: c.redirectUriInRequest ? 1 : 0,
        scope: c.scope,
        nonce: c.nonce,
        code_challenge: c.codeChallenge,
        code_challenge_method: c.codeChallengeMethod,
        auth_time: c.authTime,
        created_at: c.createdAt,
        expires_at: c.expiresAt,
        consumed_at: null,
        access_token_jti: null,
        access_token_expires_at: null,
        refresh_family_id: null,
        amr: formatAmr(c.amr),
        resource: c.resource ?? null,
        dpop_jkt: c.dpopJkt ?? null,
      })
      .execute();
  }

  async consume(codeHash: string, now: number): Promise<ConsumeResult> {
    // A conditional UPDATE is atomic on both dialects: of two concurrent exchanges, one wins.
    // RETURNING hands the winner the code in the same round trip.
    const consumed = await this.#db
      .updateTable('authorization_codes')
      .set({ consumed_at: now })
      .where('code_hash', '=', codeHash)
      .where('consumed_at', 'is', null)
      .returningAll()
      .executeTakeFirst();
    if (consumed) return { status: 'consumed', code: fromRow(consumed) };
    // A replay. Marking it and reading what the first exchange recorded is one statement,
    // serialised with recordIssued's: whichever runs second sees the other's write.
    const row = await this.#db
      .updateTable('authorization_codes')
      .set({ replayed_at: now })
      .where('code_hash', '=', codeHash)
      .returningAll()
      .executeTakeFirst();
    if (!row) return { status: 'unknown' };
    return {
      status: 'replayed',
      code: fromRow(row),
      accessTokenJti: row.access_token_jti,
      accessTokenExpiresAt: row.access_token_expires_at,
      refreshFamilyId: row.refresh_family_id,
    };
  }

  async recordIssued(
    codeHash: string,
    issued: IssuedFromCode,
  ): Promise<{ replayed: boolean }> {
    const row = await this.#db
      .updateTable('authorization_codes')
      .set({
        access_token_jti: issued.accessTokenJti,
        access_token_expires_at: issued.accessTokenExpiresAt,
        refresh_family_id: issued.refreshFamilyId,
      })
      .where('code_hash', '=', codeHash)
      .returning('replayed_at')
      .executeTakeFirst();
    return { replayed: row !== undefined && row.replayed_at !== null };
  }

  async find(codeHash: string): Promise<{ code: AuthorizationCode; consumed: boolean } | undefined> {
    const row = await this.#db.selectFrom('authorization_codes').selectAll().where('code_hash', '=', codeHash).executeTakeFirst();
    return row && { code: fromRow(row), consumed: row.consumed_at !== null };
  }

  async exchange(codeHash: string, now: number, issued: IssuedFromCode, family: NewFamily | undefined): Promise<boolean> {
    return this.#db.transaction().execute(async (trx) => {
      const r = await trx
        .updateTable('authorization_codes')
        .set({ consumed_at: now, access_token_jti: issued.accessTokenJti, access_token_expires_at: issued.accessTokenExpiresAt, refresh_family_id: issued.refreshFamilyId })
        .where('code_hash', '=', codeHash)
        .where('consumed_at', 'is', null)
        .executeTakeFirst();
      if (Number(r.numUpdatedRows) !== 1) return false;
      if (family) await insertFamily(trx, family);
      return true;
    });
  }

  async purgeExpired(before: number, limit: number): Promise<number> {
    // Consumed codes are kept until they expire, so a replay is still recognised as one.
    const r = await this.#db
      .deleteFrom('authorization_codes')
      .where('code_hash', 'in', pickBatch(this.#db, this.#db.selectFrom('authorization_codes').select('code_hash').where('expires_at', '<', before).limit(limit)))
      .executeTakeFirst();
    return Number(r.numDeletedRows);
  }
}

function fromRow(r: AuthorizationCodesTable): AuthorizationCode {
  return {
    codeHash: r.code_hash,
    clientId: r.client_id,
    userId: r.user_id,
    sessionId: r.session_id,
    redirectUri: r.redirect_uri,
    redirectUriInRequest: r.redirect_uri_in_request === 1,
    scope: r.scope,
    nonce: r.nonce,
    codeChallenge: r.code_challenge,
    codeChallengeMethod: r.code_challenge_method,
    authTime: r.auth_time,
    amr: parseAmr(r.amr),
    resource: r.resource ?? null,
    dpopJkt: r.dpop_jkt ?? null,
    createdAt: r.created_at,
    expiresAt: r.expires_at,
  };
}

const INSERT_SQL = `INSERT INTO authorization_codes (code_hash, client_id, user_id, session_id, redirect_uri, redirect_uri_in_request, scope, nonce,
  code_challenge, code_challenge_method, auth_time, created_at, expires_at, consumed_at, access_token_jti, access_token_expires_at, refresh_family_id, amr, resource, dpop_jkt)
  VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, NULL, NULL, NULL, NULL, ?, ?, ?)`;
const CONSUME_SQL = 'UPDATE authorization_codes SET consumed_at = ? WHERE code_hash = ? AND consumed_at IS NULL RETURNING *';
const MARK_REPLAY_SQL = 'UPDATE authorization_codes SET replayed_at = ? WHERE code_hash = ? RETURNING *';
/**
 * PostgreSQL: consume and the replay mark as named statements, so with the columns spelled
 * out — `RETURNING *` would make a cached plan fail once a migration adds a column under a
 * running node ("cached plan must not change result type").
 */
const CODE_COLUMNS = `code_hash, client_id, user_id, session_id, redirect_uri, redirect_uri_in_request, scope, nonce, code_challenge,
  code_challenge_method, auth_time, created_at, expires_at, amr, resource, dpop_jkt`;
const CONSUME_SQL_PG = `UPDATE authorization_codes SET consumed_at = $1 WHERE code_hash = $2 AND consumed_at IS NULL RETURNING ${CODE_COLUMNS}`;
const MARK_REPLAY_SQL_PG = `UPDATE authorization_codes SET replayed_at = $1 WHERE code_hash = $2
  RETURNING ${CODE_COLUMNS}, access_token_jti, access_token_expires_at, refresh_family_id`;
const RECORD_SQL = 'UPDATE authorization_codes SET access_token_jti = ?, access_token_expires_at = ?, refresh_family_id = ? WHERE code_hash = ? RETURNING replayed_at';
const FIND_SQL = `SELECT ${CODE_COLUMNS}, consumed_at FROM authorization_codes WHERE code_hash = ?`;
/** Consuming and recording what the code gave, one UPDATE: a replay can never find the one without the other. */
const EXCHANGE_SQL =
  'UPDATE authorization_codes SET consumed_at = ?, access_token_jti = ?, access_token_expires_at = ?, refresh_family_id = ? WHERE code_hash = ? AND consumed_at IS NULL';
/** PostgreSQL: the finds of one event-loop turn in one statement (src/storage/pg-keyed-reads.ts). */
const FIND_MANY_SQL_PG = `SELECT ${CODE_COLUMNS}, consumed_at FROM authorization_codes WHERE code_hash = ANY($1::text[])`;

/**
 * SQLite: insert, consume and recordIssued on statements prepared once and group-committed
 * (src/storage/sqlite-statements.ts); the same statements as the Kysely store builds.
 */
export class SqliteCodeStore extends KyselyCodeStore {
  override readonly exchangeInOneWrite: boolean = false;
  readonly #s: SqliteStatements;
  constructor(db: Kysely<Database>, statements: SqliteStatements) {
    super(db);
    this.#s = statements;
  }

  override insert(c: AuthorizationCode): Promise<void> {
    return this.#s.write(() => {
      this.#s
        .statement(INSERT_SQL)
        .run(c.codeHash, c.clientId, c.userId, c.sessionId, c.redirectUri, c.redirectUriInRequest ? 1 : 0, c.scope, c.nonce, c.codeChallenge, c.codeChallengeMethod, c.authTime, c.createdAt, c.expiresAt, formatAmr(c.amr), c.resource ?? null, c.dpopJkt ?? null);
    });
  }

  override consume(codeHash: string, now: number): Promise<ConsumeResult> {
    return this.#s.write(() => this.#consumeNow(codeHash, now));
  }

  consumeAndDecide<T>(codeHash: string, now: number, decide: (result: ConsumeResult) => ConsumeDecision<T>): Promise<T> {
    return this.#s.write(() => {
      const decision = decide(this.#consumeNow(codeHash, now));
      if (decision.record) {
        const { issued, family } = decision.record;
        // In the consume's transaction: no replay can come between, so none is looked for.
        this.#s.statement(RECORD_SQL).get(issued.accessTokenJti, issued.accessTokenExpiresAt, issued.refreshFamilyId, codeHash);
        if (family) insertFamilyNow(this.#s, family);
      }
      return decision.value;
    });
  }

  #consumeNow(codeHash: string, now: number): ConsumeResult {
    const consumed = this.#s.statement(CONSUME_SQL).get(now, codeHash) as AuthorizationCodesTable | undefined;
    if (consumed) return { status: 'consumed', code: fromRow(consumed) };
    const row = this.#s.statement(MARK_REPLAY_SQL).get(now, codeHash) as AuthorizationCodesTable | undefined;
    if (!row) return { status: 'unknown' };
    return { status: 'replayed', code: fromRow(row), accessTokenJti: row.access_token_jti, accessTokenExpiresAt: row.access_token_expires_at, refreshFamilyId: row.refresh_family_id };
  }

  override find(codeHash: string): Promise<{ code: AuthorizationCode; consumed: boolean } | undefined> {
    return this.#s.run(() => {
      const row = this.#s.statement(FIND_SQL).get(codeHash) as AuthorizationCodesTable | undefined;
      return row && { code: fromRow(row), consumed: row.consumed_at !== null };
    });
  }

  override exchange(codeHash: string, now: number, issued: IssuedFromCode, family: NewFamily | undefined): Promise<boolean> {
    return this.#s.write(() => {
      const consumed = this.#s.statement(EXCHANGE_SQL).run(now, issued.accessTokenJti, issued.accessTokenExpiresAt, issued.refreshFamilyId, codeHash);
      if (Number(consumed.changes) !== 1) return false;
      if (family) insertFamilyNow(this.#s, family);
      return true;
    });
  }

  override recordIssued(codeHash: string, issued: IssuedFromCode): Promise<{ replayed: boolean }> {
    return this.#s.write(() => {
      const row = this.#s.statement(RECORD_SQL).get(issued.accessTokenJti, issued.accessTokenExpiresAt, issued.refreshFamilyId, codeHash) as { replayed_at: number | null } | undefined;
      return { replayed: row !== undefined && row.replayed_at !== null };
    });
  }
}

/**
 * PostgreSQL: the code exchange's writes (consume, recordIssued) through group commit
 * (src/storage/pg-group-commit.ts), as named statements of the same texts as on SQLite.
 */
export class PostgresCodeStore extends KyselyCodeStore {
  readonly #db: Kysely<Database>;
  readonly #group: PgGroupCommit;
  /** The finds of one turn as one statement; `stats` for tests. */
  readonly finds: PgKeyedReads<AuthorizationCodesTable, { code: AuthorizationCode; consumed: boolean }>;
  constructor(db: Kysely<Database>, group: PgGroupCommit) {
    super(db);
    this.#db = db;
    this.#group = group;
    this.finds = new PgKeyedReads(
      group,
      (hashes) =>
        typeof hashes === 'string'
          ? { name: 'tessera_code_find', sql: pgText(FIND_SQL), parameters: [hashes] }
          : { name: 'tessera_code_find_many', sql: FIND_MANY_SQL_PG, parameters: [hashes] },
      (row: AuthorizationCodesTable) => row.code_hash,
      (row) => ({ code: fromRow(row), consumed: row.consumed_at !== null }),
    );
  }

  override find(codeHash: string): Promise<{ code: AuthorizationCode; consumed: boolean } | undefined> {
    return this.finds.get(codeHash);
  }

  /** One statement: the code's UPDATE, and the family's inserts only for the row it consumed. */
  override async exchange(codeHash: string, now: number, issued: IssuedFromCode, family: NewFamily | undefined): Promise<boolean> {
    if (family === undefined) {
      const result = await this.#group.query({
        name: 'tessera_code_exchange',
        sql: pgText(EXCHANGE_SQL),
        parameters: [now, issued.accessTokenJti, issued.accessTokenExpiresAt, issued.refreshFamilyId, codeHash],
      });
      return result.rowCount === 1;
    }
    const compiled = pgExchange(codeHash, now, issued, family).compile(this.#db);
    const result = await this.#group.query<{ consumed: number }>({ name: family.family.tokenKey ? 'tessera_code_exchange_keyed_family' : 'tessera_code_exchange_family', sql: compiled.sql, parameters: compiled.parameters });
    return result.rows[0]?.consumed === 1;
  }

  override async consume(codeHash: string, now: number): Promise<ConsumeResult> {
    const consumed = await this.#group.query<AuthorizationCodesTable>({ name: 'tessera_code_consume', sql: CONSUME_SQL_PG, parameters: [now, codeHash] });
    if (consumed.rows[0]) return { status: 'consumed', code: fromRow(consumed.rows[0]) };
    const replayed = await this.#group.query<AuthorizationCodesTable>({ name: 'tessera_code_mark_replay', sql: MARK_REPLAY_SQL_PG, parameters: [now, codeHash] });
    const row = replayed.rows[0];
    if (!row) return { status: 'unknown' };
    return { status: 'replayed', code: fromRow(row), accessTokenJti: row.access_token_jti, accessTokenExpiresAt: row.access_token_expires_at, refreshFamilyId: row.refresh_family_id };
  }

  override async recordIssued(codeHash: string, issued: IssuedFromCode): Promise<{ replayed: boolean }> {
    const result = await this.#group.query<{ replayed_at: number | null }>({
      name: 'tessera_code_record_issued',
      sql: pgText(RECORD_SQL),
      parameters: [issued.accessTokenJti, issued.accessTokenExpiresAt, issued.refreshFamilyId, codeHash],
    });
    const row = result.rows[0];
    return { replayed: row !== undefined && row.replayed_at !== null };
  }
}

function pgExchange(codeHash: string, now: number, issued: IssuedFromCode, family: NewFamily) {
  return sql<{ consumed: number }>`
    WITH consumed AS (
      UPDATE authorization_codes
      SET consumed_at = ${now}, access_token_jti = ${issued.accessTokenJti}, access_token_expires_at = ${issued.accessTokenExpiresAt}, refresh_family_id = ${issued.refreshFamilyId}
      WHERE code_hash = ${codeHash} AND consumed_at IS NULL
      RETURNING code_hash
    ), ${pgFamilyCtes(family, 'consumed')}
    SELECT count(*)::int AS consumed FROM consumed`;
}

/** The code store for a database: prepared statements on SQLite, group commit on PostgreSQL. */
export function codeStoreFor(handle: DatabaseHandle): CodeStore {
  if (handle.sqlite) return new SqliteCodeStore(handle.db, handle.sqlite);
  if (handle.groupCommit) return new PostgresCodeStore(handle.db, handle.groupCommit);
  return new KyselyCodeStore(handle.db);
}
