import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, test, vi } from 'vitest';
import { AUDIT_ACTIONS, type AuditAction } from '../../src/audit/actions.ts';
import { CONSOLE_CLIENT_ID } from '../../src/admin/console-client.ts';
import { SYSTEM } from '../../src/audit/actor.ts';
import type { AuditEventView } from '../../src/audit/audit-log.ts';
import type { Tessera } from '../../src/app/tessera.ts';
import { DIALECTS } from '../support/databases.ts';
import { Mailbox } from '../support/mailbox.ts';
import { basic, postForm, startTestServer, type TestServer } from '../support/server.ts';

/**
 * The same change made through the CLI (a child process, as an operator runs it) and through
 * the admin API (HTTP) writes the same audit action, on the same kind of target, with the
 * same detail fields: the services audit, the adapters only pass who is asking. One row per
 * action both adapters offer; the actions only one of them offers are listed below, so a new
 * action must be placed in one of the three lists.
 */
// Each CLI command is a process start (and argon2 for users): seconds on a busy 2-core box.
vi.setConfig({ testTimeout: 120_000 });

const MAIN = join(import.meta.dirname, '..', '..', 'src', 'cli', 'main.ts');
const PASSWORD = 'correct horse battery staple';
const API = '/admin/api/v1';

/** What a row's two adapters act on: created through the services beforehand, one per adapter. */
interface Target {
  id: string;
  /** How the adapter names it (a username for users, a name for APIs, an id otherwise). */
  ref: string;
}

interface Row {
  action: AuditAction;
  /** Creates what the change acts on (a fresh one for each adapter). */
  prepare?: (tessera: Tessera, tag: string) => Promise<Target>;
  cli: (target: Target | undefined, tag: string) => { args: string[]; stdin?: string };
  api: (target: Target | undefined, tag: string) => { method: string; path: string; body?: unknown };
}

const app = async (t: Tessera, tag: string): Promise<Target> => {
  const created = await t.services.clients.create({ name: `app ${tag}`, grantTypes: ['client_credentials'] }, SYSTEM);
  return { id: created.client_id, ref: created.client_id };
};
const user = async (t: Tessera, tag: string, disabled = false): Promise<Target> => {
  const created = await t.services.users.create({ username: `user-${tag}`, password: PASSWORD, roles: ['developer'] }, SYSTEM);
  if (disabled) await t.services.users.setDisabled(created.id, true, SYSTEM);
  return { id: created.id, ref: created.username };
};
const gatewayApi = async (t: Tessera, tag: string): Promise<Target> => {
  const created = await t.services.apis.create({ name: `api-${tag}`, basePath: `/parity-${tag}`, upstream: 'http://127.0.0.1:9' }, SYSTEM);
  return { id: created.id, ref: created.name };
};

const OAUTH2_URLS = { authorizationUrl: 'http://127.0.0.1:9/authorize', tokenUrl: 'http://127.0.0.1:9/token', userinfoUrl: 'http://127.0.0.1:9/user' };
const OAUTH2_FLAGS = ['--kind', 'oauth2', '--authorization-url', OAUTH2_URLS.authorizationUrl, '--token-url', OAUTH2_URLS.tokenUrl, '--userinfo-url', OAUTH2_URLS.userinfoUrl, '--claim', 'subject=id'];
const provider = async (t: Tessera, tag: string): Promise<Target> => {
  const created = await t.services.providers.create({ slug: `prov-${tag}`, name: `Provider ${tag}`, kind: 'oauth2', ...OAUTH2_URLS, clientId: 'x', clientSecret: 'y' }, SYSTEM);
  return { id: created.slug, ref: created.slug };
};

