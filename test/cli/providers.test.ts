import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, test, vi } from 'vitest';
import { cliRunner } from '../support/cli-runner.ts';
import { createTestDatabase, DIALECTS, type TestDatabase } from '../support/databases.ts';
import { startTestUpstream, type TestUpstream } from '../support/test-upstream.ts';

/** `tessera providers …` (issue #11) as an operator runs it: a child process per command. */
vi.setConfig({ testTimeout: 120_000 });

const ISSUER = 'https://id.example.com';


let upstream: TestUpstream;
beforeAll(async () => {
  upstream = await startTestUpstream('oidc');
});
afterAll(async () => {
  await upstream?.close();
});

describe.each(DIALECTS)('tessera providers (%s)', (dialect) => {
  let database: TestDatabase;
  let env: Record<string, string>;

  const { tessera, json, fails } = cliRunner(() => ({ databaseUrl: database.url, env }), 60_000);

  beforeAll(async () => {
    database = await createTestDatabase(dialect);
    env = {
      TESSERA_KEY_ENCRYPTION_KEY_FILE: join(mkdtempSync(join(tmpdir(), 'tessera-cli-')), 'kek'),
      TESSERA_LOG_LEVEL: 'silent',
      TESSERA_ISSUER: ISSUER,
    };
    await json(['migrate']);
    // The first command that writes creates the key-encryption key and warns once; do it here,
    // so each refusal below is the one line it should be.
    await json(['settings', 'set', 'redirect_uri_policy', 'strict']);
  });
  afterAll(async () => database?.drop());

  test('create an OpenID provider: --json answers slug and redirect_uri; the secret is never printed', async () => {
    // The strict policy (the default) refuses the test upstream's http issuer; the development
    // policy, a saved setting that every command reads, allows loopback.
    expect(await json(['settings', 'get', 'redirect_uri_policy'])).toEqual({ redirect_uri_policy: 'strict' });
    await fails(['providers', 'create', '--slug', 'strict', '--name', 'S', '--issuer', upstream.issuer, '--client-id', 'x'], /issuer must use https/);
    await json(['settings', 'set', 'redirect_uri_policy', 'development']);
    const secret = 'stdin-secret-value';
    const created = await json(
      ['providers', 'create', '--name', 'Acme SSO', '--slug', 'acme', '--issuer', upstream.issuer, '--client-id', upstream.clientId, '--client-secret-stdin', '--default-role', 'developer', '--trust-email'],
      { stdin: `${secret}\n` },
    );
    expect(created).toMatchObject({
      slug: 'acme',
      redirect_uri: `${ISSUER}/login/providers/acme/callback`,
      kind: 'oidc',
      has_client_secret: true,
      scopes: ['openid', 'email', 'profile'],
      default_roles: ['developer'],
      trust_email: true,
      enabled: true,
      token_endpoint: `${upstream.issuer}/token`,
    });
    const shown = await tessera(['providers', 'show', 'acme']);
    expect(shown.code).toBe(0);
    expect(shown.stdout).toMatch(/redirect URI:\s+https:\/\/id\.example\.com\/login\/providers\/acme\/callback/);
    for (const out of [JSON.stringify(created), shown.stdout, (await tessera(['providers', 'list'])).stdout]) expect(out).not.toContain(secret);
    expect((await tessera(['providers', 'list'])).stdout).toMatch(/^SLUG\s+NAME\s+KIND\s+ENABLED\s+ISSUER\nacme\s+Acme SSO\s+oidc\s+yes\s/);
    expect(await json(['providers', 'test', 'acme'])).toEqual({ ok: true });
  });

  test('a GitHub-style provider: URLs, claims and scopes; update and delete', async () => {
    const created = await json([
      'providers', 'create', '--slug', 'github', '--name', 'GitHub', '--kind', 'oauth2',
      '--authorization-url', 'http://127.0.0.1:9/authorize', '--token-url', 'http://127.0.0.1:9/token', '--userinfo-url', 'http://127.0.0.1:9/user',
      '--token-auth-method', 'client_secret_post', '--claim', 'subject=id', '--claim', 'preferred_username=login',
      '--scope', 'read:user user:email', '--client-id', 'gh', '--client-secret', 's', '--disabled',
    ]);
    expect(created).toMatchObject({ kind: 'oauth2', enabled: false, scopes: ['read:user', 'user:email'], claim_mapping: { subject: 'id', preferred_username: 'login' }, token_endpoint_auth_method: 'client_secret_post' });
    expect(await json(['providers', 'update', 'github', '--enabled', '--name', 'GitHub.com'])).toMatchObject({ enabled: true, name: 'GitHub.com' });
    expect(await json(['providers', 'delete', 'github'])).toEqual({ deleted: 'github' });
    expect((await json(['providers', 'list'])).map((p: { slug: string }) => p.slug)).toEqual(['acme']);
  });

  test('bad input: one clear line on stderr, non-zero exit, nothing stored', async () => {
    await fails(['providers', 'create', '--slug', 'acme', '--name', 'Again', '--issuer', upstream.issuer, '--client-id', 'x'], /already exists/);
    await fails(['providers', 'create', '--slug', 'both', '--name', 'B', '--issuer', upstream.issuer, '--client-id', 'x', '--client-secret', 'a', '--client-secret-stdin'], /not both/);
    await fails(['providers', 'create', '--slug', 'gh2', '--name', 'G', '--kind', 'oauth2', '--token-url', 'http://127.0.0.1:9/t', '--claim', 'login', '--client-id', 'x'], /--claim "login" must be FIELD=path/);
    await fails(['providers', 'create', '--slug', 'Bad_Slug', '--name', 'B', '--issuer', upstream.issuer, '--client-id', 'x'], /slug must be/);
    await fails(['providers', 'create', '--slug', 'nobody', '--name', 'N', '--issuer', 'http://127.0.0.1:1', '--client-id', 'x'], /^tessera: discovery document: 127\.0\.0\.1:1: network error/);
    await fails(['providers', 'show', 'nope'], /identity provider "nope" not found/);
    expect((await json(['providers', 'list'])).map((p: { slug: string }) => p.slug)).toEqual(['acme']);
  });
});
