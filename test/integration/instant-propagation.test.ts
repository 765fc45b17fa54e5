import { performance } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, test, vi } from 'vitest';
import { SYSTEM } from '../../src/audit/actor.ts';
import { KyselyClientStore } from '../../src/clients/client-store.ts';
import { LISTENER_APPLICATION_NAME } from '../../src/storage/database.ts';
import { cliRunner } from '../support/cli-runner.ts';
import { POSTGRES_ADMIN_URL } from '../support/databases.ts';
import { basic, postForm, startTestServer, type TestServer } from '../support/server.ts';

/**
 * Issue 12, "instant propagation". On PostgreSQL a change made through one node reaches the
 * others through LISTEN/NOTIFY in milliseconds (polling stays as the fallback); on SQLite a
 * secret rotated by the CLI in another process works at once from the running server.
 */

const TRIALS = 100;
const P99_BOUND_MS = 50;

describe('two nodes on one PostgreSQL: a revocation through A is refused by B at once', () => {
  let a: TestServer;
  let b: TestServer;
  let admin: pg.Client;
  let database: string;
  let app: { client_id: string; client_secret: string };

  beforeAll(async () => {
    // The default poll interval: without LISTEN/NOTIFY, B would learn of a revocation a
    // quarter of a second later on average, and up to half a second.
    a = await startTestServer('postgres', { env: { TESSERA_CHANGE_POLL_MS: '500' } });
    b = await startTestServer('postgres', {
      databaseUrl: a.databaseUrl,
      env: { TESSERA_CHANGE_POLL_MS: '500', TESSERA_KEY_ENCRYPTION_KEY_FILE: a.env.TESSERA_KEY_ENCRYPTION_KEY_FILE! },
    });
    a.tessera.setIssuer(a.url);
    b.tessera.setIssuer(a.url);
    database = new URL(a.databaseUrl).pathname.slice(1);
    admin = new pg.Client({ connectionString: POSTGRES_ADMIN_URL });
    await admin.connect();
    const created = await a.tessera.services.clients.create({ name: 'Propagation', grantTypes: ['client_credentials'] }, SYSTEM);
    app = { client_id: created.client_id, client_secret: created.client_secret! };
    await vi.waitFor(() => expect([a.tessera.feed.listening, b.tessera.feed.listening]).toEqual([true, true]), { timeout: 10_000, interval: 20 });
  });
  afterAll(async () => {
    await admin?.query(`alter database ${database} allow_connections true`).catch(() => {});
    await admin?.end();
    await b?.close();
    await a?.close();
  });

  const auth = () => ({ authorization: basic(app.client_id, app.client_secret) });
  async function token(node: TestServer): Promise<string> {
    const res = await postForm(`${node.url}/connect/token`, { grant_type: 'client_credentials' }, auth());
    expect(res.status).toBe(200);
    return ((await res.json()) as { access_token: string }).access_token;
  }
  async function active(node: TestServer, t: string): Promise<boolean> {
    const res = await postForm(`${node.url}/connect/introspect`, { token: t }, auth());
    expect(res.status).toBe(200);
    return ((await res.json()) as { active: boolean }).active;
  }

  /**
   * Times taken inside the nodes, as things happen there (not when an answer reaches the
   * test: the test, A and B share one process, and on a loaded machine a response can sit
   * unread for a while). `revokedAt`: A's revocation endpoint returned (its transaction has
   * committed). `learnedAt`: B's change feed delivered the revocation (B's denylist has the
   * token from then on). `decisions`: B's introspection answers for the token under test.
   */
  let revokedAt = 0;
  let learnedAt = 0;
  let watched = { token: '', jti: '' };
  let decisions: Array<{ at: number; active: boolean }> = [];
  beforeAll(() => {
    const revoke = a.tessera.endpoints.revoke;
    a.tessera.endpoints.revoke = async (req) => {
      await revoke(req);
      revokedAt = performance.now();
    };
    const introspect = b.tessera.endpoints.introspect;
    b.tessera.endpoints.introspect = async (req) => {
      const body = await introspect(req);
      if (req.params.get('token')?.[0] === watched.token) decisions.push({ at: performance.now(), active: body.active === true });
      return body;
    };
    // Subscribed after B's caches, so B's denylist already has the token when this runs.
    b.tessera.feed.subscribe((kind, key) => {
      if (kind === 'revoked_jti' && key.split(' ')[0] === watched.jti) learnedAt = performance.now();
    });
  });

  /**
   * Revokes a fresh access token through A while asking B, from the moment the revocation
   * is sent, whether it is active, every millisecond or so, until B refuses it. The delay:
   * from A's revocation returning to B learning of it, 0 if B knew first. B's answers check
   * that this is when B starts refusing: every answer B gave after it is a refusal, and B
   * refused nothing before. `endToEnd` is from sending the revocation to B's first refusal
   * as the test receives it: it adds A's own write (mostly PostgreSQL flushing the commit
   * to disk: ~10 ms median and up to ~50 ms for a bare BEGIN/INSERT/COMMIT on a loaded
   * 2-core machine) and the time answers wait in this process; it is reported, not asserted.
   *
   * Why B is not asked back to back: the delay is timed inside B, so asking faster would
   * not make it more precise, only turn this process (A, B and the test) into one that
   * never sleeps. On a loaded machine the scheduler then makes it wait its turn behind every
   * other busy process, tens of milliseconds, and a notification that arrives meanwhile
   * waits too: that, not Tessera, was the p99 measured with a back-to-back loop under a
   * load average of 35 on 2 cores (a process that mostly sleeps is woken at once).
   */
  async function revocationDelay(): Promise<{ propagation: number; endToEnd: number }> {
    const t = await token(a);
    expect(await active(b, t)).toBe(true);
    watched = { token: t, jti: JSON.parse(Buffer.from(t.split('.')[1]!, 'base64url').toString()).jti };
    decisions = [];
    revokedAt = Number.POSITIVE_INFINITY;
    learnedAt = Number.POSITIVE_INFINITY;
    const sent = performance.now();
    const revoked = postForm(`${a.url}/connect/revocation`, { token: t }, auth());
    let refused: number | undefined;
    while (refused === undefined) {
      if (!(await active(b, t))) refused = performance.now();
      else if (performance.now() - sent > 5000) throw new Error('B still accepts the token 5 s after its revocation');
      else await sleep(1);
    }
    expect((await revoked).status).toBe(200);
    expect(Number.isFinite(revokedAt)).toBe(true);
    expect(Number.isFinite(learnedAt)).toBe(true);
    expect(decisions.filter((d) => d.at > learnedAt).every((d) => !d.active)).toBe(true);
    expect(decisions.filter((d) => d.at < learnedAt).every((d) => d.active)).toBe(true);
    expect(decisions.some((d) => !d.active)).toBe(true);
    return { propagation: Math.max(0, learnedAt - revokedAt), endToEnd: refused - sent };
  }

  const percentiles = (values: number[]) => {
    const sorted = [...values].sort((x, y) => x - y);
    const at = (p: number) => sorted[Math.ceil(sorted.length * p) - 1]!;
    return { median: at(0.5), p99: at(0.99), max: at(1), text: `median ${at(0.5).toFixed(1)} ms, p99 ${at(0.99).toFixed(1)} ms, max ${at(1).toFixed(1)} ms` };
  };

  test(`p99 of ${TRIALS} revocations: B refuses a token at most ${P99_BOUND_MS} ms after A revoked it`, async () => {
    const trials: Array<{ propagation: number; endToEnd: number }> = [];
    for (let i = 0; i < TRIALS; i++) trials.push(await revocationDelay());
    const propagation = percentiles(trials.map((t) => t.propagation));
    const endToEnd = percentiles(trials.map((t) => t.endToEnd));
    console.log(`revocation through A, B refusing: ${propagation.text} after A's revocation returned; ${endToEnd.text} from sending it to receiving B's refusal`);
    expect(propagation.p99, propagation.text).toBeLessThanOrEqual(P99_BOUND_MS);
  }, 120_000);

  test('a lost listening connection is logged and reconnected; meanwhile polling runs at its normal rate', async () => {
    // B's listening connection is killed, and no new connection may open for a while: B
    // must fall back to polling every TESSERA_CHANGE_POLL_MS (its pooled connections stay).
    await admin.query(`alter database ${database} allow_connections false`);
    const killed = await admin.query(
      `select pg_terminate_backend(pid) from pg_stat_activity where datname = $1 and application_name = $2 and pid <> pg_backend_pid()`,
      [database, LISTENER_APPLICATION_NAME],
    );
    expect(killed.rowCount).toBe(2); // A's and B's
    await vi.waitFor(() => expect(b.tessera.feed.listening).toBe(false), { timeout: 5000, interval: 10 });
    await vi.waitFor(() => expect(b.log.messages('error')).toContain('change notification listener failed; retrying'), { timeout: 5000, interval: 10 });
    // Three revocations all reach B within two poll intervals (the slow, listening-time
    // rate, every 5 s, would miss that most of the time).
    for (let i = 0; i < 3; i++) expect((await revocationDelay()).propagation).toBeLessThan(1000);
    expect(b.tessera.feed.listening).toBe(false);

    await admin.query(`alter database ${database} allow_connections true`);
    await vi.waitFor(() => expect([a.tessera.feed.listening, b.tessera.feed.listening]).toEqual([true, true]), { timeout: 20_000, interval: 20 });
    expect(b.log.messages('info')).toContain('change notification listener works again');
    const after: number[] = [];
    for (let i = 0; i < 5; i++) after.push((await revocationDelay()).propagation);
    expect(Math.min(...after)).toBeLessThan(P99_BOUND_MS);
  }, 60_000);

  test('closing a node closes its listening connection', async () => {
    const listeners = async () =>
      Number(
        (
          await admin.query(`select count(*) as n from pg_stat_activity where datname = $1 and application_name = $2`, [database, LISTENER_APPLICATION_NAME])
        ).rows[0].n,
      );
    expect(await listeners()).toBe(2);
    const c = await startTestServer('postgres', {
      databaseUrl: a.databaseUrl,
      env: { TESSERA_KEY_ENCRYPTION_KEY_FILE: a.env.TESSERA_KEY_ENCRYPTION_KEY_FILE! },
    });
    await vi.waitFor(() => expect(c.tessera.feed.listening).toBe(true), { timeout: 10_000, interval: 20 });
    expect(await listeners()).toBe(3);
    await c.close();
    expect(c.tessera.feed.listening).toBe(false);
    await vi.waitFor(async () => expect(await listeners()).toBe(2), { timeout: 5000, interval: 20 });
  });
});

