import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import type { FastifyInstance, InjectOptions, LightMyRequestResponse } from 'fastify';
import { afterAll, afterEach, beforeAll, describe, expect, test } from 'vitest';
import { openTessera, type Tessera } from '../../src/app/tessera.ts';
import { loadConfig } from '../../src/config/config.ts';
import { ServiceError } from '../../src/errors.ts';
import { buildHttpApp } from '../../src/http/app.ts';
import { PasswordHashingUnavailableError } from '../../src/identity/password-hasher.ts';
import { silentLogger } from '../../src/lib/logger.ts';
import {
  OAUTH_ERROR_STATUS,
  OAuthError,
  errorDescriptionText,
  invalidClient,
  invalidGrant,
  invalidRequest,
  invalidScope,
  unauthorizedClient,
  type OAuthErrorCode,
} from '../../src/oauth/errors.ts';
import { formFields } from '../support/forms.ts';
import { publicResolver } from '../support/server.ts';
import { SYSTEM } from '../../src/audit/actor.ts';

describe('OAuthError', () => {
  // RFC 6749 §4.1.2.1 and §5.2, RFC 7009 §2.2.1, RFC 6750 §3.1, OIDC Core §3.1.2.6, RFC 9101.
  const expected: Record<OAuthErrorCode, number> = {
    invalid_request: 400,
    invalid_client: 401,
    invalid_grant: 400,
    unauthorized_client: 400,
    unsupported_grant_type: 400,
    invalid_scope: 400,
    unsupported_token_type: 400,
    access_denied: 403,
    unsupported_response_type: 400,
    invalid_target: 400,
    // RFC 9126 §4 (RFC 9101 §10.2).
    invalid_request_uri: 400,
    // RFC 7591 §3.2.2.
    invalid_redirect_uri: 400,
    invalid_client_metadata: 400,
    // RFC 8628 §3.5
    authorization_pending: 400,
    slow_down: 400,
    expired_token: 400,
    // RFC 9449 §5, §8.
    invalid_dpop_proof: 400,
    use_dpop_nonce: 400,
    server_error: 500,
    temporarily_unavailable: 503,
    invalid_token: 401,
    insufficient_scope: 403,
    login_required: 400,
    consent_required: 400,
    interaction_required: 400,
    request_not_supported: 400,
    request_uri_not_supported: 400,
    unmet_authentication_requirements: 400,
  };

  test('the status table holds exactly the documented codes', () => {
    // Codes may be added to the table; each must be added here with its status.
    expect(OAUTH_ERROR_STATUS).toEqual(expected);
  });

  test.each(Object.entries(expected) as Array<[OAuthErrorCode, number]>)('%s → %i', (code, status) => {
    const error = new OAuthError(code, 'why');
    expect(error.status).toBe(status);
    expect(error.error).toBe(code);
    expect(error.headers).toEqual({});
    expect(error.toJSON()).toEqual({ error: code, error_description: 'why' });
  });

  test('is an Error with a readable message and name', () => {
    const error = new OAuthError('invalid_grant', 'the code has expired');
    expect(error).toBeInstanceOf(Error);
    expect(error.name).toBe('OAuthError');
    expect(error.message).toBe('invalid_grant: the code has expired');
    expect(error.description).toBe('the code has expired');
  });

  test('toJSON is exactly the RFC 6749 §5.2 body, and JSON.stringify uses it', () => {
    const error = new OAuthError('invalid_scope', 'scope x is not allowed', { headers: { 'x-a': 'b' }, status: 418 });
    expect(Object.keys(error.toJSON())).toEqual(['error', 'error_description']);
    expect(JSON.parse(JSON.stringify(error))).toEqual({ error: 'invalid_scope', error_description: 'scope x is not allowed' });
  });

  test('error_description holds only RFC 6749 §5.2 characters (%x20-21 / %x23-5B / %x5D-7E)', () => {
    const cases: Array<[string, string]> = [
      ['grant_type "password" is not supported', "grant_type 'password' is not supported"],
      ['scope contains characters not allowed by RFC 6749 §3.3', 'scope contains characters not allowed by RFC 6749 section 3.3'],
      [`parameter "${'n'.repeat(3)}…" is too long`, "parameter 'nnn...' is too long"],
      ['path C:\\x', 'path C:/x'],
      ['line\nbreak\ttab\u0000nul', 'line?break?tab?nul'],
      ['café ✓', 'caf? ?'],
      ['plain text stays as it is: a-z A-Z 0-9 !#$%&()*+,-./:;<=>?@[]^_`{|}~', 'plain text stays as it is: a-z A-Z 0-9 !#$%&()*+,-./:;<=>?@[]^_`{|}~'],
    ];
    for (const [input, output] of cases) {
      expect(errorDescriptionText(input)).toBe(output);
      const error = new OAuthError('invalid_request', input);
      expect(error.description).toBe(output);
      expect(error.toJSON().error_description).toMatch(/^[\x20\x21\x23-\x5b\x5d-\x7e]*$/);
    }
  });

  test('status and headers may be overridden', () => {
    const error = new OAuthError('invalid_request', 'only POST', { status: 405, headers: { allow: 'POST' } });
    expect(error.status).toBe(405);
    expect(error.headers).toEqual({ allow: 'POST' });
  });

  test.each([
    [invalidRequest, 'invalid_request', 400],
    [invalidGrant, 'invalid_grant', 400],
    [invalidScope, 'invalid_scope', 400],
    [unauthorizedClient, 'unauthorized_client', 400],
  ] as const)('helper %#: %s', (make, code, status) => {
    const error = make('d');
    expect([error.error, error.status, error.description, error.headers]).toEqual([code, status, 'd', {}]);
  });

  test('invalidClient carries WWW-Authenticate only when the client used HTTP Basic (RFC 6749 §5.2)', () => {
    const basic = invalidClient('failed', true);
    expect(basic.status).toBe(401);
    expect(basic.error).toBe('invalid_client');
    expect(Object.keys(basic.headers)).toEqual(['www-authenticate']);
    expect(basic.headers['www-authenticate']).toMatch(/^Basic realm="[^"]+"(, charset="UTF-8")?$/);

    const post = invalidClient('failed', false);
    expect(post.status).toBe(401);
    expect(post.headers).toEqual({});
  });
});

