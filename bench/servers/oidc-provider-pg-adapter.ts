/**
 * A persistent PostgreSQL adapter for node-oidc-provider: the fair peer for a server that
 * persists (issue 16). It follows the shape of the adapters the library's users write (one
 * table of JSON payloads keyed by model and id, with the lookup columns the adapter API
 * needs) and does what the adapter contract asks, one autocommitted statement per call, as
 * those adapters do. node-oidc-provider decides how many calls a request makes; nothing here
 * batches or caches, so every answer means its grant and tokens are committed — the same
 * promise Tessera makes.
 */
import pg from 'pg';

type Payload = Record<string, unknown> & { grantId?: string; uid?: string; userCode?: string };

const SCHEMA = `
  CREATE TABLE IF NOT EXISTS oidc_payloads (
    model text NOT NULL,
    id text NOT NULL,
    payload jsonb NOT NULL,
    grant_id text,
    user_code text,
    uid text,
    expires_at timestamptz,
    consumed_at timestamptz,
    PRIMARY KEY (model, id)
  );
  CREATE INDEX IF NOT EXISTS oidc_payloads_grant_id ON oidc_payloads (grant_id);
  CREATE INDEX IF NOT EXISTS oidc_payloads_uid ON oidc_payloads (uid);
  CREATE INDEX IF NOT EXISTS oidc_payloads_user_code ON oidc_payloads (user_code);`;

/** Creates the table, then answers the adapter class node-oidc-provider instantiates per model. */
export async function postgresAdapter(connectionString: string, poolSize = 10): Promise<{ Adapter: new (model: string) => unknown; pool: pg.Pool }> {
  const pool = new pg.Pool({ connectionString, max: poolSize });
  await pool.query(SCHEMA);

  const live = (row: { payload: Payload; consumed_at: Date | null } | undefined): Payload | undefined =>
    row ? { ...row.payload, ...(row.consumed_at ? { consumed: Math.floor(row.consumed_at.getTime() / 1000) } : {}) } : undefined;
  const FIND = 'SELECT payload, consumed_at FROM oidc_payloads WHERE model = $1 AND %COL% = $2 AND (expires_at IS NULL OR expires_at > now())';

  class PostgresAdapter {
    readonly model: string;
    constructor(model: string) {
      this.model = model;
    }
    async upsert(id: string, payload: Payload, expiresIn?: number): Promise<void> {
      await pool.query(
        `INSERT INTO oidc_payloads (model, id, payload, grant_id, user_code, uid, expires_at)
         VALUES ($1, $2, $3, $4, $5, $6, CASE WHEN $7::int IS NULL THEN NULL ELSE now() + make_interval(secs => $7::int) END)
         ON CONFLICT (model, id) DO UPDATE SET payload = EXCLUDED.payload, grant_id = EXCLUDED.grant_id,
           user_code = EXCLUDED.user_code, uid = EXCLUDED.uid, expires_at = EXCLUDED.expires_at`,
        [this.model, id, payload, payload.grantId ?? null, payload.userCode ?? null, payload.uid ?? null, typeof expiresIn === 'number' ? Math.ceil(expiresIn) : null],
      );
    }
    async find(id: string): Promise<Payload | undefined> {
      return live((await pool.query(FIND.replace('%COL%', 'id'), [this.model, id])).rows[0]);
    }
    async findByUid(uid: string): Promise<Payload | undefined> {
      return live((await pool.query(FIND.replace('%COL%', 'uid'), [this.model, uid])).rows[0]);
    }
    async findByUserCode(userCode: string): Promise<Payload | undefined> {
      return live((await pool.query(FIND.replace('%COL%', 'user_code'), [this.model, userCode])).rows[0]);
    }
    async consume(id: string): Promise<void> {
      await pool.query('UPDATE oidc_payloads SET consumed_at = now() WHERE model = $1 AND id = $2', [this.model, id]);
    }
    async destroy(id: string): Promise<void> {
      await pool.query('DELETE FROM oidc_payloads WHERE model = $1 AND id = $2', [this.model, id]);
    }
    async revokeByGrantId(grantId: string): Promise<void> {
      await pool.query('DELETE FROM oidc_payloads WHERE grant_id = $1', [grantId]);
    }
  }
  return { Adapter: PostgresAdapter, pool };
}