const ROWS: Row[] = [
  {
    action: 'app.create',
    cli: (_, tag) => ({ args: ['clients', 'create', '--name', `new ${tag}`, '--grant', 'client_credentials', '--access-token-ttl', '600'] }),
    api: (_, tag) => ({ method: 'POST', path: '/apps', body: { name: `new ${tag}`, grant_types: ['client_credentials'], access_token_ttl: 600 } }),
  },
  {
    action: 'app.update',
    prepare: app,
    // With the token-exchange policy (RFC 8693): the CLI's flags and the admin API's object are one field.
    cli: (a) => ({ args: ['clients', 'update', a!.ref, '--description', 'Hourly exports', '--access-token-ttl', '900', '--token-exchange-audience', 'urn:example:orders', '--token-exchange-audience', 'urn:example:billing'] }),
    api: (a) => ({ method: 'PATCH', path: `/apps/${a!.ref}`, body: { description: 'Hourly exports', access_token_ttl: 900, token_exchange: { audiences: ['urn:example:orders', 'urn:example:billing'] } } }),
  },
  {
    // RFC 9449 §5.2: requiring DPoP is the same change through either adapter.
    action: 'app.update',
    prepare: app,
    cli: (a) => ({ args: ['clients', 'update', a!.ref, '--dpop-bound-access-tokens', 'yes'] }),
    api: (a) => ({ method: 'PATCH', path: `/apps/${a!.ref}`, body: { dpop_bound_access_tokens: true } }),
  },
  {
    action: 'app.secret_regenerate',
    prepare: app,
    cli: (a) => ({ args: ['clients', 'rotate-secret', a!.ref] }),
    api: (a) => ({ method: 'POST', path: `/apps/${a!.ref}/secret` }),
  },
  {
    action: 'app.delete',
    prepare: app,
    cli: (a) => ({ args: ['clients', 'delete', a!.ref] }),
    api: (a) => ({ method: 'DELETE', path: `/apps/${a!.ref}` }),
  },
  {
    action: 'user.create',
    cli: (_, tag) => ({ args: ['users', 'create', '--username', `new-${tag}`, '--password-stdin', '--role', 'developer'], stdin: `${PASSWORD}\n` }),
    api: (_, tag) => ({ method: 'POST', path: '/users', body: { username: `new-${tag}`, password: PASSWORD, roles: ['developer'] } }),
  },
  {
    action: 'user.update',
    prepare: (t, tag) => user(t, tag),
    cli: (u) => ({ args: ['users', 'update', u!.ref, '--email', 'someone@example.com', '--name', 'Some One', '--role', 'developer'] }),
    api: (u) => ({ method: 'PATCH', path: `/users/${u!.ref}`, body: { email: 'someone@example.com', name: 'Some One', roles: ['developer'] } }),
  },
  {
    action: 'user.password_reset',
    prepare: (t, tag) => user(t, tag),
    cli: (u) => ({ args: ['users', 'update', u!.ref, '--password-stdin'], stdin: 'another long passphrase\n' }),
    api: (u) => ({ method: 'POST', path: `/users/${u!.ref}/password`, body: { password: 'another long passphrase' } }),
  },
  {
    action: 'user.disable',
    prepare: (t, tag) => user(t, tag),
    cli: (u) => ({ args: ['users', 'disable', u!.ref] }),
    api: (u) => ({ method: 'PATCH', path: `/users/${u!.ref}`, body: { disabled: true } }),
  },
  {
    action: 'user.enable',
    prepare: (t, tag) => user(t, tag, true),
    cli: (u) => ({ args: ['users', 'enable', u!.ref] }),
    api: (u) => ({ method: 'PATCH', path: `/users/${u!.ref}`, body: { disabled: false } }),
  },
  {
    action: 'user.delete',
    prepare: (t, tag) => user(t, tag),
    cli: (u) => ({ args: ['users', 'delete', u!.ref] }),
    api: (u) => ({ method: 'DELETE', path: `/users/${u!.ref}` }),
  },
  {
    action: 'user.unlock',
    prepare: (t, tag) => user(t, tag),
    cli: (u) => ({ args: ['users', 'unlock', u!.ref] }),
    api: (u) => ({ method: 'POST', path: `/users/${u!.ref}/unlock` }),
  },
  {
    action: 'user.factors_reset',
    prepare: (t, tag) => user(t, tag),
    cli: (u) => ({ args: ['users', 'reset-factors', u!.ref] }),
    api: (u) => ({ method: 'DELETE', path: `/users/${u!.ref}/factors` }),
  },
  {
    action: 'role.create',
    cli: (_, tag) => ({ args: ['roles', 'create', `role-${tag}`, '--description', 'Reads reports', '--permission', 'developer_api'] }),
    api: (_, tag) => ({ method: 'POST', path: '/roles', body: { name: `role-${tag}`, description: 'Reads reports', permissions: ['developer_api'] } }),
  },
  {
    action: 'role.update',
    prepare: async (t, tag) => {
      await t.services.roles.create({ name: `mfa-${tag}`, permissions: ['developer_api'] }, SYSTEM);
      return { id: `mfa-${tag}`, ref: `mfa-${tag}` };
    },
    cli: (r) => ({ args: ['roles', 'require-mfa', r!.ref, 'yes'] }),
    api: (r) => ({ method: 'PATCH', path: `/roles/${r!.ref}`, body: { require_mfa: true } }),
  },
  {
    action: 'keys.rotate',
    cli: () => ({ args: ['keys', 'rotate'] }),
    api: () => ({ method: 'POST', path: '/keys/rotate' }),
  },
  {
    action: 'api.create',
    cli: (_, tag) => ({ args: ['apis', 'create', '--name', `new-api-${tag}`, '--base-path', `/new-${tag}`, '--upstream', 'http://127.0.0.1:9', '--scope', `${tag}.read=Read`] }),
    api: (_, tag) => ({ method: 'POST', path: '/apis', body: { name: `new-api-${tag}`, base_path: `/new-${tag}`, upstream: 'http://127.0.0.1:9', scopes: [{ name: `${tag}.read`, description: 'Read' }] } }),
  },
  {
    action: 'api.update',
    prepare: gatewayApi,
    cli: (a) => ({ args: ['apis', 'update', a!.ref, '--timeout-ms', '5000', '--audience', 'https://api.example.com', '--upstream-token', 'exchange', '--upstream-audience', 'urn:example:backend'] }),
    api: (a) => ({ method: 'PATCH', path: `/apis/${a!.id}`, body: { timeout_ms: 5000, audience: 'https://api.example.com', upstream_token: 'exchange', upstream_audience: 'urn:example:backend' } }),
  },
  {
    action: 'api.delete',
    prepare: gatewayApi,
    cli: (a) => ({ args: ['apis', 'delete', a!.ref] }),
    api: (a) => ({ method: 'DELETE', path: `/apis/${a!.id}` }),
  },
  {
    action: 'provider.create',
    cli: (_, tag) => ({ args: ['providers', 'create', '--slug', `new-${tag}`, '--name', `New ${tag}`, ...OAUTH2_FLAGS, '--client-id', 'x', '--client-secret-stdin'], stdin: 'a secret\n' }),
    api: (_, tag) => ({
      method: 'POST',
      path: '/providers',
      body: { slug: `new-${tag}`, name: `New ${tag}`, kind: 'oauth2', authorization_url: OAUTH2_URLS.authorizationUrl, token_url: OAUTH2_URLS.tokenUrl, userinfo_url: OAUTH2_URLS.userinfoUrl, claim_mapping: { subject: 'id' }, client_id: 'x', client_secret: 'a secret' },
    }),
  },
  {
    action: 'provider.update',
    prepare: provider,
    cli: (p) => ({ args: ['providers', 'update', p!.ref, '--name', 'Renamed', '--disabled', '--default-role', 'developer'] }),
    api: (p) => ({ method: 'PATCH', path: `/providers/${p!.ref}`, body: { name: 'Renamed', enabled: false, default_roles: ['developer'] } }),
  },
  {
    action: 'provider.delete',
    prepare: provider,
    cli: (p) => ({ args: ['providers', 'delete', p!.ref] }),
    api: (p) => ({ method: 'DELETE', path: `/providers/${p!.ref}` }),
  },
  {
    action: 'user.invite',
    cli: (_t, tag) => ({ args: ['users', 'invite', `${tag}@example.com`, '--role', 'developer'] }),
    api: (_t, tag) => ({ method: 'POST', path: '/users/invitations', body: { email: `${tag}@example.com`, roles: ['developer'] } }),
  },
  {
    action: 'registration.token_create',
    cli: (_t, tag) => ({ args: ['registration', 'tokens', 'create', '--label', `partner ${tag}`, '--expires-in', '3600', '--max-uses', '2'] }),
    api: (_t, tag) => ({ method: 'POST', path: '/registration-tokens', body: { label: `partner ${tag}`, expires_in: 3600, max_uses: 2 } }),
  },
  {
    action: 'registration.token_revoke',
    prepare: async (t, tag) => {
      const created = await t.services.registration.issueToken({ label: tag }, SYSTEM);
      return { id: created.id, ref: created.id };
    },
    cli: (r) => ({ args: ['registration', 'tokens', 'revoke', r!.ref] }),
    api: (r) => ({ method: 'DELETE', path: `/registration-tokens/${r!.ref}` }),
  },
  {
    action: 'settings.update',
    cli: () => ({ args: ['settings', 'set', 'code_ttl', '900'] }),
    api: () => ({ method: 'PATCH', path: '/settings', body: { code_ttl: 900 } }),
  },
  {
    action: 'branding.update',
    cli: () => ({ args: ['branding', 'set', 'primary_color', '#123456'] }),
    api: () => ({ method: 'PATCH', path: '/branding', body: { primary_color: '#123456' } }),
  },
];

