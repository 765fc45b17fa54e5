import { afterAll, beforeAll, describe, expect, test, vi, type MockInstance } from 'vitest';
import type { Database } from '../../src/storage/schema.ts';
import { DIALECTS } from '../support/databases.ts';
import { basic, postForm, startTestServer, type TestServer, declareScopes } from '../support/server.ts';
import { SYSTEM } from '../../src/audit/actor.ts';

/**
 * Malformed and hostile requests to the three back-channel endpoints. Whatever a client
 * sends, the answer is a 4xx with an RFC 6749 §5.2 JSON error and Cache-Control: no-store,
 * nothing in the database changes, no token is issued and valid tokens stay valid.
 */

const FORM = 'application/x-www-form-urlencoded';

/** RFC 6749 §5.2, plus RFC 7009 §2.2.1's unsupported_token_type for revocation. */
const RFC_ERRORS = new Set([
  'invalid_request',
  'invalid_client',
  'invalid_grant',
  'unauthorized_client',
  'unsupported_grant_type',
  'invalid_scope',
  'unsupported_token_type',
]);

/** Tables a protocol request could write to; none may change on a rejected request. */
const WATCHED_TABLES = [
  'clients',
  'users',
  'signing_keys',
  'revoked_tokens',
  'authorization_codes',
  'refresh_token_families',
  'refresh_tokens',
  'change_events',
  'audit_events',
] as const satisfies ReadonlyArray<keyof Database>;

interface App {
  id: string;
  secret: string;
}

/** What the cases need: registered apps and tokens that must stay active throughout. */
interface Ctx {
  /** Confidential, client_credentials, on behalf of a developer. */
  cc: App;
  /** A second confidential client_credentials app. */
  other: App;
  /** Confidential, authorization_code only. */
  codeApp: App;
  /** Public (PKCE) app: no secret. */
  pub: { id: string };
  /** Issued to `cc`. */
  token: string;
  /** Issued to `other`. */
  otherToken: string;
}

type Endpoint = 'token' | 'introspect' | 'revocation';

interface RequestSpec {
  method?: string;
  /** Appended to the path verbatim (e.g. "?grant_type=…"). */
  query?: string;
  headers?: Record<string, string>;
  body?: string | FormData;
}

interface Case {
  name: string;
  endpoint: Endpoint;
  request: (c: Ctx) => RequestSpec;
  status: number;
  error: string;
  /** "basic": WWW-Authenticate: Basic … is required; otherwise it must be absent. */
  challenge?: 'basic';
  allow?: string;
}

/** A form body that keeps repeated names (URLSearchParams from an object cannot). */
function form(pairs: Array<[string, string]>, headers: Record<string, string> = {}): RequestSpec {
  return { headers: { 'content-type': FORM, ...headers }, body: new URLSearchParams(pairs).toString() };
}

const auth = (app: App) => ({ authorization: basic(app.id, app.secret) });
const rawBasic = (decoded: string) => ({ authorization: `Basic ${Buffer.from(decoded, 'utf8').toString('base64')}` });
const cc: Array<[string, string]> = [['grant_type', 'client_credentials']];

