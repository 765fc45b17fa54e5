import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { SYSTEM } from '../../src/audit/actor.ts';
import { DIALECTS } from '../support/databases.ts';
import { startTestServer, type TestServer } from '../support/server.ts';
import { hiddenFields, location, UserAgent } from '../support/user-agent.ts';

/**
 * The account area over HTTP (issue 14): every form refuses a missing or foreign CSRF token
 * and changes nothing, a signed-out browser goes through /login and back, bad input is shown
 * next to its field and changes nothing, and each change is audited with the user as actor.
 */
const PASSWORD = 'correct horse battery staple';

/** The hidden fields of the form posting to `action` (pages carry several forms: sign-out, per-row buttons). */
export function formFields(page: string, action: string, index = 0): Record<string, string> {
  const forms = [...page.matchAll(/<form [^>]*action="([^"]*)"[^>]*>([\s\S]*?)<\/form>/g)].filter((m) => m[1] === action.replace(/&/g, '&amp;'));
  const form = forms[index];
  if (!form) throw new Error(`no form posting to ${action} on the page`);
  return hiddenFields(form[2]!);
}

const alertOf = (page: string) => /role="alert">([^<]*)</.exec(page)?.[1];
const fieldErrorOf = (page: string, id: string) => new RegExp(`id="${id}-error">([^<]*)<`).exec(page)?.[1];
const noticeOf = (page: string) => /role="status">([^<]*)</.exec(page)?.[1];

describe.each(DIALECTS)('the account area over HTTP (%s)', (dialect) => {
  let server: TestServer;

  beforeAll(async () => {
    server = await startTestServer(dialect);
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
    for (const path of ['/account']) {
      const res = await ua.get(path);
      expect(res.status).toBe(303);
      expect(location(res)).toBe(`/login?${new URLSearchParams({ return_to: path })}`);
    }
    const post = await ua.post('/account/profile', { name: 'Mallory', email: 'm@example.com' });
    expect(post.status).toBe(303);
    expect(location(post)).toBe('/login?return_to=%2Faccount');
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
    expect(fieldErrorOf(shown, 'email')).toBe('&quot;not an address&quot; is not a valid email address');
    expect(shown).toContain('value="not an address"'); // what they typed stays to be corrected
    expect(shown).toContain('aria-invalid="true"');
    const long = await ua.post('/account/profile', { ...csrf, name: 'x'.repeat(201), email: 'quinn@example.com' });
    expect(long.status).toBe(400);
    expect(fieldErrorOf(await long.text(), 'name')).toBe('name must be at most 200 characters');
    expect(await server.tessera.services.users.find('quinn')).toMatchObject({ name: 'Quinn', email: 'quinn@example.com' });
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
    expect(await server.tessera.services.users.find('rene')).toMatchObject({ name: 'Rene', email: null });
  });
});
