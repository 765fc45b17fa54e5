import { execFile } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { createLocalJWKSet, jwtVerify, type JSONWebKeySet } from 'jose';
import { Agent, fetch as undiciFetch } from 'undici';
import { afterAll, beforeAll, describe, expect, test, vi } from 'vitest';
import { SYSTEM } from '../../src/audit/actor.ts';
import { CLI_MAIN, type CliRun } from '../support/cli-runner.ts';
import {
  freePort,
  guideServerBlocks,
  nginxUnavailable,
  selfSignedCertificate,
  startNginx,
  tempDir,
  type RunningNginx,
} from '../support/nginx.ts';
import { startTestServer, type TestServer } from '../support/server.ts';
import { hiddenFields, location, UserAgent } from '../support/user-agent.ts';

/**
 * Tessera behind a real reverse proxy (issue 12, "Proxies"): Debian's nginx terminates TLS
 * with a self-signed certificate and forwards X-Forwarded-For/-Proto/-Host, running the
 * server blocks of docs/production.md (ports, certificate paths and the upstream filled in).
 * Everything is on loopback, with distinct addresses so that the observables differ: the
 * browser connects from 127.0.0.3, nginx reaches Tessera from 127.0.0.1. Per
 * TESSERA_TRUST_PROXY setting, the issuer and every link are the public https ones, the
 * cookies are Secure, and the IP Tessera records (audit log, sessions, sign-in throttling
 * key) is the browser's — whatever X-Forwarded-For the browser sends itself.
 */
vi.setConfig({ testTimeout: 60_000, hookTimeout: 60_000 });

const unavailable = nginxUnavailable();
const CLIENT_IP = '127.0.0.3';
const PROXY_IP = '127.0.0.1';
const REDIRECT = 'https://app.example.com/callback';
const PASSWORD = 'correct horse battery staple';

interface Setting {
  name: string;
  trust: string | undefined;
  /** The IP recorded for a browser at CLIENT_IP that goes through nginx. */
  recorded: string;
  /** The IP recorded for a client at CLIENT_IP that reaches Tessera directly, claiming 6.6.6.6. */
  directSpoof: string;
}

const SETTINGS: Setting[] = [
  { name: 'a hop count (TESSERA_TRUST_PROXY=1)', trust: '1', recorded: CLIENT_IP, directSpoof: '6.6.6.6' },
  { name: 'the proxy address (TESSERA_TRUST_PROXY=127.0.0.1/32)', trust: '127.0.0.1/32', recorded: CLIENT_IP, directSpoof: CLIENT_IP },
  { name: 'a list (TESSERA_TRUST_PROXY=10.0.0.0/8,127.0.0.1)', trust: '10.0.0.0/8, 127.0.0.1', recorded: CLIENT_IP, directSpoof: CLIENT_IP },
  { name: 'nothing (unset)', trust: undefined, recorded: PROXY_IP, directSpoof: CLIENT_IP },
];

function pkce(): { verifier: string; challenge: string } {
  const verifier = randomBytes(32).toString('base64url');
  return { verifier, challenge: createHash('sha256').update(verifier).digest('base64url') };
}

