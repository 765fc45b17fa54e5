import { spawn } from 'node:child_process';
import { mkdtemp, readFile, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as oidc from 'openid-client';
import type { Browser } from 'playwright-core';
import { decodeJwt } from 'jose';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { SYSTEM } from '../../src/audit/actor.ts';
import { DEVICE_CODE_GRANT } from '../../src/clients/client.ts';
import { launchBrowser } from '../support/browser.ts';
import { CLI_MAIN } from '../support/cli-runner.ts';
import { postForm, startTestServer, type TestServer } from '../support/server.ts';

/**
 * The device authorization grant (RFC 8628) end to end: openid-client's device flow helpers on
 * the device side, Chromium at /device signing in and approving (or denying) on the other.
 */
const PASSWORD = 'correct horse battery staple';

describe('device flow: openid-client polls while Chromium approves at /device', () => {
  let server: TestServer;
  let browser: Browser;
  let clientId: string;
  let config: oidc.Configuration;

  beforeAll(async () => {
    server = await startTestServer('sqlite');
    const { services } = server.tessera;
    await services.users.create({ username: 'alice', password: PASSWORD, roles: ['developer'] }, SYSTEM);
    const app = await services.clients.create(
      { name: 'Acme TV', grantTypes: [DEVICE_CODE_GRANT], public: true, scopes: ['openid', 'profile', 'offline_access'] },
      SYSTEM,
    );
    clientId = app.client_id;
    config = await oidc.discovery(new URL(server.url), clientId, undefined, oidc.None(), { execute: [oidc.allowInsecureRequests] });
    browser = await launchBrowser();
  });
  afterAll(async () => {
    await browser?.close();
    await server?.close();
  });

  test('discovery advertises the endpoint and the grant', () => {
    const m = config.serverMetadata();
    expect(m.device_authorization_endpoint).toBe(`${server.url}/connect/deviceauthorization`);
    expect(m.grant_types_supported).toContain(DEVICE_CODE_GRANT);
  });

  test('enter the code, sign in, approve: the device gets ID, access and refresh tokens', async () => {
    const started = await oidc.initiateDeviceAuthorization(config, { scope: 'openid profile offline_access' });
    expect(started.user_code).toMatch(/^[BCDFGHJKLMNPQRSTVWXZ]{4}-[BCDFGHJKLMNPQRSTVWXZ]{4}$/);
    expect(started.verification_uri).toBe(`${server.url}/device`);
    expect(started.interval).toBe(5);
    const polled = oidc.pollDeviceAuthorizationGrant(config, started);

    const page = await (await browser.newContext()).newPage();
    page.setDefaultTimeout(10_000);
    await page.goto(`${server.url}/device`);
    // Typed in lower case, without the dash: still the code.
    await page.getByLabel('Code').fill(started.user_code.replace('-', '').toLowerCase());
    await page.getByRole('button', { name: 'Continue' }).click();
    await page.waitForURL(/\/login\?/);
    await page.getByLabel('Username').fill('alice');
    await page.getByLabel('Password').fill(PASSWORD);
    await page.getByRole('button', { name: 'Sign in', exact: true }).click();
    await page.waitForURL(/\/device\?user_code=/);
    expect(await page.textContent('h1')).toContain('Acme TV');
    expect(await page.textContent('main')).toContain(started.user_code);
    await page.getByRole('button', { name: 'Yes, Allow' }).click();
    await expect.poll(() => page.textContent('main')).toContain('You can return to your device');

    const tokens = await polled;
    expect(tokens.access_token).toBeTruthy();
    expect(tokens.refresh_token).toBeTruthy();
    const claims = tokens.claims()!;
    expect(claims.aud).toBe(clientId);
    expect(claims.amr).toEqual(['pwd']);
    expect(claims.acr).toBeDefined();
    expect(decodeJwt(tokens.access_token).client_id).toBe(clientId);

    // The refresh token works as for the code grant.
    const refreshed = await oidc.refreshTokenGrant(config, tokens.refresh_token!);
    expect(refreshed.access_token).toBeTruthy();

    // A device code is used once only.
    const again = await postForm(`${server.url}/connect/token`, { grant_type: DEVICE_CODE_GRANT, device_code: started.device_code, client_id: clientId });
    expect(again.status).toBe(400);
    expect(((await again.json()) as { error: string }).error).toBe('invalid_grant');
  }, 60_000);

  test('denied at /device: the device gets access_denied', async () => {
    const started = await oidc.initiateDeviceAuthorization(config, { scope: 'openid' });
    const page = await (await browser.newContext()).newPage();
    page.setDefaultTimeout(10_000);
    await page.goto(started.verification_uri_complete!);
    await page.waitForURL(/\/login\?/);
    await page.getByLabel('Username').fill('alice');
    await page.getByLabel('Password').fill(PASSWORD);
    await page.getByRole('button', { name: 'Sign in', exact: true }).click();
    await page.waitForURL(/\/device\?user_code=/);
    await page.getByRole('button', { name: 'Deny' }).click();
    await expect.poll(() => page.textContent('main')).toContain('The device was not given access');
    await expect(oidc.pollDeviceAuthorizationGrant(config, started)).rejects.toMatchObject({ error: 'access_denied' });
    const denials = (await server.tessera.services.audit.list({ action: 'consent.deny', limit: 10 })).items;
    expect(denials.map((e) => [e.actor, e.details])).toEqual([['user:alice', { client_id: clientId, scopes: expect.arrayContaining(['openid']) }]]);
  }, 60_000);


  /** `tessera login --device …` as a child process; resolves the printed URL as soon as stderr shows it. */
  function login(args: string[]) {
    const child = spawn(process.execPath, [CLI_MAIN, 'login', '--device', '--issuer', server.url, ...args], { env: { ...process.env }, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    const url = new Promise<string>((resolve) => {
      child.stderr.on('data', (d: Buffer) => {
        stderr += d.toString();
        const m = /\(or open (\S+)\)/.exec(stderr);
        if (m) resolve(m[1]!);
      });
    });
    const done = new Promise<{ code: number | null; stdout: string; stderr: string }>((resolve) => child.on('close', (code) => resolve({ code, stdout, stderr })));
    return { url, done };
  }

  async function approveAt(url: string, button: 'Yes, Allow' | 'Deny'): Promise<void> {
    const page = await (await browser.newContext()).newPage();
    page.setDefaultTimeout(10_000);
    await page.goto(url);
    await page.waitForURL(/\/login\?/);
    await page.getByLabel('Username').fill('alice');
    await page.getByLabel('Password').fill(PASSWORD);
    await page.getByRole('button', { name: 'Sign in', exact: true }).click();
    await page.waitForURL(/\/device\?user_code=/);
    await page.getByRole('button', { name: button }).click();
    await page.locator('h1').waitFor();
  }

  test('tessera login --device: prints the code, polls, saves the tokens in a 0600 file', async () => {
    const file = join(await mkdtemp(join(tmpdir(), 'tessera-login-')), 'tokens.json');
    const run = login(['--client-id', clientId, '--output', file]);
    const url = await run.url;
    expect(url).toMatch(new RegExp(`^${server.url}/device\\?user_code=[A-Z]{4}-[A-Z]{4}$`));
    await approveAt(url, 'Yes, Allow');
    const result = await run.done;
    expect(result.code, result.stderr).toBe(0);
    expect(result.stderr).toContain(`To sign in, open ${server.url}/device and enter the code`);
    expect(result.stderr).toContain(`tokens saved to ${file}`);
    expect((await stat(file)).mode & 0o777).toBe(0o600);
    const saved = JSON.parse(await readFile(file, 'utf8')) as Record<string, string>;
    expect(decodeJwt(saved.access_token!).client_id).toBe(clientId);
    expect(saved.refresh_token).toBeTruthy();
    expect(saved.id_token).toBeTruthy();
  }, 60_000);

  test('tessera login --device: denied → one line, exit 1; bad flags → exit 2', async () => {
    const run = login(['--client-id', clientId]);
    await approveAt(await run.url, 'Deny');
    const result = await run.done;
    expect(result.code).toBe(1);
    expect(result.stdout).toBe('');
    expect(result.stderr.trimEnd().split('\n').at(-1)).toBe('tessera: the request was denied at the verification page');

    const noClient = login([]);
    const r = await noClient.done;
    expect(r.code).toBe(2);
    expect(r.stderr.trim()).toBe('tessera: --client-id is required: an app registered for the device grant');
  }, 60_000);

  // Last: it leaves this IP address throttled at /device.
  test('an unknown code gets the same answer as an expired one, and guessing is throttled (429 + Retry-After)', async () => {
    const page = await (await browser.newContext()).newPage();
    page.setDefaultTimeout(10_000);
    let last = 0;
    let retryAfter: string | null = null;
    for (let i = 0; i < 15 && last !== 429; i++) {
      await page.goto(`${server.url}/device`);
      await page.getByLabel('Code').fill('BBBB-BBBB');
      const [response] = await Promise.all([page.waitForResponse((r) => r.url().endsWith('/device') && r.request().method() === 'POST'), page.getByRole('button', { name: 'Continue' }).click()]);
      last = response.status();
      retryAfter = response.headers()['retry-after'] ?? null;
      if (last === 400) expect(await page.textContent('main')).toContain('That code is not valid or has expired');
    }
    expect(last).toBe(429);
    expect(Number(retryAfter)).toBeGreaterThan(0);
    expect(await page.textContent('main')).toContain('Too many wrong codes');
  }, 60_000);
});
