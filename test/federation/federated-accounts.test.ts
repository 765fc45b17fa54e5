import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { AuditLog } from '../../src/audit/audit-log.ts';
import { KyselyAuditStore } from '../../src/audit/audit-store.ts';
import type { Clock } from '../../src/clock.ts';
import { FederatedAccounts } from '../../src/federation/federated-accounts.ts';
import { KyselyLinkStore } from '../../src/federation/link-store.ts';
import type { UpstreamProfile } from '../../src/federation/profile.ts';
import type { IdentityProvider } from '../../src/federation/provider.ts';
import { KyselyProviderStore } from '../../src/federation/provider-store.ts';
import { KyselyUserStore } from '../../src/identity/user-store.ts';
import type { User } from '../../src/identity/user.ts';
import { migrateToLatest, openDatabase, type DatabaseHandle } from '../../src/storage/database.ts';
import { createTestDatabase, DIALECTS, type TestDatabase } from '../support/databases.ts';

/** Which user an upstream sign-in is (issue #11, "Accounts"), on SQLite and PostgreSQL. */

const NOW = 1_790_000_000;

function provider(slug: string, overrides: Partial<IdentityProvider> = {}): IdentityProvider {
  return {
    id: randomUUID(),
    slug,
    name: slug,
    kind: 'oidc',
    issuer: `https://${slug}.example.com`,
    endpoints: { authorizationEndpoint: 'https://x/a', tokenEndpoint: 'https://x/t', userinfoEndpoint: null, jwksUri: 'https://x/j', tokenEndpointAuthMethod: 'client_secret_basic', idTokenSigningAlgs: ['RS256'], issParameterSupported: false },
    claimMapping: null,
    clientId: 'c',
    clientSecretSealed: null,
    scopes: ['openid'],
    defaultRoles: ['developer'],
    trustEmail: false,
    enabled: true,
    createdAt: NOW,
    updatedAt: NOW,
    ...overrides,
  };
}

function profile(p: IdentityProvider, subject: string, overrides: Partial<UpstreamProfile> = {}): UpstreamProfile {
  return { providerId: p.id, providerSlug: p.slug, subject, email: null, emailVerified: false, name: null, givenName: null, familyName: null, preferredUsername: null, ...overrides };
}

function localUser(username: string, email: string, overrides: Partial<User> = {}): User {
  return { id: randomUUID(), username, email, emailVerified: false, name: null, givenName: null, familyName: null, passwordHash: '$argon2id$x', passwordChangedAt: NOW, disabled: false, tokensValidAfter: 0, createdAt: NOW, updatedAt: NOW, ...overrides };
}

