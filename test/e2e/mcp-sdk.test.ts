import { createServer as createHttpServer, type Server } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { getCACertificates, setDefaultCACertificates } from 'node:tls';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { UnauthorizedError, type OAuthClientProvider } from '@modelcontextprotocol/sdk/client/auth.js';
import type { OAuthClientInformationMixed, OAuthClientMetadata, OAuthTokens } from '@modelcontextprotocol/sdk/shared/auth.js';
import { decodeJwt } from 'jose';
import type { Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { launchBrowser } from '../support/browser.ts';
import { startMcpServer, type TestMcpServer } from '../support/mcp-server.ts';
import { selfSignedCertificate } from '../support/nginx.ts';
import { startTestServer, type TestServer } from '../support/server.ts';
import { SYSTEM } from '../../src/audit/actor.ts';

/** Screenshots of the console's self-registration views land here (CONTRIBUTING.md: look at them at 1280 and 390 px). */
const SHOTS = join(import.meta.dirname, '..', '..', 'test-results', 'screenshots');

/**
 * The proof with a client no one here wrote: the official MCP TypeScript SDK, with its own
 * OAuth support, reaches an MCP server (also built with the SDK) behind Tessera's gateway.
 * It starts from nothing but the server's URL: the 401's resource_metadata leads it to the
 * RFC 9728 metadata, that to Tessera's RFC 8414 metadata; it identifies itself with a Client
 * ID Metadata Document served over https; a user signs in and consents in Chromium; it
 * exchanges the code with PKCE and `resource`; it calls a tool; it is refused the tool whose
 * scope it lacks; and its token opens no other API.
 */
const PASSWORD = 'correct horse battery staple';

describe('the MCP TypeScript SDK as a client, through the gateway', () => {
  let server: TestServer;
  let mcp: TestMcpServer;
  let browser: Browser;
  let documentServer: Server;
  let callbackServer: Server;
  let clientMetadataUrl: string;
  let redirectUrl: string;
  let documentFetches = 0;
  const codes: string[] = [];

  beforeAll(async () => {
    // An https server for the client's metadata document. Tessera fetches it like any other
    // https URL: this process trusts the test certificate, as a real deployment trusts public CAs.
    const cert = selfSignedCertificate(mkdtempSync(join(tmpdir(), 'tessera-mcp-cert-')));
    setDefaultCACertificates([...getCACertificates('default'), cert.cert]);
    callbackServer = createHttpServer((req, res) => {
      const url = new URL(req.url!, 'http://127.0.0.1');
      const code = url.searchParams.get('code');
      if (code) codes.push(code);
      res.writeHead(200, { 'content-type': 'text/plain' }).end(code ? 'You may close this window.' : `error: ${url.searchParams.get('error')}`);
    });
    await new Promise<void>((r) => callbackServer.listen(0, '127.0.0.1', r));
    redirectUrl = `http://127.0.0.1:${(callbackServer.address() as AddressInfo).port}/callback`;
    documentServer = createHttpsServer({ key: readFileSync(cert.keyPath), cert: cert.cert }, (_req, res) => {
      documentFetches++;
      res.writeHead(200, { 'content-type': 'application/json', 'cache-control': 'max-age=300' }).end(
        JSON.stringify({
          client_id: clientMetadataUrl,
          client_name: 'Notes Agent',
          redirect_uris: [redirectUrl],
          token_endpoint_auth_method: 'none',
          grant_types: ['authorization_code', 'refresh_token'],
          response_types: ['code'],
          scope: 'notes.read',
        }),
      );
    });
    await new Promise<void>((r) => documentServer.listen(0, '127.0.0.1', r));
    clientMetadataUrl = `https://127.0.0.1:${(documentServer.address() as AddressInfo).port}/agents/notes-agent.json`;

    mcp = await startMcpServer();
    // Development mode: loopback (the document server, the agent's callback) is allowed, as on a developer's machine.
    server = await startTestServer('sqlite', { env: { TESSERA_CLIENT_ID_METADATA_DOCUMENTS: 'on', TESSERA_REDIRECT_URI_POLICY: 'development' } });
    const { services } = server.tessera;
    await services.apis.create({
      name: 'Notes MCP',
      basePath: '/mcp',
      upstream: `${mcp.url}/mcp`,
      forwardAuthorization: false,
      scopes: [{ name: 'notes.read', description: 'Read your notes' }, { name: 'notes.admin', description: 'Delete your notes' }],
      routes: [{ methods: ['GET', 'POST', 'DELETE'], path: '/**', scopes: ['notes.read'] }],
    }, SYSTEM);
    await services.apis.create({ name: 'Other', basePath: '/other', upstream: mcp.url, scopes: [{ name: 'other.read' }], routes: [{ methods: ['GET'], path: '/**', scopes: ['other.read'] }] }, SYSTEM);
    await services.users.create({ username: 'alice', password: PASSWORD, roles: ['developer'] }, SYSTEM);
    await services.users.create({ username: 'ops', password: PASSWORD, roles: ['admin'] }, SYSTEM);
    for (let i = 0; i < 60 && server.tessera.gateway.size < 2; i++) await new Promise((r) => setTimeout(r, 50));
    browser = await launchBrowser();
  });
  afterAll(async () => {
    await browser?.close();
    await mcp?.close();
    // The SDK client leaves connections to Tessera open (its streaming GET through the
    // gateway); Fastify's close would wait for them. Not a protocol matter: cut them here.
    server?.app.server.closeAllConnections();
    await server?.close();
    // Keep-alive connections (Tessera's fetch, Chromium) would hold close() open.
    for (const s of [documentServer, callbackServer]) {
      s?.closeAllConnections();
      await new Promise((r) => s?.close(r));
    }
  });

  test('discovers, registers by metadata document, signs in through Chromium, calls a tool, is refused the other', async () => {
    const page = await (await browser.newContext()).newPage();
    let authorizationUrl: URL | undefined;
    let tokens: OAuthTokens | undefined;
    let clientInformation: OAuthClientInformationMixed | undefined;
    let verifier = '';
    const provider: OAuthClientProvider = {
      get redirectUrl() {
        return redirectUrl;
      },
      clientMetadataUrl,
      get clientMetadata(): OAuthClientMetadata {
        return { client_name: 'Notes Agent', redirect_uris: [redirectUrl], token_endpoint_auth_method: 'none', grant_types: ['authorization_code', 'refresh_token'], response_types: ['code'] };
      },
      clientInformation: () => clientInformation,
      saveClientInformation: (info) => {
        clientInformation = info;
      },
      tokens: () => tokens,
      saveTokens: (t) => {
        tokens = t;
      },
      redirectToAuthorization: (url) => {
        authorizationUrl = url;
      },
      saveCodeVerifier: (v) => {
        verifier = v;
      },
      codeVerifier: () => verifier,
    };

    const mcpUrl = new URL(`${server.url}/mcp`);
    const first = new StreamableHTTPClientTransport(mcpUrl, { authProvider: provider });
    const client = new Client({ name: 'notes-agent', version: '1.0.0' });
    // No token yet: the gateway's 401 starts the SDK's discovery and authorization.
    await expect(client.connect(first)).rejects.toBeInstanceOf(UnauthorizedError);
    expect(clientInformation?.client_id).toBe(clientMetadataUrl);
    expect(authorizationUrl).toBeDefined();
    const asked = authorizationUrl!;
    expect(asked.origin + asked.pathname).toBe(`${server.url}/connect/authorize`);
    expect(asked.searchParams.get('client_id')).toBe(clientMetadataUrl);
    expect(asked.searchParams.get('resource')).toBe(`${server.url}/mcp`);
    expect(asked.searchParams.get('code_challenge_method')).toBe('S256');
    expect(asked.searchParams.get('scope')).toBe('notes.read');

    // The user signs in and approves in a real browser; the consent page says where the agent comes from.
    await page.goto(asked.href);
    await page.waitForURL(/\/login(\?|$)/);
    await page.getByLabel('Username').fill('alice');
    await page.getByLabel('Password').fill(PASSWORD);
    await page.getByRole('button', { name: 'Sign in', exact: true }).click();
    await page.waitForURL(/\/consent\?/);
    expect(await page.textContent('h1')).toContain('Notes Agent');
    expect(await page.textContent('main')).toContain(`from ${new URL(clientMetadataUrl).host}`);
    expect(await page.textContent('main')).toContain('Read your notes');
    await page.getByRole('button', { name: 'Yes, Allow' }).click();
    await page.waitForURL((u) => u.href.startsWith(redirectUrl));
    expect(codes).toHaveLength(1);

    await first.finishAuth(codes[0]!);
    expect(tokens?.access_token).toBeTruthy();
    const claims = decodeJwt(tokens!.access_token);
    expect(claims.aud).toBe(`${server.url}/mcp`);
    expect(claims.client_id).toBe(clientMetadataUrl);
    expect(claims.scope).toBe('notes.read');
    expect(documentFetches).toBe(1);

    const transport = new StreamableHTTPClientTransport(mcpUrl, { authProvider: provider });
    await client.connect(transport);
    const { tools } = await client.listTools();
    expect(tools.map((t) => t.name).sort()).toEqual(['delete_note', 'list_notes']);
    const alice = await server.tessera.services.users.show('alice');
    const listed = await client.callTool({ name: 'list_notes', arguments: {} });
    expect(listed.isError).toBeFalsy();
    expect(JSON.stringify(listed.content)).toContain(`notes of ${alice.id}`);
    const refused = await client.callTool({ name: 'delete_note', arguments: {} });
    expect(refused.isError).toBe(true);
    expect(JSON.stringify(refused.content)).toContain('insufficient_scope');
    expect(mcp.deleted).toBe(0);
    // The token never reached the MCP server: only the gateway's identity headers did.
    expect(mcp.seen.length).toBeGreaterThan(0);
    expect(mcp.seen.every((h) => h.authorization === undefined && h['x-tessera-client-id'] === clientMetadataUrl)).toBe(true);
    await client.close();

    // Bound to the MCP server: another API behind the same gateway refuses it.
    const other = await fetch(`${server.url}/other/x`, { headers: { authorization: `Bearer ${tokens!.access_token}` } });
    expect(other.status).toBe(401);
    expect(other.headers.get('www-authenticate')).toContain('error="invalid_token"');
  });

  test('the console marks the self-registered app, with the host of its document', async () => {
    const page = await (await browser.newContext()).newPage();
    page.setDefaultTimeout(10_000);
    await page.goto(`${server.url}/admin/`);
    await page.getByRole('button', { name: 'Sign in', exact: true }).click();
    await page.waitForURL(/\/login\?/);
    await page.getByLabel('Username').fill('ops');
    await page.getByLabel('Password').fill(PASSWORD);
    await page.getByRole('button', { name: 'Sign in', exact: true }).click();
    await page.waitForURL((u) => u.pathname.startsWith('/admin/') || u.pathname === '/consent');
    if (new URL(page.url()).pathname === '/consent') await page.getByRole('button', { name: 'Yes, Allow' }).click();
    await page.getByRole('heading', { level: 1, name: 'Registered apps' }).waitFor();
    const host = new URL(clientMetadataUrl).host;
    const row = page.locator('li.row', { hasText: 'Notes Agent' });
    await expect.poll(() => row.textContent()).toContain(`self-registered · ${host}`);
    await row.getByRole('link', { name: 'Notes Agent' }).click();
    await page.getByRole('heading', { level: 1, name: 'Notes Agent' }).waitFor();
    expect(await page.textContent('main')).toContain(`Self-registered from ${host}`);
    expect(decodeURIComponent(new URL(page.url()).pathname)).toBe(`/admin/apps/${clientMetadataUrl}`);
  });
});

/**
 * The SDK's fallback: with Client ID Metadata Documents off and Dynamic Client Registration
 * open, the SDK finds `registration_endpoint` in Tessera's metadata, registers itself
 * (RFC 7591) as a public app, and completes the same sign-in, consent and tool call.
 */
describe('the MCP TypeScript SDK registers itself by Dynamic Client Registration', () => {
  let server: TestServer;
  let mcp: TestMcpServer;
  let browser: Browser;
  let callbackServer: Server;
  let redirectUrl: string;
  const codes: string[] = [];

  beforeAll(async () => {
    callbackServer = createHttpServer((req, res) => {
      const code = new URL(req.url!, 'http://127.0.0.1').searchParams.get('code');
      if (code) codes.push(code);
      res.writeHead(200, { 'content-type': 'text/plain' }).end('You may close this window.');
    });
    await new Promise<void>((r) => callbackServer.listen(0, '127.0.0.1', r));
    redirectUrl = `http://127.0.0.1:${(callbackServer.address() as AddressInfo).port}/callback`;
    mcp = await startMcpServer();
    server = await startTestServer('sqlite', { env: { TESSERA_REDIRECT_URI_POLICY: 'development' } });
    const { services } = server.tessera;
    await services.settings.update({ client_registration: 'open' }, SYSTEM);
    await services.apis.create({
      name: 'Notes MCP',
      basePath: '/mcp',
      upstream: `${mcp.url}/mcp`,
      forwardAuthorization: false,
      scopes: [{ name: 'notes.read', description: 'Read your notes' }, { name: 'notes.admin', description: 'Delete your notes' }],
      routes: [{ methods: ['GET', 'POST', 'DELETE'], path: '/**', scopes: ['notes.read'] }],
    }, SYSTEM);
    await services.users.create({ username: 'alice', password: PASSWORD, roles: ['developer'] }, SYSTEM);
    await services.users.create({ username: 'ops', password: PASSWORD, roles: ['admin'] }, SYSTEM);
    for (let i = 0; i < 60 && server.tessera.gateway.size < 1; i++) await new Promise((r) => setTimeout(r, 50));
    browser = await launchBrowser();
  });
  afterAll(async () => {
    await browser?.close();
    await mcp?.close();
    server?.app.server.closeAllConnections();
    await server?.close();
    callbackServer?.closeAllConnections();
    await new Promise((r) => callbackServer?.close(r));
  });

  test('registers at /connect/register, signs in through Chromium, calls a tool; the console marks the app', async () => {
    const page = await (await browser.newContext()).newPage();
    page.setDefaultTimeout(10_000);
    let authorizationUrl: URL | undefined;
    let tokens: OAuthTokens | undefined;
    let clientInformation: OAuthClientInformationMixed | undefined;
    let verifier = '';
    const provider: OAuthClientProvider = {
      get redirectUrl() {
        return redirectUrl;
      },
      get clientMetadata(): OAuthClientMetadata {
        return { client_name: 'DCR Agent', redirect_uris: [redirectUrl], token_endpoint_auth_method: 'none', grant_types: ['authorization_code', 'refresh_token'], response_types: ['code'] };
      },
      clientInformation: () => clientInformation,
      saveClientInformation: (info) => {
        clientInformation = info;
      },
      tokens: () => tokens,
      saveTokens: (t) => {
        tokens = t;
      },
      redirectToAuthorization: (url) => {
        authorizationUrl = url;
      },
      saveCodeVerifier: (v) => {
        verifier = v;
      },
      codeVerifier: () => verifier,
    };

    const mcpUrl = new URL(`${server.url}/mcp`);
    const first = new StreamableHTTPClientTransport(mcpUrl, { authProvider: provider });
    const client = new Client({ name: 'dcr-agent', version: '1.0.0' });
    await expect(client.connect(first)).rejects.toBeInstanceOf(UnauthorizedError);
    // Registered through RFC 7591 (the SDK keeps only the client's own fields): a UUID client_id, no secret.
    const info = clientInformation as Record<string, unknown> | undefined;
    expect(info?.client_id).toMatch(/^[0-9a-f-]{36}$/);
    expect(info?.client_secret).toBeUndefined();
    const app = await server.tessera.services.clients.show(info!.client_id as string);
    expect(app).toMatchObject({ registration: 'dynamic', name: 'DCR Agent', public: true });
    expect(authorizationUrl!.searchParams.get('client_id')).toBe(info!.client_id);

    await page.goto(authorizationUrl!.href);
    await page.waitForURL(/\/login(\?|$)/);
    await page.getByLabel('Username').fill('alice');
    await page.getByLabel('Password').fill(PASSWORD);
    await page.getByRole('button', { name: 'Sign in', exact: true }).click();
    await page.waitForURL(/\/consent\?/);
    expect(await page.textContent('h1')).toContain('DCR Agent');
    await page.getByRole('button', { name: 'Yes, Allow' }).click();
    await page.waitForURL((u) => u.href.startsWith(redirectUrl));
    await first.finishAuth(codes[0]!);
    expect(decodeJwt(tokens!.access_token)).toMatchObject({ client_id: info!.client_id, aud: `${server.url}/mcp`, scope: 'notes.read' });

    const transport = new StreamableHTTPClientTransport(mcpUrl, { authProvider: provider });
    await client.connect(transport);
    const listed = await client.callTool({ name: 'list_notes', arguments: {} });
    expect(listed.isError).toBeFalsy();
    await client.close();

    // An administrator sees it as self-registered in the console.
    const admin = await (await browser.newContext()).newPage();
    admin.setDefaultTimeout(10_000);
    await admin.goto(`${server.url}/admin/`);
    await admin.getByRole('button', { name: 'Sign in', exact: true }).click();
    await admin.waitForURL(/\/login\?/);
    await admin.getByLabel('Username').fill('ops');
    await admin.getByLabel('Password').fill(PASSWORD);
    await admin.getByRole('button', { name: 'Sign in', exact: true }).click();
    await admin.waitForURL((u) => u.pathname.startsWith('/admin/') || u.pathname === '/consent');
    if (new URL(admin.url()).pathname === '/consent') await admin.getByRole('button', { name: 'Yes, Allow' }).click();
    await admin.getByRole('heading', { level: 1, name: 'Registered apps' }).waitFor();
    const row = admin.locator('li.row', { hasText: 'DCR Agent' });
    await expect.poll(() => row.textContent()).toContain('self-registered · RFC 7591');

    // The list filters on how apps were registered.
    const titles = () => admin.locator('ul[aria-label="Apps"] li.row .row__title').allTextContents();
    await admin.getByLabel('How the app was registered').selectOption('self');
    await expect.poll(titles).toEqual(['DCR Agent']);
    await admin.getByLabel('How the app was registered').selectOption('admin');
    // Until the filtered list arrives the page still shows the self-registered one; wait for the
    // list that has admin-registered apps and not DCR Agent, rather than for any non-empty list.
    await expect
      .poll(async () => {
        const shown = await titles();
        return shown.length > 0 && !shown.includes('DCR Agent');
      })
      .toBe(true);
    await admin.getByLabel('How the app was registered').selectOption('');
    await expect.poll(titles).toContain('DCR Agent');
    for (const size of [{ width: 1280, height: 900 }, { width: 390, height: 844 }]) {
      await admin.setViewportSize(size);
      await admin.getByLabel('How the app was registered').selectOption('self');
      await expect.poll(titles).toEqual(['DCR Agent']);
      expect(await admin.evaluate<boolean>('document.documentElement.scrollWidth <= window.innerWidth')).toBe(true);
      await admin.screenshot({ path: join(SHOTS, `console-apps-self-registered-${size.width}.png`), fullPage: true });
    }
    await admin.setViewportSize({ width: 1280, height: 900 });

    // The operator sets the self-registration policy on the Settings page.
    await admin.goto(`${server.url}/admin/settings`);
    await admin.getByRole('heading', { name: 'Self-registration policy' }).waitFor();
    await admin.getByRole('checkbox', { name: /^Device/ }).check();
    await admin.getByRole('checkbox', { name: /^client_secret_basic/ }).uncheck();
    await admin.getByRole('checkbox', { name: /^client_secret_post/ }).uncheck();
    await admin.getByRole('checkbox', { name: /^private_key_jwt/ }).uncheck();
    await admin.getByRole('checkbox', { name: /^Every scope on offer/ }).uncheck();
    await admin.getByLabel('Only these scopes').fill('openid notes.read');
    for (const size of [{ width: 1280, height: 900 }, { width: 390, height: 844 }]) {
      await admin.setViewportSize(size);
      expect(await admin.evaluate<boolean>('document.documentElement.scrollWidth <= window.innerWidth')).toBe(true);
      await admin.getByRole('heading', { name: 'Self-registration policy' }).scrollIntoViewIfNeeded();
      await admin.screenshot({ path: join(SHOTS, `console-settings-registration-policy-${size.width}.png`), fullPage: true });
    }
    await admin.getByRole('button', { name: 'Save settings' }).click();
    const settings = () => server.tessera.services.settings.view();
    await expect.poll(() => settings().registration_scopes).toEqual(['openid', 'notes.read']);
    expect(settings()).toMatchObject({ registration_grant_types: ['authorization_code', 'urn:ietf:params:oauth:grant-type:device_code'], registration_auth_methods: ['none'] });
    // A value the server refuses is shown at its field, and nothing changes.
    await admin.getByRole('checkbox', { name: /^none/ }).uncheck();
    await admin.getByRole('button', { name: 'Save settings' }).click();
    await expect.poll(() => admin.locator('.field-error').allTextContents()).toContainEqual(expect.stringContaining('registration_auth_methods'));
    expect(settings().registration_auth_methods).toEqual(['none']);
    await server.tessera.services.settings.update({ registration_grant_types: ['authorization_code'], registration_auth_methods: ['client_secret_basic', 'client_secret_post', 'private_key_jwt', 'none'], registration_scopes: null }, SYSTEM);
  });
});
