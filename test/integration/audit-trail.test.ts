import { decodeJwt } from 'jose';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { SYSTEM } from '../../src/audit/actor.ts';
import type { AuditEventView } from '../../src/audit/audit-log.ts';
import { DIALECTS } from '../support/databases.ts';
import { basic, postForm, startTestServer, type TestServer } from '../support/server.ts';
import { hiddenFields, location, UserAgent } from '../support/user-agent.ts';

/**
 * Issue 12: "Sign-ins, failures, logouts, consents given and revoked, and admin token
 * revocations are recorded" — and revocations by apps at /connect/revocation (RFC 7009).
 * One user's life over HTTP, then their whole trail, in order, with no token in it.
 */
const PASSWORD = 'correct horse battery staple';
const REDIRECT = 'https://app.example.com/cb';
const API = '/admin/api/v1';

describe.each(DIALECTS)('the audit trail of sign-ins, consents and revocations (%s)', (dialect) => {
  let server: TestServer;
  let admin: string;
  let adminAppId: string;
  let app: { id: string; secret: string };
  let job: { id: string; secret: string };

  async function adminCall(method: string, path: string): Promise<number> {
    return (await fetch(`${server.url}${API}${path}`, { method, headers: { authorization: `Bearer ${admin}` } })).status;
  }

  async function trail(targetId: string): Promise<AuditEventView[]> {
    return (await server.tessera.services.audit.list({ targetId, limit: 500 })).items.reverse();
  }

  beforeAll(async () => {
    server = await startTestServer(dialect);
    const { services } = server.tessera;
    await services.users.create({ username: 'audit-admin', password: PASSWORD, roles: ['admin'] }, SYSTEM);
    const ops = await services.clients.create({ name: 'ops', grantTypes: ['client_credentials'], onBehalfOf: 'audit-admin', scopes: ['tessera.admin'] }, SYSTEM);
    adminAppId = ops.client_id;
    const res = await postForm(`${server.url}/connect/token`, { grant_type: 'client_credentials', scope: 'tessera.admin' }, { authorization: basic(ops.client_id, ops.client_secret!) });
    admin = ((await res.json()) as { access_token: string }).access_token;
    const a = await services.clients.create({ name: 'Trail app', grantTypes: ['authorization_code'], redirectUris: [REDIRECT], scopes: ['openid', 'offline_access'] }, SYSTEM);
    app = { id: a.client_id, secret: a.client_secret! };
    await services.users.create({ username: 'svc-job', password: PASSWORD, roles: ['developer'] }, SYSTEM);
    const j = await services.clients.create({ name: 'Trail job', grantTypes: ['client_credentials'], onBehalfOf: 'svc-job' }, SYSTEM);
    job = { id: j.client_id, secret: j.client_secret! };
  });
  afterAll(async () => server?.close());

  test('sign-in failure, sign-in, consent, revocations by the app and by an admin, sign-out', async () => {
    const user = await server.tessera.services.users.create({ username: 'tracy', password: PASSWORD, roles: ['developer'] }, SYSTEM);
    const ua = new UserAgent(server.url);
    const authorize = `/connect/authorize?${new URLSearchParams({ client_id: app.id, response_type: 'code', redirect_uri: REDIRECT, scope: 'openid offline_access' })}`;
    const login = await ua.get(`/login?${new URLSearchParams({ return_to: authorize })}`);
    const fields = hiddenFields(await login.text());
    expect((await ua.post('/login', { ...fields, username: 'tracy', password: 'not the password' })).status).toBe(401);
    const again = hiddenFields(await (await ua.get(`/login?${new URLSearchParams({ return_to: authorize })}`)).text());
    expect((await ua.post('/login', { ...again, username: 'tracy', password: PASSWORD })).status).toBe(303);
    const consent = await ua.get(location(await ua.get(authorize)));
    const back = new URL(location(await ua.post('/consent', { ...hiddenFields(await consent.text()), decision: 'allow' })));
    const tokenRes = await postForm(`${server.url}/connect/token`, { grant_type: 'authorization_code', code: back.searchParams.get('code')!, redirect_uri: REDIRECT }, { authorization: basic(app.id, app.secret) });
    const tokens = (await tokenRes.json()) as { access_token: string; refresh_token: string; id_token: string };
    expect(tokens.refresh_token).toBeTruthy();
    const jti = decodeJwt(tokens.access_token).jti!;
    const sid = decodeJwt(tokens.id_token).sid as string;

    // The app revokes its access token, then its refresh token (RFC 7009); each once.
    const revoke = (token: string, hint?: string) =>
      postForm(`${server.url}/connect/revocation`, { token, ...(hint ? { token_type_hint: hint } : {}) }, { authorization: basic(app.id, app.secret) });
    expect((await revoke(tokens.access_token)).status).toBe(200);
    expect((await revoke(tokens.access_token)).status).toBe(200); // already revoked: nothing new to record
    expect((await revoke(tokens.refresh_token, 'refresh_token')).status).toBe(200);
    expect((await revoke(tokens.refresh_token)).status).toBe(200);
    expect((await revoke('not-a-token')).status).toBe(200); // unknown: nothing to record

    // An admin revokes the consent (with any refresh tokens left) and the session.
    expect(await adminCall('DELETE', `/users/tracy/grants/${app.id}`)).toBe(204);
    // Sign in again in another browser, then sign out at /logout.
    const browser = new UserAgent(server.url);
    const relogin = hiddenFields(await (await browser.get('/login')).text());
    await browser.post('/login', { ...relogin, username: 'tracy', password: PASSWORD });
    const sessions = (await (await fetch(`${server.url}${API}/users/tracy/sessions`, { headers: { authorization: `Bearer ${admin}` } })).json()) as { items: Array<{ sid: string }> };
    expect(sessions.items).toHaveLength(2);
    const liveSid = sessions.items.find((s) => s.sid !== sid)!.sid;
    const logout = hiddenFields(await (await browser.get('/logout')).text());
    expect((await browser.post('/logout', logout)).status).toBe(200);

    const events = await trail(user.id);
    const adminActor = `app:${adminAppId} for user:audit-admin`;
    expect(events.map((e) => [e.action, e.actor, e.details])).toEqual([
      ['user.create', 'system', { username: 'tracy', roles: ['developer'] }],
      ['user.sign_in_failed', 'anonymous', { username: 'tracy', reason: 'invalid_credentials' }],
      ['user.sign_in', 'user:tracy', { sid, new_device: true }],
      ['consent.grant', 'user:tracy', { client_id: app.id, scopes: ['openid', 'offline_access'] }],
      ['grant.revoke', adminActor, { client_id: app.id }],
      ['user.sign_in', 'user:tracy', { sid: liveSid, new_device: true }], // another browser: no device cookie
      ['user.sign_out', 'user:tracy', { sid: liveSid }],
    ]);
    for (const e of events.slice(1)) expect(e.ip, e.action).toBe('127.0.0.1');

    // The app's revocations target the tokens' ids (the jti; the refresh token's family), never the tokens.
    const byApp = (await server.tessera.services.audit.list({ action: 'token.revoke', actor: `app:${app.id}`, limit: 500 })).items.reverse();
    expect(byApp.map((e) => ({ target_type: e.target_type, target_id: e.target_id, ip: e.ip, details: e.details }))).toEqual([
      { target_type: 'token', target_id: jti, ip: '127.0.0.1', details: { client_id: app.id, token_type: 'access_token', sub: user.id } },
      { target_type: 'token', target_id: expect.stringMatching(/^[0-9a-f-]{36}$/), ip: '127.0.0.1', details: { client_id: app.id, token_type: 'refresh_token', sub: user.id } },
    ]);
    const everything = JSON.stringify((await server.tessera.services.audit.list({ limit: 500 })).items);
    for (const secret of [tokens.access_token, tokens.refresh_token, tokens.id_token, back.searchParams.get('code')!, PASSWORD, app.secret]) {
      expect(everything).not.toContain(secret);
    }
  });

  test('an admin ending one session or all of them is recorded', async () => {
    const user = await server.tessera.services.users.create({ username: 'sam', password: PASSWORD, roles: [] }, SYSTEM);
    const sids: string[] = [];
    for (let i = 0; i < 2; i++) {
      const ua = new UserAgent(server.url);
      await ua.post('/login', { ...hiddenFields(await (await ua.get('/login')).text()), username: 'sam', password: PASSWORD });
    }
    const listed = (await (await fetch(`${server.url}${API}/users/sam/sessions`, { headers: { authorization: `Bearer ${admin}` } })).json()) as { items: Array<{ sid: string }> };
    sids.push(...listed.items.map((s) => s.sid));
    expect(await adminCall('DELETE', `/users/sam/sessions/${sids[0]}`)).toBe(204);
    expect(await adminCall('DELETE', '/users/sam/sessions')).toBe(204);
    const events = (await trail(user.id)).filter((e) => e.action.startsWith('session.'));
    expect(events.map((e) => [e.action, e.actor, e.details])).toEqual([
      ['session.revoke', `app:${adminAppId} for user:audit-admin`, { sid: sids[0] }],
      ['session.revoke_all', `app:${adminAppId} for user:audit-admin`, { ended: 1 }],
    ]);
  });

  test('a client-credentials app revoking its own token is recorded with the app as actor and subject', async () => {
    const res = await postForm(`${server.url}/connect/token`, { grant_type: 'client_credentials' }, { authorization: basic(job.id, job.secret) });
    const token = ((await res.json()) as { access_token: string }).access_token;
    const claims = decodeJwt(token);
    // Another app cannot revoke it, and nothing is recorded for the attempt.
    const stranger = await postForm(`${server.url}/connect/revocation`, { token }, { authorization: basic(app.id, app.secret) });
    expect(((await stranger.json()) as { error: string }).error).toBe('unauthorized_client');
    expect((await server.tessera.services.audit.list({ action: 'token.revoke', targetId: claims.jti!, limit: 10 })).items).toEqual([]);
    expect((await postForm(`${server.url}/connect/revocation`, { token }, { authorization: basic(job.id, job.secret) })).status).toBe(200);
    const { items } = await server.tessera.services.audit.list({ action: 'token.revoke', targetId: claims.jti!, limit: 10 });
    expect(items).toEqual([
      expect.objectContaining({ actor: `app:${job.id}`, target_type: 'token', ip: '127.0.0.1', details: { client_id: job.id, token_type: 'access_token', sub: claims.sub } }),
    ]);
  });
  test('a code and a refresh token used twice are recorded as token.replay: the app that presented them, its address, what was revoked, never a token', async () => {
    const user = await server.tessera.services.users.create({ username: 'rita', password: PASSWORD, roles: ['developer'] }, SYSTEM);
    const ua = new UserAgent(server.url);
    const authorize = `/connect/authorize?${new URLSearchParams({ client_id: app.id, response_type: 'code', redirect_uri: REDIRECT, scope: 'openid offline_access' })}`;
    const fields = hiddenFields(await (await ua.get(`/login?${new URLSearchParams({ return_to: authorize })}`)).text());
    expect((await ua.post('/login', { ...fields, username: 'rita', password: PASSWORD })).status).toBe(303);
    const consent = await ua.get(location(await ua.get(authorize)));
    const first = new URL(location(await ua.post('/consent', { ...hiddenFields(await consent.text()), decision: 'allow' })));
    const exchange = (code: string, headers: Record<string, string> = {}) =>
      postForm(`${server.url}/connect/token`, { grant_type: 'authorization_code', code, redirect_uri: REDIRECT }, { authorization: basic(app.id, app.secret), ...headers });
    const refresh = (token: string, headers: Record<string, string> = {}) =>
      postForm(`${server.url}/connect/token`, { grant_type: 'refresh_token', refresh_token: token }, { authorization: basic(app.id, app.secret), ...headers });
    const replays = async () => (await server.tessera.services.audit.list({ action: 'token.replay', limit: 50 })).items.filter((e) => e.details.sub === user.id).reverse();

    // A code exchanged, then presented again: what it gave is revoked, and recorded.
    const code = first.searchParams.get('code')!;
    const tokens = (await (await exchange(code)).json()) as { access_token: string; refresh_token: string; id_token: string };
    expect(await replays()).toEqual([]);
    expect(await (await exchange(code)).json()).toMatchObject({ error: 'invalid_grant' });
    const [codeReplay] = await replays();
    const family = (codeReplay?.details.revoked as { refresh_family: string }).refresh_family;
    expect(codeReplay).toMatchObject({
      actor: `app:${app.id}`,
      ip: '127.0.0.1',
      target_type: 'token',
      target_id: family,
      details: { client_id: app.id, token_type: 'authorization_code', sub: user.id, revoked: { refresh_family: expect.stringMatching(/^[0-9a-f-]{36}$/), access_token_jti: decodeJwt(tokens.access_token).jti } },
    });
    expect((await refresh(tokens.refresh_token)).status).toBe(400); // the family it names is revoked

    // A refresh token rotated, then presented again (through Fastify's route this time: an
    // Origin header keeps a request off the token edge): its family is revoked, and recorded.
    const again = await ua.get(authorize);
    const second = new URL(location(again.status === 303 ? again : await ua.post('/consent', { ...hiddenFields(await again.text()), decision: 'allow' })));
    const fresh = (await (await exchange(second.searchParams.get('code')!)).json()) as { refresh_token: string };
    const rotated = (await (await refresh(fresh.refresh_token)).json()) as { refresh_token: string };
    expect(rotated.refresh_token).toBeTruthy();
    const replayed = await refresh(fresh.refresh_token, { origin: 'https://elsewhere.example' });
    expect(await replayed.json()).toEqual({ error: 'invalid_grant', error_description: 'the refresh token was already used; the grant is revoked' });
    expect((await refresh(rotated.refresh_token)).status).toBe(400);
    const events = await replays();
    expect(events).toHaveLength(2);
    expect(events[1]).toMatchObject({
      actor: `app:${app.id}`,
      ip: '127.0.0.1',
      target_type: 'token',
      target_id: expect.stringMatching(/^[0-9a-f-]{36}$/),
      details: { client_id: app.id, token_type: 'refresh_token', sub: user.id, revoked: { refresh_family: events[1]!.target_id, access_token_jti: null } },
    });
    expect(events[1]!.target_id).not.toBe(family);

    const everything = JSON.stringify(events);
    for (const secret of [code, tokens.access_token, tokens.refresh_token, fresh.refresh_token, rotated.refresh_token, app.secret]) expect(everything).not.toContain(secret);
  });
});
