import { sql, type Kysely, type RawBuilder, type Transaction } from 'kysely';
import { pickBatch } from '../storage/batch-delete.ts';
import { formatAmr, parseAmr } from '../identity/authentication-methods.ts';
import type { DatabaseHandle } from '../storage/database.ts';
import type { Database } from '../storage/schema.ts';
import type { PgGroupCommit } from '../storage/pg-group-commit.ts';
import { PgKeyedReads } from '../storage/pg-keyed-reads.ts';
import { pgText } from '../storage/pg-text.ts';
import type { SqliteStatements } from '../storage/sqlite-statements.ts';
import { hashesEqual } from '../lib/crypto.ts';
import type { RefreshTokenGeneration } from './refresh-token-format.ts';

export interface RefreshFamily {
  id: string;
  clientId: string;
  userId: string | null;
  scope: string;
  sessionId: string | null;
  authTime: number | null;
  /** How the user signed in (RFC 8176), kept for the ID tokens of every refresh. */
  amr: string[];
  /** RFC 8707: the resource the grant is bound to; every access token from it is for that one. */
  resource?: string | null;
  /** RFC 9449 §5: a public client's grant is bound to its DPoP key; every refresh proves it (null: not bound). */
  dpopJkt?: string | null;
  createdAt: number;
  expiresAt: number;
  revokedAt: number | null;
  /**
   * The key its tokens name it by (src/oauth/refresh-token-format.ts): its current token is
   * kept on its own row and rotated there. Null or absent: a family issued before migration
   * 0026, its tokens rows of `refresh_tokens`.
   */
  tokenKey?: string | null;
}

export interface PresentedRefreshToken {
  family: RefreshFamily;
  scope: string;
  expiresAt: number;
  /** Null: the family's current token. Set: a spent one (for a token of an earlier generation, when its successor's successor… was issued: the current token's issue time). */
  usedAt: number | null;
  /** The token's generation, for a family with a token key (rotate() needs it); absent for a token of `refresh_tokens`. */
  generation?: number;
}

/** `revoked`: the family was revoked after the token was found (families with a token key; the caller issues nothing and records no replay). */
export type RotateResult = { status: 'rotated' } | { status: 'already_used' } | { status: 'revoked' };

/** A family to create with its first token (createFamily's arguments, for writes that carry one: CodeStore.exchange). */
export interface NewFamily {
  family: RefreshFamily;
  firstTokenHash: string;
  tokenExpiresAt: number;
}

/**
 * Refresh tokens grouped in families, stored only as SHA-256 hashes; reuse of a rotated token
 * revokes the whole family (RFC 9700 §4.14.2). A family issued since migration 0026 keeps its
 * current token on its own row and knows a spent one by its earlier generation
 * (refresh-token-format.ts); an older family adds a `refresh_tokens` row at every rotation.
 */