// ---------------------------------------------------------------------------------------------
// Error mapping through the HTTP layer (Fastify inject, no socket).

const FORM = { 'content-type': 'application/x-www-form-urlencoded' };
const BODY_LIMIT = 4096;

let dir: string;
let tessera: Tessera;
let app: FastifyInstance;
let client: { id: string; secret: string };
const logLines: string[] = [];
const originalEndpoints: Partial<Tessera['endpoints']> = {};

const basicAuth = (id: string, secret: string) => `Basic ${Buffer.from(`${encodeURIComponent(id)}:${encodeURIComponent(secret)}`).toString('base64')}`;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'tessera-errors-'));
  const config = loadConfig(
    {
      TESSERA_DATABASE_URL: `sqlite:${join(dir, 'tessera.db')}`,
      TESSERA_KEY_ENCRYPTION_KEY: randomBytes(32).toString('base64'),
      TESSERA_BODY_LIMIT: String(BODY_LIMIT),
      TESSERA_LOG_LEVEL: 'error',
    },
    { port: 0, issuer: 'https://id.example.com' },
  );
  tessera = await openTessera(config, { resolver: publicResolver, log: silentLogger });
  await tessera.services.apis.create({ name: 'Errors API', basePath: '/errors-api', upstream: 'http://127.0.0.1:9', scopes: [{ name: 'accounts.read' }] }, SYSTEM);
  const created = await tessera.services.clients.create({ name: 'Errors test', grantTypes: ['client_credentials'], scopes: ['accounts.read'] }, SYSTEM);
  client = { id: created.client_id, secret: created.client_secret! };
  const stream = new Writable({
    write(chunk, _encoding, callback) {
      logLines.push(String(chunk));
      callback();
    },
  });
  app = buildHttpApp(tessera, { logger: { stream } });
  // A route of the admin kind, to show how service-layer errors are mapped.
  app.get('/__test/service-error', () => {
    throw new ServiceError('conflict', 409, 'username "alice" is taken', 'username');
  });
  await app.ready();
  Object.assign(originalEndpoints, tessera.endpoints);
});

