import { execFile, spawn } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { exportJWK, generateKeyPair } from 'jose';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, test, vi } from 'vitest';
import { countersFor } from '../../src/identity/guess-throttle.ts';
import { KyselyGuessThrottleStore } from '../../src/identity/guess-throttle-store.ts';
import { openDatabase } from '../../src/storage/database.ts';
import { CLI_MAIN, cliRunner, type CliRun } from '../support/cli-runner.ts';
import { createTestDatabase, type TestDatabase, type TestDialect } from '../support/databases.ts';

/**
 * The CLI contract (issue 2, docs/cli.md), driven as a user would: a child process per
 * command, on SQLite and PostgreSQL. Bad input exits non-zero with one clear line on stderr.
 * One test file per dialect (cli.sqlite.test.ts, cli.postgres.test.ts): each command is a
 * process start, so the two halves take minutes each and run in parallel.
 */
// Each command is a process start plus argon2 hashing: seconds per test on a busy 2-core box.
vi.setConfig({ testTimeout: 120_000 });

const PASSWORD = 'correct horse battery staple';

export function cliContract(dialect: TestDialect): void {
  describe(`tessera CLI (${dialect})`, () => {
    let database: TestDatabase;
    let env: Record<string, string>;

    const { tessera, json, fails } = cliRunner(() => ({ databaseUrl: database.url, env }));

    beforeAll(async () => {
      database = await createTestDatabase(dialect);
      env = { TESSERA_KEY_ENCRYPTION_KEY_FILE: join(mkdtempSync(join(tmpdir(), 'tessera-cli-')), 'kek'), TESSERA_LOG_LEVEL: 'silent' };
    });
    afterAll(async () => database?.drop());

    test('migrate, then migrate again is a no-op', async () => {
      const first = await json(['migrate']);
      expect(Array.isArray(first.applied)).toBe(true);
      const again = await tessera(['migrate']);
      expect(again.code).toBe(0);
      expect(again.stdout).toMatch(/up to date/);
    });

    test('users: create (password and stdin), list, show, disable, duplicates and unknowns', async () => {
      const alice = await json(['users', 'create', '--username', 'alice', '--password', PASSWORD, '--email', 'alice@example.com', '--role', 'developer', '--role', 'admin']);
      expect(alice.id).toMatch(/^[0-9a-f-]{36}$/);
      expect(alice.username).toBe('alice');
      expect(alice.roles.sort()).toEqual(['admin', 'developer']);
      const bot = await json(['users', 'create', '--username', 'bot', '--password-stdin', '--role', 'developer'], { stdin: `${PASSWORD}\n` });
      expect(bot.roles).toEqual(['developer']);
      expect(bot.permissions).toEqual(['developer_api']);

      const listed = await json(['users', 'list']);
      expect(listed.map((u: { username: string }) => u.username).sort()).toEqual(['alice', 'bot']);
      expect((await json(['users', 'show', 'alice'])).email).toBe('alice@example.com');
      expect((await json(['users', 'show', alice.id])).username).toBe('alice');
      const human = await tessera(['users', 'show', 'alice']);
      expect(human.stdout).toMatch(/username:\s+alice/);
      expect((await json(['users', 'disable', 'bot'])).disabled).toBe(true);

      await fails(['users', 'create', '--username', 'alice', '--password', PASSWORD], /already exists/);
      await fails(['users', 'show', 'nobody'], /user "nobody" not found/);
      await fails(['users', 'create', '--username', 'x1', '--password', 'short'], /password must be at least/);
      await fails(['users', 'create', '--username', 'x2', '--password', PASSWORD, '--role', 'wizard'], /role "wizard" does not exist/);
      await fails(['users', 'create', '--username', 'x3'], /password/);
    });

    test('users: a language for mail (create, show, update, forget), refused when not offered', async () => {
      expect((await json(['users', 'create', '--username', 'hanna', '--password', PASSWORD, '--locale', 'de-AT'])).locale).toBe('de');
      expect((await tessera(['users', 'show', 'hanna'])).stdout).toMatch(/language:\s+de\n/);
      expect((await json(['users', 'update', 'hanna', '--locale', 'es'])).locale).toBe('es');
      await fails(['users', 'update', 'hanna', '--locale', 'xx'], /locale "xx" is not an available language \(en, de, fr, es\)/);
      expect((await json(['users', 'update', 'hanna', '--locale', ''])).locale).toBeNull();
      expect((await tessera(['users', 'show', 'hanna'])).stdout).toMatch(/language:\s+-\n/);
    });

    test('users unlock: clears the user’s sign-in throttle counters (by username or id), says so, and refuses an unknown user', async () => {
      const carl = await json(['users', 'create', '--username', 'carl', '--password', PASSWORD]);
      await json(['users', 'create', '--username', 'dora', '--password', PASSWORD]);
      const handle = openDatabase(database.url);
      try {
        const store = new KyselyGuessThrottleStore(handle.db);
        const now = Math.floor(Date.now() / 1000);
        for (const counter of [...countersFor('password', { account: 'carl', ip: '203.0.113.7' }), ...countersFor('password', { account: 'dora', ip: '203.0.113.7' })]) {
          for (let i = 0; i < 8; i++) await store.reserve(counter, now);
        }
        const cleared = await tessera(['users', 'unlock', 'carl']);
        expect([cleared.code, cleared.stdout.trim()]).toEqual([0, 'cleared 2 sign-in throttle counters of carl']);
        expect(await store.listForAccount('carl')).toEqual([]);
        // The other user's counters, and the address's, stay.
        expect(await store.listForAccount('dora')).toHaveLength(2);
        expect(await store.waiting(['password:ip:203.0.113.7'], now)).toEqual([]);
        expect((await tessera(['users', 'unlock', carl.id])).stdout.trim()).toBe('carl had no sign-in throttling to clear');
        expect(await json(['users', 'unlock', 'dora'])).toEqual({ user_id: expect.any(String), username: 'dora', cleared: 2 });
      } finally {
        await handle.close();
      }
      await fails(['users', 'unlock', 'nobody'], /user "nobody" not found/);
    });

    test('roles: built-ins, create, grant, list', async () => {
      const roles = await json(['roles', 'list']);
      expect(roles).toEqual(
        expect.arrayContaining([
          expect.objectContaining({ name: 'admin', permissions: '*' }),
          expect.objectContaining({ name: 'developer', permissions: ['developer_api'] }),
        ]),
      );
      const created = await json(['roles', 'create', 'auditor', '--description', 'Reads reports', '--permission', 'reports_api']);
      expect(created).toMatchObject({ name: 'auditor', permissions: ['reports_api'] });
      expect((await json(['roles', 'grant', 'auditor', 'billing_api'])).permissions.sort()).toEqual(['billing_api', 'reports_api']);
      await fails(['roles', 'create', 'auditor'], /already exists/);
      await fails(['roles', 'grant', 'ghost', 'x_api'], /role "ghost" not found/);
      expect((await tessera(['roles', 'list'])).stdout).toMatch(/auditor\s+billing_api, reports_api/);
    });

    test('clients: create with every option, show, update, rotate-secret, list, delete', async () => {
      // Loopback redirect URIs need the development policy: one saved setting for every process.
      await json(['settings', 'set', 'redirect_uri_policy', 'development']);
      try {
        await clientsWithEveryOption();
      } finally {
        await json(['settings', 'set', 'redirect_uri_policy', 'strict']);
      }
    });

    async function clientsWithEveryOption(): Promise<void> {
      const dev = {};
      const app = await json(
        [
          'clients', 'create', '--name', 'Acme Books', '--description', 'Bookkeeping',
          '--grant', 'authorization_code', '--grant', 'client_credentials',
          '--redirect-uri', 'http://127.0.0.1:9000/cb', '--post-logout-redirect-uri', 'http://127.0.0.1:9000/bye',
          '--scope', 'openid profile offline_access', '--default-scope', 'profile',
          '--on-behalf-of', 'alice', '--access-token-ttl', '600', '--refresh-token-ttl', '180',
          '--require-permission', 'developer_api', '--id-token-alg', 'ES256',
        ],
        dev,
      );
      expect(app.client_id).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
      expect(app.client_secret).toMatch(/^[A-Za-z0-9_-]{43}$/);
      expect(app).toMatchObject({
        name: 'Acme Books', description: 'Bookkeeping', grant_types: ['authorization_code', 'client_credentials'],
        redirect_uris: ['http://127.0.0.1:9000/cb'], post_logout_redirect_uris: ['http://127.0.0.1:9000/bye'],
        default_scopes: ['profile'], on_behalf_of: 'alice', access_token_ttl: 600, refresh_token_ttl: 180,
        require_permission: 'developer_api', id_token_signed_response_alg: 'ES256', public: false,
      });
      const shown = await json(['clients', 'show', app.client_id]);
      expect(shown.client_secret).toBeUndefined();
      expect(shown.secret_hash).toBeUndefined();

      const updated = await json(['clients', 'update', app.client_id, '--description', 'Bookkeeping for teams', '--access-token-ttl', '900']);
      expect(updated).toMatchObject({ description: 'Bookkeeping for teams', access_token_ttl: 900, name: 'Acme Books' });
      const rotated = await json(['clients', 'rotate-secret', app.client_id]);
      expect(rotated.client_secret).toMatch(/^[A-Za-z0-9_-]{43}$/);
      expect(rotated.client_secret).not.toBe(app.client_secret);
      expect(rotated.previous_secret_expires_at).toBeNull();
      const graceful = await json(['clients', 'rotate-secret', app.client_id, '--grace', '24h']);
      expect(Date.parse(graceful.previous_secret_expires_at) - Date.now()).toBeGreaterThan(86_000_000);
      expect((await tessera(['clients', 'show', app.client_id])).stdout).toContain('previous secret works until');

      const pub = await json(['clients', 'create', '--name', 'Mobile', '--grant', 'authorization_code', '--redirect-uri', 'http://127.0.0.1:9001/cb', '--public'], dev);
      expect(pub.public).toBe(true);
      expect(pub.client_secret).toBeUndefined();

      expect((await json(['clients', 'list'])).map((c: { name: string }) => c.name)).toEqual(expect.arrayContaining(['Acme Books', 'Mobile']));
      expect((await tessera(['clients', 'list'])).stdout).toContain('Acme Books');
      expect((await tessera(['clients', 'delete', pub.client_id])).code).toBe(0);
      await fails(['clients', 'show', pub.client_id], /not found/);
    }

    test('clients: --auth-method private_key_jwt with --jwks @file or --jwks-uri, --require-par', async () => {
      const { publicKey } = await generateKeyPair('ES256', { extractable: true });
      const file = join(mkdtempSync(join(tmpdir(), 'tessera-jwks-')), 'jwks.json');
      writeFileSync(file, JSON.stringify({ keys: [{ ...(await exportJWK(publicKey)), kid: 'k1' }] }));
      const signed = await json(['clients', 'create', '--name', 'Signed job', '--grant', 'client_credentials', '--auth-method', 'private_key_jwt', '--jwks', `@${file}`]);
      expect(signed).toMatchObject({ token_endpoint_auth_method: 'private_key_jwt', jwks: { keys: [expect.objectContaining({ kid: 'k1', kty: 'EC' })] }, jwks_uri: null });
      expect(signed.client_secret).toBeUndefined();
      await fails(['clients', 'create', '--name', 'x', '--grant', 'client_credentials', '--auth-method', 'private_key_jwt'], /give jwks or jwks_uri/);
      await json(['settings', 'set', 'redirect_uri_policy', 'development']);
      try {
        const web = await json(['clients', 'create', '--name', 'PAR web', '--grant', 'authorization_code', '--redirect-uri', 'http://127.0.0.1:9002/cb', '--require-par', 'yes']);
        expect(web.require_pushed_authorization_requests).toBe(true);
        expect(await json(['clients', 'update', web.client_id, '--require-par', 'no'])).toMatchObject({ require_pushed_authorization_requests: false });
      } finally {
        await json(['settings', 'set', 'redirect_uri_policy', 'strict']);
      }
    });

    test('settings: get, set, bad names and values; audited with the OS user as actor', async () => {
      expect(await json(['settings', 'get'])).toEqual({
        access_token_ttl: 3600, refresh_token_ttl: 2_592_000, code_ttl: 1800, id_token_ttl: 3600, session_ttl: 43_200, redirect_uri_policy: 'strict', mfa_policy: 'optional', require_verified_email: false, client_registration: 'off',
        require_pushed_authorization_requests: false,
        registration_grant_types: ['authorization_code'], registration_scopes: null, registration_auth_methods: ['client_secret_basic', 'client_secret_post', 'private_key_jwt', 'none'],
      });
      expect((await tessera(['settings', 'get'])).stdout).toMatch(/^redirect_uri_policy:\s+strict$/m);
      expect((await tessera(['settings', 'get', 'redirect_uri_policy'])).stdout).toBe('strict\n');
      expect(await json(['settings', 'set', 'code_ttl', '600'])).toMatchObject({ code_ttl: 600, redirect_uri_policy: 'strict' });
      expect(await json(['settings', 'get', 'code_ttl'])).toEqual({ code_ttl: 600 });

      const unknown = await tessera(['settings', 'get', 'colour']);
      expect(unknown.code).toBe(2);
      expect(unknown.stderr).toBe('tessera: unknown setting "colour"; the settings are access_token_ttl, refresh_token_ttl, code_ttl, id_token_ttl, session_ttl, redirect_uri_policy, mfa_policy, require_verified_email, client_registration, require_pushed_authorization_requests, registration_grant_types, registration_scopes, registration_auth_methods\n');
      expect((await tessera(['settings', 'set', 'colour', 'blue'])).code).toBe(2);
      await fails(['settings', 'set', 'redirect_uri_policy', 'lenient'], /^tessera: redirect_uri_policy must be "strict" or "development"$/);
      await fails(['settings', 'set', 'code_ttl', '5'], /^tessera: code_ttl must be a whole number of seconds from 10 to 3600$/);
      await fails(['settings', 'set', 'code_ttl', 'soon'], /code_ttl must be a whole number/);
      // Email is not configured for this CLI: nobody could verify an address.
      await fails(['settings', 'set', 'require_verified_email', 'true'], /^tessera: require_verified_email cannot be turned on: email is not configured/);
      await fails(['settings', 'set', 'require_verified_email', 'yes'], /^tessera: require_verified_email must be true or false$/);
      await fails(['settings', 'set', 'client_registration', 'sometimes'], /^tessera: client_registration must be "off", "open" or "token"$/);
      await fails(['settings', 'set', 'require_pushed_authorization_requests', 'yes'], /^tessera: require_pushed_authorization_requests must be true or false$/);
      expect(await json(['settings', 'get', 'code_ttl'])).toEqual({ code_ttl: 600 });

      const [event] = await json(['audit', 'list', '--action', 'settings.update', '--limit', '1']);
      expect(event).toMatchObject({ action: 'settings.update', details: { changed: { code_ttl: 600 } } });
      expect(event.actor).toMatch(/^cli:/);
      await json(['settings', 'set', 'code_ttl', '1800']);
    });

    test('settings: the self-registration policy as lists (space- or comma-separated; any for every scope on offer)', async () => {
      expect(await json(['settings', 'set', 'registration_scopes', 'openid profile'])).toMatchObject({ registration_scopes: ['openid', 'profile'] });
      expect((await tessera(['settings', 'get', 'registration_scopes'])).stdout).toBe('openid profile\n');
      expect(await json(['settings', 'set', 'registration_scopes', 'any'])).toMatchObject({ registration_scopes: null });
      expect((await tessera(['settings', 'get', 'registration_scopes'])).stdout).toBe('any\n');
      expect(await json(['settings', 'set', 'registration_auth_methods', 'none,client_secret_basic'])).toMatchObject({ registration_auth_methods: ['none', 'client_secret_basic'] });
      await fails(['settings', 'set', 'registration_grant_types', 'client_credentials'], /^tessera: registration_grant_types must list one or more of authorization_code, urn:ietf:params:oauth:grant-type:device_code$/);
      await fails(['settings', 'set', 'registration_scopes', 'openid tessera.admin'], /registration_scopes cannot include tessera.admin/);
      await json(['settings', 'set', 'registration_auth_methods', 'client_secret_basic client_secret_post private_key_jwt none']);
    });

    test('the redirect-URI policy is one setting: serve saves TESSERA_REDIRECT_URI_POLICY, the CLI and the server read the same', async () => {
      const loopback = ['clients', 'create', '--name', 'loopback', '--grant', 'authorization_code', '--redirect-uri', 'http://127.0.0.1:3000/callback'];
      await fails(loopback, /http is only allowed for the loopback hosts|must use https/);
      // A CLI process's own variable does not change the saved policy; it says so on stderr.
      const ignored = await tessera([...loopback, '--json'], { env: { TESSERA_REDIRECT_URI_POLICY: 'development' } });
      expect(ignored.code).toBe(1);
      expect(ignored.stderr).toContain('tessera: warning: TESSERA_REDIRECT_URI_POLICY=development is not used by this command: the saved redirect-URI policy is "strict"');

      // The server's environment wins at its start and is saved: the CLI (without the variable) follows.
      const server = await serve([], { TESSERA_REDIRECT_URI_POLICY: 'development' });
      const admin = async (method: string, body?: unknown) => {
        const token = await adminToken(server.url);
        const res = await fetch(`${server.url}/admin/api/v1/settings`, { method, headers: { authorization: `Bearer ${token}`, ...(body ? { 'content-type': 'application/json' } : {}) }, body: body ? JSON.stringify(body) : undefined });
        expect(res.status).toBe(200);
        return (await res.json()) as { redirect_uri_policy: string };
      };
      try {
        expect((await tessera(['settings', 'get', 'redirect_uri_policy'])).stdout).toBe('development\n');
        const created = await json(loopback);
        expect(created.redirect_uris).toEqual(['http://127.0.0.1:3000/callback']);
        const [event] = await json(['audit', 'list', '--action', 'settings.update', '--limit', '1']);
        expect(event).toMatchObject({ actor: 'system', details: { changed: { redirect_uri_policy: 'development' } } });
        expect((await admin('GET')).redirect_uri_policy).toBe('development');

        // `tessera settings set` reaches the running server (change feed), and the admin API reaches the CLI.
        await json(['settings', 'set', 'redirect_uri_policy', 'strict']);
        await vi.waitFor(async () => expect((await admin('GET')).redirect_uri_policy).toBe('strict'), { timeout: 10_000, interval: 200 });
        expect((await admin('PATCH', { redirect_uri_policy: 'development' })).redirect_uri_policy).toBe('development');
        expect((await tessera(['settings', 'get', 'redirect_uri_policy'])).stdout).toBe('development\n');
      } finally {
        server.child.kill('SIGTERM');
        await server.exited;
      }
      await json(['settings', 'set', 'redirect_uri_policy', 'strict']);
      expect((await tessera(['clients', 'delete', (await json(['clients', 'list'])).find((c: { name: string }) => c.name === 'loopback').client_id])).code).toBe(0);
    });

    /** An admin API token: an app acting for alice (who holds the admin role). */
    let automation: { client_id: string; client_secret: string } | undefined;
    async function adminToken(url: string): Promise<string> {
      automation ??= await json(['clients', 'create', '--name', 'settings automation', '--grant', 'client_credentials', '--on-behalf-of', 'alice', '--scope', 'tessera.admin']);
      const res = await fetch(`${url}/connect/token`, {
        method: 'POST',
        headers: { authorization: `Basic ${Buffer.from(`${automation!.client_id}:${automation!.client_secret}`).toString('base64')}`, 'content-type': 'application/x-www-form-urlencoded' },
        body: 'grant_type=client_credentials&scope=tessera.admin',
      });
      expect(res.status).toBe(200);
      return ((await res.json()) as { access_token: string }).access_token;
    }

    test('clients: bad input gives one clear line and changes nothing', async () => {
      const before = (await json(['clients', 'list'])).length;
      // Strict policy: the reason names the failing rule (no DNS needed for these).
      await fails(['clients', 'create', '--name', 'x', '--grant', 'authorization_code', '--redirect-uri', 'http://app.example.com/cb'], /https/i);
      await fails(['clients', 'create', '--name', 'x', '--grant', 'authorization_code', '--redirect-uri', 'https://localhost/cb'], /localhost/i);
      await fails(['clients', 'create', '--name', 'x', '--grant', 'authorization_code', '--redirect-uri', 'https://10.0.0.8/cb'], /private|address/i);
      await fails(['clients', 'create', '--name', 'x', '--grant', 'authorization_code', '--redirect-uri', 'https://app.example.com/cb#frag'], /fragment/i);
      await fails(['clients', 'create', '--name', 'x', '--grant', 'password'], /grant/i);
      await fails(['clients', 'create', '--name', 'x', '--grant', 'client_credentials', '--on-behalf-of', 'nobody'], /nobody/);
      await fails(['clients', 'create', '--name', 'x', '--grant', 'client_credentials', '--access-token-ttl', 'soon'], /access/i);
      await fails(['clients', 'update', '00000000-0000-4000-8000-000000000000', '--name', 'y'], /not found/);
      await fails(['clients', 'rotate-secret', 'not-a-uuid'], /not found/);
      const [some] = await json(['clients', 'list']);
      await fails(['clients', 'rotate-secret', some.client_id, '--grace', 'soon'], /--grace/);
      await fails(['clients', 'rotate-secret', some.client_id, '--grace', '31d'], /grace/);
      expect((await json(['clients', 'list'])).length).toBe(before);
    });

    test('apis: create, show, update, delete; changes are audited with the OS user as actor', async () => {
      const api = await json(['apis', 'create', '--name', 'Accounts', '--base-path', '/0/odata', '--upstream', 'http://accounts.internal:9000/odata',
        '--scope', 'accounts.read=Read your accounts', '--route', 'GET,HEAD /Account({id}) accounts.read']);
      expect(api).toMatchObject({ name: 'Accounts', base_path: '/0/odata', scopes: [{ name: 'accounts.read', description: 'Read your accounts' }], routes: [{ methods: ['GET', 'HEAD'], path: '/Account({id})', scopes: ['accounts.read'] }] });
      expect((await tessera(['apis', 'show', 'Accounts'])).stdout).toContain('/Account({id})');
      expect((await json(['apis', 'update', 'Accounts', '--timeout-ms', '5000'])).timeout_ms).toBe(5000);
      expect(api).toMatchObject({ forward_authorization: true, max_body_bytes: null });
      expect(await json(['apis', 'update', 'Accounts', '--no-forward-authorization', '--max-body-bytes', '2048'])).toMatchObject({ forward_authorization: false, max_body_bytes: 2048, timeout_ms: 5000 });
      expect((await tessera(['apis', 'show', 'Accounts'])).stdout).toMatch(/forwards Authorization:\s+no/);
      expect(await json(['apis', 'update', 'Accounts', '--forward-authorization', '--max-body-bytes', 'none'])).toMatchObject({ forward_authorization: true, max_body_bytes: null });
      await fails(['apis', 'update', 'Accounts', '--max-body-bytes', '2k'], /--max-body-bytes/);
      await fails(['apis', 'create', '--name', 'Other', '--base-path', '/0/odata/x', '--upstream', 'http://x.internal'], /overlaps/);
      await fails(['apis', 'create', '--name', 'Bad', '--base-path', '/b', '--upstream', 'http://x.internal', '--route', 'GET /x'], /METHODS \/path scope/);
      // An app may now be given the declared scope, not an undeclared one.
      expect((await json(['clients', 'create', '--name', 'reader', '--grant', 'client_credentials', '--scope', 'accounts.read'])).scopes).toEqual(['accounts.read']);
      await fails(['clients', 'create', '--name', 'r2', '--grant', 'client_credentials', '--scope', 'accounts.delete'], /unknown scope "accounts.delete"/);
      // Token exchange (RFC 8693): the app's policy from flags, shown, removed; the API's upstream token.
      const reader = (await json(['clients', 'list'])).find((c: { name: string }) => c.name === 'reader');
      expect((await json(['clients', 'update', reader.client_id, '--token-exchange-audience', 'urn:example:a', '--token-exchange-audience', 'urn:example:b', '--token-exchange-scope', 'accounts.read'])).token_exchange)
        .toEqual({ audiences: ['urn:example:a', 'urn:example:b'], scopes: ['accounts.read'], subject_clients: null });
      expect((await tessera(['clients', 'show', reader.client_id])).stdout).toMatch(/token exchange audiences:\s+urn:example:a/);
      await fails(['clients', 'update', reader.client_id, '--token-exchange-scope', 'accounts.read'], /--token-exchange-audience is required/);
      await fails(['clients', 'update', reader.client_id, '--no-token-exchange', '--token-exchange-audience', 'urn:x'], /cannot be combined/);
      expect((await json(['clients', 'update', reader.client_id, '--no-token-exchange'])).token_exchange).toBeNull();
      expect(await json(['apis', 'update', 'Accounts', '--upstream-token', 'exchange', '--upstream-audience', 'urn:example:accounts'])).toMatchObject({ upstream_token: 'exchange', upstream_audience: 'urn:example:accounts', forward_authorization: false });
      expect((await tessera(['apis', 'show', 'Accounts'])).stdout).toMatch(/upstream token:\s+exchanged for urn:example:accounts/);
      await fails(['apis', 'update', 'Accounts', '--upstream-token', 'maybe'], /upstream_token must be one of/);
      expect((await tessera(['apis', 'delete', 'Accounts'])).code).toBe(0);
      expect(await json(['apis', 'list'])).toEqual([]);

      const events = await json(['audit', 'list', '--limit', '500']);
      const actions = events.map((e: { action: string }) => e.action);
      for (const a of ['api.create', 'api.update', 'api.delete', 'app.create', 'user.create', 'role.create']) expect(actions, a).toContain(a);
      // Every API change the CLI made is the OS user's. (Other tests in this file have the server,
      // apps and visitors change other things in this database.)
      const ours = events.filter((e: { action: string }) => e.action.startsWith('api.'));
      expect(ours.length).toBeGreaterThanOrEqual(3);
      expect(ours.every((e: { actor: string }) => e.actor.startsWith('cli:'))).toBe(true);
      expect(JSON.stringify(events)).not.toContain(PASSWORD);
    });

    test('keys: list and rotate', async () => {
      const keys = await json(['keys', 'list']);
      expect(keys.filter((k: { status: string }) => k.status === 'active').map((k: { alg: string }) => k.alg).sort()).toEqual(['ES256', 'RS256']);
      const rotated = await json(['keys', 'rotate']);
      expect(rotated.map((k: { alg: string }) => k.alg).sort()).toEqual(['ES256', 'RS256']);
      const after = await json(['keys', 'list']);
      expect(after.length).toBe(keys.length + 2);
    });

    test('usage errors: unknown command and bad database URL', async () => {
      const unknown = await tessera(['frobnicate']);
      expect(unknown.code).not.toBe(0);
      expect(unknown.stderr).toMatch(/unknown command/);
      const r = await new Promise<CliRun>((resolve) => {
        execFile(process.execPath, [CLI_MAIN, 'users', 'list', '--database', 'mysql://nope'], { env: { ...process.env, ...env } }, (error, stdout, stderr) =>
          resolve({ code: error ? ((error as { code?: number }).code ?? 1) : 0, stdout, stderr }),
        );
      });
      expect(r.code).not.toBe(0);
      expect(r.stderr.trim().split('\n')).toHaveLength(1);
    });

    /** Starts `tessera serve`, resolving with the child, its first stdout line and everything printed so far. */
    async function serve(args: string[], extraEnv: Record<string, string> = {}) {
      const child = spawn(process.execPath, [CLI_MAIN, 'serve', '--port', '0', '--database', database.url, ...args], { env: { ...process.env, ...env, TESSERA_ADMIN_PASSWORD: PASSWORD, ...extraEnv } });
      const output = { stdout: '' };
      child.stdout.on('data', (chunk: Buffer) => (output.stdout += chunk.toString()));
      const firstLine = await new Promise<string>((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`no first line: ${output.stdout}`)), 30_000);
        child.stdout.on('data', () => {
          const nl = output.stdout.indexOf('\n');
          if (nl >= 0) {
            clearTimeout(timer);
            resolve(output.stdout.slice(0, nl));
          }
        });
        child.once('exit', (code) => reject(new Error(`exited ${code}`)));
      });
      const url = /http:\/\/127\.0\.0\.1:\d+/.exec(firstLine)?.[0];
      expect(url, firstLine).toBeDefined();
      const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
      return { child, firstLine, url: url!, output, exited };
    }

    test('serve --port 0: the first line has the URL; /health answers; SIGTERM exits cleanly', async () => {
      const server = await serve([]);
      try {
        const health = await fetch(`${server.url}/health`);
        expect(health.status).toBe(200);
        const discovery = (await (await fetch(`${server.url}/.well-known/openid-configuration`)).json()) as { issuer: string };
        expect(discovery.issuer).toBe(server.url);
        server.child.kill('SIGTERM');
        expect(await server.exited).toBe(0);
      } finally {
        if (server.child.exitCode === null) server.child.kill('SIGKILL');
      }
    });

    test('serve --workers 2: two processes share the port, a token from one is valid on the other, SIGTERM stops all', async () => {
      await fails(['serve', '--workers', '0'], /--workers must be a number from 1 to 256/);
      const app = await json(['clients', 'create', '--name', 'workers-check', '--grant', 'client_credentials']);
      const server = await serve(['--workers', '2'], { TESSERA_LOG_LEVEL: 'info' });
      try {
        expect(server.firstLine).toContain('2 workers');
        const auth = `Basic ${Buffer.from(`${app.client_id}:${app.client_secret}`).toString('base64')}`;
        // A new connection per request, so the primary's round-robin reaches both workers.
        const post = (path: string, body: string) =>
          fetch(`${server.url}${path}`, { method: 'POST', headers: { authorization: auth, 'content-type': 'application/x-www-form-urlencoded', connection: 'close' }, body });
        for (let i = 0; i < 6; i++) {
          const token = await post('/connect/token', 'grant_type=client_credentials');
          expect(token.status).toBe(200);
          const { access_token } = (await token.json()) as { access_token: string };
          const introspection = (await (await post('/connect/introspect', `token=${access_token}`)).json()) as { active: boolean };
          expect(introspection.active).toBe(true);
        }
        const pids = new Set(
          server.output.stdout
            .split('\n')
            .filter((l) => l.startsWith('{'))
            .map((l) => JSON.parse(l) as { pid: number; msg?: string })
            .filter((l) => l.msg === 'request completed')
            .map((l) => l.pid),
        );
        expect(pids.size).toBe(2);
        server.child.kill('SIGTERM');
        expect(await server.exited).toBe(0);
        for (const pid of pids) expect(() => process.kill(pid, 0), `worker ${pid} still running`).toThrow();
      } finally {
        if (server.child.exitCode === null) server.child.kill('SIGKILL');
      }
    });
  });
}