export interface RefreshStore {
  /** A family with `tokenKey` keeps `firstTokenHash` on its own row (generation 0); one without, as a `refresh_tokens` row. */
  createFamily(family: RefreshFamily, firstTokenHash: string, tokenExpiresAt: number): Promise<void>;
  /**
   * The token with this hash. `named`: what the token says of itself (parseRefreshToken): its
   * family is found by key, and it is that family's current token if the generation and hash
   * match, a spent one if its generation is earlier, nothing otherwise. Without: a token of
   * `refresh_tokens`, by hash.
   */
  find(tokenHash: string, named?: RefreshTokenGeneration): Promise<PresentedRefreshToken | undefined>;
  /**
   * Replaces the current token `oldHash` by `newHash` in one atomic write; only one caller can
   * win. `generation`: the presented token's (PresentedRefreshToken.generation) — the family
   * row's token moves to `generation + 1`; absent, `oldHash` is marked used in
   * `refresh_tokens` and `newHash` added there. The family's own expiry never moves: it is
   * absolute from the first issue, so callers pass the family's `expiresAt` (or earlier) as
   * the new token's `expiresAt`.
   */
  rotate(oldHash: string, newHash: string, familyId: string, scope: string, now: number, expiresAt: number, generation?: number): Promise<RotateResult>;
  /** Ends the family; false when it was revoked already (or does not exist). */
  revokeFamily(familyId: string, now: number): Promise<boolean>;
  /** Revokes every live family of a user and app (revoking their grant); returns how many. */
  revokeForGrant(userId: string, clientId: string, now: number): Promise<number>;
  /** Revokes every live family of a user, whatever the app (their password changed); returns how many. */
  revokeForUser(userId: string, now: number): Promise<number>;
  /** Live (unrevoked, unexpired) families per user and app, keyed `<user_id>|<client_id>`. */
  countLive(filter: { userId?: string | undefined; clientId?: string | undefined }, now: number): Promise<Map<string, number>>;
  /**
   * Deletes up to `limit` `refresh_tokens` rows (families issued before migration 0026) of
   * families that expired before `before`. A family's tokens — used ones too, which detect
   * reuse — stay while the family lives, revoked or not.
   */
  purgeExpiredTokens(before: number, limit: number): Promise<number>;
  /** Deletes up to `limit` families that expired before `before` (after their tokens: purgeExpiredTokens). */
  purgeExpiredFamilies(before: number, limit: number): Promise<number>;
}

export class KyselyRefreshStore implements RefreshStore {
  readonly #db: Kysely<Database>;
  readonly #dialect: 'sqlite' | 'postgres';
  constructor(db: Kysely<Database>, dialect: 'sqlite' | 'postgres' = 'sqlite') {
    this.#db = db;
    this.#dialect = dialect;
  }

