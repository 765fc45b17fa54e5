import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { launchBrowser } from '../support/browser.ts';
import { basic, postForm, startTestServer, type TestServer } from '../support/server.ts';
import { SYSTEM } from '../../src/audit/actor.ts';

/**
 * A partner's single-page app calls discovery, JWKS, token, revocation and userinfo from its
 * own origin; nothing else answers cross-origin. No storage here, so SQLite is enough.
 */
describe('CORS on the endpoints browser apps call', () => {
  let server: TestServer;
  let app: { client_id: string; client_secret: string };
  const ORIGIN = 'https://spa.partner.example';

  beforeAll(async () => {
    server = await startTestServer('sqlite');
    const created = await server.tessera.services.clients.create({ name: 'Browser caller', grantTypes: ['client_credentials'] }, SYSTEM);
    app = { client_id: created.client_id, client_secret: created.client_secret! };
  });
  afterAll(async () => server?.close());

  const preflight = (path: string, method = 'POST', headers: Record<string, string> = {}) =>
    fetch(`${server.url}${path}`, { method: 'OPTIONS', headers: { origin: ORIGIN, 'access-control-request-method': method, 'access-control-request-headers': 'authorization,content-type', ...headers } });

  test.each([
    ['/connect/token', 'POST'],
    ['/connect/revocation', 'POST'],
    ['/connect/userinfo', 'GET, POST'],
    ['/.well-known/openid-configuration', 'GET'],
    ['/.well-known/jwks.json', 'GET'],
    ['/connect/register', 'POST'],
    ['/connect/register/0b7c2d4e-1f3a-4b5c-8d6e-7f8091a2b3c4', 'GET, PUT, DELETE'],
  ])('preflight %s → 204 allowing %s with Authorization and Content-Type', async (path, methods) => {
    const res = await preflight(path);
    expect(res.status).toBe(204);
    expect(res.headers.get('access-control-allow-origin')).toBe('*');
    expect(res.headers.get('access-control-allow-methods')).toBe(methods);
    expect(res.headers.get('access-control-allow-headers')).toBe('authorization, content-type, dpop');
    expect(res.headers.get('access-control-allow-credentials')).toBeNull();
  });

  test.each(['/connect/introspect', '/connect/authorize', '/login', '/consent', '/admin/api/v1/apps'])('no CORS on %s', async (path) => {
    const res = await preflight(path);
    expect(res.headers.get('access-control-allow-origin')).toBeNull();
    const post = await postForm(`${server.url}${path}`, { token: 'x' }, { origin: ORIGIN });
    expect(post.headers.get('access-control-allow-origin')).toBeNull();
  });

  test('answers, errors included, carry the header and expose WWW-Authenticate; calls without Origin do not', async () => {
    const ok = await postForm(`${server.url}/connect/token`, { grant_type: 'client_credentials' }, { origin: ORIGIN, authorization: basic(app.client_id, app.client_secret) });
    expect(ok.status).toBe(200);
    expect(ok.headers.get('access-control-allow-origin')).toBe('*');
    const refused = await postForm(`${server.url}/connect/token`, { grant_type: 'client_credentials' }, { origin: ORIGIN, authorization: basic(app.client_id, 'wrong') });
    expect(refused.status).toBe(401);
    expect(refused.headers.get('access-control-allow-origin')).toBe('*');
    expect(refused.headers.get('access-control-expose-headers')).toBe('www-authenticate, dpop-nonce');
    const serverSide = await postForm(`${server.url}/connect/token`, { grant_type: 'client_credentials' }, { authorization: basic(app.client_id, app.client_secret) });
    expect(serverSide.headers.get('access-control-allow-origin')).toBeNull();
    // OPTIONS without Origin is no preflight: the endpoint does not exist for it.
    expect((await fetch(`${server.url}/connect/token`, { method: 'OPTIONS' })).status).toBe(404);
  });

  describe('in a real browser, from a page on another origin', () => {
    let browser: Browser;
    let page: Server;
    let pageUrl: string;

    beforeAll(async () => {
      page = createServer((_req, res) => res.writeHead(200, { 'content-type': 'text/html' }).end('<!doctype html><title>partner</title>'));
      await new Promise<void>((resolve) => page.listen(0, '127.0.0.1', resolve));
      // localhost vs 127.0.0.1: a different origin from Tessera's.
      pageUrl = `http://localhost:${(page.address() as AddressInfo).port}/`;
      browser = await launchBrowser();
    });
    afterAll(async () => {
      await browser?.close();
      await new Promise((resolve) => page?.close(resolve));
    });

    test('fetch reads discovery and gets a token (a preflighted POST with Authorization)', async () => {
      const tab = await browser.newPage();
      await tab.goto(pageUrl);
      const result = await tab.evaluate(
        async ({ issuer, auth }) => {
          const discovery = (await (await fetch(`${issuer}/.well-known/openid-configuration`)).json()) as { issuer: string; token_endpoint: string };
          const res = await fetch(discovery.token_endpoint, {
            method: 'POST',
            headers: { authorization: auth, 'content-type': 'application/x-www-form-urlencoded' },
            body: 'grant_type=client_credentials',
          });
          const body = (await res.json()) as { access_token: string; token_type: string };
          let introspection = 'allowed';
          try {
            await fetch(`${issuer}/connect/introspect`, { method: 'POST', headers: { authorization: auth, 'content-type': 'application/x-www-form-urlencoded' }, body: `token=${body.access_token}` });
          } catch {
            introspection = 'blocked';
          }
          return { issuer: discovery.issuer, status: res.status, tokenType: body.token_type, introspection };
        },
        { issuer: server.url, auth: basic(app.client_id, app.client_secret) },
      );
      expect(result).toEqual({ issuer: server.url, status: 200, tokenType: 'Bearer', introspection: 'blocked' });
      await tab.close();
    });
  });
});
