import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { operator } from '../../src/audit/actor.ts';
import { AuditLog } from '../../src/audit/audit-log.ts';
import { KyselyAuditStore } from '../../src/audit/audit-store.ts';
import type { Clock } from '../../src/clock.ts';
import { ServiceError } from '../../src/errors.ts';
import { outboundHttp } from '../../src/federation/outbound.ts';
import { KyselyProviderStore } from '../../src/federation/provider-store.ts';
import { ProviderService } from '../../src/federation/provider-service.ts';
import { KyselyUserStore } from '../../src/identity/user-store.ts';
import { KeyEncrypter } from '../../src/keys/encryption.ts';
import { migrateToLatest, openDatabase, type DatabaseHandle } from '../../src/storage/database.ts';
import { createTestDatabase, DIALECTS, type TestDatabase } from '../support/databases.ts';
import { publicResolver } from '../support/server.ts';
import { startTestUpstream, type TestUpstream } from '../support/test-upstream.ts';

/** Registering providers (issue #11): validate → discover → store (secret sealed) → audit. */

const NOW = 1_780_000_000;
const ISSUER = 'https://id.example.com';
const actor = operator('ops');

let oidc: TestUpstream;
beforeAll(async () => {
  oidc = await startTestUpstream('oidc');
});
afterAll(async () => {
  await oidc?.close();
});