  async createFamily(f: RefreshFamily, firstTokenHash: string, tokenExpiresAt: number): Promise<void> {
    if (this.#dialect === 'postgres') {
      // The family and its first token in one statement (one round trip, atomic).
      await pgCreateFamily(f, firstTokenHash, tokenExpiresAt).execute(this.#db);
      return;
    }
    await this.#db.transaction().execute((trx) => insertFamily(trx, { family: f, firstTokenHash, tokenExpiresAt }));
  }

  async find(tokenHash: string, named?: RefreshTokenGeneration): Promise<PresentedRefreshToken | undefined> {
    if (named !== undefined) {
      const family = await this.#db.selectFrom('refresh_token_families').select(FAMILY_COLUMNS).where('token_key', '=', named.key).executeTakeFirst();
      return family && presentedByGeneration(family as FamilyPart, named, tokenHash);
    }
    const row = await this.#db
      .selectFrom('refresh_tokens as t')
      .innerJoin('refresh_token_families as f', 'f.id', 't.family_id')
      .select([
        't.scope as token_scope',
        't.expires_at as token_expires_at',
        't.used_at',
        'f.id',
        'f.client_id',
        'f.user_id',
        'f.scope',
        'f.session_id',
        'f.auth_time',
        'f.amr',
        'f.resource',
        'f.dpop_jkt',
        'f.created_at',
        'f.expires_at',
        'f.revoked_at',
      ])
      .where('t.token_hash', '=', tokenHash)
      .executeTakeFirst();
    return row && presentedFromRow(row, row);
  }

  async rotate(oldHash: string, newHash: string, familyId: string, scope: string, now: number, expiresAt: number, generation?: number): Promise<RotateResult> {
    if (generation !== undefined) {
      const updated = await this.#db
        .updateTable('refresh_token_families')
        .set({ token_generation: generation + 1, token_hash: newHash, token_scope: scope, token_expires_at: expiresAt, token_issued_at: now })
        .where('id', '=', familyId)
        .where('token_generation', '=', generation)
        .where('token_hash', '=', oldHash)
        .where('revoked_at', 'is', null)
        .executeTakeFirst();
      if (Number(updated.numUpdatedRows) === 1) return { status: 'rotated' };
      return notRotated(await this.#db.selectFrom('refresh_token_families').select('revoked_at').where('id', '=', familyId).executeTakeFirst());
    }
    if (this.#dialect === 'postgres') {
      // One statement (see pgRotate).
      const result = await pgRotate(oldHash, newHash, familyId, scope, now, expiresAt).execute(this.#db);
      return result.rows[0]?.spent === 1 ? { status: 'rotated' } : { status: 'already_used' };
    }
    // SQLite has no data-modifying CTEs; its transactions are local and cheap.
    return this.#db.transaction().execute(async (trx) => {
      const updated = await trx
        .updateTable('refresh_tokens')
        .set({ used_at: now })
        .where('token_hash', '=', oldHash)
        .where('used_at', 'is', null)
        .executeTakeFirst();
      if (Number(updated.numUpdatedRows) !== 1) return { status: 'already_used' } as const;
      await trx
        .insertInto('refresh_tokens')
        .values({ token_hash: newHash, family_id: familyId, scope, created_at: now, expires_at: expiresAt, used_at: null })
        .execute();
      return { status: 'rotated' } as const;
    });
  }

  async revokeFamily(familyId: string, now: number): Promise<boolean> {
    const r = await this.#db
      .updateTable('refresh_token_families')
      .set({ revoked_at: now })
      .where('id', '=', familyId)
      .where('revoked_at', 'is', null)
      .executeTakeFirst();
    return Number(r.numUpdatedRows) > 0;
  }

  async revokeForGrant(userId: string, clientId: string, now: number): Promise<number> {
    const r = await this.#db
      .updateTable('refresh_token_families')
      .set({ revoked_at: now })
      .where('user_id', '=', userId)
      .where('client_id', '=', clientId)
      .where('revoked_at', 'is', null)
      .executeTakeFirst();
    return Number(r.numUpdatedRows);
  }

  async revokeForUser(userId: string, now: number): Promise<number> {
    const r = await this.#db
      .updateTable('refresh_token_families')
      .set({ revoked_at: now })
      .where('user_id', '=', userId)
      .where('revoked_at', 'is', null)
      .executeTakeFirst();
    return Number(r.numUpdatedRows);
  }

  async countLive(filter: { userId?: string | undefined; clientId?: string | undefined }, now: number): Promise<Map<string, number>> {
    let q = this.#db
      .selectFrom('refresh_token_families')
      .select(['user_id', 'client_id', (eb) => eb.fn.countAll<number>().as('n')])
      .where('revoked_at', 'is', null)
      .where('expires_at', '>', now);
    if (filter.userId) q = q.where('user_id', '=', filter.userId);
    if (filter.clientId) q = q.where('client_id', '=', filter.clientId);
    const rows = await q.groupBy(['user_id', 'client_id']).execute();
    return new Map(rows.map((f) => [`${f.user_id}|${f.client_id}`, Number(f.n)]));
  }

  async purgeExpiredTokens(before: number, limit: number): Promise<number> {
    // Tokens first, in batches: deleting a family cascades to all its tokens (one per
    // rotation, thousands for a long-lived family) in one statement.
    const db = this.#db;
    const expiredFamilies = db.selectFrom('refresh_token_families').select('id').where('expires_at', '<', before);
    const r = await db
      .deleteFrom('refresh_tokens')
      .where('token_hash', 'in', pickBatch(db, db.selectFrom('refresh_tokens').select('token_hash').where('family_id', 'in', expiredFamilies).limit(limit)))
      .executeTakeFirst();
    return Number(r.numDeletedRows);
  }

  async purgeExpiredFamilies(before: number, limit: number): Promise<number> {
    const db = this.#db;
    const r = await db
      .deleteFrom('refresh_token_families')
      .where('id', 'in', pickBatch(db, db.selectFrom('refresh_token_families').select('id').where('expires_at', '<', before).limit(limit)))
      .executeTakeFirst();
    return Number(r.numDeletedRows);
  }
}

interface PresentedRow {
  token_scope: string;
  token_expires_at: number;
  used_at: number | null;
  id: string;
  client_id: string;
  user_id: string | null;
  scope: string;
  session_id: string | null;
  auth_time: number | null;
  amr: string | null;
  resource: string | null;
  dpop_jkt?: string | null;
  created_at: number;
  expires_at: number;
  revoked_at: number | null;
  token_key?: string | null;
}

/** A family row read with its current token (families with a token key). */
interface FamilyTokenColumns {
  token_generation?: number | null;
  token_hash?: string | null;
  token_scope?: string | null;
  token_expires_at?: number | null;
  token_issued_at?: number | null;
}

const FAMILY_COLUMNS = [
  'id', 'client_id', 'user_id', 'scope', 'session_id', 'auth_time', 'amr', 'resource', 'dpop_jkt', 'created_at', 'expires_at', 'revoked_at',
  'token_key', 'token_generation', 'token_hash', 'token_scope', 'token_expires_at', 'token_issued_at',
] as const;

type TokenPart = Pick<PresentedRow, 'token_scope' | 'token_expires_at' | 'used_at'> & { family_id: string };
type FamilyPart = Omit<PresentedRow, 'token_scope' | 'token_expires_at' | 'used_at'> & FamilyTokenColumns;

/**
 * A token that names its family (refresh-token-format.ts), against the family's row: its
 * current token when generation and hash match; a spent one when its generation is earlier
 * (reuse: the caller revokes the family); otherwise none — a forged or mistyped token
 * changes nothing.
 */
function presentedByGeneration(row: FamilyPart, named: RefreshTokenGeneration, tokenHash: string): PresentedRefreshToken | undefined {
  const current = row.token_generation;
  if (current === null || current === undefined || row.token_hash == null || row.token_expires_at == null) return undefined;
  const generation = Number(current);
  let usedAt: number | null;
  if (named.generation === generation) {
    if (!hashesEqual(row.token_hash, tokenHash)) return undefined;
    usedAt = null;
  } else if (named.generation < generation) {
    usedAt = Number(row.token_issued_at ?? row.created_at);
  } else {
    return undefined;
  }
  return presentedFromRow(row, { token_scope: row.token_scope ?? row.scope, token_expires_at: Number(row.token_expires_at), used_at: usedAt }, named.generation);
}

/** A new family and its first token through Kysely, inside the caller's transaction. */
export async function insertFamily(trx: Transaction<Database>, { family: f, firstTokenHash, tokenExpiresAt }: NewFamily): Promise<void> {
  await trx
    .insertInto('refresh_token_families')
    .values({
      id: f.id,
      client_id: f.clientId,
      user_id: f.userId,
      scope: f.scope,
      session_id: f.sessionId,
      auth_time: f.authTime,
      amr: formatAmr(f.amr),
      resource: f.resource ?? null,
      dpop_jkt: f.dpopJkt ?? null,
      created_at: f.createdAt,
      expires_at: f.expiresAt,
      revoked_at: null,
      ...(f.tokenKey
        ? { token_key: f.tokenKey, token_generation: 0, token_hash: firstTokenHash, token_scope: f.scope, token_expires_at: tokenExpiresAt, token_issued_at: f.createdAt }
        : {}),
    })
    .execute();
  if (f.tokenKey) return;
  await trx
    .insertInto('refresh_tokens')
    .values({ token_hash: firstTokenHash, family_id: f.id, scope: f.scope, created_at: f.createdAt, expires_at: tokenExpiresAt, used_at: null })
    .execute();
}

/** `token`: the same row when read with the join. */
function presentedFromRow(row: FamilyPart, token: Pick<PresentedRow, 'token_scope' | 'token_expires_at' | 'used_at'>, generation?: number): PresentedRefreshToken {
  const presented: PresentedRefreshToken = {
    family: {
      id: row.id,
      clientId: row.client_id,
      userId: row.user_id,
      scope: row.scope,
      sessionId: row.session_id,
      authTime: row.auth_time,
      amr: parseAmr(row.amr),
      resource: row.resource ?? null,
      dpopJkt: row.dpop_jkt ?? null,
      createdAt: row.created_at,
      expiresAt: row.expires_at,
      revokedAt: row.revoked_at,
    },
    scope: token.token_scope,
    expiresAt: token.token_expires_at,
    usedAt: token.used_at,
  };
  if (row.token_key) presented.family.tokenKey = row.token_key;
  if (generation !== undefined) presented.generation = generation;
  return presented;
}

const FIND_SQL = `SELECT t.scope AS token_scope, t.expires_at AS token_expires_at, t.used_at, f.id, f.client_id, f.user_id, f.scope,
  f.session_id, f.auth_time, f.amr, f.resource, f.dpop_jkt, f.created_at, f.expires_at, f.revoked_at
  FROM refresh_tokens t JOIN refresh_token_families f ON f.id = t.family_id WHERE t.token_hash = ?`;
// SQLite: the same read as two primary-key lookups. node:sqlite runs the join in ~13.5 µs and
// these two in ~7 µs together, the same columns (measured on this machine, issue 16).
const FIND_TOKEN_SQL = 'SELECT family_id, scope AS token_scope, expires_at AS token_expires_at, used_at FROM refresh_tokens WHERE token_hash = ?';
const FIND_FAMILY_SQL = `SELECT id, client_id, user_id, scope, session_id, auth_time, amr, resource, dpop_jkt, created_at, expires_at, revoked_at
  FROM refresh_token_families WHERE id = ?`;
/** PostgreSQL: the lookups of one event-loop turn in one statement (src/storage/pg-keyed-reads.ts). */
const FIND_ONE_SQL_PG = `SELECT t.token_hash, ${FIND_SQL.slice('SELECT '.length).replace('?', '$1')}`;
const FIND_MANY_SQL_PG = FIND_ONE_SQL_PG.replace('t.token_hash = $1', 't.token_hash = ANY($1::text[])');
const SPEND_SQL = 'UPDATE refresh_tokens SET used_at = ? WHERE token_hash = ? AND used_at IS NULL AND family_id = ?';
const INSERT_TOKEN_SQL = 'INSERT INTO refresh_tokens (token_hash, family_id, scope, created_at, expires_at, used_at) VALUES (?, ?, ?, ?, ?, NULL)';
const INSERT_FAMILY_SQL = `INSERT INTO refresh_token_families (id, client_id, user_id, scope, session_id, auth_time, amr, resource, dpop_jkt, created_at, expires_at, revoked_at)
  VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, NULL)`;
// Families with a token key (migration 0026): the current token on the family's own row.
const INSERT_KEYED_FAMILY_SQL = `INSERT INTO refresh_token_families (id, client_id, user_id, scope, session_id, auth_time, amr, resource, dpop_jkt, created_at, expires_at, revoked_at,
  token_key, token_generation, token_hash, token_scope, token_expires_at, token_issued_at)
  VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, NULL, ?, 0, ?, ?, ?, ?)`;
const FIND_BY_KEY_SQL = `SELECT ${FAMILY_COLUMNS.join(', ')} FROM refresh_token_families WHERE token_key = ?`;
/**
 * The rotation: one conditional UPDATE of the family row. Of two uses of one token only the
 * first finds the generation and hash it read; a family revoked since the token was found
 * (by /connect/revocation, say) is not rotated, so no token is issued from it.
 */
const ROTATE_KEYED_SQL = `UPDATE refresh_token_families SET token_generation = ?, token_hash = ?, token_scope = ?, token_expires_at = ?, token_issued_at = ?
  WHERE id = ? AND token_generation = ? AND token_hash = ? AND revoked_at IS NULL`;
/** Why a keyed rotation changed nothing: revoked meanwhile, or spent (the caller's reuse). */
const FAMILY_REVOKED_SQL = 'SELECT revoked_at FROM refresh_token_families WHERE id = ?';

/** A keyed rotation that changed nothing, by its family's row as read after it (every store decides the same way). */
function notRotated(family: { revoked_at: number | null } | undefined): RotateResult {
  return family && family.revoked_at !== null ? { status: 'revoked' } : { status: 'already_used' };
}

const FIND_BY_KEY_ONE_SQL_PG = pgText(FIND_BY_KEY_SQL);
const FIND_BY_KEY_MANY_SQL_PG = FIND_BY_KEY_SQL.replace('token_key = ?', 'token_key = ANY($1::text[])');
const FAMILY_REVOKED_SQL_PG = pgText(FAMILY_REVOKED_SQL);
const ROTATE_KEYED_SQL_PG = pgText(ROTATE_KEYED_SQL);

/**
 * SQLite: the refresh path (find, rotate, the first token of a family) on statements
 * prepared once (src/storage/sqlite-statements.ts), the writes group-committed with those
 * of concurrent requests; the rest through Kysely.
 */
export class SqliteRefreshStore extends KyselyRefreshStore {
  readonly #s: SqliteStatements;
  constructor(db: Kysely<Database>, statements: SqliteStatements) {
    super(db, 'sqlite');
    this.#s = statements;
  }

