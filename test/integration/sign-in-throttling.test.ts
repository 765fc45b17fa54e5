import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { SYSTEM } from '../../src/audit/actor.ts';
import type { Clock } from '../../src/clock.ts';
import { GUESS_POLICIES } from '../../src/identity/guess-throttle.ts';
import { DEVICE_COOKIE } from '../../src/lib/cookie-names.ts';
import { DIALECTS } from '../support/databases.ts';
import { basic, postForm, startTestServer, type TestServer } from '../support/server.ts';
import { hiddenFields, UserAgent } from '../support/user-agent.ts';

/**
 * Sign-in throttling over HTTP (issue 12): no lockout an attacker can cause. The owner's
 * known browser (device cookie) signs in through a flood of wrong guesses; other browsers
 * are slowed with 429 and Retry-After, never locked; the counters are shared by every node;
 * an admin sees and clears them through the admin API.
 */
const PASSWORD = 'correct horse battery staple';
const API = '/admin/api/v1';

/** A clock that moves only when told: waits are exact, however slow the machine. */
function manualClock(): Clock & { advance(seconds: number): void } {
  let now = Math.floor(Date.now() / 1000) * 1000;
  return { now: () => now, advance: (s) => void (now += s * 1000) };
}

/** A browser at /login: it fetched the page once (CSRF cookie and token) and posts the form. */
async function browser(base: string): Promise<{ ua: UserAgent; signIn: (username: string, password: string) => Promise<Response> }> {
  const ua = new UserAgent(base);
  const fields = hiddenFields(await (await ua.get('/login')).text());
  return { ua, signIn: (username, password) => ua.post('/login', { ...fields, username, password }) };
}

const alertOf = async (res: Response) => /role="alert">([^<]*)</.exec(await res.text())?.[1];