describe('SQLite: a secret rotated by the CLI in another process works at once', () => {
  let server: TestServer;
  const cli = cliRunner(() => ({ databaseUrl: server.databaseUrl, env: server.env }));

  beforeAll(async () => {
    // A poll interval far longer than the test: only the re-read on a failed match can
    // make the server see the new secret.
    server = await startTestServer('sqlite', { env: { TESSERA_CHANGE_POLL_MS: '60000' } });
  });
  afterAll(async () => server?.close());

  const tokenWith = (id: string, secret: string) => postForm(`${server.url}/connect/token`, { grant_type: 'client_credentials' }, { authorization: basic(id, secret) });

  // Each CLI run is a Node process of its own: seconds on a loaded machine.
  test('the new secret works on the very next request, the old one is refused', { timeout: 180_000 }, async () => {
    const created = await server.tessera.services.clients.create({ name: 'Nightly job', grantTypes: ['client_credentials'] }, SYSTEM);
    const id = created.client_id;
    // The running server learns of the app and keeps it in memory.
    expect((await tokenWith(id, created.client_secret!)).status).toBe(200);

    const rotated = await cli.json(['clients', 'rotate-secret', id]);
    expect(rotated.client_secret).not.toBe(created.client_secret);
    expect((await tokenWith(id, rotated.client_secret)).status).toBe(200);
    const old = await tokenWith(id, created.client_secret!);
    expect(old.status).toBe(401);
    expect(await old.json()).toMatchObject({ error: 'invalid_client' });

    // With --grace, the new secret works at once and the old one keeps working.
    const graceful = await cli.json(['clients', 'rotate-secret', id, '--grace', '1h']);
    expect((await tokenWith(id, graceful.client_secret)).status).toBe(200);
    expect((await tokenWith(id, rotated.client_secret)).status).toBe(200);
    expect((await tokenWith(id, created.client_secret!)).status).toBe(401);
  });

  test('wrong secrets do not make the server read the app again while it is unchanged', { timeout: 180_000 }, async () => {
    const created = await server.tessera.services.clients.create({ name: 'Hammered', grantTypes: ['client_credentials'] }, SYSTEM);
    const id = created.client_id;
    expect((await tokenWith(id, created.client_secret!)).status).toBe(200);
    const reads = vi.spyOn(KyselyClientStore.prototype, 'findById');
    try {
      const answers = await Promise.all(Array.from({ length: 50 }, () => tokenWith(id, 'not-the-secret')));
      expect(answers.map((r) => r.status)).toEqual(Array(50).fill(401));
      expect(reads).not.toHaveBeenCalled();

      // Once the app did change (the CLI rotated its secret), one request reads it again.
      const rotated = await cli.json(['clients', 'rotate-secret', id]);
      expect((await tokenWith(id, rotated.client_secret)).status).toBe(200);
      expect(reads).toHaveBeenCalledTimes(1);
      expect((await tokenWith(id, rotated.client_secret)).status).toBe(200);
      expect(reads).toHaveBeenCalledTimes(1);
    } finally {
      reads.mockRestore();
    }
  });
});