  /**
   * The token's row, then its family's, in one read transaction (a snapshot: no write of this
   * process or another — the CLI — comes between them, and one WAL read lock serves both).
   * Spending stays decided by rotate()'s conditional UPDATE.
   */
  override find(tokenHash: string, named?: RefreshTokenGeneration): Promise<PresentedRefreshToken | undefined> {
    if (named !== undefined) {
      // One read: the family row holds its current token. Through run(), so it never reads
      // inside a transaction Kysely holds open (SqliteStatements).
      return this.#s.run(() => {
        const family = this.#s.statement(FIND_BY_KEY_SQL).get(named.key) as FamilyPart | undefined;
        return family && presentedByGeneration(family, named, tokenHash);
      });
    }
    return this.#s.snapshot(() => {
      const token = this.#s.statement(FIND_TOKEN_SQL).get(tokenHash) as TokenPart | undefined;
      if (token === undefined) return undefined;
      const family = this.#s.statement(FIND_FAMILY_SQL).get(token.family_id) as FamilyPart | undefined;
      return family && presentedFromRow(family, token);
    });
  }

  override rotate(oldHash: string, newHash: string, familyId: string, scope: string, now: number, expiresAt: number, generation?: number): Promise<RotateResult> {
    if (generation !== undefined) {
      return this.#s.write((): RotateResult => {
        if (Number(this.#s.statement(ROTATE_KEYED_SQL).run(generation + 1, newHash, scope, expiresAt, now, familyId, generation, oldHash).changes) === 1) return { status: 'rotated' };
        return notRotated(this.#s.statement(FAMILY_REVOKED_SQL).get(familyId) as { revoked_at: number | null } | undefined);
      });
    }
    return this.#s.write(() => {
      if (Number(this.#s.statement(SPEND_SQL).run(now, oldHash, familyId).changes) !== 1) return { status: 'already_used' } as const;
      this.#s.statement(INSERT_TOKEN_SQL).run(newHash, familyId, scope, now, expiresAt);
      return { status: 'rotated' } as const;
    });
  }

  override createFamily(f: RefreshFamily, firstTokenHash: string, tokenExpiresAt: number): Promise<void> {
    return this.#s.write(() => insertFamilyNow(this.#s, { family: f, firstTokenHash, tokenExpiresAt }));
  }
}