/** Offered by the admin API only (the CLI has no command for them). */
const API_ONLY: AuditAction[] = ['grant.revoke', 'session.revoke', 'session.revoke_all', 'role.delete', 'permission.create', 'permission.delete', 'user.unlink'];
/** Offered by the CLI only (`tessera roles grant`, `tessera keys recover`). */
const CLI_ONLY: AuditAction[] = ['role.grant', 'keys.recover', 'keys.reencrypt'];

/** Recorded by sign-in (at /login, through an identity provider), sign-out and the consent page, not by an adapter. */
const SIGN_IN: AuditAction[] = ['user.link', 'provider.sign_in', 'provider.sign_in_failed', 'user.sign_in', 'user.sign_in_failed', 'user.sign_in_throttled', 'user.sign_out', 'consent.grant', 'consent.deny'];

/** Recorded when a user changes their own factors at /account/totp, /account/recovery-codes or /account/passkeys, or passes the second step. */
const OWN_FACTORS: AuditAction[] = ['user.factor_add', 'user.factor_remove', 'user.recovery_codes_regenerate', 'user.recovery_code_use', 'user.second_factor_failed', 'user.second_factor_throttled', 'user.passkey_rename'];

/** Recorded when a user changes their own account at /account (profile, sessions and apps use the admin actions above). */
const OWN_ACCOUNT: AuditAction[] = ['user.password_change', 'user.locale_change'];

