import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { SYSTEM } from '../../src/audit/actor.ts';
import type { Clock } from '../../src/clock.ts';
import { GUESS_POLICIES } from '../../src/identity/guess-throttle.ts';
import { KyselyConsentStore } from '../../src/identity/consent-store.ts';
import { KyselyRefreshStore } from '../../src/oauth/refresh-store.ts';
import { declareScopes } from '../support/server.ts';
import { DIALECTS } from '../support/databases.ts';
import { startTestServer, type TestServer } from '../support/server.ts';
import { formFields } from '../support/forms.ts';
import { hiddenFields, location, UserAgent } from '../support/user-agent.ts';

/**
 * The account area over HTTP (issue 14): every form refuses a missing or foreign CSRF token
 * and changes nothing, a signed-out browser goes through /login and back, bad input is shown
 * next to its field and changes nothing, and each change is audited with the user as actor.
 */
const PASSWORD = 'correct horse battery staple';

const alertOf = (page: string) => /role="alert">([^<]*)</.exec(page)?.[1];
const fieldErrorOf = (page: string, id: string) => new RegExp(`id="${id}-error">([^<]*)<`).exec(page)?.[1];
const noticeOf = (page: string) => /role="status">([^<]*)</.exec(page)?.[1];

/** A clock that moves only when told: throttle waits are exact, however slow the machine. */
function manualClock(): Clock & { advance(seconds: number): void } {
  let now = Math.floor(Date.now() / 1000) * 1000;
  return { now: () => now, advance: (s) => void (now += s * 1000) };
}

