import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { KyselyLinkStore } from '../../src/federation/link-store.ts';
import { KyselyPendingSignInStore, type PendingSignIn } from '../../src/federation/pending-sign-in-store.ts';
import type { IdentityProvider } from '../../src/federation/provider.ts';
import { KyselyProviderStore } from '../../src/federation/provider-store.ts';
import { KyselyUserStore } from '../../src/identity/user-store.ts';
import type { User } from '../../src/identity/user.ts';
import { migrateToLatest, openDatabase, type DatabaseHandle } from '../../src/storage/database.ts';
import { createTestDatabase, DIALECTS, type TestDatabase } from '../support/databases.ts';

/** The identity-provider stores' contract (issue #11), on SQLite and PostgreSQL alike. */

const NOW = 1_770_000_000;
const RACERS = 10;

function makeProvider(slug: string, overrides: Partial<IdentityProvider> = {}): IdentityProvider {
  return {
    id: randomUUID(),
    slug,
    name: `Provider ${slug}`,
    kind: 'oidc',
    issuer: `https://${slug}.example.com`,
    endpoints: {
      authorizationEndpoint: `https://${slug}.example.com/authorize`,
      tokenEndpoint: `https://${slug}.example.com/token`,
      userinfoEndpoint: null,
      jwksUri: `https://${slug}.example.com/jwks`,
      tokenEndpointAuthMethod: 'client_secret_basic',
      idTokenSigningAlgs: ['RS256'],
      issParameterSupported: true,
    },
    claimMapping: null,
    clientId: 'tessera',
    clientSecretSealed: 'v1.iv.tag.body',
    scopes: ['openid', 'email', 'profile'],
    defaultRoles: [],
    trustEmail: false,
    enabled: true,
    createdAt: NOW,
    updatedAt: NOW,
    ...overrides,
  };
}

function makeUser(username: string): User {
  return {
    id: randomUUID(),
    username,
    email: `${username}@example.com`,
    emailVerified: false,
    name: null,
    givenName: null,
    familyName: null,
    passwordHash: null,
    passwordChangedAt: null,
    disabled: false,
    tokensValidAfter: 0,
    createdAt: NOW,
    updatedAt: NOW,
  };
}