/** SQLite: a new family and its first token on the prepared statements; synchronous, for `SqliteStatements.write` work. */
export function insertFamilyNow(s: SqliteStatements, { family: f, firstTokenHash, tokenExpiresAt }: NewFamily): void {
  if (f.tokenKey) {
    s.statement(INSERT_KEYED_FAMILY_SQL).run(
      f.id, f.clientId, f.userId, f.scope, f.sessionId, f.authTime, formatAmr(f.amr), f.resource ?? null, f.dpopJkt ?? null, f.createdAt, f.expiresAt,
      f.tokenKey, firstTokenHash, f.scope, tokenExpiresAt, f.createdAt,
    );
    return;
  }
  s.statement(INSERT_FAMILY_SQL).run(f.id, f.clientId, f.userId, f.scope, f.sessionId, f.authTime, formatAmr(f.amr), f.resource ?? null, f.dpopJkt ?? null, f.createdAt, f.expiresAt);
  s.statement(INSERT_TOKEN_SQL).run(firstTokenHash, f.id, f.scope, f.createdAt, tokenExpiresAt);
}

/** PostgreSQL: the family and its first token in one statement. */
function pgCreateFamily(f: RefreshFamily, firstTokenHash: string, tokenExpiresAt: number) {
  return sql`WITH ${pgFamilyCtes({ family: f, firstTokenHash, tokenExpiresAt })} SELECT 1`;
}

