import { afterAll, beforeAll, expect, test } from 'vitest';
import type { FastifyInstance } from 'fastify';
import { SYSTEM } from '../../src/audit/actor.ts';
import { buildHttpApp } from '../../src/http/app.ts';
import { basic, postForm, startTestServer, type TestServer } from '../support/server.ts';

/**
 * Response serializers are compiled on each route's first answer (src/http/response-serializers.ts).
 * Built the eager way, the app compiles every response schema at `ready()`, so a schema that
 * would not compile fails here rather than on its route's first answer in production; and a
 * lazily compiled serializer answers exactly as the eager one.
 */
let server: TestServer;
let eager: FastifyInstance;
let admin: string;

beforeAll(async () => {
  server = await startTestServer('sqlite');
  eager = buildHttpApp(server.tessera, { serializers: 'eager' });
  await eager.ready();
  const { services } = server.tessera;
  await services.users.create({ username: 'ser-admin', password: 'correct horse battery staple', roles: ['admin'] }, SYSTEM);
  const app = await services.clients.create({ name: 'serializers', grantTypes: ['client_credentials'], onBehalfOf: 'ser-admin', scopes: ['tessera.admin'] }, SYSTEM);
  const res = await postForm(`${server.url}/connect/token`, { grant_type: 'client_credentials', scope: 'tessera.admin' }, { authorization: basic(app.client_id, app.client_secret!) });
  admin = ((await res.json()) as { access_token: string }).access_token;
});
afterAll(async () => {
  await eager?.close();
  await server?.close();
});

test('every response schema compiles (the app built with eager serializers is ready)', () => {
  expect(eager.server).toBeDefined();
  expect(eager.hasRoute({ method: 'GET', url: '/admin/api/v1/apps' })).toBe(true);
});

test('lazily compiled serializers answer byte for byte as the eager ones, on the first answer and after', async () => {
  for (const path of ['/admin/api/v1/me', '/admin/api/v1/apps', '/admin/api/v1/users', '/admin/api/v1/settings', '/.well-known/openid-configuration', '/admin/api/v1/apps/missing']) {
    for (let round = 0; round < 2; round++) {
      const request = { method: 'GET' as const, url: path, headers: { authorization: `Bearer ${admin}` } };
      const [lazy, eagerly] = await Promise.all([server.app.inject(request), eager.inject(request)]);
      expect(lazy.statusCode, path).toBe(eagerly.statusCode);
      expect(lazy.body, path).toBe(eagerly.body);
      expect(lazy.headers['content-type'], path).toBe(eagerly.headers['content-type']);
    }
  }
});
