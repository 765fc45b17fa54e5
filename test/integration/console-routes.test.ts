import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Fastify from 'fastify';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { CONSOLE_CLIENT_ID } from '../../src/admin/console-client.ts';
import { CONSOLE_CSP, CONSOLE_DIST, registerConsoleRoutes } from '../../src/http/console-routes.ts';
import { basic, postForm, startTestServer, type TestServer } from '../support/server.ts';
import { SYSTEM } from '../../src/audit/actor.ts';

/**
 * The console's HTTP side: index.html for the page paths (SPA fallback), hashed assets
 * cached for good, /admin/config.json, the security headers, the admin API's paths left
 * alone, and a clear 503 when the console was never built. Needs console/dist (npm ci builds
 * it; so does npm run build:console).
 */
describe('console routes (/admin/)', () => {
  let server: TestServer;
  const get = (path: string, init?: RequestInit) => fetch(`${server.url}${path}`, { redirect: 'manual', ...init });

  beforeAll(async () => {
    server = await startTestServer('sqlite');
  });
  afterAll(async () => server?.close());

  const expectConsoleHeaders = (res: Response) => {
    expect(res.headers.get('content-security-policy')).toBe(CONSOLE_CSP);
    expect(res.headers.get('x-frame-options')).toBe('DENY');
    expect(res.headers.get('referrer-policy')).toBe('no-referrer');
    expect(res.headers.get('x-content-type-options')).toBe('nosniff');
  };

  test('the CSP is the strict one: own origin only, no inline script or style, no framing', () => {
    const directives = new Map(CONSOLE_CSP.split(';').map((d) => d.trim().split(/\s+/) as [string, ...string[]]).map(([k, ...v]) => [k, v.join(' ')]));
    expect(Object.fromEntries(directives)).toEqual({
      'default-src': "'self'",
      'script-src': "'self'",
      'style-src': "'self'",
      'img-src': "'self' data:",
      'connect-src': "'self'",
      'frame-ancestors': "'none'",
      'base-uri': "'none'",
      'form-action': "'self'",
    });
  });

  test('/admin/ serves index.html, revalidated on every load, with the console headers', async () => {
    const res = await get('/admin/');
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toMatch(/^text\/html/);
    expect(res.headers.get('cache-control')).toBe('no-cache');
    expectConsoleHeaders(res);
    const body = await res.text();
    expect(body).toBe(readFileSync(join(CONSOLE_DIST, 'index.html'), 'utf8'));
    expect(body).toMatch(/<script type="module" crossorigin src="\/admin\/assets\/index-[\w-]+\.js"><\/script>/);
    // Nothing inline for the CSP to block.
    expect(body).not.toMatch(/<script(?![^>]*\bsrc=)[^>]*>/);
    expect(body).not.toMatch(/<style|style="/);
  });

  test('/admin redirects to /admin/', async () => {
    const res = await get('/admin');
    expect(res.status).toBe(301);
    expect(res.headers.get('location')).toBe('/admin/');
  });

  test.each(['/admin/apps', '/admin/apps/new', '/admin/apps/0b6e1a9e-1111-4222-8333-444455556666', '/admin/users/alice', '/admin/callback?code=x&state=y', '/admin/audit'])(
    'SPA fallback: %s serves index.html',
    async (path) => {
      const res = await get(path);
      expect(res.status).toBe(200);
      expect(res.headers.get('cache-control')).toBe('no-cache');
      expectConsoleHeaders(res);
      expect(await res.text()).toContain('<div id="root"></div>');
    },
  );

  test('hashed assets are served immutable; public files with a short cache', async () => {
    const index = await (await get('/admin/')).text();
    const script = index.match(/src="(\/admin\/assets\/[^"]+\.js)"/)![1]!;
    // Every body is read: a response of a few hundred KB left unread fills the socket, the
    // server's write never finishes and app.close() in afterAll waits on it (seen in CI).
    const res = await get(script);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toMatch(/javascript/);
    expect(res.headers.get('cache-control')).toBe('public, max-age=31536000, immutable');
    expectConsoleHeaders(res);
    expect(await res.text()).toBe(readFileSync(join(CONSOLE_DIST, script.slice('/admin/'.length)), 'utf8'));
    const css = index.match(/href="(\/admin\/assets\/[^"]+\.css)"/)?.[1];
    if (css) {
      const sheet = await get(css);
      expect(sheet.status).toBe(200);
      expect(sheet.headers.get('content-type')).toMatch(/^text\/css/);
      expect(sheet.headers.get('cache-control')).toContain('immutable');
      expect(await sheet.text()).toBe(readFileSync(join(CONSOLE_DIST, css.slice('/admin/'.length)), 'utf8'));
    }
    const icon = await get('/admin/favicon.svg');
    expect(icon.status).toBe(200);
    expect(icon.headers.get('cache-control')).toBe('public, max-age=3600');
    expect(await icon.text()).toContain('<svg');
  });

  test('a missing asset or file is a 404, not the page', async () => {
    for (const path of ['/admin/assets/index-nope.js', '/admin/nope.svg', '/admin/secret.env', '/admin/assets/..%2f..%2fpackage.json', '/admin/%2e%2e/package.json']) {
      const res = await get(path);
      expect(res.status, path).toBe(404);
      expect(await res.text(), path).not.toContain('<div id="root">');
    }
  });

  test('/admin/api/** stays the admin API: unknown paths are JSON 404s, known ones untouched', async () => {
    for (const path of ['/admin/api/v1/nope', '/admin/api/v2/apps', '/admin/api']) {
      const res = await get(path);
      expect(res.status, path).toBe(404);
      expect(((await res.json()) as { error: string }).error).toBe('not_found');
    }
    const statusOf = async (path: string) => {
      const res = await get(path);
      await res.arrayBuffer();
      return res.status;
    };
    expect(await statusOf('/admin/api/v1/apps')).toBe(401);
    expect(await statusOf('/admin/api/v1/openapi.json')).toBe(200);
    expect(await statusOf('/admin/api/v1/docs')).toBe(200);
  });

  test('/admin/config.json tells the console its client, redirect URIs and scopes', async () => {
    const res = await get('/admin/config.json');
    expect(res.status).toBe(200);
    expectConsoleHeaders(res);
    expect(await res.json()).toEqual({
      issuer: server.url,
      client_id: CONSOLE_CLIENT_ID,
      redirect_uri: `${server.url}/admin/callback`,
      post_logout_redirect_uri: `${server.url}/admin/`,
      scope: 'openid profile tessera.admin',
    });
    // The registered console client agrees with what the page is told.
    const client = await server.tessera.services.clients.show(CONSOLE_CLIENT_ID);
    expect(client.redirect_uris).toEqual([`${server.url}/admin/callback`]);
    expect(client.post_logout_redirect_uris).toEqual([`${server.url}/admin/`]);
    expect(client.public).toBe(true);
  });

  test('without a build, /admin/ answers 503 saying how to build it (no crash)', async () => {
    const app = Fastify();
    registerConsoleRoutes(app, server.tessera, mkdtempSync(join(tmpdir(), 'tessera-no-console-')));
    try {
      for (const path of ['/admin/', '/admin/apps']) {
        const res = await app.inject({ method: 'GET', url: path });
        expect(res.statusCode, path).toBe(503);
        expect(res.headers['content-type']).toMatch(/^text\/html/);
        expect(res.headers['cache-control']).toBe('no-store');
        expect(res.headers['content-security-policy']).toBe(CONSOLE_CSP);
        expect(res.body).toContain('npm run build:console');
      }
      expect((await app.inject({ method: 'GET', url: '/admin/assets/index-x.js' })).statusCode).toBe(404);
      expect((await app.inject({ method: 'GET', url: '/admin/config.json' })).statusCode).toBe(200);
    } finally {
      await app.close();
    }
  });

  test('the admin API takes null for nullable fields, as the console sends to clear an override', async () => {
    // Regression: with anyOf [T, null] and coerceTypes, Ajv turned null into 0 or "" (400s).
    const { services } = server.tessera;
    await services.users.create({ username: 'console-ops', password: 'correct horse battery staple', roles: ['admin'] }, SYSTEM);
    const ops = await services.clients.create({ name: 'ops', grantTypes: ['client_credentials'], onBehalfOf: 'console-ops', scopes: ['tessera.admin'] }, SYSTEM);
    const issued = await postForm(`${server.url}/connect/token`, { grant_type: 'client_credentials', scope: 'tessera.admin' }, { authorization: basic(ops.client_id, ops.client_secret!) });
    const bearer = ((await issued.json()) as { access_token: string }).access_token;
    const call = async (method: string, path: string, body: unknown) => {
      const res = await fetch(`${server.url}/admin/api/v1${path}`, { method, headers: { authorization: `Bearer ${bearer}`, 'content-type': 'application/json' }, body: JSON.stringify(body) });
      return { status: res.status, body: (await res.json()) as Record<string, unknown> };
    };
    const created = await call('POST', '/apps', { name: 'Nullable', grant_types: ['client_credentials'], on_behalf_of: 'console-ops', access_token_ttl: null, refresh_token_ttl: null, id_token_signed_response_alg: null });
    expect(created.status).toBe(201);
    expect(created.body).toMatchObject({ access_token_ttl: null, on_behalf_of: 'console-ops' });
    const id = created.body.client_id as string;
    expect((await call('PATCH', `/apps/${id}`, { access_token_ttl: 600, id_token_signed_response_alg: 'ES256' })).body).toMatchObject({ access_token_ttl: 600, id_token_signed_response_alg: 'ES256' });
    const cleared = await call('PATCH', `/apps/${id}`, { access_token_ttl: null, on_behalf_of: null, id_token_signed_response_alg: null });
    expect(cleared.status).toBe(200);
    expect(cleared.body).toMatchObject({ access_token_ttl: null, on_behalf_of: null, id_token_signed_response_alg: null });
    expect((await call('PATCH', `/apps/${id}`, { id_token_signed_response_alg: 'HS256' })).status).toBe(400);
    expect((await call('PATCH', '/users/console-ops', { email: null })).body).toMatchObject({ email: null });
  });
});
