import { randomUUID } from 'node:crypto';
import { Kysely, PostgresDialect, sql, type LogEvent } from 'kysely';
import pg from 'pg';
import { afterAll, beforeAll, beforeEach, describe, expect, test } from 'vitest';
import { KyselyEmailLinkStore } from '../../src/email/email-link-store.ts';
import { Cleanup, expiryJobs, type ExpiringStores, type PurgeJob } from '../../src/app/cleanup.ts';
import { KyselyAuditStore } from '../../src/audit/audit-store.ts';
import type { Clock } from '../../src/clock.ts';
import { KyselySecondStepStore } from '../../src/identity/mfa/second-step-store.ts';
import { KyselyPendingSignInStore } from '../../src/federation/pending-sign-in-store.ts';
import { KyselyGuessThrottleStore } from '../../src/identity/guess-throttle-store.ts';
import { KyselyPasskeyStore } from '../../src/identity/passkey-store.ts';
import { KyselySessionStore } from '../../src/identity/session-store.ts';
import { KyselyCodeStore } from '../../src/oauth/code-store.ts';
import { KyselyClientAssertionJtiStore } from '../../src/oauth/client-assertion-store.ts';
import { KyselyPushedRequestStore } from '../../src/oauth/pushed-request-store.ts';
import { KyselyRefreshStore } from '../../src/oauth/refresh-store.ts';
import { KyselyRevocationStore } from '../../src/oauth/revocation-store.ts';
import { migrateToLatest, openDatabase, parseDatabaseUrl, type DatabaseHandle } from '../../src/storage/database.ts';
import { nodeSqliteDialect, openSqlite } from '../../src/storage/node-sqlite-dialect.ts';
import type { Database } from '../../src/storage/schema.ts';
import { createTestDatabase, DIALECTS, type TestDatabase } from '../support/databases.ts';
import { recordingLogger } from '../support/logger.ts';
import { KyselyDpopReplayStore } from '../../src/oauth/dpop-replay-store.ts';

/**
 * The cleanup of expired rows (issue 12) on SQLite and PostgreSQL: what it removes and what
 * it keeps, table by table; a backlog larger than a batch removed batch by batch; the audit
 * retention; two nodes purging at once; every purge statement found through an index.
 */

const NOW = 1_800_000_000;
const HOUR = 3600;
const DAY = 86_400;
const clock: Clock = { now: () => NOW * 1000 };

/** Kysely on the test database, recording the SQL it runs (to explain it). */
function openLogged(dialect: 'sqlite' | 'postgres', url: string, statements: Array<{ sql: string; parameters: readonly unknown[] }>): { db: Kysely<Database>; close(): Promise<void> } {
  const log = (event: LogEvent) => {
    if (event.level === 'query') statements.push({ sql: event.query.sql, parameters: event.query.parameters });
  };
  const db =
    dialect === 'sqlite'
      ? new Kysely<Database>({ dialect: nodeSqliteDialect(openSqlite(parseDatabaseUrl(url).target)), log })
      : new Kysely<Database>({ dialect: new PostgresDialect({ pool: new pg.Pool({ connectionString: url, max: 4 }) }), log });
  return { db, close: () => db.destroy() };
}

function emailLink(tokenHash: string, expiresAt: number) {
  return { token_hash: tokenHash, purpose: 'password_reset', user_id: null, email: 'x@example.com', data: '{}', created_by: 'anonymous', created_at: expiresAt - 1800, expires_at: expiresAt, used_at: null };
}

function storesOn(db: Kysely<Database>, dialect: 'sqlite' | 'postgres'): ExpiringStores {
  return {
    codes: new KyselyCodeStore(db),
    clientAssertionJtis: new KyselyClientAssertionJtiStore(db),
    pushedRequests: new KyselyPushedRequestStore(db),
    refresh: new KyselyRefreshStore(db, dialect),
    sessions: new KyselySessionStore(db),
    revocations: new KyselyRevocationStore(db),
    throttle: new KyselyGuessThrottleStore(db),
    pendingSignIns: new KyselyPendingSignInStore(db),
    secondSteps: new KyselySecondStepStore(db),
    passkeys: new KyselyPasskeyStore(db),
    audit: new KyselyAuditStore(db),
    emailLinks: new KyselyEmailLinkStore(db),
    dpopProofs: new KyselyDpopReplayStore(db),
    db,
  };
}