describe.each(DIALECTS)('sign-in throttling over HTTP (%s)', (dialect) => {
  let server: TestServer;
  const clock = manualClock();
  let adminToken: string;

  async function call(method: string, path: string, bearer: string | undefined = adminToken): Promise<{ status: number; body: any }> {
    const res = await fetch(`${server.url}${API}${path}`, { method, headers: bearer ? { authorization: `Bearer ${bearer}` } : {} });
    const text = await res.text();
    return { status: res.status, body: text ? JSON.parse(text) : undefined };
  }

  beforeAll(async () => {
    server = await startTestServer(dialect, { clock });
    const { services } = server.tessera;
    await services.users.create({ username: 'admin', password: PASSWORD, roles: ['admin'] }, SYSTEM);
    await services.users.create({ username: 'ops', password: PASSWORD, roles: ['admin'] }, SYSTEM);
    const automation = await services.clients.create({ name: 'ops automation', grantTypes: ['client_credentials'], onBehalfOf: 'ops', scopes: ['tessera.admin'] }, SYSTEM);
    const res = await postForm(`${server.url}/connect/token`, { grant_type: 'client_credentials', scope: 'tessera.admin' }, { authorization: basic(automation.client_id, automation.client_secret!) });
    adminToken = ((await res.json()) as { access_token: string }).access_token;
  });
  afterAll(async () => server?.close());

  test('a sign-in sets the device cookie: HttpOnly, SameSite=Lax, a year, Secure when the issuer is https; sign-out keeps it', async () => {
    await server.tessera.services.users.create({ username: 'cookie-user', password: PASSWORD, roles: [] }, SYSTEM);
    const { ua, signIn } = await browser(server.url);
    const res = await signIn('cookie-user', PASSWORD);
    expect(res.status).toBe(200);
    const line = res.headers.getSetCookie().find((c) => c.startsWith(`${DEVICE_COOKIE}=`))!;
    expect(line).toBeDefined();
    expect(line.split('; ').slice(1).sort()).toEqual(['HttpOnly', 'Max-Age=31536000', 'Path=/', 'SameSite=Lax']);
    const user = await server.tessera.services.users.find('cookie-user');
    expect(ua.cookies.get(DEVICE_COOKIE)).toMatch(new RegExp(`^${user.id}\\.[A-Za-z0-9_-]{22}\\.\\d+\\.[A-Za-z0-9_-]{43}$`));
    // Signing out ends the session, not the browser's standing as a known device.
    const logout = await ua.get('/logout');
    await ua.post('/logout', hiddenFields(await logout.text()));
    expect(ua.cookies.has('tessera_session')).toBe(false);
    expect(ua.cookies.has(DEVICE_COOKIE)).toBe(true);

    server.tessera.setIssuer('https://id.example.com');
    try {
      const secure = await (await browser(server.url)).signIn('cookie-user', PASSWORD);
      expect(secure.headers.getSetCookie().find((c) => c.startsWith(`${DEVICE_COOKIE}=`))).toContain('; Secure');
    } finally {
      server.tessera.setIssuer(server.url);
    }
  });

  test('an attacker flooding /login with wrong passwords for admin, in parallel, cookieless, from admin’s own address, cannot keep admin’s known browser out', async () => {
    const owner = await browser(server.url);
    expect((await owner.signIn('admin', PASSWORD)).status).toBe(200);
    expect(owner.ua.cookies.has(DEVICE_COOKIE)).toBe(true);

    const attackers = await Promise.all(Array.from({ length: 8 }, () => browser(server.url)));
    const statuses: number[] = [];
    for (let round = 0; round < 12; round++) {
      // Each round: every attacker sends four guesses at once, and admin signs in in the middle of them.
      const flood = attackers.flatMap((a) => Array.from({ length: 4 }, () => a.signIn('admin', `guess-${round}`)));
      const own = owner.signIn('admin', PASSWORD);
      const [mine, ...theirs] = await Promise.all([own, ...flood]);
      expect(mine!.status).toBe(200);
      expect(await alertOf(mine!)).toBeUndefined();
      statuses.push(...theirs.map((r) => r.status));
      clock.advance(1);
    }
    expect(statuses.every((s) => s === 401 || s === 429)).toBe(true);
    // Only a trickle of guesses reached the password check (and cost a hash): the free ones,
    // then one after each wait (1, 2, 4, 8 s over these 12 s). The rest got 429.
    expect(statuses.filter((s) => s === 401)).toHaveLength(GUESS_POLICIES.client.free + 4);

    // A browser without the cookie is slowed, never locked: it is told how long, and then gets in.
    const stranger = await browser(server.url);
    const slowed = await stranger.signIn('admin', PASSWORD);
    expect(slowed.status).toBe(429);
    const wait = Number(slowed.headers.get('retry-after'));
    expect(wait).toBeGreaterThan(0);
    expect(wait).toBeLessThanOrEqual(GUESS_POLICIES.client.maxDelay);
    expect(await alertOf(slowed)).toMatch(/^Too many failed sign-in attempts\. Wait \d+ (second|seconds|minute|minutes), then try again\.$/);
    clock.advance(wait);
    expect((await stranger.signIn('admin', PASSWORD)).status).toBe(200);

    // Recorded: the failures, and the start of each wait (not every refused attempt).
    const admin = await server.tessera.services.users.find('admin');
    const failed = (await server.tessera.services.audit.list({ action: 'user.sign_in_failed', targetId: admin.id, limit: 500 })).items;
    expect(failed.length).toBe(statuses.filter((s) => s === 401).length);
    const throttled = (await server.tessera.services.audit.list({ action: 'user.sign_in_throttled', targetId: admin.id, limit: 500 })).items;
    expect(throttled.length).toBeGreaterThan(0);
    expect(throttled.every((e) => e.details.counter === 'client' && e.ip === '127.0.0.1')).toBe(true);
    expect(server.log.entries.filter((e) => e.message === 'sign-in throttled')).toHaveLength(4);
    expect(JSON.stringify(server.log.entries)).not.toContain('guess-');
  });

  test('an admin sees a user’s throttle counters and clears them (GET /users/{id}/sign-in-throttle, POST /users/{id}/unlock); audited', async () => {
    const victim = await server.tessera.services.users.create({ username: 'victim', password: PASSWORD, roles: [] }, SYSTEM);
    const b = await browser(server.url);
    for (let i = 0; i <= GUESS_POLICIES.client.free; i++) expect((await b.signIn('victim', 'wrong password!')).status).toBe(401);
    // Each wait over, one more failure doubles the next: 1, 2, 4, then 8 seconds.
    for (let wait = 1; wait < 8; wait *= 2) {
      const refused = await b.signIn('victim', 'wrong password!');
      expect([refused.status, refused.headers.get('retry-after')]).toEqual([429, String(wait)]);
      clock.advance(wait);
      expect((await b.signIn('victim', 'wrong password!')).status).toBe(401);
    }
    const blocked = await b.signIn('victim', PASSWORD);
    expect([blocked.status, blocked.headers.get('retry-after')]).toEqual([429, '8']);

    const status = await call('GET', `/users/victim/sign-in-throttle`);
    expect(status.status).toBe(200);
    expect(status.body.user_id).toBe(victim.id);
    const client = status.body.counters.find((c: { counter: string }) => c.counter === 'client');
    expect(client).toMatchObject({ guess: 'password', ip: '127.0.0.1' });
    expect(client).toMatchObject({ failures: GUESS_POLICIES.client.free + 4, wait_seconds: 8 });
    expect(status.body.counters.map((c: { counter: string }) => c.counter).sort()).toEqual(['account', 'client']);

    expect((await call('POST', `/users/${victim.id}/unlock`, '')).status).toBe(401);
    const unlocked = await call('POST', `/users/${victim.id}/unlock`);
    expect(unlocked).toEqual({ status: 200, body: { user_id: victim.id, username: 'victim', cleared: 2 } });
    expect((await call('GET', `/users/victim/sign-in-throttle`)).body.counters).toEqual([]);
    expect((await b.signIn('victim', PASSWORD)).status).toBe(200);
    expect((await call('POST', `/users/victim/unlock`)).body.cleared).toBe(0);
    expect((await call('POST', '/users/nobody-at-all/unlock')).status).toBe(404);
    expect((await call('GET', '/users/nobody-at-all/sign-in-throttle')).status).toBe(404);

    // Both unlocks, in the same (stopped) second: compared as a set.
    const entries = (await server.tessera.services.audit.list({ action: 'user.unlock', targetId: victim.id })).items;
    expect(entries.map((e) => e.details.cleared).sort()).toEqual([0, 2]);
    for (const e of entries) expect(e).toMatchObject({ actor: expect.stringMatching(/ for user:ops$/), target_type: 'user' });
    expect(server.log.entries.filter((e) => e.message === 'sign-in throttling cleared').map((e) => e.context.cleared)).toEqual([2, 0]);
  });

  test.runIf(dialect === 'postgres')('two nodes on one database count together: failures on one node slow the client on the other', async () => {
    const second = await startTestServer('postgres', { clock, databaseUrl: server.databaseUrl, env: { TESSERA_KEY_ENCRYPTION_KEY_FILE: server.env.TESSERA_KEY_ENCRYPTION_KEY_FILE! } });
    try {
      await server.tessera.services.users.create({ username: 'roamer', password: PASSWORD, roles: [] }, SYSTEM);
      const onA = await browser(server.url);
      for (let i = 0; i <= GUESS_POLICIES.client.free; i++) expect((await onA.signIn('roamer', 'wrong password!')).status).toBe(401);
      const onB = await browser(second.url);
      const res = await onB.signIn('roamer', PASSWORD);
      expect(res.status).toBe(429);
      expect(res.headers.get('retry-after')).toBe('1');
    } finally {
      await second.close();
    }
  });
});