describe.skipIf(unavailable !== undefined).each(SETTINGS)(`Tessera behind nginx with TLS, trusting $name${unavailable ? ` — skipped: ${unavailable}` : ''}`, (setting) => {
  let files: ReturnType<typeof tempDir>;
  let nginx: RunningNginx;
  let server: TestServer;
  let httpsPort: number;
  let httpPort: number;
  let issuer: string;
  let app: { id: string; secret: string };
  /** fetch as a browser at CLIENT_IP that trusts the test certificate. */
  let browserFetch: typeof fetch;
  /** Every response seen through the proxy: nothing may point at Tessera's own address. */
  const seen: string[] = [];

  beforeAll(async () => {
    files = tempDir('tessera-nginx-');
    const certificate = selfSignedCertificate(files.dir);
    httpsPort = await freePort();
    httpPort = await freePort();
    issuer = `https://localhost:${httpsPort}`;
    server = await startTestServer('sqlite', {
      env: { TESSERA_ISSUER: issuer, ...(setting.trust === undefined ? {} : { TESSERA_TRUST_PROXY: setting.trust }) },
    });
    const blocks = guideServerBlocks({ http: httpPort, https: httpsPort }, certificate, [Number(new URL(server.url).port)]);
    nginx = await startNginx(files.dir, blocks, [httpPort, httpsPort]);

    const dispatcher = new Agent({ localAddress: CLIENT_IP, connect: { ca: certificate.cert } });
    browserFetch = (async (url: string, init: RequestInit = {}) => {
      const response = await undiciFetch(url, { ...(init as object), dispatcher });
      seen.push(`${response.status} ${[...response.headers].map(([k, v]) => `${k}: ${v}`).join('\n')}\n${await response.clone().text()}`);
      return response;
    }) as unknown as typeof fetch;

    await server.tessera.services.users.create({ username: 'alice', password: PASSWORD, roles: ['developer'] }, SYSTEM);
    const created = await server.tessera.services.clients.create(
      { name: 'Proxied App', grantTypes: ['authorization_code'], redirectUris: [REDIRECT], scopes: ['openid', 'profile'] },
      SYSTEM,
    );
    app = { id: created.client_id, secret: created.client_secret! };
  });

  afterAll(async () => {
    await nginx?.close();
    await server?.close();
    files?.remove();
  });

  /** The audit entries of an action, newest first. */
  async function audited(action: string) {
    return (await server.tessera.services.audit.list({ action, limit: 100 })).items;
  }

  test('the request really goes through nginx over TLS', async () => {
    const response = await browserFetch(`${issuer}/health`);
    expect(response.status).toBe(200);
    expect(response.headers.get('server')).toMatch(/^nginx/);
  });

  test('plain http on the proxy redirects to https', async () => {
    const response = await browserFetch(`http://localhost:${httpPort}/connect/authorize?client_id=x`, { redirect: 'manual' });
    expect(response.status).toBe(301);
    expect(response.headers.get('location')).toBe('https://localhost/connect/authorize?client_id=x');
  });

  test('discovery: the issuer is TESSERA_ISSUER and every endpoint is under it', async () => {
    for (const path of ['/.well-known/openid-configuration', '/.well-known/oauth-authorization-server']) {
      const response = await browserFetch(`${issuer}${path}`);
      expect(response.status).toBe(200);
      const document = (await response.json()) as Record<string, unknown>;
      expect(document.issuer).toBe(issuer);
      const urls = Object.entries(document).filter(([key]) => key.endsWith('_endpoint') || key.endsWith('_uri'));
      expect(urls.length).toBeGreaterThanOrEqual(5);
      for (const [key, value] of urls) expect(`${key}=${String(value)}`).toMatch(new RegExp(`^${key}=${issuer}/`));
    }
  });

  test('the code flow through the proxy: every link is public https, cookies are Secure, tokens carry the issuer', async () => {
    const { verifier, challenge } = pkce();
    const ua = new UserAgent(issuer, browserFetch);
    const authorize = `/connect/authorize?${new URLSearchParams({
      client_id: app.id, response_type: 'code', redirect_uri: REDIRECT, scope: 'openid profile', state: 'st', nonce: 'nn',
      code_challenge: challenge, code_challenge_method: 'S256',
    })}`;
    const locations: string[] = [];
    const follow = (response: Response) => {
      const target = location(response);
      locations.push(target);
      return new URL(target, issuer);
    };

    const loginUrl = follow(await ua.get(authorize));
    expect(loginUrl.pathname).toBe('/login');
    const loginPage = await ua.get(loginUrl.pathname + loginUrl.search);
    expect(loginPage.status).toBe(200);
    const loginSetCookie = loginPage.headers.getSetCookie();
    expect(loginSetCookie.find((c) => c.startsWith('tessera_csrf='))).toMatch(/; Secure/);
    const form = hiddenFields(await loginPage.text());

    const signedIn = await ua.post('/login', { ...form, username: 'alice', password: PASSWORD });
    const sessionCookie = signedIn.headers.getSetCookie().find((c) => c.startsWith('tessera_session='));
    expect(sessionCookie).toMatch(/; Secure/);
    expect(sessionCookie).toMatch(/; HttpOnly/);
    const back = follow(signedIn);
    expect(back.pathname).toBe('/connect/authorize');

    const consentUrl = follow(await ua.get(back.pathname + back.search));
    expect(consentUrl.pathname).toBe('/consent');
    const consentPage = await ua.get(consentUrl.pathname + consentUrl.search);
    expect(consentPage.status).toBe(200);
    const callback = follow(await ua.post('/consent', { ...hiddenFields(await consentPage.text()), decision: 'allow' }));
    expect(`${callback.origin}${callback.pathname}`).toBe(REDIRECT);
    expect(callback.searchParams.get('iss')).toBe(issuer); // RFC 9207
    expect(callback.searchParams.get('state')).toBe('st');

    // Every Location was a path on the public origin or the app's redirect URI.
    for (const target of locations) expect(target.startsWith('/') || target.startsWith(issuer) || target.startsWith(REDIRECT), target).toBe(true);

    const token = await browserFetch(`${issuer}/connect/token`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded', authorization: `Basic ${Buffer.from(`${app.id}:${app.secret}`).toString('base64')}` },
      body: new URLSearchParams({ grant_type: 'authorization_code', code: callback.searchParams.get('code')!, redirect_uri: REDIRECT, code_verifier: verifier }).toString(),
    });
    expect(token.status).toBe(200);
    const tokens = (await token.json()) as { id_token: string; access_token: string };
    const jwks = (await (await browserFetch(`${issuer}/.well-known/jwks.json`)).json()) as JSONWebKeySet;
    const { payload } = await jwtVerify(tokens.id_token, createLocalJWKSet(jwks), { issuer, audience: app.id });
    expect(payload.nonce).toBe('nn');
    const access = await jwtVerify(tokens.access_token, createLocalJWKSet(jwks), { issuer });
    expect(access.payload.iss).toBe(issuer);

    // The session records where the browser is.
    const [signIn] = await audited('user.sign_in');
    expect(signIn!.ip).toBe(setting.recorded);
  });

  test('a browser that sends its own X-Forwarded-For cannot choose the IP Tessera records', async () => {
    const username = `nobody-${randomBytes(4).toString('hex')}`;
    for (const spoof of ['6.6.6.6', '6.6.6.6, 7.7.7.7', undefined]) {
      const ua = new UserAgent(issuer, browserFetch);
      const headers: Record<string, string> = spoof ? { 'x-forwarded-for': spoof } : {};
      const page = await ua.request('/login', { headers });
      const failed = await ua.request('/login', { method: 'POST', form: { ...hiddenFields(await page.text()), username, password: 'wrong' }, headers });
      expect(failed.status).toBe(401);
    }
    const entries = (await audited('user.sign_in_failed')).filter((e) => e.details.username === username);
    expect(entries.map((e) => e.ip)).toEqual([setting.recorded, setting.recorded, setting.recorded]);
  });

  test('X-Forwarded-Proto and -Host sent by the browser change nothing', async () => {
    const response = await browserFetch(`${issuer}/.well-known/openid-configuration`, { headers: { 'x-forwarded-proto': 'http', 'x-forwarded-host': 'evil.example' } });
    const document = (await response.json()) as { issuer: string; token_endpoint: string };
    expect(document.issuer).toBe(issuer);
    expect(document.token_endpoint).toBe(`${issuer}/connect/token`);
    const login = await new UserAgent(issuer, browserFetch).request('/login', { headers: { 'x-forwarded-proto': 'http' } });
    expect(login.headers.getSetCookie().find((c) => c.startsWith('tessera_csrf='))).toMatch(/; Secure/);
  });

  test(`a client reaching Tessera directly, claiming 6.6.6.6, is recorded as ${setting.directSpoof}`, async () => {
    // The reason to prefer addresses over a hop count: with a count, whoever connects is
    // "the proxy". docs/production.md says to let Tessera listen where only the proxy reaches it.
    const direct = new Agent({ localAddress: CLIENT_IP });
    const directFetch = ((url: string, init: RequestInit = {}) => undiciFetch(url, { ...(init as object), dispatcher: direct })) as unknown as typeof fetch;
    const username = `direct-${randomBytes(4).toString('hex')}`;
    const ua = new UserAgent(server.url, directFetch);
    const headers = { 'x-forwarded-for': '6.6.6.6' };
    const page = await ua.request('/login', { headers });
    const failed = await ua.request('/login', { method: 'POST', form: { ...hiddenFields(await page.text()), username, password: 'wrong' }, headers });
    expect(failed.status).toBe(401);
    const [entry] = (await audited('user.sign_in_failed')).filter((e) => e.details.username === username);
    expect(entry!.ip).toBe(setting.directSpoof);
    await direct.close();
  });

  test("no answer through the proxy names Tessera's own address", () => {
    expect(seen.length).toBeGreaterThan(10);
    const internal = new URL(server.url);
    for (const response of seen) {
      expect(response).not.toContain(`:${internal.port}`);
      expect(response).not.toMatch(/http:\/\/(localhost|127\.0\.0\.1)/);
    }
  });
});