describe.each(DIALECTS)('cleanup of expired rows on %s', (dialect) => {
  let database: TestDatabase;
  let handle: DatabaseHandle;
  let db: Kysely<Database>;
  const userId = randomUUID();
  const clientId = randomUUID();
  const providerId = randomUUID();

  beforeAll(async () => {
    database = await createTestDatabase(dialect);
    handle = openDatabase(database.url);
    await migrateToLatest(handle);
    db = handle.db;
    await db
      .insertInto('users')
      .values({ id: userId, username: 'u', username_key: 'u', email: null, email_verified: 0, name: null, given_name: null, family_name: null, password_hash: null, password_changed_at: null, disabled: 0, tokens_valid_after: 0, created_at: NOW, updated_at: NOW })
      .execute();
    await db
      .insertInto('clients')
      .values({
        id: clientId, name: 'c', description: '', secret_hash: null, secret_updated_at: null, previous_secret_hash: null, previous_secret_expires_at: null, public: 0,
        grant_types: '[]', redirect_uris: '[]', post_logout_redirect_uris: '[]', scopes: '[]', default_scopes: '[]', on_behalf_of_user_id: null, access_token_ttl: null,
        refresh_token_ttl: null, require_permission: 'developer_api', id_token_signed_response_alg: null, tokens_valid_after: 0, created_at: NOW, updated_at: NOW,
      })
      .execute();
    await db
      .insertInto('identity_providers')
      .values({ id: providerId, slug: 'p', name: 'P', kind: 'oidc', issuer: null, endpoints: '{}', claim_mapping: null, client_id: 'x', client_secret: null, scopes: '[]', trust_email: 0, enabled: 1, created_at: NOW, updated_at: NOW })
      .execute();
  });
  afterAll(async () => {
    await handle?.close();
    await database?.drop();
  });

  beforeEach(async () => {
    for (const table of ['refresh_tokens', 'refresh_token_families', 'authorization_codes', 'sessions', 'revoked_tokens', 'guess_throttle', 'upstream_sign_ins', 'pending_second_steps', 'webauthn_challenges', 'change_events', 'audit_events'] as const) {
      await db.deleteFrom(table).execute();
    }
  });

  // ---- seeding, straight into the tables (each row expiring at `expiresAt`) ----
  const code = (id: string, expiresAt: number) => ({
    code_hash: id, client_id: clientId, user_id: userId, session_id: null, redirect_uri: 'https://a.example/cb', redirect_uri_in_request: 1, scope: 'openid', nonce: null,
    code_challenge: null, code_challenge_method: null, auth_time: expiresAt - 600, created_at: expiresAt - 600, expires_at: expiresAt, consumed_at: null,
    access_token_jti: null, access_token_expires_at: null, refresh_family_id: null, replayed_at: null,
  });
  const family = (id: string, expiresAt: number, revokedAt: number | null = null) => ({
    id, client_id: clientId, user_id: userId, scope: 'openid', session_id: null, auth_time: null, created_at: expiresAt - 30 * DAY, expires_at: expiresAt, revoked_at: revokedAt,
  });
  const token = (hash: string, familyId: string, expiresAt: number, usedAt: number | null = null) => ({
    token_hash: hash, family_id: familyId, scope: 'openid', created_at: expiresAt - DAY, expires_at: expiresAt, used_at: usedAt,
  });
  const session = (id: string, expiresAt: number, revokedAt: number | null = null) => ({
    id_hash: id, sid: id, user_id: userId, auth_time: expiresAt - HOUR, created_at: expiresAt - HOUR, expires_at: expiresAt, last_seen_at: expiresAt - HOUR, revoked_at: revokedAt, ip: null, user_agent: null,
  });
  const revoked = (jti: string, expiresAt: number) => ({ jti, client_id: clientId, expires_at: expiresAt, revoked_at: expiresAt - HOUR });
  const throttleRow = (key: string, expiresAt: number, blockedUntil: number) => ({ key, account: 'someone', failures: 5, last_failure_at: expiresAt - HOUR, blocked_until: blockedUntil, expires_at: expiresAt });
  const pending = (state: string, expiresAt: number) => ({
    state_hash: state, provider_id: providerId, nonce: 'n', code_verifier: 'v', browser_hash: 'b', redirect_uri: 'https://t.example/cb', return_to: null, created_at: expiresAt - 600, expires_at: expiresAt, consumed_at: null,
  });
  const secondStep = (id: string, expiresAt: number) => ({
    id_hash: id, user_id: userId, amr: 'pwd', browser_hash: 'b', return_to: null, enrol: 0, created_at: expiresAt - 600, expires_at: expiresAt, consumed_at: null,
  });
  const challenge = (id: string, expiresAt: number) => ({ id_hash: id, challenge: 'c', purpose: 'passwordless', user_id: null, expires_at: expiresAt });
  const auditRow = (id: string, at: number) => ({ id: `${String(at * 1000).padStart(15, '0')}-${id}`, at, actor: 'system', action: 'user.create', target_type: 'user', target_id: userId, ip: null, details: '{}' });

  async function insertMany<T extends keyof Database>(table: T, rows: Array<Record<string, unknown>>): Promise<void> {
    for (let i = 0; i < rows.length; i += 200) await db.insertInto(table).values(rows.slice(i, i + 200) as never).execute();
  }

  async function keys(table: keyof Database, column: string): Promise<string[]> {
    const rows = (await sql<{ k: string | number }>`select ${sql.ref(column)} as k from ${sql.table(table)}`.execute(db)).rows;
    return rows.map((r) => String(r.k)).sort();
  }

  test('removes each kind of row once it is no longer needed, and keeps the rest', async () => {
    await insertMany('authorization_codes', [code('code-old', NOW - HOUR - 1), code('code-recent', NOW - HOUR + 60), code('code-live', NOW + 60)]);
    // A family's tokens — used ones too, and a revoked family's — stay while the family lives.
    await insertMany('refresh_token_families', [family('fam-old', NOW - HOUR - 1), family('fam-revoked-live', NOW + DAY, NOW - 10 * DAY), family('fam-live', NOW + DAY)]);
    await insertMany('refresh_tokens', [
      token('rt-old-1', 'fam-old', NOW - 2 * DAY, NOW - 2 * DAY),
      token('rt-old-2', 'fam-old', NOW - HOUR - 1),
      token('rt-revoked-used', 'fam-revoked-live', NOW - 20 * DAY, NOW - 20 * DAY),
      token('rt-revoked', 'fam-revoked-live', NOW + DAY),
      token('rt-live-used', 'fam-live', NOW - 5 * DAY, NOW - 5 * DAY),
      token('rt-live', 'fam-live', NOW + DAY),
    ]);
    await insertMany('sessions', [session('s-old', NOW - DAY - 1), session('s-old-revoked', NOW - DAY - 1, NOW - 2 * DAY), session('s-recent', NOW - 60), session('s-live', NOW + HOUR)]);
    await insertMany('revoked_tokens', [revoked('jti-old', NOW - 301), revoked('jti-recent', NOW - 60), revoked('jti-live', NOW + HOUR)]);
    await insertMany('guess_throttle', [
      throttleRow('t-old', NOW - 1, NOW - 1),
      throttleRow('t-counting', NOW + 60, 0), // not yet forgotten
      throttleRow('t-waiting', NOW - 1, NOW + 60), // forgotten, but still making attempts wait
    ]);
    await insertMany('upstream_sign_ins', [pending('up-old', NOW - HOUR - 1), pending('up-live', NOW + 600)]);
    await insertMany('pending_second_steps', [secondStep('2nd-old', NOW - 1), secondStep('2nd-live', NOW + 600)]);
    await insertMany('webauthn_challenges', [challenge('wc-old', NOW - 1), challenge('wc-live', NOW + 60)]);
    await insertMany('change_events', [
      { kind: 'client', key: 'old', at: NOW - DAY - 1 },
      { kind: 'client', key: 'new', at: NOW - 60 },
    ]);
    await insertMany('audit_events', [auditRow('a-old', NOW - 31 * DAY), auditRow('a-new', NOW - 29 * DAY)]);
    await insertMany('email_links', [emailLink('mail-old', NOW - DAY - 1), emailLink('mail-recent', NOW - 60), emailLink('mail-live', NOW + HOUR)]);
    await insertMany('dpop_proof_jtis', [{ key: 'dpop-old', expires_at: NOW - 1 }, { key: 'dpop-live', expires_at: NOW + 60 }]);

    await insertMany('client_assertion_jtis', [{ jti_hash: 'cj-old', expires_at: NOW - 1 }, { jti_hash: 'cj-live', expires_at: NOW + 60 }]);
    const par = (hash: string, expiresAt: number) => ({ request_uri_hash: hash, client_id: 'c', params: '{}', created_at: expiresAt - 60, started_at: null, expires_at: expiresAt });
    await insertMany('pushed_authorization_requests', [par('par-old', NOW - 1), par('par-live', NOW + 30)]);

    const log = recordingLogger();
    const removed = await new Cleanup(expiryJobs(storesOn(db, dialect), 30), { clock, log }).run();
    expect(removed).toEqual({
      client_assertion_jtis: 1,
      pushed_authorization_requests: 1,
      authorization_codes: 1,
      refresh_tokens: 2,
      refresh_token_families: 1,
      sessions: 2,
      revoked_tokens: 1,
      guess_throttle: 1,
      upstream_sign_ins: 1,
      pending_second_steps: 1,
      webauthn_challenges: 1,
      change_events: 1,
      email_links: 1,
      dpop_proof_jtis: 1,
      audit_events: 1,
    });
    expect(await keys('dpop_proof_jtis', 'key')).toEqual(['dpop-live']);
    expect(await keys('pending_second_steps', 'id_hash')).toEqual(['2nd-live']);
    expect(await keys('client_assertion_jtis', 'jti_hash')).toEqual(['cj-live']);
    expect(await keys('pushed_authorization_requests', 'request_uri_hash')).toEqual(['par-live']);
    expect(await keys('email_links', 'token_hash')).toEqual(['mail-live', 'mail-recent']);
    expect(await keys('authorization_codes', 'code_hash')).toEqual(['code-live', 'code-recent']);
    expect(await keys('refresh_token_families', 'id')).toEqual(['fam-live', 'fam-revoked-live']);
    expect(await keys('refresh_tokens', 'token_hash')).toEqual(['rt-live', 'rt-live-used', 'rt-revoked', 'rt-revoked-used']);
    expect(await keys('sessions', 'id_hash')).toEqual(['s-live', 's-recent']);
    expect(await keys('revoked_tokens', 'jti')).toEqual(['jti-live', 'jti-recent']);
    expect(await keys('guess_throttle', 'key')).toEqual(['t-counting', 't-waiting']);
    expect(await keys('upstream_sign_ins', 'state_hash')).toEqual(['up-live']);
    expect(await keys('webauthn_challenges', 'id_hash')).toEqual(['wc-live']);
    expect(await keys('change_events', 'key')).toEqual(['new']);
    expect((await keys('audit_events', 'id')).map((id) => id.split('-').slice(1).join('-'))).toEqual(['a-new']);
    // One line says what went.
    expect(log.entries).toEqual([
      { level: 'info', message: 'cleanup removed 17 expired rows', context: { removed, ms: expect.any(Number) } },
    ]);
    // A second run finds nothing and says nothing.
    const again = recordingLogger();
    expect(Object.values(await new Cleanup(expiryJobs(storesOn(db, dialect), 30), { clock, log: again }).run()).every((n) => n === 0)).toBe(true);
    expect(again.entries).toEqual([]);
  });

  test('a backlog larger than a batch goes in batches of at most the batch size, live rows stay', async () => {
    await insertMany('sessions', [...Array.from({ length: 1234 }, (_, i) => session(`s-old-${i}`, NOW - 2 * DAY)), session('s-live-1', NOW + HOUR), session('s-live-2', NOW + HOUR)]);
    // One long-lived family with many rotations: its tokens go in batches too, then the family.
    await insertMany('refresh_token_families', [family('fam-long', NOW - 2 * HOUR), family('fam-live', NOW + DAY)]);
    await insertMany('refresh_tokens', [...Array.from({ length: 1100 }, (_, i) => token(`rt-${i}`, 'fam-long', NOW - 2 * HOUR, NOW - 3 * HOUR)), token('rt-live', 'fam-live', NOW + DAY)]);
    await insertMany('audit_events', Array.from({ length: 1001 }, (_, i) => auditRow(`old-${i}`, NOW - 400 * DAY)));

    const batches: Record<string, number[]> = {};
    const counted = expiryJobs(storesOn(db, dialect), 365).map(
      (job): PurgeJob => ({
        name: job.name,
        purge: async (now, limit) => {
          const n = await job.purge(now, limit);
          (batches[job.name] ??= []).push(n);
          return n;
        },
      }),
    );
    const removed = await new Cleanup(counted, { clock, log: recordingLogger(), batchSize: 500, pauseMs: 1 }).run();
    expect(removed).toMatchObject({ sessions: 1234, refresh_tokens: 1100, refresh_token_families: 1, audit_events: 1001 });
    expect(batches).toMatchObject({ sessions: [500, 500, 234], refresh_tokens: [500, 500, 100], refresh_token_families: [1], audit_events: [500, 500, 1] });
    expect(await keys('sessions', 'id_hash')).toEqual(['s-live-1', 's-live-2']);
    expect(await keys('refresh_tokens', 'token_hash')).toEqual(['rt-live']);
    expect(await keys('audit_events', 'id')).toEqual([]);
  });

  test('audit retention: older entries go, newer stay; 0 keeps them forever', async () => {
    await insertMany('audit_events', [auditRow('a', NOW - 366 * DAY), auditRow('b', NOW - 365 * DAY - 1), auditRow('c', NOW - 364 * DAY), auditRow('d', NOW - 60)]);
    expect(expiryJobs(storesOn(db, dialect), 0).map((j) => j.name)).not.toContain('audit_events');
    expect((await new Cleanup(expiryJobs(storesOn(db, dialect), 0), { clock, log: recordingLogger() }).run()).audit_events).toBeUndefined();
    expect(await keys('audit_events', 'id')).toHaveLength(4);
    expect((await new Cleanup(expiryJobs(storesOn(db, dialect), 365), { clock, log: recordingLogger() }).run()).audit_events).toBe(2);
    expect((await keys('audit_events', 'id')).map((id) => id.split('-').slice(1).join('-'))).toEqual(['c', 'd']);
  });

  test('two nodes purging at once remove every expired row exactly once, without errors', async () => {
    await insertMany('revoked_tokens', Array.from({ length: 1500 }, (_, i) => revoked(`jti-${i}`, NOW - DAY)));
    await insertMany('revoked_tokens', [revoked('jti-live', NOW + HOUR)]);
    const other = openLogged(dialect, database.url, []);
    try {
      const node = (on: Kysely<Database>) =>
        new Cleanup(expiryJobs(storesOn(on, dialect), 0).filter((j) => j.name === 'revoked_tokens'), { clock, log: recordingLogger(), batchSize: 100, pauseMs: 0 });
      const [a, b] = await Promise.all([node(db).run(), node(other.db).run()]);
      expect(a.revoked_tokens! + b.revoked_tokens!).toBe(1500);
      expect(await keys('revoked_tokens', 'jti')).toEqual(['jti-live']);
    } finally {
      await other.close();
    }
  });

  test('a failing job does not keep the others from running; the run fails naming it', async () => {
    await insertMany('sessions', [session('s-old', NOW - 2 * DAY)]);
    const jobs: PurgeJob[] = [
      { name: 'broken', purge: () => Promise.reject(new Error('no such table: gone')) },
      ...expiryJobs(storesOn(db, dialect), 0),
    ];
    const log = recordingLogger();
    await expect(new Cleanup(jobs, { clock, log }).run()).rejects.toThrow('cleanup of broken failed: no such table: gone');
    expect(await keys('sessions', 'id_hash')).toEqual([]);
    expect(log.messages('info')).toEqual(['cleanup removed 1 expired rows']);
  });

  test('every purge statement finds its rows through an index, not a scan of the table', async () => {
    const statements: Array<{ sql: string; parameters: readonly unknown[] }> = [];
    const logged = openLogged(dialect, database.url, statements);
    try {
      await new Cleanup(expiryJobs(storesOn(logged.db, dialect), 30), { clock, log: recordingLogger() }).run();
    } finally {
      await logged.close();
    }
    const deletes = statements.filter((s) => /^delete from/i.test(s.sql));
    expect(deletes).toHaveLength(15);
    const scans: string[] = [];
    if (dialect === 'sqlite') {
      const raw = openSqlite(parseDatabaseUrl(database.url).target);
      try {
        for (const s of deletes) {
          const plan = raw.prepare(`EXPLAIN QUERY PLAN ${s.sql}`).all(...(s.parameters as never[])) as Array<{ detail: string }>;
          // "SCAN t" reads the whole table; "SEARCH t USING INDEX" does not.
          for (const step of plan) if (/^SCAN /.test(step.detail) && !/USING (COVERING )?INDEX/.test(step.detail)) scans.push(`${s.sql} → ${step.detail}`);
        }
      } finally {
        raw.close();
      }
    } else {
      const client = new pg.Client({ connectionString: database.url });
      await client.connect();
      try {
        // The tables here are tiny, where a scan is the cheapest plan; forbid scans where an index could serve.
        await client.query('set enable_seqscan = off');
        for (const s of deletes) {
          const { rows } = await client.query<{ 'QUERY PLAN': string }>(`explain ${s.sql}`, s.parameters as unknown[]);
          for (const r of rows) if (/Seq Scan/.test(r['QUERY PLAN'])) scans.push(`${s.sql} → ${r['QUERY PLAN'].trim()}`);
        }
      } finally {
        await client.end();
      }
    }
    expect(scans).toEqual([]);
  });
});
