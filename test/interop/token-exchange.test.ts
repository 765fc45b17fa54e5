import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import * as oauth from 'oauth4webapi';
import * as client from 'openid-client';
import { createRemoteJWKSet, jwtVerify } from 'jose';
import { DIALECTS } from '../support/databases.ts';
import { startTestServer, type TestServer } from '../support/server.ts';
import { SYSTEM } from '../../src/audit/actor.ts';

/**
 * RFC 8693 token exchange driven by two clients no one here wrote: oauth4webapi's
 * `genericTokenEndpointRequest` and openid-client's `genericGrantRequest`. Both send the grant
 * as the RFC spells it and parse the answer with their own response validation.
 */
const GRANT = 'urn:ietf:params:oauth:grant-type:token-exchange';
const AT = 'urn:ietf:params:oauth:token-type:access_token';
const insecure = { [oauth.allowInsecureRequests]: true } as const;

describe.each(DIALECTS)('token exchange with third-party clients (%s)', (dialect) => {
  let server: TestServer;
  let as: oauth.AuthorizationServer;
  let frontend: { id: string; secret: string };
  let backend: { id: string; secret: string };
  let userId: string;
  let reports: string;

  beforeAll(async () => {
    server = await startTestServer(dialect);
    const { services } = server.tessera;
    await services.apis.create({ name: 'Reports', basePath: '/reports', upstream: 'http://127.0.0.1:9/', scopes: [{ name: 'reports.read' }], routes: [{ methods: ['GET'], path: '/**', scopes: ['reports.read'] }] }, SYSTEM);
    userId = (await services.users.create({ username: 'interop-user', password: 'correct horse battery', roles: ['developer'] }, SYSTEM)).id;
    const f = await services.clients.create({ name: 'frontend', grantTypes: ['client_credentials'], onBehalfOf: 'interop-user', scopes: ['reports.read'] }, SYSTEM);
    frontend = { id: f.client_id, secret: f.client_secret! };
    reports = `${server.url}/reports`;
    const b = await services.clients.create({ name: 'backend', grantTypes: ['client_credentials'], tokenExchange: { audiences: [reports] } }, SYSTEM);
    backend = { id: b.client_id, secret: b.client_secret! };
    for (let i = 0; i < 60 && server.tessera.gateway.size < 1; i++) await new Promise((r) => setTimeout(r, 50));
    const issuer = new URL(server.url);
    as = await oauth.processDiscoveryResponse(issuer, await oauth.discoveryRequest(issuer, { ...insecure, algorithm: 'oidc' }));
  });
  afterAll(async () => server?.close());

  async function subjectToken(): Promise<string> {
    const c = { client_id: frontend.id };
    const res = await oauth.clientCredentialsGrantRequest(as, c, oauth.ClientSecretBasic(frontend.secret), { scope: 'reports.read' }, insecure);
    return (await oauth.processClientCredentialsResponse(as, c, res)).access_token;
  }

  test('discovery advertises the grant', () => {
    expect(as.grant_types_supported).toContain(GRANT);
  });

  test('oauth4webapi: exchange with an actor token; the token verifies with the JWKS and carries act', async () => {
    const c = { client_id: backend.id };
    const auth = oauth.ClientSecretPost(backend.secret);
    const actor = await oauth.processClientCredentialsResponse(as, c, await oauth.clientCredentialsGrantRequest(as, c, auth, {}, insecure));
    const response = await oauth.genericTokenEndpointRequest(as, c, auth, GRANT, { subject_token: await subjectToken(), subject_token_type: AT, actor_token: actor.access_token, actor_token_type: AT, resource: reports }, insecure);
    const tokens = await oauth.processGenericTokenEndpointResponse(as, c, response);
    expect(tokens.token_type).toBe('bearer');
    expect(tokens.issued_token_type).toBe(AT);
    expect(tokens.scope).toBe('reports.read');
    const { payload } = await jwtVerify(tokens.access_token, createRemoteJWKSet(new URL(as.jwks_uri!)), { issuer: as.issuer, audience: reports, typ: 'at+jwt' });
    expect(payload).toMatchObject({ sub: userId, client_id: backend.id, act: { sub: backend.id }, scope: 'reports.read' });
  });

  test('oauth4webapi: a refusal surfaces as the library’s ResponseBodyError with the RFC 8693 code', async () => {
    const c = { client_id: backend.id };
    const response = await oauth.genericTokenEndpointRequest(as, c, oauth.ClientSecretBasic(backend.secret), GRANT, { subject_token: await subjectToken(), subject_token_type: 'urn:ietf:params:oauth:token-type:id_token', resource: reports }, insecure);
    await expect(oauth.processGenericTokenEndpointResponse(as, c, response)).rejects.toMatchObject({ error: 'invalid_request', status: 400 });
  });

  test('openid-client: genericGrantRequest exchanges by audience', async () => {
    const config = await client.discovery(new URL(server.url), backend.id, backend.secret, client.ClientSecretBasic(backend.secret), { execute: [client.allowInsecureRequests] });
    const tokens = await client.genericGrantRequest(config, GRANT, { subject_token: await subjectToken(), subject_token_type: AT, audience: reports, requested_token_type: AT });
    expect(tokens.issued_token_type).toBe(AT);
    expect(tokens.expiresIn()).toBeGreaterThan(0);
    const { payload } = await jwtVerify(tokens.access_token, createRemoteJWKSet(new URL(as.jwks_uri!)), { issuer: as.issuer, audience: reports });
    expect(payload.sub).toBe(userId);
    expect(payload.act).toBeUndefined();
    // Over the policy: the library raises the server's error.
    await expect(client.genericGrantRequest(config, GRANT, { subject_token: await subjectToken(), subject_token_type: AT, audience: 'https://elsewhere.example/api' })).rejects.toMatchObject({ error: 'invalid_target' });
  });
});