/** Recorded by a protocol endpoint, with the app calling it as the actor (`/connect/revocation`; a replay at `/connect/token`). */
const PROTOCOL: AuditAction[] = ['token.revoke', 'token.replay'];

/** Recorded when a person follows a link sent by email (test/email covers them). */
const EMAIL_LINKS: AuditAction[] = ['user.email_verify', 'user.invite_accept'];

test('every audit action is in the table or listed as offered by one adapter only', () => {
  const placed = [...ROWS.map((r) => r.action), ...API_ONLY, ...CLI_ONLY, ...SIGN_IN, ...OWN_FACTORS, ...OWN_ACCOUNT, ...PROTOCOL, ...EMAIL_LINKS];
  // An action may have several rows (app.update: one per kind of change); each must be placed once at least.
  expect([...new Set(placed)].sort()).toEqual([...AUDIT_ACTIONS].sort());
});

describe.each(DIALECTS)('the same change through the CLI and the admin API is audited the same (%s)', (dialect) => {
  let server: TestServer;
  let admin: string;
  // Invitations need email: a real SMTP server in the process, for the server and the CLI alike.
  let mailbox: Mailbox;

  function cli(args: string[], stdin = ''): Promise<void> {
    return new Promise((resolve, reject) => {
      const child = execFile(
        process.execPath,
        [MAIN, ...args, '--database', server.databaseUrl, '--json'],
        { env: { ...process.env, ...server.env, TESSERA_LOG_LEVEL: 'silent' }, timeout: 60_000 },
        (error, _stdout, stderr) => (error ? reject(new Error(`tessera ${args.join(' ')}: ${stderr}`)) : resolve()),
      );
      child.stdin!.end(stdin);
    });
  }

  async function call(method: string, path: string, body?: unknown): Promise<void> {
    const headers: Record<string, string> = { authorization: `Bearer ${admin}` };
    if (body !== undefined) headers['content-type'] = 'application/json';
    const res = await fetch(`${server.url}${API}${path}`, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
    if (res.status >= 300) throw new Error(`${method} ${path}: ${res.status} ${await res.text()}`);
  }

  /** The newest event of `action` whose actor starts with `actorPrefix`. */
  async function latest(action: AuditAction, actorPrefix: string): Promise<AuditEventView> {
    const { items } = await server.tessera.services.audit.list({ action, limit: 500 });
    const event = items.find((e) => e.actor.startsWith(actorPrefix));
    if (!event) throw new Error(`no ${action} event by ${actorPrefix}…`);
    return event;
  }

  /**
   * What must agree: the action, the target's type, whether there is a target, and the
   * details — once the names each adapter's change carries (its tag) and generated ids are
   * blanked, and lists are put in order.
   */
  function shape(e: AuditEventView, tag: string) {
    const blanked = JSON.stringify(e.details).replaceAll(tag, 'TAG').replace(/[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}/g, 'ID');
    const sorted = (v: unknown): unknown =>
      Array.isArray(v) ? v.map(sorted).sort() : v && typeof v === 'object' ? Object.fromEntries(Object.entries(v).map(([k, x]) => [k, sorted(x)])) : v;
    return { action: e.action, target_type: e.target_type, has_target: e.target_id !== null, details: sorted(JSON.parse(blanked)) };
  }

  beforeAll(async () => {
    mailbox = await new Mailbox().start();
    server = await startTestServer(dialect, { env: { TESSERA_REDIRECT_URI_POLICY: 'development', TESSERA_SMTP_URL: mailbox.url, TESSERA_SMTP_FROM: 'id@example.test' } });
    const { services } = server.tessera;
    await services.users.create({ username: 'parity-admin', password: PASSWORD, roles: ['admin'] }, SYSTEM);
    const automation = await services.clients.create({ name: 'parity automation', grantTypes: ['client_credentials'], onBehalfOf: 'parity-admin', scopes: ['tessera.admin'] }, SYSTEM);
    const res = await postForm(`${server.url}/connect/token`, { grant_type: 'client_credentials', scope: 'tessera.admin' }, { authorization: basic(automation.client_id, automation.client_secret!) });
    admin = ((await res.json()) as { access_token: string }).access_token;
  });
  afterAll(async () => {
    await server?.close();
    await mailbox?.close();
  });

  test.each(ROWS.map((r) => [r.action, r] as const))('%s', async (action, row) => {
    // Tags keep each adapter's names apart (usernames, role and API names must be unique).
    const n = ROWS.indexOf(row);
    const [cliTag, apiTag] = [`cx${n}x`, `ax${n}x`];
    const viaCli = await row.prepare?.(server.tessera, `p${cliTag}`);
    const cliCall = row.cli(viaCli, cliTag);
    await cli(cliCall.args, cliCall.stdin);
    const viaApi = await row.prepare?.(server.tessera, `p${apiTag}`);
    const apiCall = row.api(viaApi, apiTag);
    await call(apiCall.method, apiCall.path, apiCall.body);

    const fromCli = await latest(action, 'cli:');
    const fromApi = await latest(action, 'app:');
    expect(shape(fromCli, cliTag)).toEqual(shape(fromApi, apiTag));
    expect(fromCli.action).toBe(action);
    // Each names its own target, and who and from where.
    if (viaCli) expect(fromCli.target_id).toBe(viaCli.id);
    if (viaApi) expect(fromApi.target_id).toBe(viaApi.id);
    expect(fromCli.ip).toBeNull();
    expect(fromApi.ip).toBe('127.0.0.1');
    expect(fromApi.actor).toMatch(/ for user:parity-admin$/);
  });
});

describe("Tessera's own console app goes through ClientService too", () => {
  let server: TestServer;
  beforeAll(async () => {
    server = await startTestServer('sqlite');
  });
  afterAll(async () => server?.close());

  test('registered at start and kept in step with the issuer, audited as system; an unchanged issuer changes nothing', async () => {
    const { tessera } = server;
    const events = async () => (await tessera.services.audit.list({ targetId: CONSOLE_CLIENT_ID })).items;
    expect((await events()).map((e) => [e.actor, e.action])).toEqual([['system', 'app.create']]);
    await tessera.ensureConsoleClient();
    expect(await events()).toHaveLength(1);

    tessera.setIssuer('https://id.example.com');
    await tessera.ensureConsoleClient();
    const [update] = await events();
    expect(update).toMatchObject({ actor: 'system', action: 'app.update', target_type: 'app', details: { fields: ['post_logout_redirect_uris', 'redirect_uris'] } });
    expect((await tessera.services.clients.show(CONSOLE_CLIENT_ID)).redirect_uris).toEqual(['https://id.example.com/admin/callback']);
    tessera.setIssuer(server.url);
    await tessera.ensureConsoleClient();
  });
});