const CASES: Case[] = [
  // ── the body itself ──────────────────────────────────────────────────────────────────
  { name: 'no body and no content type', endpoint: 'token', request: (c) => ({ headers: auth(c.cc) }), status: 400, error: 'invalid_request' },
  { name: 'empty form body', endpoint: 'token', request: (c) => ({ headers: { 'content-type': FORM, ...auth(c.cc) }, body: '' }), status: 400, error: 'invalid_request' },
  {
    name: 'JSON body',
    endpoint: 'token',
    request: (c) => ({ headers: { 'content-type': 'application/json', ...auth(c.cc) }, body: JSON.stringify({ grant_type: 'client_credentials' }) }),
    status: 400,
    error: 'invalid_request',
  },
  {
    name: 'broken JSON body',
    endpoint: 'token',
    request: (c) => ({ headers: { 'content-type': 'application/json', ...auth(c.cc) }, body: '{"grant_type":' }),
    status: 400,
    error: 'invalid_request',
  },
  {
    name: 'text/plain body in form syntax',
    endpoint: 'token',
    request: (c) => ({ headers: { 'content-type': 'text/plain', ...auth(c.cc) }, body: 'grant_type=client_credentials' }),
    status: 400,
    error: 'invalid_request',
  },
  {
    name: 'multipart/form-data body',
    endpoint: 'token',
    request: (c) => {
      const body = new FormData();
      body.set('grant_type', 'client_credentials');
      return { headers: auth(c.cc), body };
    },
    status: 400,
    error: 'invalid_request',
  },
  {
    name: 'application/octet-stream body',
    endpoint: 'token',
    request: (c) => ({ headers: { 'content-type': 'application/octet-stream', ...auth(c.cc) }, body: 'grant_type=client_credentials' }),
    status: 400,
    error: 'invalid_request',
  },
  {
    name: 'look-alike media type (x-www-form-urlencoded-foo)',
    endpoint: 'token',
    request: (c) => ({ headers: { 'content-type': `${FORM}-foo`, ...auth(c.cc) }, body: 'grant_type=client_credentials' }),
    status: 400,
    error: 'invalid_request',
  },
  {
    name: 'JSON body',
    endpoint: 'introspect',
    request: (c) => ({ headers: { 'content-type': 'application/json', ...auth(c.cc) }, body: JSON.stringify({ token: c.token }) }),
    status: 400,
    error: 'invalid_request',
  },
  {
    name: 'text/plain body carrying a valid token',
    endpoint: 'revocation',
    request: (c) => ({ headers: { 'content-type': 'text/plain', ...auth(c.cc) }, body: `token=${c.token}` }),
    status: 400,
    error: 'invalid_request',
  },
  {
    name: 'multipart body carrying a valid token',
    endpoint: 'revocation',
    request: (c) => {
      const body = new FormData();
      body.set('token', c.token);
      return { headers: auth(c.cc), body };
    },
    status: 400,
    error: 'invalid_request',
  },

  // ── repeated parameters (RFC 6749 §3.1/§3.2: MUST NOT be included more than once) ─────
  { name: 'grant_type twice', endpoint: 'token', request: (c) => form([...cc, ...cc], auth(c.cc)), status: 400, error: 'invalid_request' },
  {
    name: 'client_id twice (client_secret_post)',
    endpoint: 'token',
    request: (c) => form([...cc, ['client_id', c.cc.id], ['client_id', c.cc.id], ['client_secret', c.cc.secret]]),
    status: 400,
    error: 'invalid_request',
  },
  {
    name: 'client_secret twice',
    endpoint: 'token',
    request: (c) => form([...cc, ['client_id', c.cc.id], ['client_secret', c.cc.secret], ['client_secret', 'other']]),
    status: 400,
    error: 'invalid_request',
  },
  {
    name: 'scope twice',
    endpoint: 'token',
    request: (c) => form([...cc, ['scope', 'accounts.read'], ['scope', 'accounts.read']], auth(c.cc)),
    status: 400,
    error: 'invalid_request',
  },
  { name: 'token twice', endpoint: 'introspect', request: (c) => form([['token', c.token], ['token', c.token]], auth(c.cc)), status: 400, error: 'invalid_request' },
  { name: 'token twice (the valid one)', endpoint: 'revocation', request: (c) => form([['token', c.token], ['token', c.token]], auth(c.cc)), status: 400, error: 'invalid_request' },

  // ── sizes ────────────────────────────────────────────────────────────────────────────
  {
    name: 'a field over 4096 characters (scope)',
    endpoint: 'token',
    request: (c) => form([...cc, ['scope', 'a'.repeat(4097)]], auth(c.cc)),
    status: 400,
    error: 'invalid_request',
  },
  {
    name: 'an unknown field over 4096 characters',
    endpoint: 'token',
    request: (c) => form([...cc, ['x', 'y'.repeat(5000)]], auth(c.cc)),
    status: 400,
    error: 'invalid_request',
  },
  {
    name: 'client_secret over 512 characters (client_secret_post)',
    endpoint: 'token',
    request: (c) => form([...cc, ['client_id', c.cc.id], ['client_secret', 's'.repeat(600)]]),
    status: 400,
    error: 'invalid_request',
  },
  {
    name: 'HTTP Basic credentials over 2048 characters',
    endpoint: 'token',
    request: (c) => form(cc, { authorization: basic(c.cc.id, 's'.repeat(2000)) }),
    status: 400,
    error: 'invalid_request',
  },
  {
    name: 'body over 64 KiB',
    endpoint: 'token',
    request: (c) => form([...cc, ['padding', 'p'.repeat(70 * 1024)]], auth(c.cc)),
    status: 413,
    error: 'invalid_request',
  },
  {
    name: 'body over 64 KiB carrying a valid token',
    endpoint: 'revocation',
    request: (c) => form([['token', c.token], ['padding', 'p'.repeat(70 * 1024)]], auth(c.cc)),
    status: 413,
    error: 'invalid_request',
  },
  { name: 'token over 4096 characters', endpoint: 'introspect', request: (c) => form([['token', 't'.repeat(5000)]], auth(c.cc)), status: 400, error: 'invalid_request' },

  // ── parameters in the URL (RFC 6749 §3.2: POST body only) ──────────────────────────────
  {
    name: 'grant_type in the query string',
    endpoint: 'token',
    request: (c) => ({ ...form([], auth(c.cc)), query: '?grant_type=client_credentials' }),
    status: 400,
    error: 'invalid_request',
  },
  {
    name: 'client credentials in the query string, grant in the body',
    endpoint: 'token',
    request: (c) => ({ ...form(cc), query: `?client_id=${c.cc.id}&client_secret=${c.cc.secret}` }),
    status: 400,
    error: 'invalid_request',
  },
  {
    name: 'token in the query string',
    endpoint: 'introspect',
    request: (c) => ({ ...form([], auth(c.cc)), query: `?token=${c.token}` }),
    status: 400,
    error: 'invalid_request',
  },
  {
    name: 'a valid token in the query string and the body',
    endpoint: 'revocation',
    request: (c) => ({ ...form([['token', c.token]], auth(c.cc)), query: `?token=${c.token}` }),
    status: 400,
    error: 'invalid_request',
  },

  // ── grant types ──────────────────────────────────────────────────────────────────────
  { name: 'missing grant_type', endpoint: 'token', request: (c) => form([['scope', 'accounts.read']], auth(c.cc)), status: 400, error: 'invalid_request' },
  { name: 'empty grant_type (= omitted)', endpoint: 'token', request: (c) => form([['grant_type', '']], auth(c.cc)), status: 400, error: 'invalid_request' },
  {
    name: 'unknown grant_type',
    endpoint: 'token',
    request: (c) => form([['grant_type', 'urn:example:made-up']], auth(c.cc)),
    status: 400,
    error: 'unsupported_grant_type',
  },
  {
    name: 'grant_type=password',
    endpoint: 'token',
    request: (c) => form([['grant_type', 'password'], ['username', 'svc-malformed'], ['password', 'correct horse battery']], auth(c.cc)),
    status: 400,
    error: 'unsupported_grant_type',
  },
  { name: 'grant_type=implicit', endpoint: 'token', request: (c) => form([['grant_type', 'implicit']], auth(c.cc)), status: 400, error: 'unsupported_grant_type' },
  {
    name: 'grant_type with different case (Client_Credentials)',
    endpoint: 'token',
    request: (c) => form([['grant_type', 'Client_Credentials']], auth(c.cc)),
    status: 400,
    error: 'unsupported_grant_type',
  },
  {
    name: 'authorization_code grant by an app not registered for it',
    endpoint: 'token',
    request: (c) => form([['grant_type', 'authorization_code'], ['code', 'abc'], ['redirect_uri', 'https://app.example.com/cb']], auth(c.cc)),
    status: 400,
    error: 'unauthorized_client',
  },
  {
    name: 'client_credentials by an authorization_code-only app',
    endpoint: 'token',
    request: (c) => form(cc, auth(c.codeApp)),
    status: 400,
    error: 'unauthorized_client',
  },

  // ── HTTP Basic variants (RFC 6749 §2.3.1) ─────────────────────────────────────────────
  { name: 'Basic with non-base64 credentials', endpoint: 'token', request: () => form(cc, { authorization: 'Basic !!!not*base64' }), status: 400, error: 'invalid_request' },
  { name: 'Basic credentials without a colon', endpoint: 'token', request: (c) => form(cc, rawBasic(c.cc.id)), status: 400, error: 'invalid_request' },
  { name: 'Basic credentials with an empty user name', endpoint: 'token', request: (c) => form(cc, rawBasic(`:${c.cc.secret}`)), status: 400, error: 'invalid_request' },
  { name: 'Basic with nothing after the scheme', endpoint: 'token', request: () => form(cc, { authorization: 'Basic' }), status: 400, error: 'invalid_request' },
  { name: 'Bearer scheme on the token endpoint', endpoint: 'token', request: () => form(cc, { authorization: 'Bearer xyz' }), status: 400, error: 'invalid_request' },
  { name: 'bare base64 without a scheme', endpoint: 'token', request: (c) => form(cc, { authorization: Buffer.from(`${c.cc.id}:${c.cc.secret}`).toString('base64') }), status: 400, error: 'invalid_request' },
  { name: 'Basic with a bad percent-encoding (%zz)', endpoint: 'token', request: (c) => form(cc, rawBasic(`${c.cc.id}:%zz${c.cc.secret}`)), status: 400, error: 'invalid_request' },
  { name: 'Basic with an encoded lone surrogate (%ED%A0%80)', endpoint: 'token', request: (c) => form(cc, rawBasic(`%ED%A0%80:${c.cc.secret}`)), status: 400, error: 'invalid_request' },
  {
    name: 'Basic together with client_secret in the body',
    endpoint: 'token',
    request: (c) => form([...cc, ['client_secret', c.cc.secret]], auth(c.cc)),
    status: 400,
    error: 'invalid_request',
  },
  {
    name: 'Basic together with a different client_id in the body',
    endpoint: 'token',
    request: (c) => form([...cc, ['client_id', c.other.id]], auth(c.cc)),
    status: 400,
    error: 'invalid_request',
  },
  {
    name: 'Basic for an unknown client',
    endpoint: 'token',
    request: () => form(cc, { authorization: basic('7a0d2b7e-0000-4000-8000-000000000000', 'whatever') }),
    status: 401,
    error: 'invalid_client',
    challenge: 'basic',
  },
  { name: 'Basic with the wrong secret', endpoint: 'token', request: (c) => form(cc, { authorization: basic(c.cc.id, 'not-the-secret') }), status: 401, error: 'invalid_client', challenge: 'basic' },
  { name: 'Basic with an empty secret', endpoint: 'token', request: (c) => form(cc, rawBasic(`${c.cc.id}:`)), status: 401, error: 'invalid_client', challenge: 'basic' },
  {
    name: "Basic with another app's secret",
    endpoint: 'token',
    request: (c) => form(cc, { authorization: basic(c.cc.id, c.other.secret) }),
    status: 401,
    error: 'invalid_client',
    challenge: 'basic',
  },
  { name: 'Basic with a NUL byte in the client id', endpoint: 'token', request: () => form(cc, { authorization: basic('a\u0000b', 'x') }), status: 401, error: 'invalid_client', challenge: 'basic' },

  // ── client_secret_post / no authentication ──────────────────────────────────────────
  // RFC 6749 §5.2 requires WWW-Authenticate only when the client used the Authorization
  // header; Tessera answers body authentication failures with a bare 401 (documented in
  // oauth/errors.ts invalidClient).
  {
    name: 'client_secret_post with the wrong secret',
    endpoint: 'token',
    request: (c) => form([...cc, ['client_id', c.cc.id], ['client_secret', 'not-the-secret']]),
    status: 401,
    error: 'invalid_client',
  },
  {
    name: 'client_secret_post for an unknown client',
    endpoint: 'token',
    request: () => form([...cc, ['client_id', 'no-such-client'], ['client_secret', 'x']]),
    status: 401,
    error: 'invalid_client',
  },
  { name: 'client_secret_post with a NUL byte in client_id', endpoint: 'token', request: () => form([...cc, ['client_id', '\u0000'], ['client_secret', 'x']]), status: 401, error: 'invalid_client' },
  { name: 'no client authentication at all', endpoint: 'token', request: () => form(cc), status: 401, error: 'invalid_client' },
  { name: 'confidential app sending only client_id', endpoint: 'token', request: (c) => form([...cc, ['client_id', c.cc.id]]), status: 401, error: 'invalid_client' },
  { name: 'client_secret without client_id', endpoint: 'token', request: (c) => form([...cc, ['client_secret', c.cc.secret]]), status: 401, error: 'invalid_client' },

  // ── scope (RFC 6749 §3.3, §4.4.2) ─────────────────────────────────────────────────────
  { name: 'scope with a double quote', endpoint: 'token', request: (c) => form([...cc, ['scope', 'accounts"read']], auth(c.cc)), status: 400, error: 'invalid_scope' },
  { name: 'scope with a backslash', endpoint: 'token', request: (c) => form([...cc, ['scope', 'accounts\\read']], auth(c.cc)), status: 400, error: 'invalid_scope' },
  { name: 'scope with a tab and non-ASCII', endpoint: 'token', request: (c) => form([...cc, ['scope', 'accounts.read\tcafé']], auth(c.cc)), status: 400, error: 'invalid_scope' },
  { name: 'scope not allowed for the app', endpoint: 'token', request: (c) => form([...cc, ['scope', 'accounts.read admin.all']], auth(c.cc)), status: 400, error: 'invalid_scope' },
  { name: 'openid with client_credentials', endpoint: 'token', request: (c) => form([...cc, ['scope', 'openid']], auth(c.cc)), status: 400, error: 'invalid_scope' },
  { name: 'offline_access with client_credentials', endpoint: 'token', request: (c) => form([...cc, ['scope', 'offline_access']], auth(c.cc)), status: 400, error: 'invalid_scope' },

  // ── methods ──────────────────────────────────────────────────────────────────────────
  { name: 'GET', endpoint: 'token', request: (c) => ({ method: 'GET', headers: auth(c.cc) }), status: 405, error: 'invalid_request', allow: 'POST' },
  {
    name: 'GET with parameters in the query',
    endpoint: 'token',
    request: (c) => ({ method: 'GET', query: '?grant_type=client_credentials', headers: auth(c.cc) }),
    status: 405,
    error: 'invalid_request',
    allow: 'POST',
  },
  { name: 'PUT', endpoint: 'introspect', request: (c) => ({ method: 'PUT', ...form([['token', c.token]], auth(c.cc)) }), status: 405, error: 'invalid_request', allow: 'POST' },
  { name: 'DELETE', endpoint: 'revocation', request: (c) => ({ method: 'DELETE', ...form([['token', c.token]], auth(c.cc)) }), status: 405, error: 'invalid_request', allow: 'POST' },

  // ── public clients ───────────────────────────────────────────────────────────────────
  { name: 'public client asking for client_credentials', endpoint: 'token', request: (c) => form([...cc, ['client_id', c.pub.id]]), status: 400, error: 'unauthorized_client' },
  {
    name: 'public client presenting a secret',
    endpoint: 'token',
    request: (c) => form([...cc, ['client_id', c.pub.id], ['client_secret', 'anything']]),
    status: 401,
    error: 'invalid_client',
  },
  {
    name: 'public client via Basic',
    endpoint: 'token',
    request: (c) => form(cc, { authorization: basic(c.pub.id, 'anything') }),
    status: 401,
    error: 'invalid_client',
    challenge: 'basic',
  },
  { name: 'introspection by a public client', endpoint: 'introspect', request: (c) => form([['token', c.token], ['client_id', c.pub.id]]), status: 401, error: 'invalid_client' },

  // ── introspection (RFC 7662 §2.1) ────────────────────────────────────────────────────
  { name: 'no token parameter', endpoint: 'introspect', request: (c) => form([], auth(c.cc)), status: 400, error: 'invalid_request' },
  { name: 'empty token parameter', endpoint: 'introspect', request: (c) => form([['token', '']], auth(c.cc)), status: 400, error: 'invalid_request' },
  { name: 'no client authentication', endpoint: 'introspect', request: (c) => form([['token', c.token]]), status: 401, error: 'invalid_client' },
  {
    name: 'wrong secret (Basic)',
    endpoint: 'introspect',
    request: (c) => form([['token', c.token]], { authorization: basic(c.cc.id, 'not-the-secret') }),
    status: 401,
    error: 'invalid_client',
    challenge: 'basic',
  },
  { name: 'Bearer scheme', endpoint: 'introspect', request: (c) => form([['token', c.token]], { authorization: `Bearer ${c.token}` }), status: 400, error: 'invalid_request' },

  // ── revocation (RFC 7009 §2.1) ───────────────────────────────────────────────────────
  { name: 'no token parameter', endpoint: 'revocation', request: (c) => form([['token_type_hint', 'access_token']], auth(c.cc)), status: 400, error: 'invalid_request' },
  { name: 'no client authentication', endpoint: 'revocation', request: (c) => form([['token', c.token]]), status: 401, error: 'invalid_client' },
  {
    name: 'wrong secret (client_secret_post) with a valid token',
    endpoint: 'revocation',
    request: (c) => form([['token', c.token], ['client_id', c.cc.id], ['client_secret', 'not-the-secret']]),
    status: 401,
    error: 'invalid_client',
  },
  {
    name: "another client's access token (must stay active)",
    endpoint: 'revocation',
    request: (c) => form([['token', c.otherToken]], auth(c.cc)),
    status: 400,
    error: 'unauthorized_client',
  },
  {
    name: "another client's access token with an access_token hint",
    endpoint: 'revocation',
    request: (c) => form([['token', c.otherToken], ['token_type_hint', 'access_token']], auth(c.cc)),
    status: 400,
    error: 'unauthorized_client',
  },
  {
    name: 'Basic together with client_secret in the body, valid token',
    endpoint: 'revocation',
    request: (c) => form([['token', c.token], ['client_secret', c.cc.secret]], auth(c.cc)),
    status: 400,
    error: 'invalid_request',
  },
];