describe.each(DIALECTS)('provider service on %s', (dialect) => {
  let database: TestDatabase;
  let handle: DatabaseHandle;
  let service: ProviderService;
  let strict: ProviderService;
  let audit: AuditLog;
  const encrypter = new KeyEncrypter(randomBytes(32));
  const clock: Clock = { now: () => NOW * 1000 };

  beforeAll(async () => {
    database = await createTestDatabase(dialect);
    handle = openDatabase(database.url);
    await migrateToLatest(handle);
    audit = new AuditLog(new KyselyAuditStore(handle.db), clock);
    const deps = {
      store: new KyselyProviderStore(handle.db),
      roles: new KyselyUserStore(handle.db),
      secrets: encrypter,
      http: outboundHttp({ timeoutMs: 1000, maxBytes: 65536 }),
      issuer: () => ISSUER,
      clock,
      audit,
    };
    service = new ProviderService({ ...deps, policy: { mode: 'development', resolve: publicResolver } });
    strict = new ProviderService({ ...deps, policy: { mode: 'strict', resolve: publicResolver } });
  });

  afterAll(async () => {
    await handle?.close();
    await database?.drop();
  });

  async function refusal(promise: Promise<unknown>): Promise<{ code: string; field: string | undefined; message: string }> {
    try {
      await promise;
    } catch (error) {
      if (error instanceof ServiceError) return { code: error.code, field: error.field, message: error.message };
      throw error;
    }
    throw new Error('expected a refusal');
  }

  test('create an OIDC provider: discovered, secret sealed and never shown, redirect URI answered, audited', async () => {
    const view = await service.create({ slug: 'acme', name: 'Acme SSO', issuer: oidc.issuer, clientId: oidc.clientId, clientSecret: 's3cret', defaultRoles: ['developer'] }, actor);
    expect(view).toMatchObject({
      slug: 'acme',
      name: 'Acme SSO',
      kind: 'oidc',
      issuer: oidc.issuer,
      redirect_uri: `${ISSUER}/login/providers/acme/callback`,
      client_id: oidc.clientId,
      has_client_secret: true,
      scopes: ['openid', 'email', 'profile'],
      default_roles: ['developer'],
      trust_email: false,
      enabled: true,
      token_endpoint: `${oidc.issuer}/token`,
      token_endpoint_auth_method: 'client_secret_post',
      jwks_uri: `${oidc.issuer}/jwks`,
    });
    expect(JSON.stringify(view)).not.toContain('s3cret');
    const row = await handle.db.selectFrom('identity_providers').select('client_secret').where('slug', '=', 'acme').executeTakeFirstOrThrow();
    expect(row.client_secret).not.toContain('s3cret');
    expect(encrypter.decrypt(row.client_secret!)).toBe('s3cret');
    const { items } = await audit.list({ action: 'provider.create' });
    expect(items[0]).toMatchObject({ actor: 'cli:ops', target_type: 'provider', target_id: 'acme', details: { name: 'Acme SSO', kind: 'oidc', issuer: oidc.issuer } });
    expect(await service.list()).toHaveLength(1);
    expect(await service.testDiscovery('acme')).toEqual({ ok: true });
  });

  test('create a plain OAuth 2.0 provider with a claim mapping', async () => {
    const view = await service.create(
      {
        slug: 'github',
        name: 'GitHub',
        kind: 'oauth2',
        authorizationUrl: 'http://127.0.0.1:9/authorize',
        tokenUrl: 'http://127.0.0.1:9/token',
        userinfoUrl: 'http://127.0.0.1:9/user',
        claimMapping: { subject: 'id', preferredUsername: 'login' },
        clientId: 'gh',
        clientSecret: 'x',
        scopes: ['read:user'],
      },
      actor,
    );
    expect(view).toMatchObject({ kind: 'oauth2', issuer: null, userinfo_endpoint: 'http://127.0.0.1:9/user', claim_mapping: { subject: 'id', preferred_username: 'login' }, jwks_uri: null });
  });

  test('refusals change nothing: taken slug, unknown role, bad discovery, strict policy', async () => {
    const before = await service.list();
    expect(await refusal(service.create({ slug: 'acme', name: 'Again', issuer: oidc.issuer, clientId: 'x' }, actor))).toMatchObject({ code: 'conflict', field: 'slug' });
    expect(await refusal(service.create({ slug: 'other', name: 'O', issuer: oidc.issuer, clientId: 'x', defaultRoles: ['nope'] }, actor))).toMatchObject({ field: 'default_roles' });
    expect(await refusal(service.create({ slug: 'down', name: 'D', issuer: 'http://127.0.0.1:9', clientId: 'x' }, actor))).toMatchObject({ code: 'validation_failed', field: 'issuer', message: expect.stringContaining('bad port') });
    expect(await refusal(strict.create({ slug: 'other', name: 'O', issuer: oidc.issuer, clientId: 'x' }, actor))).toMatchObject({ field: 'issuer', message: expect.stringContaining('https') });
    expect(await refusal(service.create({ slug: 'Bad Slug', name: 'O', issuer: oidc.issuer, clientId: 'x' }, actor))).toMatchObject({ field: 'slug' });
    expect(await refusal(service.create({ name: 'O', issuer: oidc.issuer, clientId: 'x' }, actor))).toMatchObject({ field: 'slug' });
    expect(await service.list()).toEqual(before);
  });

  test('update: fields, a new secret, roles; the issuer is discovered again; no-op changes nothing', async () => {
    const updated = await service.update('acme', { name: 'Acme', enabled: false, trustEmail: true, clientSecret: 'n3w', defaultRoles: [] }, actor);
    expect(updated).toMatchObject({ name: 'Acme', enabled: false, trust_email: true, default_roles: [] });
    const row = await handle.db.selectFrom('identity_providers').select('client_secret').where('slug', '=', 'acme').executeTakeFirstOrThrow();
    expect(encrypter.decrypt(row.client_secret!)).toBe('n3w');
    const { items } = await audit.list({ action: 'provider.update' });
    expect(items[0]).toMatchObject({ target_id: 'acme', details: { fields: ['client_secret', 'default_roles', 'enabled', 'name', 'trust_email'] } });
    expect(JSON.stringify(items[0])).not.toContain('n3w');

    expect(await refusal(service.update('acme', { issuer: 'http://127.0.0.1:9' }, actor))).toMatchObject({ field: 'issuer' });
    expect((await service.show('acme')).issuer).toBe(oidc.issuer);
    expect(await service.update('acme', {}, actor)).toEqual(updated);
    expect(await refusal(service.update('nope', { name: 'x' }, actor))).toMatchObject({ code: 'not_found' });
  });

  test('delete removes the provider, audited; show then answers not found', async () => {
    await service.delete('github', actor);
    expect(await refusal(service.show('github'))).toMatchObject({ code: 'not_found' });
    expect(await refusal(service.delete('github', actor))).toMatchObject({ code: 'not_found' });
    expect((await audit.list({ action: 'provider.delete' })).items[0]).toMatchObject({ target_id: 'github', details: { name: 'GitHub' } });
  });

  test('the redirect URI of a slug is known before the provider exists', () => {
    expect(service.redirectUri('future')).toBe(`${ISSUER}/login/providers/future/callback`);
  });
});