/**
 * PostgreSQL: CTEs `family` and `first_token` that insert a new family and its first token —
 * once for each row of the CTE `gate` when one is named (written before these: a statement
 * that creates the family only if its own write happened, CodeStore.exchange), else once.
 */
export function pgFamilyCtes({ family: f, firstTokenHash, tokenExpiresAt }: NewFamily, gate?: string): RawBuilder<unknown> {
  if (f.tokenKey) {
    // The current token on the family's row (migration 0026): one insert.
    return sql`family AS (
      INSERT INTO refresh_token_families (id, client_id, user_id, scope, session_id, auth_time, amr, resource, dpop_jkt, created_at, expires_at, revoked_at,
        token_key, token_generation, token_hash, token_scope, token_expires_at, token_issued_at)
      SELECT ${f.id}, ${f.clientId}, ${f.userId}, ${f.scope}, ${f.sessionId}, ${f.authTime}, ${formatAmr(f.amr)}, ${f.resource ?? null}, ${f.dpopJkt ?? null}, ${f.createdAt}, ${f.expiresAt}, NULL,
        ${f.tokenKey}, 0, ${firstTokenHash}, ${f.scope}, ${tokenExpiresAt}, ${f.createdAt}${gate === undefined ? sql`` : sql` FROM ${sql.table(gate)}`}
      RETURNING id
    )`;
  }
  return sql`family AS (
      INSERT INTO refresh_token_families (id, client_id, user_id, scope, session_id, auth_time, amr, resource, dpop_jkt, created_at, expires_at, revoked_at)
      SELECT ${f.id}, ${f.clientId}, ${f.userId}, ${f.scope}, ${f.sessionId}, ${f.authTime}, ${formatAmr(f.amr)}, ${f.resource ?? null}, ${f.dpopJkt ?? null}, ${f.createdAt}, ${f.expiresAt}, NULL${gate === undefined ? sql`` : sql` FROM ${sql.table(gate)}`}
      RETURNING id
    ), first_token AS (
      INSERT INTO refresh_tokens (token_hash, family_id, scope, created_at, expires_at, used_at)
      SELECT ${firstTokenHash}, id, ${f.scope}, ${f.createdAt}, ${tokenExpiresAt}, NULL FROM family
    )`;
}