describe.each(DIALECTS)('federated accounts on %s', (dialect) => {
  let database: TestDatabase;
  let handle: DatabaseHandle;
  let users: KyselyUserStore;
  let links: KyselyLinkStore;
  let audit: AuditLog;
  let accounts: FederatedAccounts;
  let now = NOW;
  const clock: Clock = { now: () => now * 1000 };
  let plain: IdentityProvider;
  let trusted: IdentityProvider;

  beforeAll(async () => {
    database = await createTestDatabase(dialect);
    handle = openDatabase(database.url);
    await migrateToLatest(handle);
    users = new KyselyUserStore(handle.db);
    links = new KyselyLinkStore(handle.db);
    audit = new AuditLog(new KyselyAuditStore(handle.db), clock);
    accounts = new FederatedAccounts({ links, users, clock, audit });
    const providers = new KyselyProviderStore(handle.db);
    plain = provider('plain');
    trusted = provider('trusted', { trustEmail: true, defaultRoles: [] });
    await providers.insert(plain);
    await providers.insert(trusted);
  });

  afterAll(async () => {
    await handle?.close();
    await database?.drop();
  });

  test('the first sign-in creates the user just in time, with the profile and the default roles; later ones find it and refresh the profile', async () => {
    const first = await accounts.resolve(plain, profile(plain, 'sub-ann', { email: 'ann@corp.example', emailVerified: true, name: 'Ann Lee', givenName: 'Ann', familyName: 'Lee', preferredUsername: 'ann' }));
    expect(first).toMatchObject({ ok: true, how: 'created', user: { username: 'ann', email: 'ann@corp.example', emailVerified: true, name: 'Ann Lee', passwordHash: null, disabled: false } });
    if (!first.ok) return;
    expect(await users.rolesOf(first.user.id)).toEqual(['developer']);
    expect(await links.find(plain.id, 'sub-ann')).toMatchObject({ userId: first.user.id, lastSignInAt: NOW });
    const events = (await audit.list({ targetId: first.user.id })).items.map((e) => [e.action, e.actor, e.details]);
    expect(events).toEqual(
      expect.arrayContaining([
        ['user.create', 'system', { username: 'ann', roles: ['developer'] }],
        ['user.link', 'system', { provider: 'plain', by: 'first_sign_in' }],
      ]),
    );

    now = NOW + 60;
    const again = await accounts.resolve(plain, profile(plain, 'sub-ann', { email: 'ann@corp.example', emailVerified: true, name: 'Ann Lee-Smith', preferredUsername: 'ann' }));
    expect(again).toMatchObject({ ok: true, how: 'linked', user: { id: first.user.id, name: 'Ann Lee-Smith', givenName: 'Ann' } });
    expect((await users.findById(first.user.id))!.name).toBe('Ann Lee-Smith');
    expect((await links.find(plain.id, 'sub-ann'))!.lastSignInAt).toBe(NOW + 60);
  });

  test('a disabled user cannot sign in through a provider', async () => {
    const created = await accounts.resolve(plain, profile(plain, 'sub-dis'));
    if (!created.ok) throw new Error('not created');
    await users.save({ ...created.user, disabled: true });
    expect(await accounts.resolve(plain, profile(plain, 'sub-dis'))).toEqual({ ok: false, reason: 'user_disabled' });
  });

  test('an existing local user’s email is never linked silently: not without --trust-email, not unverified', async () => {
    const bob = localUser('bob', 'Bob@Corp.example');
    await users.insert(bob, []);
    expect(await accounts.resolve(plain, profile(plain, 'sub-bob', { email: 'bob@corp.example', emailVerified: true }))).toEqual({ ok: false, reason: 'email_in_use' });
    expect(await accounts.resolve(trusted, profile(trusted, 'sub-bob', { email: 'bob@corp.example', emailVerified: false }))).toEqual({ ok: false, reason: 'email_in_use' });
    expect(await links.find(plain.id, 'sub-bob')).toBeUndefined();
    expect(await links.find(trusted.id, 'sub-bob')).toBeUndefined();
    expect(await users.listByEmail('bob@corp.example')).toHaveLength(1);
  });

  test('--trust-email and email_verified: the first sign-in links to the local user with that email (any case)', async () => {
    const cat = localUser('cat', 'cat@corp.example');
    await users.insert(cat, ['developer']);
    const result = await accounts.resolve(trusted, profile(trusted, 'sub-cat', { email: 'CAT@corp.example', emailVerified: true }));
    expect(result).toMatchObject({ ok: true, how: 'linked_by_email', user: { id: cat.id, passwordHash: '$argon2id$x' } });
    expect((await audit.list({ action: 'user.link', targetId: cat.id })).items[0]!.details).toEqual({ provider: 'trusted', by: 'verified_email' });
    expect(await accounts.resolve(trusted, profile(trusted, 'sub-cat', { email: 'cat@corp.example', emailVerified: true }))).toMatchObject({ ok: true, how: 'linked', user: { id: cat.id } });
  });

  test('trusted email, but the local user is disabled, or two users share the email: refused', async () => {
    await users.insert(localUser('dan', 'dan@corp.example', { disabled: true }), []);
    expect(await accounts.resolve(trusted, profile(trusted, 'sub-dan', { email: 'dan@corp.example', emailVerified: true }))).toEqual({ ok: false, reason: 'user_disabled' });
    await users.insert(localUser('eve1', 'eve@corp.example'), []);
    await users.insert(localUser('eve2', 'eve@corp.example'), []);
    expect(await accounts.resolve(trusted, profile(trusted, 'sub-eve', { email: 'eve@corp.example', emailVerified: true }))).toEqual({ ok: false, reason: 'email_in_use' });
  });

  test('usernames: taken or unusable names fall back to the email, then {slug}-{subject}, then a suffix', async () => {
    await users.insert(localUser('fay', 'someone@else.example'), []);
    const a = await accounts.resolve(plain, profile(plain, 'sub-fay1', { preferredUsername: 'fay', email: 'fay.l@corp.example' }));
    expect(a).toMatchObject({ ok: true, user: { username: 'fay.l' } });
    const b = await accounts.resolve(plain, profile(plain, '4711', { preferredUsername: '  <script>', email: null }));
    expect(b).toMatchObject({ ok: true, user: { username: 'script' } });
    const c = await accounts.resolve(plain, profile(plain, '4712', { preferredUsername: 'script' }));
    expect(c).toMatchObject({ ok: true, user: { username: 'plain-4712' } });
    const d = await accounts.resolve(trusted, profile(trusted, '4712', { preferredUsername: 'plain-4712' }));
    expect(d).toMatchObject({ ok: true, user: { username: 'trusted-4712' } });
  });

  test('of 10 concurrent first sign-ins of one upstream account, all end with the same single user', async () => {
    const results = await Promise.all(Array.from({ length: 10 }, () => accounts.resolve(plain, profile(plain, 'sub-race', { preferredUsername: 'racer' }))));
    const ids = new Set(results.map((r) => (r.ok ? r.user.id : r.reason)));
    expect(ids.size).toBe(1);
    expect((await users.list()).filter((u) => u.username.startsWith('racer'))).toHaveLength(1);
  });
});