describe.each(DIALECTS)('identity-provider stores on %s', (dialect) => {
  let database: TestDatabase;
  let handle: DatabaseHandle;
  let providers: KyselyProviderStore;
  let links: KyselyLinkStore;
  let pending: KyselyPendingSignInStore;
  let users: KyselyUserStore;

  beforeAll(async () => {
    database = await createTestDatabase(dialect);
    handle = openDatabase(database.url);
    await migrateToLatest(handle);
    providers = new KyselyProviderStore(handle.db);
    links = new KyselyLinkStore(handle.db);
    pending = new KyselyPendingSignInStore(handle.db);
    users = new KyselyUserStore(handle.db);
  });

  afterAll(async () => {
    await handle?.close();
    await database?.drop();
  });

  describe('providers', () => {
    test('every field round-trips, by id and by slug; list is ordered by name', async () => {
      const oidc = makeProvider('acme', { name: 'Acme SSO', defaultRoles: ['developer', 'admin'], trustEmail: true });
      const oauth2 = makeProvider('github', {
        name: 'GitHub',
        kind: 'oauth2',
        issuer: null,
        endpoints: { ...oidc.endpoints, jwksUri: null, userinfoEndpoint: 'https://api.github.com/user', tokenEndpointAuthMethod: 'client_secret_post', idTokenSigningAlgs: [], issParameterSupported: false },
        claimMapping: { subject: 'id', email: 'email', name: 'name', preferredUsername: 'login' },
        clientSecretSealed: null,
        scopes: ['read:user', 'user:email'],
        enabled: false,
      });
      expect(await providers.insert(oidc)).toBe(true);
      expect(await providers.insert(oauth2)).toBe(true);
      expect(await providers.findById(oidc.id)).toEqual({ ...oidc, defaultRoles: ['admin', 'developer'] });
      expect(await providers.findBySlug('github')).toEqual(oauth2);
      expect(await providers.findBySlug('nope')).toBeUndefined();
      expect(await providers.findBySlug('ac\u0000me')).toBeUndefined();
      expect(await providers.findById('\u0000')).toBeUndefined();
      const listed = await providers.list();
      expect(listed.map((p) => p.slug)).toEqual(['acme', 'github']);
      expect(listed[0]!.defaultRoles).toEqual(['admin', 'developer']);
    });

    test('a taken slug is refused and stores nothing', async () => {
      const first = makeProvider('taken');
      expect(await providers.insert(first)).toBe(true);
      const second = makeProvider('taken', { name: 'Impostor', defaultRoles: ['admin'] });
      expect(await providers.insert(second)).toBe(false);
      expect(await providers.findById(second.id)).toBeUndefined();
      expect((await providers.findBySlug('taken'))!.id).toBe(first.id);
    });

    test('save replaces fields and default roles; a deleted role leaves the list', async () => {
      const p = makeProvider('saved', { defaultRoles: ['developer'] });
      await providers.insert(p);
      const changed: IdentityProvider = { ...p, name: 'Renamed', enabled: false, scopes: ['openid'], defaultRoles: ['admin'], updatedAt: NOW + 5 };
      await providers.save(changed);
      expect(await providers.findById(p.id)).toEqual(changed);
      await handle.db.insertInto('roles').values({ name: 'temp', description: '', all_permissions: 0, builtin: 0, created_at: NOW }).execute();
      await providers.save({ ...changed, defaultRoles: ['admin', 'temp'] });
      expect((await providers.findById(p.id))!.defaultRoles).toEqual(['admin', 'temp']);
      await handle.db.deleteFrom('roles').where('name', '=', 'temp').execute();
      expect((await providers.findById(p.id))!.defaultRoles).toEqual(['admin']);
    });

    test('delete removes the provider with its links and pending sign-ins; users stay', async () => {
      const p = makeProvider('doomed');
      await providers.insert(p);
      const user = makeUser('doomed-user');
      await users.insert(user, []);
      await links.insert({ providerId: p.id, subject: 'sub-1', userId: user.id, email: null, createdAt: NOW, lastSignInAt: null });
      await pending.insert(pendingSignIn(p.id, 'doomed-state'));
      expect(await providers.delete(p.id)).toBe(true);
      expect(await providers.delete(p.id)).toBe(false);
      expect(await links.find(p.id, 'sub-1')).toBeUndefined();
      expect(await pending.consume('doomed-state', NOW)).toEqual({ status: 'unknown' });
      expect(await users.findById(user.id)).toBeDefined();
    });
  });

  describe('links', () => {
    test('(provider, subject) links one user; the same subject at another provider is another account', async () => {
      const a = makeProvider('link-a');
      const b = makeProvider('link-b');
      await providers.insert(a);
      await providers.insert(b);
      const alice = makeUser('link-alice');
      const bob = makeUser('link-bob');
      await users.insert(alice, []);
      await users.insert(bob, []);
      const link = { providerId: a.id, subject: '12345', userId: alice.id, email: 'alice@corp.example', createdAt: NOW, lastSignInAt: NOW };
      expect(await links.insert(link)).toBe(true);
      expect(await links.insert({ ...link, userId: bob.id })).toBe(false);
      expect(await links.find(a.id, '12345')).toEqual(link);
      expect(await links.insert({ ...link, providerId: b.id, userId: bob.id, createdAt: NOW + 1 })).toBe(true);
      expect((await links.find(b.id, '12345'))!.userId).toBe(bob.id);
      expect(await links.find(a.id, 'other')).toBeUndefined();
      expect(await links.find(a.id, '12\u000045')).toBeUndefined();

      await links.insert({ ...link, subject: 'second', createdAt: NOW + 2, lastSignInAt: null });
      expect((await links.listForUser(alice.id)).map((l) => l.subject)).toEqual(['12345', 'second']);

      await links.recordSignIn(a.id, '12345', 'new@corp.example', NOW + 60);
      expect(await links.find(a.id, '12345')).toEqual({ ...link, email: 'new@corp.example', lastSignInAt: NOW + 60 });

      expect(await links.delete(a.id, 'second')).toBe(true);
      expect(await links.delete(a.id, 'second')).toBe(false);
      expect((await links.listForUser(alice.id)).map((l) => l.subject)).toEqual(['12345']);
    });

    test(`of ${RACERS} concurrent first sign-ins, one links the account`, async () => {
      const p = makeProvider('link-race');
      await providers.insert(p);
      const racers = Array.from({ length: RACERS }, (_, i) => makeUser(`racer-${i}`));
      for (const u of racers) await users.insert(u, []);
      const results = await Promise.all(
        racers.map((u) => links.insert({ providerId: p.id, subject: 'contested', userId: u.id, email: null, createdAt: NOW, lastSignInAt: null })),
      );
      expect(results.filter(Boolean)).toHaveLength(1);
    });

    test('deleting the user deletes their links', async () => {
      const p = makeProvider('link-user-gone');
      await providers.insert(p);
      const u = makeUser('gone');
      await users.insert(u, []);
      await links.insert({ providerId: p.id, subject: 's', userId: u.id, email: null, createdAt: NOW, lastSignInAt: null });
      await handle.db.deleteFrom('users').where('id', '=', u.id).execute();
      expect(await links.find(p.id, 's')).toBeUndefined();
    });
  });

  describe('pending sign-ins', () => {
    let providerId: string;
    beforeAll(async () => {
      const p = makeProvider('pending');
      await providers.insert(p);
      providerId = p.id;
    });

    test('consumed once with every field; then replayed; an unknown state is unknown', async () => {
      const s = pendingSignIn(providerId, 'state-once');
      await pending.insert(s);
      expect(await pending.consume('state-once', NOW + 1)).toEqual({ status: 'consumed', signIn: s });
      expect(await pending.consume('state-once', NOW + 2)).toEqual({ status: 'replayed', signIn: s });
      expect(await pending.consume('state-never', NOW)).toEqual({ status: 'unknown' });
      const bare = pendingSignIn(providerId, 'state-bare', { returnTo: null });
      await pending.insert(bare);
      expect(await pending.consume('state-bare', NOW)).toEqual({ status: 'consumed', signIn: bare });
    });

    test(`of ${RACERS} concurrent callbacks exactly one consumes the state`, async () => {
      await pending.insert(pendingSignIn(providerId, 'state-race'));
      const results = await Promise.all(Array.from({ length: RACERS }, (_, i) => pending.consume('state-race', NOW + i)));
      expect(results.filter((r) => r.status === 'consumed')).toHaveLength(1);
      expect(results.filter((r) => r.status === 'replayed')).toHaveLength(RACERS - 1);
    });

    test('purgeExpired deletes sign-ins expired before the cut-off, keeps the rest', async () => {
      await pending.insert(pendingSignIn(providerId, 'state-old', { expiresAt: NOW - 10 }));
      await pending.insert(pendingSignIn(providerId, 'state-edge', { expiresAt: NOW }));
      expect(await pending.purgeExpired(NOW, 500)).toBe(1);
      expect(await pending.consume('state-old', NOW)).toEqual({ status: 'unknown' });
      expect((await pending.consume('state-edge', NOW)).status).toBe('consumed');
    });
  });
});

function pendingSignIn(providerId: string, stateHash: string, overrides: Partial<PendingSignIn> = {}): PendingSignIn {
  return {
    stateHash,
    providerId,
    nonce: 'nonce-1',
    codeVerifier: 'verifier-verifier-verifier-verifier-verifier-1',
    browserHash: 'browser-hash',
    redirectUri: 'https://id.example.com/login/providers/pending/callback',
    returnTo: '/connect/authorize?client_id=x&state=y',
    createdAt: NOW,
    expiresAt: NOW + 600,
    ...overrides,
  };
}