/**
 * PostgreSQL: one statement, one round trip: spending the old token and storing its
 * successor are data-modifying CTEs of a single atomic statement. Of two concurrent
 * rotations, the second waits on the row lock (or, in the same group-commit transaction,
 * runs after the first), finds used_at set, spends nothing and inserts nothing. The family's
 * expires_at is left alone: its lifetime is absolute from the first issue.
 */
function pgRotate(oldHash: string, newHash: string, familyId: string, scope: string, now: number, expiresAt: number) {
  return sql<{ spent: number }>`
    WITH spent AS (
      UPDATE refresh_tokens SET used_at = ${now}
      WHERE token_hash = ${oldHash} AND used_at IS NULL AND family_id = ${familyId}
      RETURNING family_id
    ), successor AS (
      INSERT INTO refresh_tokens (token_hash, family_id, scope, created_at, expires_at, used_at)
      SELECT ${newHash}, family_id, ${scope}, ${now}, ${expiresAt}, NULL FROM spent
      RETURNING family_id
    )
    SELECT count(*)::int AS spent FROM spent`;
}

/**
 * PostgreSQL: the two writes of the refresh path (rotate, a new family) go through group
 * commit (src/storage/pg-group-commit.ts): concurrent requests share one transaction.
 */
export class PostgresRefreshStore extends KyselyRefreshStore {
  readonly #db: Kysely<Database>;
  readonly #group: PgGroupCommit;
  /** The refresh lookups of one turn as one statement; `stats` for tests. */
  readonly finds: PgKeyedReads<PresentedRow & { token_hash: string }, PresentedRefreshToken>;
  /** The same for tokens that name their family (by the family's token key). */
  readonly familyFinds: PgKeyedReads<FamilyPart, FamilyPart>;
  constructor(db: Kysely<Database>, group: PgGroupCommit) {
    super(db, 'postgres');
    this.#db = db;
    this.#group = group;
    this.finds = new PgKeyedReads(
      group,
      (hashes) =>
        typeof hashes === 'string'
          ? { name: 'tessera_refresh_find', sql: FIND_ONE_SQL_PG, parameters: [hashes] }
          : { name: 'tessera_refresh_find_many', sql: FIND_MANY_SQL_PG, parameters: [hashes] },
      (row: PresentedRow & { token_hash: string }) => row.token_hash,
      (row) => presentedFromRow(row, row),
    );
    this.familyFinds = new PgKeyedReads(
      group,
      (keys) =>
        typeof keys === 'string'
          ? { name: 'tessera_refresh_find_family', sql: FIND_BY_KEY_ONE_SQL_PG, parameters: [keys] }
          : { name: 'tessera_refresh_find_families', sql: FIND_BY_KEY_MANY_SQL_PG, parameters: [keys] },
      (row: FamilyPart) => row.token_key!,
      (row) => row,
    );
  }

