import { decodeJwt } from 'jose';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { SYSTEM } from '../../src/audit/actor.ts';
import { DIALECTS } from '../support/databases.ts';
import { dpopKey, dpopProof } from '../support/dpop.ts';
import { basic, postForm, startTestServer, type TestServer } from '../support/server.ts';

/**
 * RFC 8693 token exchange over HTTP, on SQLite and PostgreSQL: an app exchanges a user's
 * access token for one bound to another API, within its policy; with an actor token the
 * delegation is recorded in `act` (nested, §4.1). Every refusal is the §2.2.2 error and
 * issues nothing.
 */
const GRANT = 'urn:ietf:params:oauth:grant-type:token-exchange';
const AT = 'urn:ietf:params:oauth:token-type:access_token';
const PASSWORD = 'correct horse battery staple';

interface App {
  id: string;
  secret: string;
}

describe.each(DIALECTS)('token exchange (%s)', (dialect) => {
  let server: TestServer;
  const clock = { offset: 0, now: () => Date.now() + clock.offset };
  let frontend: App;
  let backend: App;
  let narrow: App;
  let plain: App;
  let orders: string;
  let billing: string;

  beforeAll(async () => {
    server = await startTestServer(dialect, { clock });
    const { services } = server.tessera;
    const upstream = 'http://127.0.0.1:9';
    await services.apis.create({ name: 'Orders', basePath: '/orders', upstream, scopes: [{ name: 'orders.read' }, { name: 'orders.write' }], routes: [{ methods: ['GET'], path: '/**', scopes: ['orders.read'] }] }, SYSTEM);
    await services.apis.create({ name: 'Billing', basePath: '/billing', upstream, scopes: [{ name: 'billing.read' }], routes: [{ methods: ['GET'], path: '/**', scopes: ['billing.read'] }] }, SYSTEM);
    await services.apis.create({ name: 'Inventory', basePath: '/inventory', upstream, audience: 'inventory-service', scopes: [{ name: 'inventory.read' }], routes: [{ methods: ['GET'], path: '/**', scopes: ['inventory.read'] }] }, SYSTEM);
    await services.users.create({ username: 'alice', password: PASSWORD, roles: ['developer'] }, SYSTEM);
    const app = async (name: string, input: Parameters<typeof services.clients.create>[0]): Promise<App> => {
      const created = await services.clients.create({ name, grantTypes: ['client_credentials'], ...input }, SYSTEM);
      return { id: created.client_id, secret: created.client_secret! };
    };
    // The subject tokens: alice's, through an app acting on her behalf.
    frontend = await app('frontend', { onBehalfOf: 'alice', scopes: ['orders.read', 'orders.write', 'billing.read', 'inventory.read'] });
    orders = `${server.url}/orders`;
    billing = `${server.url}/billing`;
    backend = await app('backend', { scopes: ['orders.read'], tokenExchange: { audiences: [orders, 'inventory-service'] } });
    narrow = await app('narrow', { tokenExchange: { audiences: [orders], scopes: ['orders.read'], subjectClients: [frontend.id] } });
    plain = await app('plain', {});
    for (let i = 0; i < 60 && server.tessera.gateway.size < 3; i++) await new Promise((r) => setTimeout(r, 50));
  });
  afterAll(async () => {
    await server?.close();
  });

  const token = async (client: App, form: Record<string, string>) => postForm(`${server.url}/connect/token`, form, { authorization: basic(client.id, client.secret) });
  const subjectToken = async (scope = 'orders.read orders.write billing.read inventory.read'): Promise<string> => {
    const res = await token(frontend, { grant_type: 'client_credentials', scope });
    expect(res.status).toBe(200);
    return ((await res.json()) as { access_token: string }).access_token;
  };
  const exchange = (client: App, form: Record<string, string>) => token(client, { grant_type: GRANT, subject_token_type: AT, ...form });
  const refusal = async (res: Response, error: string) => {
    const body = (await res.json()) as { error: string; error_description: string };
    expect({ status: res.status, error: body.error }).toEqual({ status: error === 'invalid_client' ? 401 : 400, error });
    expect(res.headers.get('cache-control')).toBe('no-store');
    return body.error_description;
  };

  test('discovery lists the grant', async () => {
    const meta = (await (await fetch(`${server.url}/.well-known/openid-configuration`)).json()) as { grant_types_supported: string[] };
    expect(meta.grant_types_supported).toContain(GRANT);
  });

  test('success: a token for the one API, same user, scopes narrowed to it, no longer than the subject token', async () => {
    const subject = await subjectToken();
    const res = await exchange(backend, { subject_token: subject, resource: orders, requested_token_type: AT });
    expect(res.status).toBe(200);
    expect(res.headers.get('cache-control')).toBe('no-store');
    const body = (await res.json()) as Record<string, unknown>;
    expect(body).toMatchObject({ issued_token_type: AT, token_type: 'Bearer', scope: 'orders.read orders.write' });
    expect(body.refresh_token).toBeUndefined();
    const issued = decodeJwt(body.access_token as string);
    const original = decodeJwt(subject);
    expect(issued.sub).toBe(original.sub);
    expect(issued.aud).toBe(orders);
    expect(issued.client_id).toBe(backend.id);
    expect(issued.act).toBeUndefined();
    expect(issued.exp!).toBeLessThanOrEqual(original.exp!);
    expect(issued.jti).not.toBe(original.jti);
    // It is a Tessera access token like any other: introspection says active, for alice.
    const intro = (await (await postForm(`${server.url}/connect/introspect`, { token: body.access_token as string }, { authorization: basic(backend.id, backend.secret) })).json()) as Record<string, unknown>;
    expect(intro).toMatchObject({ active: true, sub: original.sub, client_id: backend.id });
  });

  test('with a DPoP proof the exchanged token is bound to the caller’s key (RFC 9449 §5)', async () => {
    const key = await dpopKey();
    const proof = await dpopProof(key, { htu: `${server.url}/connect/token` });
    const res = await postForm(
      `${server.url}/connect/token`,
      { grant_type: GRANT, subject_token_type: AT, subject_token: await subjectToken(), resource: orders },
      { authorization: basic(backend.id, backend.secret), dpop: proof },
    );
    expect(res.status).toBe(200);
    const body = (await res.json()) as { access_token: string; token_type: string };
    expect(body.token_type).toBe('DPoP');
    expect(decodeJwt(body.access_token).cnf).toEqual({ jkt: key.jkt });
  });

  test('by audience: an API’s own audience names it; a scope asked for is kept', async () => {
    const res = await exchange(backend, { subject_token: await subjectToken(), audience: 'inventory-service', scope: 'inventory.read' });
    expect(res.status).toBe(200);
    const issued = decodeJwt(((await res.json()) as { access_token: string }).access_token);
    expect(issued.aud).toEqual([`${server.url}/inventory`, 'inventory-service']);
    expect(issued.scope).toBe('inventory.read');
  });

  test('delegation: the actor token’s subject is in act, and an earlier act nests inside', async () => {
    const actorToken = ((await (await token(backend, { grant_type: 'client_credentials' })).json()) as { access_token: string }).access_token;
    const first = await exchange(backend, { subject_token: await subjectToken(), resource: orders, actor_token: actorToken, actor_token_type: AT });
    expect(first.status).toBe(200);
    const delegated = ((await first.json()) as { access_token: string }).access_token;
    expect(decodeJwt(delegated).act).toEqual({ sub: backend.id });

    // The delegated token exchanged again by another app, with its own actor token: a chain.
    const narrowActor = ((await (await token(narrow, { grant_type: 'client_credentials' })).json()) as { access_token: string }).access_token;
    await server.tessera.services.clients.update(narrow.id, { tokenExchange: { audiences: [orders], scopes: ['orders.read'], subjectClients: [frontend.id, backend.id] } }, SYSTEM);
    const second = await exchange(narrow, { subject_token: delegated, resource: orders, actor_token: narrowActor, actor_token_type: AT });
    expect(second.status).toBe(200);
    const chained = decodeJwt(((await second.json()) as { access_token: string }).access_token);
    expect(chained.act).toEqual({ sub: narrow.id, act: { sub: backend.id } });
    expect(chained.scope).toBe('orders.read');
    // Without an actor token the chain is kept as it was, never dropped.
    const third = await exchange(narrow, { subject_token: delegated, resource: orders });
    expect(decodeJwt(((await third.json()) as { access_token: string }).access_token).act).toEqual({ sub: backend.id });
    await server.tessera.services.clients.update(narrow.id, { tokenExchange: { audiences: [orders], scopes: ['orders.read'], subjectClients: [frontend.id] } }, SYSTEM);

    // Another app's token cannot be named as the actor.
    expect(await refusal(await exchange(backend, { subject_token: await subjectToken(), resource: orders, actor_token: narrowActor, actor_token_type: AT }), 'invalid_request')).toContain('actor_token');
    // actor_token_type goes with actor_token, both ways.
    await refusal(await exchange(backend, { subject_token: await subjectToken(), resource: orders, actor_token: actorToken }), 'invalid_request');
    await refusal(await exchange(backend, { subject_token: await subjectToken(), resource: orders, actor_token_type: AT }), 'invalid_request');
  });

  test('scope widening is refused: beyond the subject token, beyond the policy, or not exchangeable', async () => {
    const readOnly = await subjectToken('orders.read');
    expect(await refusal(await exchange(backend, { subject_token: readOnly, resource: orders, scope: 'orders.write' }), 'invalid_scope')).toContain('orders.write');
    expect(await refusal(await exchange(narrow, { subject_token: await subjectToken(), resource: orders, scope: 'orders.read orders.write' }), 'invalid_scope')).toContain('orders.write');
    await refusal(await exchange(backend, { subject_token: await subjectToken(), resource: orders, scope: 'tessera.admin' }), 'invalid_scope');
    // Unasked, the narrow policy's scopes are what the token gets.
    const res = await exchange(narrow, { subject_token: await subjectToken(), resource: orders });
    expect(((await res.json()) as { scope: string }).scope).toBe('orders.read');
    // A subject token holding nothing of the API: nothing to exchange for.
    await refusal(await exchange(backend, { subject_token: await subjectToken('billing.read'), resource: orders }), 'invalid_scope');
  });

  test('an audience the policy does not list, or no API at all, is invalid_target', async () => {
    expect(await refusal(await exchange(backend, { subject_token: await subjectToken(), resource: billing }), 'invalid_target')).toContain('audience');
    await refusal(await exchange(backend, { subject_token: await subjectToken(), audience: 'billing-service' }), 'invalid_target');
    await refusal(await exchange(backend, { subject_token: await subjectToken(), audience: 'inventory-service', resource: orders }), 'invalid_target');
    await refusal(await exchange(backend, { subject_token: await subjectToken() }), 'invalid_request');
  });

  test('a token of an app the policy does not name is refused', async () => {
    const backendToken = ((await (await token(plain, { grant_type: 'client_credentials' })).json()) as { access_token: string }).access_token;
    // An app acting as itself has no user to exchange for.
    expect(await refusal(await exchange(backend, { subject_token: backendToken, resource: orders }), 'invalid_request')).toContain('user');
    await server.tessera.services.clients.update(narrow.id, { tokenExchange: { audiences: [orders], subjectClients: [plain.id] } }, SYSTEM);
    expect(await refusal(await exchange(narrow, { subject_token: await subjectToken(), resource: orders }), 'invalid_request')).toContain('app');
    await server.tessera.services.clients.update(narrow.id, { tokenExchange: { audiences: [orders], scopes: ['orders.read'], subjectClients: [frontend.id] } }, SYSTEM);
  });

  test('expired, revoked, forged and unknown-type subject tokens are refused', async () => {
    const subject = await subjectToken();
    clock.offset = 2 * 3600 * 1000;
    try {
      expect(await refusal(await exchange(backend, { subject_token: subject, resource: orders }), 'invalid_request')).toContain('expired');
    } finally {
      clock.offset = 0;
    }
    const revoked = await subjectToken();
    expect((await postForm(`${server.url}/connect/revocation`, { token: revoked }, { authorization: basic(frontend.id, frontend.secret) })).status).toBe(200);
    expect(await refusal(await exchange(backend, { subject_token: revoked, resource: orders }), 'invalid_request')).toContain('revoked');
    const [h, p] = subject.split('.');
    await refusal(await exchange(backend, { subject_token: `${h}.${p}.AAAA`, resource: orders }), 'invalid_request');
    await refusal(await exchange(backend, { subject_token: 'not-a-token', resource: orders }), 'invalid_request');
    for (const type of ['urn:ietf:params:oauth:token-type:id_token', 'urn:ietf:params:oauth:token-type:refresh_token', 'urn:example:unknown']) {
      expect(await refusal(await exchange(backend, { subject_token: await subjectToken(), subject_token_type: type, resource: orders }), 'invalid_request')).toContain('subject_token_type');
    }
    // A Tessera access token may also be named a JWT.
    expect((await exchange(backend, { subject_token: await subjectToken(), subject_token_type: 'urn:ietf:params:oauth:token-type:jwt', resource: orders })).status).toBe(200);
    expect(await refusal(await exchange(backend, { subject_token: await subjectToken(), resource: orders, requested_token_type: 'urn:ietf:params:oauth:token-type:refresh_token' }), 'invalid_request')).toContain('requested_token_type');
    await refusal(await exchange(backend, { resource: orders }), 'invalid_request');
  });

  test('revoking a token ends every token exchanged from it, down the chain; the ones it came from stay', async () => {
    const introspect = async (t: string) =>
      ((await (await postForm(`${server.url}/connect/introspect`, { token: t }, { authorization: basic(backend.id, backend.secret) })).json()) as { active: boolean }).active;
    const exchanged = async (subject: string) => {
      const res = await exchange(backend, { subject_token: subject, resource: orders });
      expect(res.status).toBe(200);
      return ((await res.json()) as { access_token: string }).access_token;
    };
    const gateway = async (t: string) => (await fetch(`${orders}/items`, { headers: { authorization: `Bearer ${t}` } })).status;
    const revoke = async (t: string, app: App) => expect((await postForm(`${server.url}/connect/revocation`, { token: t }, { authorization: basic(app.id, app.secret) })).status).toBe(200);

    // subject → first (exchanged by backend) → second (first exchanged again).
    const subject = await subjectToken();
    const first = await exchanged(subject);
    const second = await exchanged(first);
    expect(decodeJwt(first).exchanged_from).toEqual([decodeJwt(subject).jti]);
    expect(decodeJwt(second).exchanged_from).toEqual([decodeJwt(first).jti, decodeJwt(subject).jti]);
    expect([await introspect(first), await introspect(second)]).toEqual([true, true]);
    expect(await gateway(first)).not.toBe(401);

    await revoke(subject, frontend);
    expect([await introspect(first), await introspect(second)]).toEqual([false, false]);
    expect(await gateway(first)).toBe(401);
    expect(await gateway(second)).toBe(401);
    expect(await refusal(await exchange(backend, { subject_token: first, resource: orders }), 'invalid_request')).toContain('exchanged from was revoked');

    // Revoking the middle of a chain ends what came after it, not what came before.
    const root = await subjectToken();
    const middle = await exchanged(root);
    const leaf = await exchanged(middle);
    await revoke(middle, backend);
    expect([await introspect(leaf), await introspect(middle)]).toEqual([false, false]);
    const rootCheck = await server.tessera.tokens.checkAccessToken(root, Math.floor(Date.now() / 1000));
    expect(rootCheck.active).toBe(true);
  });

  test('the user disabled since: the subject token no longer exchanges', async () => {
    const subject = await subjectToken();
    const { services } = server.tessera;
    await services.users.update('alice', { disabled: true }, SYSTEM);
    try {
      expect(await refusal(await exchange(backend, { subject_token: subject, resource: orders }), 'invalid_request')).toContain('disabled');
    } finally {
      await services.users.update('alice', { disabled: false }, SYSTEM);
    }
  });

  test('an app without a policy is unauthorized_client, and the grant issues nothing to it', async () => {
    const desc = await refusal(await exchange(plain, { subject_token: await subjectToken(), resource: orders }), 'unauthorized_client');
    expect(desc).toContain('token exchange');
    // Bad client credentials are invalid_client before anything else.
    await refusal(await exchange({ id: plain.id, secret: 'wrong' }, { subject_token: await subjectToken(), resource: orders }), 'invalid_client');
    // Turning the policy off again closes it.
    await server.tessera.services.clients.update(narrow.id, { tokenExchange: null }, SYSTEM);
    await refusal(await exchange(narrow, { subject_token: await subjectToken(), resource: orders }), 'unauthorized_client');
    const view = await server.tessera.services.clients.show(narrow.id);
    expect(view.token_exchange).toBeNull();
    await server.tessera.services.clients.update(narrow.id, { tokenExchange: { audiences: [orders], scopes: ['orders.read'], subjectClients: [frontend.id] } }, SYSTEM);
    expect((await server.tessera.services.clients.show(narrow.id)).token_exchange).toEqual({ audiences: [orders], scopes: ['orders.read'], subject_clients: [frontend.id] });
  });
});
