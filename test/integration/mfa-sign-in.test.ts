import { createHash, randomBytes } from 'node:crypto';
import { decodeJwt } from 'jose';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { SYSTEM } from '../../src/audit/actor.ts';
import type { Clock } from '../../src/clock.ts';
import { base32Decode, stepAt, totpForStep } from '../../src/identity/mfa/totp.ts';
import { SECOND_STEP_COOKIE, SESSION_COOKIE } from '../../src/lib/cookie-names.ts';
import { DIALECTS } from '../support/databases.ts';
import { basic, postForm, startTestServer, type TestServer } from '../support/server.ts';
import { hiddenFields, location, UserAgent } from '../support/user-agent.ts';

/**
 * Second factors over HTTP on both dialects (issue 14): TOTP enrolment at /account/totp with
 * codes computed from the secret the page shows, the second step at sign-in, replay, skew,
 * recovery codes, throttling of code guessing, forced enrolment, and what the app gets
 * (amr/acr in the ID token; acr_values, prompt=login, max_age; never less than it asked for).
 */
const REDIRECT = 'https://app.example.com/callback';
const PASSWORD = 'correct horse battery staple';
const MFA = 'urn:tessera:acr:mfa';

/** A clock that moves only when told (TOTP steps and throttle waits are exact). */
function manualClock(): Clock & { advance(seconds: number): void } {
  let now = Math.floor(Date.now() / 30_000) * 30_000 + 5_000;
  return { now: () => now, advance: (s) => void (now += s * 1000) };
}

function pkce(): { verifier: string; challenge: string } {
  const verifier = randomBytes(32).toString('base64url');
  return { verifier, challenge: createHash('sha256').update(verifier).digest('base64url') };
}

const alertOf = async (res: Response) => /role="alert">([^<]*)</.exec(await res.text())?.[1];