  override async find(tokenHash: string, named?: RefreshTokenGeneration): Promise<PresentedRefreshToken | undefined> {
    if (named === undefined) return this.finds.get(tokenHash);
    const family = await this.familyFinds.get(named.key);
    return family && presentedByGeneration(family, named, tokenHash);
  }

  // A raw sql`` template compiles in a few µs (no query builder): its text is fixed, so it
  // runs as a named statement that PostgreSQL plans once per connection.
  override async rotate(oldHash: string, newHash: string, familyId: string, scope: string, now: number, expiresAt: number, generation?: number): Promise<RotateResult> {
    if (generation !== undefined) {
      // One conditional UPDATE of one row, no indexed column changed: it can be a HOT update.
      const result = await this.#group.query({
        name: 'tessera_refresh_rotate_family',
        sql: ROTATE_KEYED_SQL_PG,
        parameters: [generation + 1, newHash, scope, expiresAt, now, familyId, generation, oldHash],
      });
      if (result.rowCount === 1) return { status: 'rotated' };
      const family = await this.#group.query<{ revoked_at: number | null }>({ name: 'tessera_refresh_family_revoked', sql: FAMILY_REVOKED_SQL_PG, parameters: [familyId] });
      return notRotated(family.rows[0]);
    }
    const compiled = pgRotate(oldHash, newHash, familyId, scope, now, expiresAt).compile(this.#db);
    const result = await this.#group.query<{ spent: number }>({ name: 'tessera_refresh_rotate', sql: compiled.sql, parameters: compiled.parameters });
    return result.rows[0]?.spent === 1 ? { status: 'rotated' } : { status: 'already_used' };
  }

  override async createFamily(f: RefreshFamily, firstTokenHash: string, tokenExpiresAt: number): Promise<void> {
    const compiled = pgCreateFamily(f, firstTokenHash, tokenExpiresAt).compile(this.#db);
    await this.#group.query({ name: f.tokenKey ? 'tessera_refresh_create_keyed_family' : 'tessera_refresh_create_family', sql: compiled.sql, parameters: compiled.parameters });
  }
}

/** The refresh store for a database: prepared statements on SQLite, group commit on PostgreSQL. */
export function refreshStoreFor(handle: DatabaseHandle): RefreshStore {
  if (handle.sqlite) return new SqliteRefreshStore(handle.db, handle.sqlite);
  if (handle.groupCommit) return new PostgresRefreshStore(handle.db, handle.groupCommit);
  return new KyselyRefreshStore(handle.db, handle.dialect);
}