afterEach(() => {
  Object.assign(tessera.endpoints, originalEndpoints);
  logLines.length = 0;
});

afterAll(async () => {
  await app?.close();
  await tessera?.close();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

const inject = (options: InjectOptions) => app.inject(options);

function expectOAuthError(res: LightMyRequestResponse, status: number, error: string): { error: string; error_description: string } {
  expect(res.statusCode, res.body).toBe(status);
  expect(res.headers['content-type']).toMatch(/^application\/json/);
  expect(res.headers['cache-control']).toBe('no-store');
  expect(res.headers.pragma).toBe('no-cache');
  const body = res.json() as { error: string; error_description: string };
  expect(Object.keys(body).sort()).toEqual(['error', 'error_description']);
  expect(body.error).toBe(error);
  expect(typeof body.error_description).toBe('string');
  // RFC 6749 §5.2: error_description is %x20-21 / %x23-5B / %x5D-7E (no '"' or '\').
  expect(body.error_description).toMatch(/^[\x20\x21\x23-\x5b\x5d-\x7e]*$/);
  return body;
}

describe('HTTP: OAuthError → status, JSON body, no-store', () => {
  test('no client authentication → 401 invalid_client without a challenge', async () => {
    const res = await inject({ method: 'POST', url: '/connect/token', headers: FORM, payload: 'grant_type=client_credentials' });
    expectOAuthError(res, 401, 'invalid_client');
    expect(res.headers['www-authenticate']).toBeUndefined();
  });

  test('wrong secret by HTTP Basic → 401 invalid_client with WWW-Authenticate: Basic', async () => {
    const res = await inject({
      method: 'POST',
      url: '/connect/token',
      headers: { ...FORM, authorization: basicAuth(client.id, 'wrong') },
      payload: 'grant_type=client_credentials',
    });
    expectOAuthError(res, 401, 'invalid_client');
    expect(res.headers['www-authenticate']).toMatch(/^Basic realm=/);
  });

  test('wrong secret in the body → 401 invalid_client without a challenge', async () => {
    const res = await inject({
      method: 'POST',
      url: '/connect/token',
      headers: FORM,
      payload: new URLSearchParams({ grant_type: 'client_credentials', client_id: client.id, client_secret: 'wrong' }).toString(),
    });
    expectOAuthError(res, 401, 'invalid_client');
    expect(res.headers['www-authenticate']).toBeUndefined();
  });

  const authed = (form: Record<string, string>) =>
    inject({ method: 'POST', url: '/connect/token', headers: { ...FORM, authorization: basicAuth(client.id, client.secret) }, payload: new URLSearchParams(form).toString() });

  test('unknown grant type → 400 unsupported_grant_type', async () => {
    expectOAuthError(await authed({ grant_type: 'password' }), 400, 'unsupported_grant_type');
  });

  test('grant the app is not registered for → 400 unauthorized_client', async () => {
    expectOAuthError(await authed({ grant_type: 'authorization_code', code: 'x' }), 400, 'unauthorized_client');
  });

  test('scope outside RFC 6749 §3.3 → 400 invalid_scope', async () => {
    expectOAuthError(await authed({ grant_type: 'client_credentials', scope: 'a"b' }), 400, 'invalid_scope');
  });

  test('scope not registered → 400 invalid_scope', async () => {
    expectOAuthError(await authed({ grant_type: 'client_credentials', scope: 'accounts.write' }), 400, 'invalid_scope');
  });

  test('missing grant_type → 400 invalid_request', async () => {
    expectOAuthError(await authed({}), 400, 'invalid_request');
  });

  test('duplicate parameter → 400 invalid_request', async () => {
    const res = await inject({
      method: 'POST',
      url: '/connect/token',
      headers: { ...FORM, authorization: basicAuth(client.id, client.secret) },
      payload: 'grant_type=client_credentials&grant_type=client_credentials',
    });
    expectOAuthError(res, 400, 'invalid_request');
  });

  test('a successful token response is also no-store (the contrast)', async () => {
    const res = await authed({ grant_type: 'client_credentials' });
    expect(res.statusCode).toBe(200);
    expect(res.headers['cache-control']).toBe('no-store');
    expect(res.json()).toMatchObject({ token_type: 'Bearer' });
  });

  test('wrong method → 405 invalid_request with Allow: POST', async () => {
    for (const method of ['GET', 'PUT', 'DELETE', 'PATCH'] as const) {
      const res = await inject({ method, url: '/connect/token' });
      expectOAuthError(res, 405, 'invalid_request');
      expect(res.headers.allow).toBe('POST');
    }
  });
});

describe("HTTP: Fastify's own client errors → OAuth-shaped invalid_request", () => {
  const cases: Array<{ name: string; request: InjectOptions; status: number }> = [
    {
      name: 'malformed JSON body',
      request: { method: 'POST', url: '/connect/token', headers: { 'content-type': 'application/json' }, payload: '{"grant_type":' },
      status: 400,
    },
    {
      name: 'empty JSON body',
      request: { method: 'POST', url: '/connect/token', headers: { 'content-type': 'application/json' }, payload: '' },
      status: 400,
    },
    {
      name: 'JSON body with __proto__',
      request: { method: 'POST', url: '/connect/introspect', headers: { 'content-type': 'application/json' }, payload: '{"__proto__":{"a":1}}' },
      status: 400,
    },
    {
      name: 'unparseable Content-Type',
      request: { method: 'POST', url: '/connect/token', headers: { 'content-type': ';;;' }, payload: 'grant_type=client_credentials' },
      status: 400,
    },
    {
      name: 'Content-Length larger than the body',
      request: { method: 'POST', url: '/connect/token', headers: { ...FORM, 'content-length': '100' }, payload: 'grant_type=x' },
      status: 400,
    },
    {
      name: 'form body over the limit',
      request: { method: 'POST', url: '/connect/token', headers: FORM, payload: `grant_type=client_credentials&pad=${'x'.repeat(BODY_LIMIT)}` },
      status: 413,
    },
    {
      name: 'non-form body over the limit',
      request: { method: 'POST', url: '/connect/revocation', headers: { 'content-type': 'application/octet-stream' }, payload: Buffer.alloc(BODY_LIMIT + 1) },
      status: 413,
    },
  ];

  test.each(cases)('$name → $status invalid_request', async ({ request, status }) => {
    const body = expectOAuthError(await inject(request), status, 'invalid_request');
    expect(body.error_description).not.toMatch(/FST_|fastify/i);
  });

  test('a body of exactly the limit is read (and judged by the endpoint)', async () => {
    const payload = `grant_type=client_credentials&pad=`.padEnd(BODY_LIMIT, 'x');
    const res = await inject({ method: 'POST', url: '/connect/token', headers: FORM, payload });
    expectOAuthError(res, 401, 'invalid_client');
  });
});

describe('HTTP: unknown paths and service errors', () => {
  test.each([
    ['GET', '/nope'],
    ['POST', '/connect/nope'],
    ['GET', '/connect/token/extra'],
    ['DELETE', '/.well-known/unknown'],
  ] as const)('%s %s → 404 JSON', async (method, url) => {
    const res = await inject({ method, url });
    expect(res.statusCode).toBe(404);
    expect(res.headers['content-type']).toMatch(/^application\/json/);
    expect(res.json()).toEqual({ error: 'not_found', error_description: 'no such endpoint' });
  });

  test('ServiceError → its status and code, with the field', async () => {
    const res = await inject({ method: 'GET', url: '/__test/service-error' });
    expect(res.statusCode).toBe(409);
    expect(res.json()).toEqual({ error: 'conflict', error_description: 'username "alice" is taken', field: 'username' });
  });
});

describe('HTTP: a password that could not be checked → 503 temporarily_unavailable', () => {
  test('POST /login while password hashing has no answer (its thread died) → 503 with Retry-After, neither a 500 nor a refusal', async () => {
    const sessions = tessera.interactive.sessions;
    const original = sessions.authenticatePassword;
    sessions.authenticatePassword = () => Promise.reject(new PasswordHashingUnavailableError('the password hashing thread stopped before it answered'));
    try {
      const page = await inject({ method: 'GET', url: '/login' });
      const cookie = page.cookies.map((c) => `${c.name}=${c.value}`).join('; ');
      const payload = new URLSearchParams({ ...formFields(page.body, '/login'), username: 'alice', password: 'correct horse battery staple' }).toString();
      const res = await inject({ method: 'POST', url: '/login', headers: { ...FORM, cookie }, payload });
      const body = expectOAuthError(res, 503, 'temporarily_unavailable');
      expect(body.error_description).toBe('the password could not be checked; try again');
      expect(res.headers['retry-after']).toBe('1');
    } finally {
      sessions.authenticatePassword = original;
    }
  });
});

describe('HTTP: an unexpected exception inside an endpoint → 500 server_error', () => {
  const SECRET_DETAIL = 'connect ECONNREFUSED 10.0.0.5:5432 password=hunter2';

  const cases: Array<{ name: string; endpoint: keyof Tessera['endpoints']; url: string; fail: () => never | Promise<never> }> = [
    {
      name: 'token endpoint throws synchronously',
      endpoint: 'token',
      url: '/connect/token',
      fail: () => {
        throw new Error(SECRET_DETAIL);
      },
    },
    {
      name: 'token endpoint rejects',
      endpoint: 'token',
      url: '/connect/token',
      fail: () => Promise.reject(new Error(SECRET_DETAIL)),
    },
    {
      name: 'introspection endpoint rejects with a TypeError',
      endpoint: 'introspect',
      url: '/connect/introspect',
      fail: () => Promise.reject(new TypeError(`Cannot read properties of undefined (${SECRET_DETAIL})`)),
    },
    {
      name: 'revocation endpoint throws a non-Error value',
      endpoint: 'revoke',
      url: '/connect/revocation',
      fail: () => {
        throw SECRET_DETAIL as unknown as Error;
      },
    },
  ];

  test.each(cases)('$name', async ({ endpoint, url, fail }) => {
    (tessera.endpoints as Record<string, unknown>)[endpoint] = fail;
    const res = await inject({
      method: 'POST',
      url,
      headers: { ...FORM, authorization: basicAuth(client.id, client.secret) },
      payload: 'grant_type=client_credentials&token=abc',
    });
    const body = expectOAuthError(res, 500, 'server_error');
    expect(body.error_description).toBe('the server could not complete the request');
    expect(res.body).not.toContain('hunter2');
    expect(res.body).not.toContain('ECONNREFUSED');
    expect(res.body).not.toMatch(/at .*\.ts:\d+/);
    // The operator, not the client, gets the details.
    expect(logLines.join('')).toContain('hunter2');
  });

  test('an error carrying a 4xx statusCode from inside an endpoint becomes invalid_request, not its message', async () => {
    tessera.endpoints.introspect = () => Promise.reject(Object.assign(new Error(SECRET_DETAIL), { statusCode: 400 }));
    const res = await inject({ method: 'POST', url: '/connect/introspect', headers: FORM, payload: 'token=abc' });
    expectOAuthError(res, 400, 'invalid_request');
    expect(res.body).not.toContain('hunter2');
  });
});