describe.each(DIALECTS)('second factors over HTTP (%s)', (dialect) => {
  let server: TestServer;
  const clock = manualClock();
  let app: { id: string; secret: string };
  const now = () => Math.floor(clock.now() / 1000);
  const codeFor = (secret: string, offsetSteps = 0) => totpForStep(base32Decode(secret), stepAt(now()) + offsetSteps);

  beforeAll(async () => {
    server = await startTestServer(dialect, { clock });
    const { services } = server.tessera;
    for (const username of ['tina', 'rita', 'tom', 'nora', 'ursula', 'gary']) {
      await services.users.create({ username, password: PASSWORD, roles: ['developer'] }, SYSTEM);
    }
    const a = await services.clients.create({ name: 'Acme Books', grantTypes: ['authorization_code'], redirectUris: [REDIRECT], scopes: ['openid', 'profile', 'offline_access'] }, SYSTEM);
    app = { id: a.client_id, secret: a.client_secret! };
  });
  afterAll(async () => server?.close());

  function authorizeUrl(extra: Record<string, string> = {}, challenge?: string): string {
    const q = new URLSearchParams({ client_id: app.id, response_type: 'code', redirect_uri: REDIRECT, scope: 'openid offline_access', state: 's1', nonce: 'n1', ...extra });
    if (challenge) q.set('code_challenge', challenge), q.set('code_challenge_method', 'S256');
    return `/connect/authorize?${q}`;
  }

  async function passwordStep(ua: UserAgent, username: string, returnTo?: string): Promise<Response> {
    const page = await ua.get(returnTo ? `/login?${new URLSearchParams({ return_to: returnTo })}` : '/login');
    return ua.post('/login', { ...hiddenFields(await page.text()), username, password: PASSWORD });
  }

  async function secondStep(ua: UserAgent, code: string): Promise<Response> {
    const page = await ua.get('/login/second-factor');
    expect(page.status).toBe(200);
    return ua.post('/login/second-factor', { ...hiddenFields(await page.text()), code });
  }

  /** Enrols TOTP at /account/totp (signed in): the secret as the page shows it, and the recovery codes. */
  async function enrolSignedIn(ua: UserAgent): Promise<{ secret: string; recovery: string[] }> {
    const page = await ua.get('/account/totp');
    expect(page.status).toBe(200);
    expect(page.headers.get('content-security-policy')).toContain("img-src 'self' data:");
    const body = await page.text();
    expect(body).toMatch(/<img src="data:image\/svg\+xml;base64,[A-Za-z0-9+/=]+"/);
    const secret = /<code class="secret" id="totp-secret">([A-Z2-7 ]+)<\/code>/.exec(body)![1]!.replace(/ /g, '');
    const fields = hiddenFields(body);
    // A wrong code does not turn it on.
    const wrong = await ua.post('/account/totp', { ...fields, code: codeFor(secret, 3) });
    expect(wrong.status).toBe(400);
    const done = await ua.post('/account/totp', { ...fields, code: codeFor(secret) });
    expect(done.status).toBe(200);
    const codes = [...(await done.text()).matchAll(/<li><code>([a-z2-7]{5}-[a-z2-7]{5})<\/code><\/li>/g)].map((m) => m[1]!);
    expect(codes).toHaveLength(10);
    return { secret, recovery: codes };
  }

  async function tokensFor(ua: UserAgent, extra: Record<string, string> = {}): Promise<Record<string, string>> {
    const { verifier, challenge } = pkce();
    let res = await ua.get(authorizeUrl(extra, challenge));
    let target = location(res);
    if (target.startsWith('/consent')) {
      res = await ua.get(target);
      res = await ua.post('/consent', { ...hiddenFields(await res.text()), decision: 'allow' });
      target = location(res);
    }
    const callback = new URL(target);
    expect(callback.searchParams.get('error')).toBeNull();
    const token = await postForm(`${server.url}/connect/token`, { grant_type: 'authorization_code', code: callback.searchParams.get('code')!, redirect_uri: REDIRECT, code_verifier: verifier }, { authorization: basic(app.id, app.secret) });
    expect(token.status).toBe(200);
    return (await token.json()) as Record<string, string>;
  }

  test('enrol at /account/totp, then sign-in asks for the code; the ID token says pwd+otp (mfa) on code and refresh', async () => {
    const ua = new UserAgent(server.url);
    await passwordStep(ua, 'tina');
    const { secret } = await enrolSignedIn(ua);
    // The account's Security page shows the app as on, and 10 recovery codes left.
    const security = await (await ua.get('/account/security')).text();
    expect(security).toMatch(/Authenticator app[\s\S]*On since/);
    expect(security).toContain('10 of 10 left');
    clock.advance(30);

    // Sign in again through an app: the password alone starts no session.
    const fresh = new UserAgent(server.url);
    const start = location(await fresh.get(authorizeUrl()));
    const returnTo = new URL(start, server.url).searchParams.get('return_to')!;
    const afterPassword = await passwordStep(fresh, 'tina', returnTo);
    expect(location(afterPassword)).toBe('/login/second-factor');
    expect(fresh.cookies.has(SESSION_COOKIE)).toBe(false);
    // No session exists yet on the server either (only the enrolment's own sign-in so far).
    const tina = await server.tessera.services.users.find('tina');
    expect((await server.tessera.services.audit.list({ action: 'user.sign_in', targetId: tina.id })).items).toHaveLength(1);
    expect(afterPassword.headers.getSetCookie().find((c) => c.startsWith(`${SECOND_STEP_COOKIE}=`))).toMatch(/HttpOnly/);

    const wrong = await secondStep(fresh, codeFor(secret, 5));
    expect(wrong.status).toBe(401);
    expect(await alertOf(wrong)).toContain('not right');
    const ok = await secondStep(fresh, codeFor(secret));
    expect(location(ok)).toBe(returnTo);
    expect(fresh.cookies.has(SESSION_COOKIE)).toBe(true);
    expect(fresh.cookies.has(SECOND_STEP_COOKIE)).toBe(false);

    const tokens = await tokensFor(fresh);
    expect(decodeJwt(tokens.id_token!)).toMatchObject({ amr: ['pwd', 'otp', 'mfa'], acr: MFA });
    const refreshed = await postForm(`${server.url}/connect/token`, { grant_type: 'refresh_token', refresh_token: tokens.refresh_token! }, { authorization: basic(app.id, app.secret) });
    expect(decodeJwt(((await refreshed.json()) as { id_token: string }).id_token)).toMatchObject({ amr: ['pwd', 'otp', 'mfa'], acr: MFA });

    // The pending step was used once: it cannot sign in a second time.
    const again = await fresh.get('/login/second-factor');
    expect(again.status).toBe(400);
  });

  test('clock skew: ±1 step accepted, ±2 refused; a used code is refused on replay', async () => {
    const ua = new UserAgent(server.url);
    await passwordStep(ua, 'rita');
    const { secret } = await enrolSignedIn(ua);
    clock.advance(90);
    // Without an app to return to, a finished sign-in answers 200 ("You are signed in").
    for (const [offset, status] of [[-2, 401], [2, 401], [-1, 200]] as const) {
      const b = new UserAgent(server.url);
      expect(location(await passwordStep(b, 'rita'))).toBe('/login/second-factor');
      expect((await secondStep(b, codeFor(secret, offset))).status).toBe(status);
    }
    const late = new UserAgent(server.url);
    await passwordStep(late, 'rita');
    const code = codeFor(secret, 1);
    expect((await secondStep(late, code)).status).toBe(200);
    // The same code again (another browser, same step): refused, as is an older one.
    const replay = new UserAgent(server.url);
    await passwordStep(replay, 'rita');
    expect((await secondStep(replay, code)).status).toBe(401);
    expect((await secondStep(replay, codeFor(secret))).status).toBe(401);
    clock.advance(60);
    expect((await secondStep(replay, codeFor(secret))).status).toBe(200);
  });

  test('a recovery code works once, is audited with the number left, and is refused the second time', async () => {
    const ua = new UserAgent(server.url);
    await passwordStep(ua, 'tom');
    const { recovery } = await enrolSignedIn(ua);
    const b = new UserAgent(server.url);
    await passwordStep(b, 'tom');
    const used = await secondStep(b, recovery[3]!.toUpperCase());
    expect(used.status).toBe(200);
    expect(await used.text()).toContain('9 recovery codes are left');
    const c = new UserAgent(server.url);
    await passwordStep(c, 'tom');
    expect((await secondStep(c, recovery[3]!)).status).toBe(401);
    const tom = await server.tessera.services.users.find('tom');
    const audit = await server.tessera.services.audit.list({ targetId: tom.id, action: 'user.recovery_code_use' });
    const entries = audit.items;
    expect(entries.map((e) => e.details)).toEqual([{ remaining: 9 }]);
  });

  test('a TOTP secret the key-encryption key cannot open (a replaced key) refuses codes without a 500; a recovery code still works', async () => {
    await server.tessera.services.users.create({ username: 'kim', password: PASSWORD, roles: ['developer'] }, SYSTEM);
    const ua = new UserAgent(server.url);
    await passwordStep(ua, 'kim');
    const { secret, recovery } = await enrolSignedIn(ua);
    clock.advance(30);
    const kim = await server.tessera.services.users.find('kim');
    await server.tessera.database.db.updateTable('user_factors').set({ secret: 'v1.AAAAAAAAAAAAAAAA.AAAAAAAAAAAAAAAAAAAAAA.AAAA' }).where('user_id', '=', kim.id).execute();
    const b = new UserAgent(server.url);
    expect(location(await passwordStep(b, 'kim'))).toBe('/login/second-factor');
    expect((await secondStep(b, codeFor(secret))).status).toBe(401);
    expect((await secondStep(b, recovery[0]!)).status).toBe(200);
  });

  test('guessing codes is throttled like passwords: 429 with Retry-After, then the right code passes after the wait', async () => {
    const ua = new UserAgent(server.url);
    await passwordStep(ua, 'gary');
    const { secret } = await enrolSignedIn(ua);
    clock.advance(30);
    const b = new UserAgent(server.url);
    await passwordStep(b, 'gary');
    const page = await b.get('/login/second-factor');
    const fields = hiddenFields(await page.text());
    let last: Response | undefined;
    for (let i = 0; i < 8; i++) {
      last = await b.post('/login/second-factor', { ...fields, code: '000000' });
      if (last.status === 429) break;
    }
    expect(last!.status).toBe(429);
    const wait = Number(last!.headers.get('retry-after'));
    expect(wait).toBeGreaterThanOrEqual(1);
    // While it waits, even the right code is refused without being checked.
    expect((await b.post('/login/second-factor', { ...fields, code: codeFor(secret) })).status).toBe(429);
    clock.advance(wait);
    expect((await b.post('/login/second-factor', { ...fields, code: codeFor(secret) })).status).toBe(200);
  });

  test('the pending step is bound to the browser that began it', async () => {
    const ua = new UserAgent(server.url);
    await passwordStep(ua, 'tina');
    const thief = new UserAgent(server.url);
    await thief.get('/login'); // a CSRF cookie of its own
    thief.cookies.set(SECOND_STEP_COOKIE, ua.cookies.get(SECOND_STEP_COOKIE)!);
    expect((await thief.get('/login/second-factor')).status).toBe(400);
  });

  test('acr_values asking for MFA: a user without a factor is taken through enrolment, then the app gets mfa', async () => {
    const ua = new UserAgent(server.url);
    const start = location(await ua.get(authorizeUrl({ acr_values: MFA })));
    const returnTo = new URL(start, server.url).searchParams.get('return_to')!;
    expect(location(await passwordStep(ua, 'nora', returnTo))).toBe('/login/enrol');
    expect(ua.cookies.has(SESSION_COOKIE)).toBe(false);
    const page = await ua.get('/login/enrol');
    const body = await page.text();
    const secret = /id="totp-secret">([A-Z2-7 ]+)</.exec(body)![1]!.replace(/ /g, '');
    const done = await ua.post('/login/enrol', { ...hiddenFields(body), code: codeFor(secret) });
    expect(done.status).toBe(200);
    const text = await done.text();
    expect([...text.matchAll(/<li><code>/g)]).toHaveLength(10);
    expect(text).toContain(`href="${returnTo.replace(/&/g, '&amp;')}"`);
    expect(ua.cookies.has(SESSION_COOKIE)).toBe(true);
    const tokens = await tokensFor(ua, { acr_values: MFA });
    expect(decodeJwt(tokens.id_token!)).toMatchObject({ amr: ['pwd', 'otp', 'mfa'], acr: MFA });
  });

  test('a password-only session never gets a code for acr_values=mfa; prompt=none says interaction_required', async () => {
    const ua = new UserAgent(server.url);
    expect((await passwordStep(ua, 'ursula')).status).toBe(200);
    const tokens = await tokensFor(ua);
    expect(decodeJwt(tokens.id_token!)).toMatchObject({ amr: ['pwd'], acr: 'urn:tessera:acr:basic' });
    // Asking for MFA sends the user back through sign-in (which now enrols them).
    expect(location(await ua.get(authorizeUrl({ acr_values: MFA })))).toMatch(/^\/login\?/);
    const none = new URL(location(await ua.get(authorizeUrl({ acr_values: MFA, prompt: 'none' }))));
    expect(none.searchParams.get('error')).toBe('interaction_required');
    // basic is accepted when the app lists it too.
    expect(new URL(location(await ua.get(authorizeUrl({ acr_values: `${MFA} urn:tessera:acr:basic` })))).searchParams.get('code')).toBeTruthy();
  });

  test('prompt=login and max_age re-run the second factor as well as the password', async () => {
    const ua = new UserAgent(server.url);
    await passwordStep(ua, 'tina');
    // tina has a factor (first test): the password alone is not enough.
    expect(location(await passwordStep(ua, 'tina'))).toBe('/login/second-factor');
    for (const extra of [{ prompt: 'login' }, { max_age: '0' }] as Array<Record<string, string>>) {
      clock.advance(31);
      const start = location(await ua.get(authorizeUrl(extra)));
      expect(start).toMatch(/^\/login\?/);
      const returnTo = new URL(start, server.url).searchParams.get('return_to')!;
      expect(location(await passwordStep(ua, 'tina', returnTo))).toBe('/login/second-factor');
    }
  });

  test('admin API: GET /users/{id}/factors lists them, DELETE resets them (audited); the user then signs in with the password alone', async () => {
    const { services } = server.tessera;
    await services.users.create({ username: 'ops', password: PASSWORD, roles: ['admin'] }, SYSTEM);
    const automation = await services.clients.create({ name: 'ops automation', grantTypes: ['client_credentials'], onBehalfOf: 'ops', scopes: ['tessera.admin'] }, SYSTEM);
    const res = await postForm(`${server.url}/connect/token`, { grant_type: 'client_credentials', scope: 'tessera.admin' }, { authorization: basic(automation.client_id, automation.client_secret!) });
    const token = ((await res.json()) as { access_token: string }).access_token;
    const call = async (method: string, path: string) => {
      const r = await fetch(`${server.url}/admin/api/v1${path}`, { method, headers: { authorization: `Bearer ${token}` } });
      return { status: r.status, body: (await r.json()) as any };
    };
    await services.users.create({ username: 'vic', password: PASSWORD, roles: ['developer'] }, SYSTEM);
    const ua = new UserAgent(server.url);
    await passwordStep(ua, 'vic');
    await enrolSignedIn(ua);
    const listed = await call('GET', '/users/vic/factors');
    expect(listed.status).toBe(200);
    expect(listed.body).toMatchObject({ username: 'vic', recovery_codes_remaining: 10, factors: [{ type: 'totp', name: 'Authenticator app' }] });
    expect(listed.body.factors[0].created_at).toMatch(/^\d{4}-\d\d-\d\dT/);
    expect((await call('GET', '/users/nobody/factors')).status).toBe(404);
    const reset = await call('DELETE', '/users/vic/factors');
    expect(reset).toEqual({ status: 200, body: { user_id: listed.body.user_id, username: 'vic', removed: ['totp', 'recovery_codes'] } });
    expect((await call('GET', `/users/${listed.body.user_id}/factors`)).body).toMatchObject({ factors: [], recovery_codes_remaining: 0 });
    const entries = await services.audit.list({ targetId: listed.body.user_id, action: 'user.factors_reset' });
    expect(entries.items.map((e) => [e.actor, e.details])).toEqual([[`app:${automation.client_id} for user:ops`, { types: ['totp', 'recovery_codes'] }]]);
    expect((await passwordStep(new UserAgent(server.url), 'vic')).status).toBe(200);
  });

  test('a role that requires MFA: its users are taken through enrolment after the password', async () => {
    const { services } = server.tessera;
    await services.roles.create({ name: 'auditor', permissions: ['developer_api'] }, SYSTEM);
    await services.users.create({ username: 'audrey', password: PASSWORD, roles: ['auditor'] }, SYSTEM);
    expect((await passwordStep(new UserAgent(server.url), 'audrey')).status).toBe(200);
    expect((await services.roles.update('auditor', { requireMfa: true }, SYSTEM)).require_mfa).toBe(true);
    expect(location(await passwordStep(new UserAgent(server.url), 'audrey'))).toBe('/login/enrol');
    await services.roles.update('auditor', { requireMfa: false }, SYSTEM);
    expect((await passwordStep(new UserAgent(server.url), 'audrey')).status).toBe(200);
  });

  test('an app that requires MFA: a password-only session is sent back to sign in, which enrols the user; other apps are not affected', async () => {
    const { services } = server.tessera;
    await services.users.create({ username: 'pam', password: PASSWORD, roles: ['developer'] }, SYSTEM);
    const ua = new UserAgent(server.url);
    expect((await passwordStep(ua, 'pam')).status).toBe(200);
    expect((await services.clients.update(app.id, { requireMfa: true }, SYSTEM)).require_mfa).toBe(true);
    try {
      const start = location(await ua.get(authorizeUrl()));
      expect(start).toMatch(/^\/login\?/);
      const returnTo = new URL(start, server.url).searchParams.get('return_to')!;
      expect(location(await passwordStep(ua, 'pam', returnTo))).toBe('/login/enrol');
      const none = new URL(location(await ua.get(authorizeUrl({ prompt: 'none' }))));
      expect(none.searchParams.get('error')).toBe('interaction_required');
    } finally {
      await services.clients.update(app.id, { requireMfa: false }, SYSTEM);
    }
    // The password-only session goes on for apps that do not ask for more.
    expect(location(await ua.get(authorizeUrl()))).toMatch(/^(\/consent\?|https:\/\/app\.example\.com\/callback\?code=)/);
  });

  test('mfa_policy off: no factor is asked; acr_values=mfa gets unmet_authentication_requirements; required: enrolment after the password', async () => {
    const { settings } = server.tessera.services;
    await settings.update({ mfa_policy: 'off' }, SYSTEM);
    try {
      const ua = new UserAgent(server.url);
      expect((await passwordStep(ua, 'tina')).status).toBe(200);
      const denied = new URL(location(await ua.get(authorizeUrl({ acr_values: MFA }))));
      expect(denied.searchParams.get('error')).toBe('unmet_authentication_requirements');
      expect(denied.searchParams.get('state')).toBe('s1');
      expect((await ua.get('/account/totp')).status).toBe(404);
    } finally {
      await settings.update({ mfa_policy: 'optional' }, SYSTEM);
    }
    await server.tessera.services.users.create({ username: 'reggie', password: PASSWORD, roles: ['developer'] }, SYSTEM);
    await settings.update({ mfa_policy: 'required' }, SYSTEM);
    try {
      const ua = new UserAgent(server.url);
      expect(location(await passwordStep(ua, 'reggie'))).toBe('/login/enrol');
    } finally {
      await settings.update({ mfa_policy: 'optional' }, SYSTEM);
    }
  });
});
