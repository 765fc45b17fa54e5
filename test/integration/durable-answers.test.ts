import { afterAll, describe, expect, test } from 'vitest';
import { basic, mintCodes, postForm, refreshSeeds, tesseraSignIn, type MintedCode, type OAuthServer } from '../../bench/lib/flows.ts';
import { PASSWORD, provisionTessera, REDIRECT_URI, startTessera, USERNAME, type TesseraSetup } from '../../bench/lib/tessera.ts';
import type { Child } from '../../bench/lib/child.ts';
import { DIALECTS, type TestDialect } from '../support/databases.ts';

/**
 * Issue 16: with group commit (both dialects: the writes of one event-loop turn share a
 * transaction), an answer still means its write is committed. A real `tessera serve`
 * answers a burst of concurrent refreshes, batched into shared transactions, is killed with
 * SIGKILL the moment the last answer arrives, and a new process on the same database must
 * accept every refresh token it handed out. Concurrent uses of one token still give exactly
 * one success. The same for code exchanges (each one commit: the code consumed with its
 * refresh family). SQLite runs with each `TESSERA_SQLITE_SYNCHRONOUS`.
 */
const VARIANTS: ReadonlyArray<readonly [TestDialect, 'normal' | 'full']> = [...DIALECTS.map((d) => [d, 'normal'] as const), ['sqlite', 'full']];

describe.each(VARIANTS)('answered refreshes survive kill -9 (%s, synchronous %s)', (dialect, synchronous) => {
  let setup: TesseraSetup | undefined;
  const children: Child[] = [];
  afterAll(async () => {
    await Promise.allSettled(children.map((c) => c.stop()));
    await setup?.drop();
  });

  async function serve(): Promise<OAuthServer> {
    const child = await startTessera(`durable-${dialect}`, setup!);
    children.push(child);
    const server: OAuthServer = {
      id: `tessera-${dialect}`,
      url: child.url,
      tokenPath: '/connect/token',
      introspectPath: '/connect/introspect',
      authorizePath: '/connect/authorize',
      redirectUri: REDIRECT_URI,
      service: setup!.service,
      serviceScope: 'bench.read',
      web: setup!.web,
      webScope: 'openid offline_access',
      signIn: () => tesseraSignIn(server, USERNAME, PASSWORD),
    };
    return Object.assign(server, { child });
  }

  const refresh = (server: OAuthServer, token: string) =>
    postForm(`${server.url}${server.tokenPath}`, { grant_type: 'refresh_token', refresh_token: token }, basic(server.web.id, server.web.secret));

  const exchange = (server: OAuthServer, { code, verifier }: MintedCode) =>
    postForm(`${server.url}${server.tokenPath}`, { grant_type: 'authorization_code', code, redirect_uri: server.redirectUri, code_verifier: verifier }, basic(server.web.id, server.web.secret));

  test('every refresh token answered before the kill works after the restart (refreshes and code exchanges); concurrent uses of one token: one success', { timeout: 240_000 }, async () => {
    setup = await provisionTessera(dialect, 'http://127.0.0.1:9');
    if (dialect === 'sqlite') setup.env.TESSERA_SQLITE_SYNCHRONOUS = synchronous;
    const first = await serve();
    const cookie = await first.signIn();
    const seeds = await refreshSeeds(first, cookie, 41);
    const codes = (await mintCodes(first, cookie, 20, 8)).slice(0, 20);

    // One token presented by 8 requests at once: exactly one success, the others refused
    // with invalid_grant (reuse revokes the family), never a server error.
    const raced = await Promise.all(Array.from({ length: 8 }, () => refresh(first, seeds[40]!)));
    const statuses = raced.map((r) => r.status).sort();
    expect(statuses).toEqual([200, 400, 400, 400, 400, 400, 400, 400]);
    for (const r of raced.filter((x) => x.status === 400)) expect(await r.json()).toMatchObject({ error: 'invalid_grant' });

    // 40 refreshes and 20 code exchanges at once, then SIGKILL as soon as the last answer is in.
    const [answers, exchanges] = await Promise.all([Promise.all(seeds.slice(0, 40).map((t) => refresh(first, t))), Promise.all(codes.map((c) => exchange(first, c)))]);
    const bodies = (await Promise.all(answers.map((r) => r.json()))) as Array<{ refresh_token?: string; id_token?: string }>;
    const exchanged = (await Promise.all(exchanges.map((r) => r.json()))) as Array<{ refresh_token?: string }>;
    const child = (first as OAuthServer & { child: Child }).child;
    child.process.kill('SIGKILL');
    await new Promise((resolve) => child.process.once('exit', resolve));
    expect(answers.map((r) => r.status)).toEqual(Array(40).fill(200));
    expect(exchanges.map((r) => r.status)).toEqual(Array(20).fill(200));
    const answered = [...bodies, ...exchanged].map((b) => b.refresh_token!);
    expect(new Set(answered).size).toBe(60);
    expect(bodies.every((b) => typeof b.id_token === 'string')).toBe(true);

    // A new process on the same database: every answered token was committed.
    const second = await serve();
    const after = await Promise.all(answered.map((t) => refresh(second, t)));
    expect(after.map((r) => r.status)).toEqual(Array(60).fill(200));
    // …and every token spent before the kill stays spent.
    const replay = await refresh(second, seeds[0]!);
    expect(replay.status).toBe(400);
    expect(await replay.json()).toMatchObject({ error: 'invalid_grant' });
    // …and every code exchanged before the kill stays used.
    const again = await exchange(second, codes[0]!);
    expect(await again.json()).toMatchObject({ error: 'invalid_grant', error_description: 'the authorization code was already used; tokens issued from it are revoked' });
  });
});