describe.each(DIALECTS)('the account area over HTTP (%s)', (dialect) => {
  let server: TestServer;
  const clock = manualClock();

  beforeAll(async () => {
    server = await startTestServer(dialect, { clock });
  });
  afterAll(async () => server?.close());

  /** A browser signed in as a new user, back at /account through /login?return_to=/account. */
  async function signedIn(username: string, extra: { email?: string; name?: string } = {}): Promise<UserAgent> {
    await server.tessera.services.users.create({ username, password: PASSWORD, roles: [], ...extra }, SYSTEM);
    const ua = new UserAgent(server.url);
    const first = await ua.get('/account');
    expect(first.status).toBe(303);
    expect(location(first)).toBe('/login?return_to=%2Faccount');
    const login = await ua.get(location(first));
    const res = await ua.post('/login', { ...hiddenFields(await login.text()), username, password: PASSWORD });
    expect(res.status).toBe(303);
    expect(location(res)).toBe('/account');
    return ua;
  }

  async function auditOf(username: string, action: string) {
    const user = await server.tessera.services.users.find(username);
    return (await server.tessera.services.audit.list({ targetId: user.id, action })).items;
  }

  test('signed out: every account page and form goes through /login and comes back', async () => {
    const ua = new UserAgent(server.url);
    for (const path of ['/account', '/account/security', '/account/password', '/account/sessions', '/account/apps']) {
      const res = await ua.get(path);
      expect(res.status).toBe(303);
      expect(location(res)).toBe(`/login?${new URLSearchParams({ return_to: path })}`);
    }
    for (const [path, back] of [
      ['/account/profile', '/account'],
      ['/account/password', '/account/password'],
      ['/account/sessions/revoke', '/account/sessions'],
      ['/account/sessions/revoke-others', '/account/sessions'],
      ['/account/apps/revoke', '/account/apps'],
    ]) {
      const post = await ua.post(path!, { name: 'Mallory', email: 'm@example.com', current: 'x', next: 'y', confirm: 'y' });
      expect(post.status).toBe(303);
      expect(location(post)).toBe(`/login?${new URLSearchParams({ return_to: back! })}`);
    }
  });

  test('profile: the page shows the user; a change is saved, audited as user.update, and a new email is unverified', async () => {
    const ua = await signedIn('pat', { email: 'pat@example.com', name: 'Pat' });
    const page = await (await ua.get('/account')).text();
    expect(page).toContain('Signed in as <strong>Pat</strong>');
    expect(page).toContain('value="pat@example.com"');
    expect(page).toContain('aria-current="page">Profile<');

    const res = await ua.post('/account/profile', { ...formFields(page, '/account/profile'), name: 'Pat Doe', email: 'pat.doe@example.com' });
    expect(res.status).toBe(303);
    expect(location(res)).toBe('/account?done=email');
    const after = await (await ua.get(location(res))).text();
    expect(noticeOf(after)).toBe('Your profile was saved. Your new email address is not verified yet.');
    expect(after).toContain('pat.doe@example.com is not verified yet.');
    const user = await server.tessera.services.users.find('pat');
    expect(user).toMatchObject({ name: 'Pat Doe', email: 'pat.doe@example.com', emailVerified: false });
    const audit = await auditOf('pat', 'user.update');
    expect(audit.map((e) => [e.actor, e.details])).toContainEqual(['user:pat', { fields: ['email', 'name'] }]);

    // Saving without a change records nothing.
    const again = await ua.post('/account/profile', { ...formFields(after, '/account/profile'), name: 'Pat Doe', email: 'pat.doe@example.com' });
    expect(location(again)).toBe('/account?done=profile');
    expect(await auditOf('pat', 'user.update')).toHaveLength(audit.length);
  });

  test('profile: bad input is shown next to its field and changes nothing', async () => {
    const ua = await signedIn('quinn', { email: 'quinn@example.com', name: 'Quinn' });
    const page = await (await ua.get('/account')).text();
    const csrf = formFields(page, '/account/profile');
    const bad = await ua.post('/account/profile', { ...csrf, name: 'Quinn Q', email: 'not an address' });
    expect(bad.status).toBe(400);
    const shown = await bad.text();
    expect(fieldErrorOf(shown, 'email')).toBe('&quot;not an address&quot; is not a valid email address.');
    expect(shown).toContain('value="not an address"'); // what they typed stays to be corrected
    expect(shown).toContain('aria-invalid="true"');
    const long = await ua.post('/account/profile', { ...csrf, name: 'x'.repeat(201), email: 'quinn@example.com' });
    expect(long.status).toBe(400);
    expect(fieldErrorOf(await long.text(), 'name')).toBe('Use at most 200 characters.');
    expect(await server.tessera.services.users.find('quinn')).toMatchObject({ name: 'Quinn', email: 'quinn@example.com' });
  });

  test('a German page shows the errors of the services and of the password form in German (issue 15)', async () => {
    const ua = await signedIn('ulla', { email: 'ulla@example.com' });
    ua.cookies.set('tessera_lang', 'de');
    const profile = await ua.post('/account/profile', { ...formFields(await (await ua.get('/account')).text(), '/account/profile'), name: 'Ulla', email: 'keine adresse' });
    expect(profile.status).toBe(400);
    expect(fieldErrorOf(await profile.text(), 'email')).toBe('„keine adresse“ ist keine gültige E-Mail-Adresse.');
    const long = await ua.post('/account/profile', { ...formFields(await (await ua.get('/account')).text(), '/account/profile'), name: 'x'.repeat(201), email: 'ulla@example.com' });
    expect(fieldErrorOf(await long.text(), 'name')).toBe('Verwenden Sie höchstens 200 Zeichen.');
    const csrf = formFields(await (await ua.get('/account/password')).text(), '/account/password');
    const short = await ua.post('/account/password', { ...csrf, current: PASSWORD, next: 'kurz', confirm: 'kurz' });
    expect(short.status).toBe(400);
    expect(fieldErrorOf(await short.text(), 'next')).toBe('Verwenden Sie mindestens 8 Zeichen.');
    const wrong = await ua.post('/account/password', { ...csrf, current: 'nicht meins', next: 'ein ganz neues Geheimnis', confirm: 'ein ganz neues Geheimnis' });
    expect(fieldErrorOf(await wrong.text(), 'current')).toBe('Das ist nicht Ihr aktuelles Passwort.');
    // Without the choice, the same mistake reads in English again.
    ua.cookies.delete('tessera_lang');
    const english = await ua.post('/account/password', { ...csrf, current: PASSWORD, next: 'kurz', confirm: 'kurz' });
    expect(fieldErrorOf(await english.text(), 'next')).toBe('Use at least 8 characters.');
    expect(await server.tessera.services.users.find('ulla')).toMatchObject({ email: 'ulla@example.com' });
  });

  test('profile: a missing, wrong or other session’s CSRF token is refused and changes nothing', async () => {
    const ua = await signedIn('rene', { name: 'Rene' });
    const other = await signedIn('sam');
    const othersToken = formFields(await (await other.get('/account')).text(), '/account/profile').csrf!;
    for (const csrf of [undefined, 'forged', othersToken]) {
      const res = await ua.post('/account/profile', { ...(csrf ? { csrf } : {}), name: 'Hacked', email: 'h@example.com' });
      expect(res.status).toBe(403);
      expect(alertOf(await res.text())).toBeUndefined();
    }
    // Not a form at all: refused the same way, never a 500.
    for (const path of ['/account/profile', '/account/password', '/account/sessions/revoke', '/account/sessions/revoke-others', '/account/apps/revoke']) {
      for (const [type, body] of [['application/json', '{"name":"Hacked"}'], ['text/plain', 'name=Hacked']]) {
        const headers: Record<string, string> = { 'content-type': type!, cookie: [...ua.cookies].map(([k, v]) => `${k}=${v}`).join('; ') };
        const res = await fetch(`${server.url}${path}`, { method: 'POST', headers, body, redirect: 'manual' });
        expect(res.status, `${path} ${type}`).toBe(403);
      }
    }
    expect(await server.tessera.services.users.find('rene')).toMatchObject({ name: 'Rene', email: null });
  });

  test('password: the current one is required; the others sessions end and refresh tokens are revoked, this browser stays signed in', async () => {
    const ua = await signedIn('tess');
    const elsewhere = new UserAgent(server.url);
    const login = await elsewhere.get('/login');
    expect((await elsewhere.post('/login', { ...hiddenFields(await login.text()), username: 'tess', password: PASSWORD })).status).toBe(200);
    const user = await server.tessera.services.users.find('tess');
    // A refresh token of an app, as if issued to the user earlier.
    const app = await server.tessera.services.clients.create({ name: 'Notes', grantTypes: ['authorization_code'], redirectUris: ['https://notes.example.com/cb'], scopes: ['openid', 'offline_access'] }, SYSTEM);
    const nowS = Math.floor(clock.now() / 1000);
    await new KyselyRefreshStore(server.tessera.database.db, dialect).createFamily(
      { id: 'fam-tess', clientId: app.client_id, userId: user.id, scope: 'openid offline_access', sessionId: null, authTime: nowS, createdAt: nowS, expiresAt: nowS + 3600, revokedAt: null, amr: ['pwd'] },
      'hash-tess',
      nowS + 3600,
    );

    const page = await (await ua.get('/account/password')).text();
    const csrf = formFields(page, '/account/password');
    const wrong = await ua.post('/account/password', { ...csrf, current: 'not my password', next: 'a brand new secret', confirm: 'a brand new secret' });
    expect(wrong.status).toBe(400);
    expect(fieldErrorOf(await wrong.text(), 'current')).toBe('This is not your current password.');
    const mismatch = await ua.post('/account/password', { ...csrf, current: PASSWORD, next: 'a brand new secret', confirm: 'a brand new secreT' });
    expect(fieldErrorOf(await mismatch.text(), 'confirm')).toBe('This does not match the new password.');
    const short = await ua.post('/account/password', { ...csrf, current: PASSWORD, next: 'short', confirm: 'short' });
    expect(fieldErrorOf(await short.text(), 'next')).toBe('Use at least 8 characters.');
    const same = await ua.post('/account/password', { ...csrf, current: PASSWORD, next: PASSWORD, confirm: PASSWORD });
    expect(fieldErrorOf(await same.text(), 'next')).toBe('Choose a password different from your current one.');
    expect((await server.tessera.services.users.find('tess')).passwordHash).toBe(user.passwordHash);
    // The wrong guess was recorded as a refused sign-in.
    expect((await auditOf('tess', 'user.sign_in_failed')).map((e) => e.actor)).toEqual(['user:tess']);

    const oldCookie = ua.cookies.get('tessera_session');
    const ok = await ua.post('/account/password', { ...csrf, current: PASSWORD, next: 'a brand new secret', confirm: 'a brand new secret' });
    expect(ok.status).toBe(303);
    expect(location(ok)).toBe('/account/security?done=password');
    expect(ua.cookies.get('tessera_session')).not.toBe(oldCookie);
    const security = await ua.get(location(ok));
    expect(security.status).toBe(200);
    expect(noticeOf(await security.text())).toBe('Your password was changed. You were signed out everywhere else.');
    // The other browser is signed out; the old cookie of this one too.
    expect(location(await elsewhere.get('/account'))).toBe('/login?return_to=%2Faccount');
    const stale = new UserAgent(server.url);
    stale.cookies.set('tessera_session', oldCookie!);
    expect((await stale.get('/account')).status).toBe(303);
    expect((await new KyselyRefreshStore(server.tessera.database.db, dialect).find('hash-tess'))?.family.revokedAt).not.toBeNull();
    expect((await auditOf('tess', 'user.password_change')).map((e) => [e.actor, e.details])).toEqual([['user:tess', { other_sessions_ended: 1, refresh_tokens_revoked: 1 }]]);
    expect(await auditOf('tess', 'user.password_reset')).toEqual([]);
    // The new password signs in; the old one does not.
    const fresh = new UserAgent(server.url);
    const form = hiddenFields(await (await fresh.get('/login')).text());
    expect((await fresh.post('/login', { ...form, username: 'tess', password: PASSWORD })).status).toBe(401);
    expect((await fresh.post('/login', { ...form, username: 'tess', password: 'a brand new secret' })).status).toBe(200);
  });

  test('password: wrong current passwords are throttled like sign-ins (429, Retry-After), and a right one must then wait too', async () => {
    const ua = await signedIn('uma');
    const csrf = formFields(await (await ua.get('/account/password')).text(), '/account/password');
    const attempt = (current: string) => ua.post('/account/password', { ...csrf, current, next: 'another new secret', confirm: 'another new secret' });
    // This browser holds the device cookie: its own counter (free failures, then doubling waits).
    for (let i = 0; i <= GUESS_POLICIES.device.free; i++) expect((await attempt(`guess ${i}`)).status).toBe(400);
    const throttled = await attempt(PASSWORD);
    expect(throttled.status).toBe(429);
    expect(throttled.headers.get('retry-after')).toBe('1');
    expect(fieldErrorOf(await throttled.text(), 'current')).toBe('Too many wrong passwords. Wait 1 second, then try again.');
    expect((await server.tessera.services.users.find('uma')).passwordChangedAt).toBe((await server.tessera.services.users.find('uma')).createdAt);
    clock.advance(1);
    expect((await attempt(PASSWORD)).status).toBe(303);
  });

  test('password: a missing or foreign CSRF token is refused and changes nothing', async () => {
    const ua = await signedIn('vic');
    const before = (await server.tessera.services.users.find('vic')).passwordHash;
    for (const csrf of [undefined, 'forged']) {
      const res = await ua.post('/account/password', { ...(csrf ? { csrf } : {}), current: PASSWORD, next: 'a new one here', confirm: 'a new one here' });
      expect(res.status).toBe(403);
    }
    expect((await server.tessera.services.users.find('vic')).passwordHash).toBe(before);
  });

  /** A second browser of the same user, signed in through /login with another User-Agent. */
  async function anotherBrowser(username: string, userAgent: string): Promise<UserAgent> {
    const ua = new UserAgent(server.url);
    const login = await ua.request('/login', { headers: { 'user-agent': userAgent } });
    const res = await ua.request('/login', { method: 'POST', form: { ...hiddenFields(await login.text()), username, password: PASSWORD }, headers: { 'user-agent': userAgent } });
    expect(res.status).toBe(200);
    return ua;
  }

  test('sessions: listed with device in words; one signed out, then everywhere else; audited with the user as actor', async () => {
    const ua = await signedIn('wren');
    const firefox = await anotherBrowser('wren', 'Mozilla/5.0 (X11; Ubuntu; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0');
    const iphone = await anotherBrowser('wren', 'Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.0 Mobile/15E148 Safari/604.1');
    const mallory = await signedIn('mallory');
    const page = await (await ua.get('/account/sessions')).text();
    expect(page).toContain('Firefox on Linux');
    expect(page).toContain('Safari on iPhone');
    expect(page).toContain('<span class="badge">This device</span>');
    expect(page).toContain('127.0.0.1 · signed in ');
    const user = await server.tessera.services.users.find('wren');
    const live = await server.tessera.services.access.sessions(user.id);
    expect(live).toHaveLength(3);
    const firefoxSid = live.find((s) => s.user_agent?.includes('Firefox'))!.sid;
    const csrf = formFields(page, '/account/sessions/revoke').csrf!;
    // Two sign-out forms (the other two sessions), none for this device.
    expect(page.match(/action="\/account\/sessions\/revoke"/g)).toHaveLength(2);

    // Bad input changes nothing: an unknown sid, another user's, this browser's own, garbage.
    const mallorySid = (await server.tessera.services.access.sessions((await server.tessera.services.users.find('mallory')).id))[0]!.sid;
    const ownSid = live.find((s) => !s.user_agent?.includes('Firefox') && !s.user_agent?.includes('iPhone'))!.sid;
    for (const sid of ['00000000-0000-4000-8000-000000000000', mallorySid, ownSid, 'x\u0000y', '', 'a'.repeat(5000)]) {
      const res = await ua.post('/account/sessions/revoke', { csrf, sid });
      expect(res.status).toBe(303);
      expect(location(res)).toBe('/account/sessions?done=session-gone');
    }
    expect((await mallory.get('/account')).status).toBe(200);
    expect(await server.tessera.services.access.sessions(user.id)).toHaveLength(3);

    const one = await ua.post('/account/sessions/revoke', { csrf, sid: firefoxSid });
    expect(location(one)).toBe('/account/sessions?done=session');
    expect(noticeOf(await (await ua.get(location(one))).text())).toBe('That session was signed out.');
    expect(location(await firefox.get('/account'))).toBe('/login?return_to=%2Faccount');
    expect((await iphone.get('/account')).status).toBe(200);

    const all = await ua.post('/account/sessions/revoke-others', { csrf });
    expect(location(all)).toBe('/account/sessions?done=others');
    const after = await (await ua.get(location(all))).text();
    expect(after).toContain('You are not signed in anywhere else.');
    expect((await iphone.get('/account')).status).toBe(303);
    expect((await ua.get('/account')).status).toBe(200);
    expect((await auditOf('wren', 'session.revoke')).map((e) => [e.actor, e.details])).toEqual([['user:wren', { sid: firefoxSid }]]);
    expect((await auditOf('wren', 'session.revoke_all')).map((e) => [e.actor, e.details])).toEqual([['user:wren', { ended: 1 }]]);
  });

  test('sessions: a missing or foreign CSRF token is refused and ends nothing', async () => {
    const ua = await signedIn('xan');
    const other = await anotherBrowser('xan', 'Firefox');
    const sid = (await server.tessera.services.access.sessions((await server.tessera.services.users.find('xan')).id)).find((s) => s.user_agent === 'Firefox')!.sid;
    const foreign = formFields(await (await other.get('/account/sessions')).text(), '/account/sessions/revoke-others').csrf!;
    for (const csrf of [undefined, 'forged', foreign]) {
      expect((await ua.post('/account/sessions/revoke', { ...(csrf ? { csrf } : {}), sid })).status).toBe(403);
      expect((await ua.post('/account/sessions/revoke-others', { ...(csrf ? { csrf } : {}) })).status).toBe(403);
    }
    expect((await other.get('/account')).status).toBe(200);
  });

  test('connected apps: listed with scopes in words; "Remove access" forgets the consent and revokes the refresh tokens (grant.revoke)', async () => {
    const ua = await signedIn('yara');
    const user = await server.tessera.services.users.find('yara');
    await declareScopes(server.tessera, ['ledger.read']);
    const app = await server.tessera.services.clients.create({ name: 'Ledger <Books>', grantTypes: ['authorization_code'], redirectUris: ['https://ledger.example.com/cb'], scopes: ['openid', 'email', 'offline_access', 'ledger.read'] }, SYSTEM);
    const nowS = Math.floor(clock.now() / 1000);
    await new KyselyConsentStore(server.tessera.database.db).grant(user.id, app.client_id, ['openid', 'email', 'ledger.read'], nowS);
    const refresh = new KyselyRefreshStore(server.tessera.database.db, dialect);
    await refresh.createFamily({ id: 'fam-yara', clientId: app.client_id, userId: user.id, scope: 'openid offline_access', sessionId: null, authTime: nowS, createdAt: nowS, expiresAt: nowS + 3600, revokedAt: null, amr: ['pwd'] }, 'hash-yara', nowS + 3600);

    const page = await (await ua.get('/account/apps')).text();
    expect(page).toContain('<strong>Ledger &lt;Books&gt;</strong>');
    expect(page).toContain('<li>Sign you in and know who you are</li>');
    expect(page).toContain('<li>See your email address</li>');
    expect(page).toContain('<li>Test scope ledger.read</li>');
    const fields = formFields(page, '/account/apps/revoke');
    expect(fields.client_id).toBe(app.client_id);

    // Bad input changes nothing: an unknown app, garbage.
    for (const client_id of ['00000000-0000-4000-8000-000000000000', 'x\u0000y', '', 'a'.repeat(5000)]) {
      const res = await ua.post('/account/apps/revoke', { csrf: fields.csrf!, client_id });
      expect(location(res)).toBe('/account/apps?done=removed-gone');
    }
    // A missing or wrong CSRF token: refused.
    expect((await ua.post('/account/apps/revoke', { client_id: app.client_id })).status).toBe(403);
    expect((await ua.post('/account/apps/revoke', { csrf: 'forged', client_id: app.client_id })).status).toBe(403);
    expect((await refresh.find('hash-yara'))?.family.revokedAt).toBeNull();

    const res = await ua.post('/account/apps/revoke', fields);
    expect(location(res)).toBe('/account/apps?done=removed');
    const after = await (await ua.get(location(res))).text();
    expect(noticeOf(after)).toBe('The app’s access was removed.');
    expect(after).toContain('No app has access to your account.');
    expect((await refresh.find('hash-yara'))?.family.revokedAt).not.toBeNull();
    expect(await new KyselyConsentStore(server.tessera.database.db).granted(user.id, app.client_id)).toEqual([]);
    expect((await auditOf('yara', 'grant.revoke')).map((e) => [e.actor, e.details])).toEqual([['user:yara', { client_id: app.client_id }]]);
  });
});