describe('TESSERA_TRUST_PROXY at startup', () => {
  function serve(trust: string): Promise<CliRun> {
    const dir = tempDir('tessera-trust-');
    return new Promise((resolve) => {
      execFile(
        process.execPath,
        [CLI_MAIN, 'serve', '--port', '0', '--database', `sqlite:${dir.dir}/tessera.db`],
        { env: { ...process.env, TESSERA_TRUST_PROXY: trust, TESSERA_KEY_ENCRYPTION_KEY_FILE: `${dir.dir}/kek` }, timeout: 30_000 },
        (error, stdout, stderr) => {
          dir.remove();
          resolve({ code: error ? ((error as { code?: number }).code ?? 1) : 0, stdout, stderr });
        },
      );
    });
  }

  test('"true" (trust every hop) is refused with one line saying what to give instead, exit code 2', async () => {
    const run = await serve('true');
    expect(run.code).toBe(2);
    expect(run.stdout).toBe('');
    expect(run.stderr).toBe(
      'tessera: TESSERA_TRUST_PROXY=true is no longer accepted: it trusts every hop, so any client could pick its own IP; ' +
        'give the number of proxies in front of Tessera (e.g. TESSERA_TRUST_PROXY=1) or their addresses (e.g. TESSERA_TRUST_PROXY=10.0.0.5 or 10.0.0.0/24)\n',
    );
  });

  test.each(['maybe', '11', '10.0.0.0/33', 'proxy.internal'])('an invalid value (%s) is one line, exit code 2', async (trust) => {
    const run = await serve(trust);
    expect(run.code).toBe(2);
    expect(run.stderr).toMatch(/^tessera: TESSERA_TRUST_PROXY must be false, a number of proxies from 0 to 10, or a comma-separated list of the proxies' IP addresses or CIDRs \(.*\)\n$/);
  });
});

describe.skipIf(unavailable !== undefined)(`two nodes on one PostgreSQL behind the guide's nginx${unavailable ? ` — skipped: ${unavailable}` : ''}`, () => {
  let files: ReturnType<typeof tempDir>;
  let nginx: RunningNginx;
  let a: TestServer;
  let b: TestServer;
  let issuer: string;
  let browserFetch: typeof fetch;

  beforeAll(async () => {
    files = tempDir('tessera-nginx-');
    const certificate = selfSignedCertificate(files.dir);
    const ports = { http: await freePort(), https: await freePort() };
    issuer = `https://localhost:${ports.https}`;
    // What every node shares: the database, the issuer, the key-encryption key, the proxy setting.
    const env = { TESSERA_ISSUER: issuer, TESSERA_TRUST_PROXY: PROXY_IP };
    a = await startTestServer('postgres', { env });
    b = await startTestServer('postgres', { databaseUrl: a.databaseUrl, env: { ...env, TESSERA_KEY_ENCRYPTION_KEY_FILE: a.env.TESSERA_KEY_ENCRYPTION_KEY_FILE! } });
    nginx = await startNginx(files.dir, guideServerBlocks(ports, certificate, [a, b].map((node) => Number(new URL(node.url).port))), [ports.http, ports.https]);
    const dispatcher = new Agent({ localAddress: CLIENT_IP, connect: { ca: certificate.cert } });
    browserFetch = ((url: string, init: RequestInit = {}) => undiciFetch(url, { ...(init as object), dispatcher })) as unknown as typeof fetch;
    await a.tessera.services.users.create({ username: 'alice', password: PASSWORD, roles: ['developer'] }, SYSTEM);
  });

  afterAll(async () => {
    await nginx?.close();
    await b?.close();
    await a?.close();
    files?.remove();
  });

  test('a sign-in whose requests alternate between the nodes works, and both record the browser', async () => {
    const created = await a.tessera.services.clients.create(
      { name: 'Balanced App', grantTypes: ['authorization_code'], redirectUris: [REDIRECT], scopes: ['openid'] },
      SYSTEM,
    );
    const { verifier, challenge } = pkce();
    const ua = new UserAgent(issuer, browserFetch);
    const authorize = `/connect/authorize?${new URLSearchParams({
      client_id: created.client_id, response_type: 'code', redirect_uri: REDIRECT, scope: 'openid', state: 's', code_challenge: challenge, code_challenge_method: 'S256',
    })}`;
    // The app registered on node A may reach node B only through the change feed.
    let start = await ua.get(authorize);
    for (let i = 0; i < 40 && start.status !== 303; i++) {
      await new Promise((resolve) => setTimeout(resolve, 50));
      start = await ua.get(authorize);
    }
    const login = new URL(location(start), issuer);
    // The form comes from one node and is posted to the other: the CSRF secret is derived
    // from the key-encryption key, so the nodes agree on it only when they share that key.
    const page = await ua.get(login.pathname + login.search);
    const signedIn = await ua.post('/login', { ...hiddenFields(await page.text()), username: 'alice', password: PASSWORD });
    expect(signedIn.status).toBe(303);
    let next = new URL(location(signedIn), issuer);
    const consent = new URL(location(await ua.get(next.pathname + next.search)), issuer);
    const consentPage = await ua.get(consent.pathname + consent.search);
    next = new URL(location(await ua.post('/consent', { ...hiddenFields(await consentPage.text()), decision: 'allow' })));
    expect(next.searchParams.get('iss')).toBe(issuer);
    const token = await browserFetch(`${issuer}/connect/token`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded', authorization: `Basic ${Buffer.from(`${created.client_id}:${created.client_secret}`).toString('base64')}` },
      body: new URLSearchParams({ grant_type: 'authorization_code', code: next.searchParams.get('code')!, redirect_uri: REDIRECT, code_verifier: verifier }).toString(),
    });
    expect(token.status).toBe(200);

    const served = new Set(nginx.accessLog().trim().split('\n').map((line) => line.split(' ')[0]));
    expect(served).toEqual(new Set([new URL(a.url).host, new URL(b.url).host]));
    const signIns = (await a.tessera.services.audit.list({ action: 'user.sign_in' })).items;
    expect(signIns.map((e) => e.ip)).toEqual([CLIENT_IP]);
  });

  test('a node with another key-encryption key refuses to start', async () => {
    await expect(startTestServer('postgres', { databaseUrl: a.databaseUrl })).rejects.toThrow(/decrypt/);
  });
});