const PATHS: Record<Endpoint, string> = { token: '/connect/token', introspect: '/connect/introspect', revocation: '/connect/revocation' };

/** Deterministic PRNG (mulberry32) so a failing robustness run can be replayed. */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

describe.each(DIALECTS)('malformed requests to token, introspection and revocation (%s)', (dialect) => {
  let server: TestServer;
  let ctx: Ctx;
  let issueSpy: MockInstance;

  beforeAll(async () => {
    server = await startTestServer(dialect);
    const { services } = server.tessera;
    await declareScopes(server.tessera, ['accounts.read', 'accounts.write', 'cfgateway']);
    await services.users.create({ username: 'svc-malformed', password: 'correct horse battery', roles: ['developer'] }, SYSTEM);
    const app = async (name: string) => {
      const created = await services.clients.create({
        name,
        grantTypes: ['client_credentials'],
        scopes: ['accounts.read'],
        defaultScopes: ['cfgateway'],
        onBehalfOf: 'svc-malformed',
      }, SYSTEM);
      return { id: created.client_id, secret: created.client_secret! };
    };
    const cc = await app('Malformed main');
    const other = await app('Malformed other');
    const codeCreated = await services.clients.create({
      name: 'Malformed code app',
      grantTypes: ['authorization_code'],
      redirectUris: ['https://app.example.com/cb'],
      scopes: ['openid', 'accounts.read'],
    }, SYSTEM);
    const pubCreated = await services.clients.create({
      name: 'Malformed public app',
      grantTypes: ['authorization_code'],
      redirectUris: ['https://spa.example.com/cb'],
      public: true,
    }, SYSTEM);
    const issue = async (a: App) => {
      const res = await postForm(`${server.url}/connect/token`, { grant_type: 'client_credentials' }, { authorization: basic(a.id, a.secret) });
      expect(res.status).toBe(200);
      return ((await res.json()) as { access_token: string }).access_token;
    };
    ctx = {
      cc,
      other,
      codeApp: { id: codeCreated.client_id, secret: codeCreated.client_secret! },
      pub: { id: pubCreated.client_id },
      token: await issue(cc),
      otherToken: await issue(other),
    };
    issueSpy = vi.spyOn(server.tessera.tokens, 'issueAccessToken');
  });
  afterAll(async () => {
    issueSpy?.mockRestore();
    await server?.close();
  });

  async function tableCounts(): Promise<Record<string, number>> {
    const { db } = server.tessera.database;
    const out: Record<string, number> = {};
    for (const table of WATCHED_TABLES) {
      const row = await db
        .selectFrom(table)
        .select((eb) => eb.fn.countAll().as('n'))
        .executeTakeFirstOrThrow();
      out[table] = Number(row.n);
    }
    return out;
  }

  async function isActive(token: string, app: App): Promise<boolean> {
    const res = await postForm(`${server.url}/connect/introspect`, { token }, { authorization: basic(app.id, app.secret) });
    expect(res.status).toBe(200);
    return ((await res.json()) as { active: boolean }).active;
  }

  function send(endpoint: Endpoint, spec: RequestSpec): Promise<Response> {
    return fetch(`${server.url}${PATHS[endpoint]}${spec.query ?? ''}`, {
      method: spec.method ?? 'POST',
      headers: spec.headers ?? {},
      body: spec.body,
    });
  }

  test(`the table covers every endpoint with at least 40 cases (${CASES.length})`, () => {
    expect(CASES.length).toBeGreaterThanOrEqual(40);
    for (const endpoint of Object.keys(PATHS)) expect(CASES.some((c) => c.endpoint === endpoint)).toBe(true);
  });

  test.each(CASES)('$endpoint: $name → $status $error', async (c) => {
    const before = await tableCounts();
    const issuedBefore = issueSpy.mock.calls.length;

    const res = await send(c.endpoint, c.request(ctx));
    const text = await res.text();

    expect(res.status, text).toBe(c.status);
    expect(res.status).toBeGreaterThanOrEqual(400);
    expect(res.status).toBeLessThan(500);
    expect(res.headers.get('content-type')).toMatch(/^application\/json/);
    expect(res.headers.get('cache-control')).toBe('no-store');
    const body = JSON.parse(text) as Record<string, unknown>;
    expect(RFC_ERRORS.has(String(body.error))).toBe(true);
    expect(body.error, String(body.error_description)).toBe(c.error);
    expect(typeof body.error_description).toBe('string');
    expect(Object.keys(body).sort()).toEqual(['error', 'error_description']);
    if (c.challenge === 'basic') expect(res.headers.get('www-authenticate')).toMatch(/^Basic realm="[^"]+"/);
    else expect(res.headers.get('www-authenticate')).toBeNull();
    if (c.allow) expect(res.headers.get('allow')).toBe(c.allow);

    // Nothing happened: no token issued, no row written, valid tokens still valid.
    expect(issueSpy.mock.calls.length).toBe(issuedBefore);
    expect(await tableCounts()).toEqual(before);
    expect(await isActive(ctx.token, ctx.cc)).toBe(true);
    expect(await isActive(ctx.otherToken, ctx.other)).toBe(true);
  });

  test('the media type is matched case-insensitively and its charset parameter is ignored (bodies are UTF-8)', async () => {
    for (const contentType of [`${FORM}; charset=UTF-8`, `${FORM};charset=iso-8859-1`, 'Application/X-WWW-Form-URLEncoded']) {
      const res = await fetch(`${server.url}/connect/token`, {
        method: 'POST',
        headers: { 'content-type': contentType, ...auth(ctx.cc) },
        body: 'grant_type=client_credentials&scope=accounts.read',
      });
      expect(res.status, contentType).toBe(200);
      expect(await res.json()).toMatchObject({ token_type: 'Bearer', scope: 'accounts.read cfgateway' });
    }
  });

  test('a bare "?" with no query is not a query parameter', async () => {
    const res = await fetch(`${server.url}/connect/token?`, { method: 'POST', headers: { 'content-type': FORM, ...auth(ctx.cc) }, body: 'grant_type=client_credentials' });
    expect(res.status).toBe(200);
  });

  test('HEAD is refused like GET (405, Allow: POST)', async () => {
    const res = await fetch(`${server.url}/connect/token`, { method: 'HEAD' });
    expect(res.status).toBe(405);
    expect(res.headers.get('allow')).toBe('POST');
    expect(res.headers.get('cache-control')).toBe('no-store');
  });

  test('randomized robustness: 300 seeded requests of random bytes, headers and content types never get a 5xx', async () => {
    const seed = 0x7e55e7a;
    const random = prng(seed);
    const int = (n: number) => Math.floor(random() * n);
    const pick = <T>(list: readonly T[]): T => list[int(list.length)]!;
    const printable = (max: number) => {
      let s = '';
      for (let i = int(max); i > 0; i--) s += String.fromCharCode(0x20 + int(0x5f));
      return s;
    };
    const bytes = (max: number) => {
      const b = new Uint8Array(int(max));
      for (let i = 0; i < b.length; i++) b[i] = int(256);
      return b;
    };
    // A token of the fuzz's own, so mutations and revocations cannot touch ctx.token.
    const sacrificial = ((await (await postForm(`${server.url}/connect/token`, { grant_type: 'client_credentials' }, auth(ctx.cc))).json()) as { access_token: string }).access_token;
    const mutate = (s: string) => {
      const chars = [...s];
      for (let n = 1 + int(4); n > 0; n--) {
        const i = int(chars.length + 1);
        const op = int(3);
        if (op === 0) chars.splice(i, 1);
        else if (op === 1) chars.splice(i, 0, String.fromCharCode(int(0x80)));
        else chars[i] = pick(['.', '%', '=', '&', '+', ' ', '\u0000', 'é', '%00', '%zz']);
      }
      return chars.join('');
    };
    const names = ['grant_type', 'client_id', 'client_secret', 'token', 'token_type_hint', 'scope', 'code', 'redirect_uri', 'refresh_token', 'code_verifier', '', '%', '__proto__', 'constructor'];
    const values = () =>
      pick([
        'client_credentials',
        'authorization_code',
        'refresh_token',
        'password',
        ctx.cc.id,
        ctx.cc.secret,
        ctx.pub.id,
        sacrificial,
        mutate(sacrificial),
        'access_token',
        'refresh_token',
        'accounts.read',
        'openid offline_access',
        '\u0000',
        'a.b.c',
        'eyJhbGciOiJub25lIiwidHlwIjoiYXQrand0In0.e30.',
        'eyJhbGciOiJFUzI1NiIsImtpZCI6Il9fcHJvdG9fXyIsInR5cCI6ImF0K2p3dCJ9.e30.AAAA',
        printable(40),
        'x'.repeat(int(2) ? 10 : 5000),
      ]);
    const contentTypes = [
      FORM,
      `${FORM}; charset=utf-8`,
      `${FORM}; charset="`,
      'application/json',
      'text/plain',
      'multipart/form-data; boundary=xyz',
      'multipart/form-data',
      'application/xml',
      '*/*',
      ';;;',
      '/',
      'application/x-www-form-urlencoded, application/json',
      undefined,
    ];
    /** Header values must be visible ASCII (fetch refuses NUL, CR, LF and other controls). */
    const headerSafe = (v: string) => v.replace(/[^\x20-\x7e]/g, '~');
    const authorizations = () =>
      pick([
        undefined,
        basic(ctx.cc.id, ctx.cc.secret),
        basic(ctx.cc.id, printable(20)),
        basic(printable(20), printable(20)),
        `Basic ${Buffer.from(bytes(60)).toString('base64')}`,
        `Basic ${printable(30)}`,
        `Bearer ${sacrificial}`,
        `Bearer ${headerSafe(mutate(sacrificial))}`,
        printable(60),
        'Basic',
        'Basic =',
        `Basic ${'A'.repeat(3000)}`,
        'Digest username="x"',
      ]);

    const failures: string[] = [];
    const statuses = new Map<number, number>();
    for (let i = 0; i < 300; i++) {
      const endpoint = pick(['token', 'introspect', 'revocation'] as const);
      const method = random() < 0.9 ? 'POST' : pick(['GET', 'PUT', 'PATCH', 'DELETE', 'OPTIONS']);
      const headers: Record<string, string> = {};
      let body: string | Uint8Array | undefined;
      if (random() < 0.5) {
        // Chaos: any content type, any credentials, any bytes.
        const contentType = pick(contentTypes);
        if (contentType !== undefined) headers['content-type'] = contentType;
        const authorization = authorizations();
        if (authorization !== undefined) headers.authorization = authorization;
        const shape = int(4);
        if (shape === 0) body = bytes(2048);
        else if (shape === 1) body = printable(300);
        else if (shape === 2) {
          const pairs: string[] = [];
          for (let n = int(6); n > 0; n--) {
            const value = values();
            pairs.push(random() < 0.8 ? `${encodeURIComponent(pick(names))}=${encodeURIComponent(value)}` : `${pick(names)}=${value}`);
          }
          body = pairs.join(pick(['&', '&', '&&', ';']));
        } // shape 3: no body
      } else {
        // Near-valid: a well-formed request for the endpoint with one or two perturbations,
        // so the fuzz also reaches client authentication, grants and token checks.
        headers['content-type'] = random() < 0.9 ? FORM : pick(contentTypes) ?? FORM;
        const pairs: Array<[string, string]> =
          endpoint === 'token'
            ? [['grant_type', 'client_credentials'], ...(random() < 0.5 ? [['scope', pick(['accounts.read', '', 'cfgateway accounts.read'])] as [string, string]] : [])]
            : [['token', pick([sacrificial, mutate(sacrificial), values()])], ...(random() < 0.3 ? [['token_type_hint', pick(['access_token', 'refresh_token', printable(10)])] as [string, string]] : [])];
        const credentials = int(4);
        if (credentials < 2) headers.authorization = basic(ctx.cc.id, ctx.cc.secret);
        else if (credentials === 2) pairs.push(['client_id', ctx.cc.id], ['client_secret', ctx.cc.secret]);
        else {
          const authorization = authorizations();
          if (authorization !== undefined) headers.authorization = authorization;
        }
        for (let n = int(3); n > 0; n--) {
          const op = int(3);
          if (op === 0 && pairs.length) pairs.splice(int(pairs.length), 1);
          else if (op === 1) pairs.push([pick(names), values()]);
          else if (pairs.length) pairs[int(pairs.length)]![1] = values();
        }
        body = new URLSearchParams(pairs).toString();
      }
      if (random() < 0.3) headers[pick(['accept', 'x-forwarded-for', 'cookie', 'origin', 'x-' + printable(8).replace(/[^a-z]/gi, '') + 'h'])] = printable(50);
      if (method === 'GET' || method === 'OPTIONS') body = undefined;
      const query = random() < 0.1 ? `?${printable(20).replace(/[#\s]/g, '')}` : '';
      let res: Response;
      try {
        res = await fetch(`${server.url}${PATHS[endpoint]}${query}`, { method, headers, body });
      } catch (error) {
        failures.push(`#${i} ${method} ${endpoint} ${JSON.stringify(headers)} body ${typeof body === 'string' ? JSON.stringify(body.slice(0, 80)) : body?.length}: request failed: ${String(error)} ${String((error as { cause?: unknown }).cause)}`);
        continue;
      }
      const text = await res.text();
      statuses.set(res.status, (statuses.get(res.status) ?? 0) + 1);
      if (res.status >= 500) failures.push(`#${i} ${method} ${endpoint} ${JSON.stringify(headers)} → ${res.status} ${text}`);
      else if (res.status >= 400 && method === 'POST') {
        // Every POST refusal is an OAuth error object and not cacheable.
        const parsed = (() => {
          try {
            return JSON.parse(text) as { error?: unknown };
          } catch {
            return {};
          }
        })();
        if (!RFC_ERRORS.has(String(parsed.error)) || res.headers.get('cache-control') !== 'no-store') {
          failures.push(`#${i} ${method} ${endpoint} → ${res.status} not an RFC 6749 §5.2 error: ${text.slice(0, 200)}`);
        }
      }
    }
    expect(failures, `seed ${seed}`).toEqual([]);
    // The generator reaches past the parser: some requests authenticate, some get 401.
    expect([...statuses.keys()], JSON.stringify([...statuses])).toEqual(expect.arrayContaining([200, 400, 401, 405]));
    // The fixture tokens were never sent by the fuzz and stay active.
    expect(await isActive(ctx.token, ctx.cc)).toBe(true);
    expect(await isActive(ctx.otherToken, ctx.other)).toBe(true);
  });
});
