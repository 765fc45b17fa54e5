import { createHash, createHmac, generateKeyPairSync, randomBytes } from 'node:crypto';
import { createLocalJWKSet, jwtVerify } from 'jose';
import type { Kysely } from 'kysely';
import { beforeEach, describe, expect, test } from 'vitest';
import type { Client } from '../../src/clients/client.ts';
import type { ClientStore } from '../../src/clients/client-store.ts';
import { epochSeconds, type Clock } from '../../src/clock.ts';
import type { UserStore } from '../../src/identity/user-store.ts';
import type { Principal, User } from '../../src/identity/user.ts';
import { KeyEncrypter, KeyEncryptionError } from '../../src/keys/encryption.ts';
import { decodeJwt, signJwt, type SigningKey } from '../../src/keys/jwt.ts';
import { KeyRing } from '../../src/keys/key-ring.ts';
import type { KeyStore, StoredKey } from '../../src/keys/key-store.ts';
import { silentLogger } from '../../src/lib/logger.ts';
import { RegistryCache } from '../../src/oauth/registry-cache.ts';
import type { RevocationStore } from '../../src/oauth/revocation-store.ts';
import { TokenService, type AccessTokenClaims, type TokenCheck } from '../../src/oauth/token-service.ts';
import { VerifiedTokenCache } from '../../src/oauth/verified-token-cache.ts';
import { ChangeFeed } from '../../src/storage/change-feed.ts';
import type { Database } from '../../src/storage/schema.ts';

// ---------------------------------------------------------------------------------------------
// In-memory stores: same contracts as the Kysely ones (test/storage/stores.test.ts checks those).

class MemoryKeyStore implements KeyStore {
  rows: StoredKey[] = [];
  async listUnretired(): Promise<StoredKey[]> {
    return this.#sorted().filter((r) => r.status !== 'retired');
  }
  async listAll(): Promise<StoredKey[]> {
    return this.#sorted();
  }
  async activate(key: StoredKey, now: number): Promise<void> {
    for (const row of this.rows) {
      if (row.alg === key.alg && row.status === 'active') Object.assign(row, { status: 'published', deactivated_at: now });
    }
    this.rows.push({ ...key });
  }
  async retireDeactivatedBefore(cutoff: number): Promise<number> {
    let n = 0;
    for (const row of this.rows) {
      if (row.status === 'published' && row.deactivated_at !== null && row.deactivated_at < cutoff) {
        row.status = 'retired';
        n++;
      }
    }
    return n;
  }
  async retire(kids: string[], now: number): Promise<void> {
    for (const row of this.rows) if (kids.includes(row.kid)) Object.assign(row, { status: 'retired', deactivated_at: row.deactivated_at ?? now });
  }
  /** Newest first, like the SQL store; ties keep insertion order reversed. */
  #sorted(): StoredKey[] {
    return this.rows
      .map((r, i) => ({ r, i }))
      .sort((a, b) => b.r.created_at - a.r.created_at || b.i - a.i)
      .map(({ r }) => ({ ...r }));
  }
}

class MemoryClientStore implements ClientStore {
  readonly clients = new Map<string, Client>();
  async findById(id: string) {
    const c = this.clients.get(id);
    return c && structuredClone(c);
  }
  async list() {
    return [...this.clients.values()];
  }
  async insert(client: Client) {
    this.clients.set(client.id, structuredClone(client));
  }
  async save(client: Client) {
    this.clients.set(client.id, structuredClone(client));
  }
  async delete(id: string) {
    return this.clients.delete(id);
  }
  async countByOnBehalfOf(userId: string) {
    return [...this.clients.values()].filter((c) => c.onBehalfOfUserId === userId).length;
  }
}

class MemoryUserStore implements UserStore {
  readonly users = new Map<string, User>();
  readonly roles = new Map<string, string[]>();
  /** role → permissions */
  readonly grants = new Map<string, string[]>([
    ['developer', ['developer_api']],
    ['auditor', ['audit.read', 'developer_api']],
  ]);
  async findById(id: string) {
    const u = this.users.get(id);
    return u && structuredClone(u);
  }
  async findByUsername(username: string) {
    return [...this.users.values()].find((u) => u.username.toLowerCase() === username.toLowerCase());
  }
  async listByEmail(email: string) {
    return [...this.users.values()].filter((u) => u.email?.toLowerCase() === email.toLowerCase());
  }
  async list() {
    return [...this.users.values()];
  }
  async insert(user: User, roles: string[]) {
    this.users.set(user.id, structuredClone(user));
    this.roles.set(user.id, [...roles]);
  }
  async save(user: User) {
    this.users.set(user.id, structuredClone(user));
  }
  async setLocale(userId: string, locale: string | null) {
    const user = this.users.get(userId);
    if (user) user.locale = locale;
  }
  async setRoles(userId: string, roles: string[]) {
    this.roles.set(userId, [...roles]);
  }
  async rolesOf(userId: string) {
    return [...(this.roles.get(userId) ?? [])].sort();
  }
  async principal(userId: string): Promise<Principal | undefined> {
    const user = await this.findById(userId);
    if (!user) return undefined;
    const roles = await this.rolesOf(userId);
    const permissions = [...new Set(roles.flatMap((r) => this.grants.get(r) ?? []))].sort();
    return { user, roles, permissions };
  }
  async countActiveWithRole(role: string, exceptUserId: string) {
    return [...this.users.values()].filter((u) => u.id !== exceptUserId && !u.disabled && this.roles.get(u.id)?.includes(role)).length;
  }
  async appsActingFor() {
    return [];
  }
  async delete(userId: string) {
    this.roles.delete(userId);
    return this.users.delete(userId);
  }
}

class MemoryRevocationStore implements RevocationStore {
  readonly revoked = new Map<string, number>();
  async revoke(jti: string, _clientId: string | null, expiresAt: number, _now: number) {
    const added = !this.revoked.has(jti);
    this.revoked.set(jti, expiresAt);
    return added;
  }
  async isRevoked(jti: string) {
    return this.revoked.has(jti);
  }
  async listUnexpired(now: number) {
    return [...this.revoked].filter(([, exp]) => exp > now).map(([jti, expiresAt]) => ({ jti, expiresAt }));
  }
  async purgeExpired(now: number) {
    let n = 0;
    for (const [jti, exp] of this.revoked) if (exp <= now && this.revoked.delete(jti)) n++;
    return n;
  }
}

// ---------------------------------------------------------------------------------------------
// Fixtures

const ISSUER = 'https://id.example.com';
const T0 = 1_750_000_000;

function makeClient(overrides: Partial<Client> = {}): Client {
  return {
    id: 'c0a80101-0000-4000-8000-000000000001',
    name: 'Reporting',
    description: '',
    secretHash: 'x',
    secretUpdatedAt: T0 - 1000,
    previousSecretHash: null,
    previousSecretExpiresAt: null,
    public: false,
    grantTypes: ['client_credentials'],
    redirectUris: [],
    postLogoutRedirectUris: [],
    scopes: ['accounts.read', 'accounts.write'],
    defaultScopes: [],
    onBehalfOfUserId: null,
    accessTokenTtl: null,
    refreshTokenTtl: null,
    requirePermission: 'developer_api',
    idTokenSignedResponseAlg: null,
    tokensValidAfter: 0,
    createdAt: T0 - 1000,
    updatedAt: T0 - 1000,
    ...overrides,
  };
}

function makeUser(overrides: Partial<User> = {}): User {
  return {
    id: 'u0a80101-0000-4000-8000-000000000001',
    username: 'svc-reporting',
    email: null,
    emailVerified: false,
    name: null,
    givenName: null,
    familyName: null,
    passwordHash: null,
    passwordChangedAt: null,
    disabled: false,
    tokensValidAfter: 0,
    createdAt: T0 - 1000,
    updatedAt: T0 - 1000,
    ...overrides,
  };
}

/** A mutable clock: tests move time instead of sleeping. */
function testClock(start = T0 * 1000): Clock & { advance(seconds: number): void } {
  let ms = start;
  return {
    now: () => ms,
    advance(seconds: number) {
      ms += seconds * 1000;
    },
  };
}

interface World {
  clock: ReturnType<typeof testClock>;
  keyStore: MemoryKeyStore;
  encrypter: KeyEncrypter;
  ring: KeyRing;
  clients: MemoryClientStore;
  users: MemoryUserStore;
  revocations: MemoryRevocationStore;
  feed: ChangeFeed;
  cache: RegistryCache;
  tokens: TokenService;
  client: Client;
  delegated: Client;
  user: User;
  now(): number;
  check(token: string, at?: number): Promise<TokenCheck>;
  issue(client?: Client, scopes?: string[]): Promise<{ token: string; claims: AccessTokenClaims; iat: number; exp: number; expiresIn: number; jti: string }>;
  /** Applies a change to a stored app and tells the cache, as the services do. */
  updateClient(id: string, change: Partial<Client>): Promise<void>;
  updateUser(id: string, change: Partial<User>): Promise<void>;
}

/** A feed that never touches a database: only its listener fan-out (notifyLocal) is used. */
function localFeed(): ChangeFeed {
  return new ChangeFeed(undefined as unknown as Kysely<Database>, silentLogger);
}

/** Key pairs generated once (RSA generation is slow) and copied into every world's store. */
const TEMPLATE_KEK = new KeyEncrypter(randomBytes(32));
let templateKeys: StoredKey[] | undefined;

async function world(): Promise<World> {
  const clock = testClock();
  const keyStore = new MemoryKeyStore();
  const encrypter = TEMPLATE_KEK;
  if (!templateKeys) {
    await new KeyRing(keyStore, encrypter).load(epochSeconds(clock));
    templateKeys = keyStore.rows.map((r) => ({ ...r }));
  }
  keyStore.rows = templateKeys.map((r) => ({ ...r }));
  const ring = new KeyRing(keyStore, encrypter);
  await ring.load(epochSeconds(clock));
  const clients = new MemoryClientStore();
  const users = new MemoryUserStore();
  const revocations = new MemoryRevocationStore();
  const feed = localFeed();
  const cache = new RegistryCache(clients, users, revocations);
  await cache.load(epochSeconds(clock), feed);
  const tokens = new TokenService(ring, cache, { issuer: ISSUER, accessTokenTtl: 3600 });
  const user = makeUser();
  await users.insert(user, ['developer', 'auditor']);
  const client = makeClient();
  const delegated = makeClient({ id: 'c0a80101-0000-4000-8000-000000000002', name: 'Delegated', onBehalfOfUserId: user.id });
  await clients.insert(client);
  await clients.insert(delegated);

  const w: World = {
    clock,
    keyStore,
    encrypter,
    ring,
    clients,
    users,
    revocations,
    feed,
    cache,
    tokens,
    client,
    delegated,
    user,
    now: () => epochSeconds(clock),
    check: async (token, at) => tokens.checkAccessToken(token, at ?? epochSeconds(clock)),
    async issue(c = client, scopes = ['accounts.read']) {
      const current = (await clients.findById(c.id))!;
      const principal = current.onBehalfOfUserId ? await users.principal(current.onBehalfOfUserId) : undefined;
      const issued = tokens.issueAccessToken({ client: current, principal, scopes, now: epochSeconds(clock) });
      return { ...issued, claims: decodeJwt(issued.token)!.payload as AccessTokenClaims };
    },
    async updateClient(id, change) {
      const current = await clients.findById(id);
      await clients.save({ ...current!, ...change });
      feed.notifyLocal('client', id);
    },
    async updateUser(id, change) {
      const current = await users.findById(id);
      await users.save({ ...current!, ...change });
      feed.notifyLocal('user', id);
    },
  };
  return w;
}

const b64url = (value: unknown) => Buffer.from(typeof value === 'string' ? value : JSON.stringify(value)).toString('base64url');

function parts(token: string): { header: Record<string, unknown>; payload: Record<string, unknown>; signature: string } {
  const [h, p, s] = token.split('.');
  return { header: JSON.parse(Buffer.from(h!, 'base64url').toString()), payload: JSON.parse(Buffer.from(p!, 'base64url').toString()), signature: s! };
}

/** Re-encodes header and payload, keeping the original signature. */
function reassemble(token: string, edit: (t: { header: Record<string, unknown>; payload: Record<string, unknown> }) => void): string {
  const t = parts(token);
  edit(t);
  return `${b64url(t.header)}.${b64url(t.payload)}.${t.signature}`;
}

function expectInactive(result: TokenCheck, reason: string | RegExp): void {
  expect(result.active, JSON.stringify(result)).toBe(false);
  if (!result.active) expect(result.reason).toMatch(reason);
}

// ---------------------------------------------------------------------------------------------

describe('TokenService.issueAccessToken: claims (RFC 9068)', () => {
  let w: World;
  beforeEach(async () => {
    w = await world();
  });

  test('an app acting as itself: sub is the client id, no roles or permissions', async () => {
    const { token, claims, jti, iat, exp, expiresIn } = await w.issue(w.client, ['accounts.read', 'accounts.write']);
    const { header } = parts(token);
    expect(header).toEqual({ alg: 'ES256', typ: 'at+jwt', kid: w.ring.signingKey('ES256').kid });
    expect(claims).toEqual({
      iss: ISSUER,
      sub: w.client.id,
      aud: ISSUER,
      client_id: w.client.id,
      scope: 'accounts.read accounts.write',
      iat: T0,
      exp: T0 + 3600,
      jti,
    });
    expect(jti).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    expect([iat, exp, expiresIn]).toEqual([T0, T0 + 3600, 3600]);
    expect(claims).not.toHaveProperty('roles');
    expect(claims).not.toHaveProperty('permissions');
  });

  test('an app acting on behalf of a user: sub is the user, with roles and permissions', async () => {
    const { claims } = await w.issue(w.delegated);
    expect(claims.sub).toBe(w.user.id);
    expect(claims.client_id).toBe(w.delegated.id);
    expect(claims.roles).toEqual(['auditor', 'developer']);
    expect(claims.permissions).toEqual(['audit.read', 'developer_api']);
  });

  test('a user with no roles gives empty roles and permissions, still present', async () => {
    await w.users.setRoles(w.user.id, []);
    const { claims } = await w.issue(w.delegated);
    expect(claims.roles).toEqual([]);
    expect(claims.permissions).toEqual([]);
  });

  test('no scopes → no scope claim (not an empty one)', async () => {
    const { claims } = await w.issue(w.client, []);
    expect(claims).not.toHaveProperty('scope');
  });

  test('every token has its own jti', async () => {
    const jtis = new Set<string>();
    for (let i = 0; i < 50; i++) jtis.add((await w.issue()).jti);
    expect(jtis.size).toBe(50);
  });

  test('the global TTL applies unless the app overrides it', async () => {
    const tokens = new TokenService(w.ring, w.cache, { issuer: ISSUER, accessTokenTtl: 900 });
    expect(tokens.accessTokenTtl(w.client)).toBe(900);
    const global = tokens.issueAccessToken({ client: w.client, principal: undefined, scopes: [], now: T0 });
    expect([global.exp - global.iat, global.expiresIn]).toEqual([900, 900]);

    const short = makeClient({ accessTokenTtl: 180 });
    expect(tokens.accessTokenTtl(short)).toBe(180);
    const overridden = tokens.issueAccessToken({ client: short, principal: undefined, scopes: [], now: T0 });
    expect(decodeJwt(overridden.token)!.payload).toMatchObject({ iat: T0, exp: T0 + 180 });
    expect(overridden.expiresIn).toBe(180);
  });

  test('iat is raised to a "valid after" epoch in the future (app), so the token is valid at once', async () => {
    await w.updateClient(w.client.id, { tokensValidAfter: T0 + 1 });
    const issued = await w.issue();
    expect(issued.iat).toBe(T0 + 1);
    expect(issued.exp).toBe(T0 + 1 + 3600);
    // expires_in counts from now, so it matches exp.
    expect(issued.expiresIn).toBe(3601);
    expect((await w.check(issued.token)).active).toBe(true);
  });

  test('iat is raised to the user\'s "valid after" epoch in the future', async () => {
    await w.updateUser(w.user.id, { tokensValidAfter: T0 + 2 });
    await w.updateClient(w.delegated.id, { tokensValidAfter: T0 + 1 });
    const issued = await w.issue(w.delegated);
    expect(issued.iat).toBe(T0 + 2);
    expect(issued.exp).toBe(T0 + 2 + 3600);
    expect((await w.check(issued.token)).active).toBe(true);
  });

  test('a "valid after" epoch in the past leaves iat at now', async () => {
    await w.updateClient(w.client.id, { tokensValidAfter: T0 - 10 });
    expect((await w.issue()).iat).toBe(T0);
  });

  test('the token verifies with jose against the published JWKS', async () => {
    const { token } = await w.issue(w.delegated);
    const jwks = createLocalJWKSet(JSON.parse(w.ring.jwksJson()));
    const { payload, protectedHeader } = await jwtVerify(token, jwks, {
      issuer: ISSUER,
      audience: ISSUER,
      typ: 'at+jwt',
      algorithms: ['ES256'],
      currentDate: new Date(w.clock.now()),
    });
    expect(protectedHeader.typ).toBe('at+jwt');
    expect(payload.sub).toBe(w.user.id);
  });
});

describe('TokenService.checkAccessToken', () => {
  let w: World;
  beforeEach(async () => {
    w = await world();
  });

  test('a fresh token is active, with its app, its principal and its claims', async () => {
    const { token, claims } = await w.issue(w.delegated);
    const result = await w.check(token);
    expect(result.active).toBe(true);
    if (!result.active) return;
    expect(result.claims).toEqual(claims);
    expect(result.client.id).toBe(w.delegated.id);
    expect(result.principal?.user.id).toBe(w.user.id);
  });

  test('an app token has no principal', async () => {
    const result = await w.check((await w.issue()).token);
    expect(result.active && result.principal).toBeUndefined();
  });

  test('typ is matched case-insensitively, with or without "application/"', async () => {
    const key = w.ring.signingKey('ES256');
    const claims = (await w.issue()).claims;
    for (const typ of ['at+jwt', 'AT+JWT', 'application/at+jwt', 'Application/AT+JWT']) {
      expect((await w.check(signJwt(claims, key, typ))).active, typ).toBe(true);
    }
  });

  test('a token signed with the RS256 key and typ at+jwt is still a Tessera token', async () => {
    const claims = (await w.issue()).claims;
    expect((await w.check(signJwt(claims, w.ring.signingKey('RS256'), 'at+jwt'))).active).toBe(true);
  });

  test('the boundary of exp: valid one second before, expired at exp', async () => {
    const { token, exp } = await w.issue();
    expect((await w.check(token, exp - 1)).active).toBe(true);
    expectInactive(await w.check(token, exp), 'expired');
  });

  test('a token issued in the same second as the app\'s "valid after" epoch stays valid', async () => {
    await w.updateClient(w.client.id, { tokensValidAfter: T0 });
    expect((await w.check((await w.issue()).token)).active).toBe(true);
  });

  // Each case builds a token from a good one and names the reason it must be refused.
  type Forge = (w: World) => Promise<string>;
  const rejections: Array<[string, Forge, string | RegExp]> = [
    ['not a JWT at all', async () => 'not-a-token', 'not a JWT'],
    ['empty string', async () => '', 'not a JWT'],
    ['two segments', async (w) => (await w.issue()).token.split('.').slice(0, 2).join('.'), 'not a JWT'],
    ['four segments', async (w) => `${(await w.issue()).token}.x`, 'not a JWT'],
    ['header not JSON', async (w) => `${b64url('{nope')}.${(await w.issue()).token.split('.').slice(1).join('.')}`, 'not a JWT'],
    ['payload a JSON array', async (w) => reassemble((await w.issue()).token, (t) => void (t.payload = [] as never)), 'not a JWT'],
    ['oversized token', async (w) => reassemble((await w.issue()).token, (t) => void (t.payload.pad = 'x'.repeat(9000))), 'not a JWT'],
    ['wrong typ (an ID token, typ JWT)', async (w) => signJwt((await w.issue()).claims, w.ring.signingKey('ES256'), 'JWT'), 'not an access token'],
    ['typ of a logout token', async (w) => signJwt((await w.issue()).claims, w.ring.signingKey('ES256'), 'logout+jwt'), 'not an access token'],
    ['typ missing', async (w) => reassemble((await w.issue()).token, (t) => delete t.header.typ), 'not an access token'],
    [
      'alg none with no signature',
      async (w) => {
        const { header, payload } = parts((await w.issue()).token);
        return `${b64url({ ...header, alg: 'none' })}.${b64url(payload)}.`;
      },
      'algorithm not allowed',
    ],
    [
      'alg "None" with a signature',
      async (w) => reassemble((await w.issue()).token, (t) => void (t.header.alg = 'None')),
      'algorithm not allowed',
    ],
    [
      'HS256 keyed with the public key (algorithm confusion)',
      async (w) => {
        const { header, payload } = parts((await w.issue()).token);
        const input = `${b64url({ ...header, alg: 'HS256' })}.${b64url(payload)}`;
        const pem = w.ring.publicKey(String(header.kid))!.publicKey.export({ format: 'pem', type: 'spki' });
        return `${input}.${createHmac('sha256', pem).update(input).digest('base64url')}`;
      },
      'algorithm not allowed',
    ],
    ['alg missing', async (w) => reassemble((await w.issue()).token, (t) => delete t.header.alg), 'algorithm not allowed'],
    ['ES512 (not supported)', async (w) => reassemble((await w.issue()).token, (t) => void (t.header.alg = 'ES512')), 'algorithm not allowed'],
    ['unknown kid', async (w) => reassemble((await w.issue()).token, (t) => void (t.header.kid = 'es256-unknown')), 'unknown signing key'],
    ['kid missing', async (w) => reassemble((await w.issue()).token, (t) => delete t.header.kid), 'unknown signing key'],
    ['kid not a string', async (w) => reassemble((await w.issue()).token, (t) => void (t.header.kid = 1)), 'unknown signing key'],
    [
      'alg RS256 naming the ES256 kid',
      async (w) => reassemble((await w.issue()).token, (t) => void (t.header.alg = 'RS256')),
      'unknown signing key',
    ],
    [
      'tampered payload (scope widened)',
      async (w) => reassemble((await w.issue()).token, (t) => void (t.payload.scope = 'accounts.read admin')),
      'bad signature',
    ],
    [
      'tampered payload (exp extended)',
      async (w) => reassemble((await w.issue()).token, (t) => void (t.payload.exp = (t.payload.exp as number) + 86_400)),
      'bad signature',
    ],
    [
      'tampered signature',
      async (w) => {
        const [h, p, s] = (await w.issue()).token.split('.');
        const sig = Buffer.from(s!, 'base64url');
        sig[10]! ^= 0x01;
        return `${h}.${p}.${sig.toString('base64url')}`;
      },
      'bad signature',
    ],
    ['empty signature', async (w) => `${(await w.issue()).token.split('.').slice(0, 2).join('.')}.`, 'bad signature'],
    [
      'signature of another token',
      async (w) => {
        const a = (await w.issue()).token.split('.');
        const b = (await w.issue()).token.split('.');
        return `${a[0]}.${a[1]}.${b[2]}`;
      },
      'bad signature',
    ],
    [
      'a foreign key using the same kid',
      async (w) => {
        const { privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
        const foreign: SigningKey = { kid: w.ring.signingKey('ES256').kid, alg: 'ES256', privateKey };
        return signJwt((await w.issue()).claims, foreign, 'at+jwt');
      },
      'bad signature',
    ],
    [
      'wrong issuer (same keys)',
      async (w) => {
        const other = new TokenService(w.ring, w.cache, { issuer: 'https://evil.example', accessTokenTtl: 3600 });
        return other.issueAccessToken({ client: w.client, principal: undefined, scopes: [], now: w.now() }).token;
      },
      'wrong issuer',
    ],
    [
      'issuer differing by a trailing slash',
      async (w) => signJwt({ ...(await w.issue()).claims, iss: `${ISSUER}/` }, w.ring.signingKey('ES256'), 'at+jwt'),
      'wrong issuer',
    ],
    [
      'expired',
      async (w) => {
        const { token } = await w.issue();
        w.clock.advance(3600);
        return token;
      },
      'expired',
    ],
    ['exp missing', async (w) => signJwt({ ...(await w.issue()).claims, exp: undefined }, w.ring.signingKey('ES256'), 'at+jwt'), 'expired'],
    ['exp a string', async (w) => signJwt({ ...(await w.issue()).claims, exp: String(T0 + 3600) }, w.ring.signingKey('ES256'), 'at+jwt'), 'expired'],
    ['jti missing', async (w) => signJwt({ ...(await w.issue()).claims, jti: undefined }, w.ring.signingKey('ES256'), 'at+jwt'), 'missing claims'],
    ['client_id missing', async (w) => signJwt({ ...(await w.issue()).claims, client_id: undefined }, w.ring.signingKey('ES256'), 'at+jwt'), 'missing claims'],
    [
      'revoked jti (marked in the cache)',
      async (w) => {
        const { token, jti, exp } = await w.issue();
        w.cache.markRevoked(jti, exp);
        return token;
      },
      'revoked',
    ],
    [
      'revoked jti (announced by another node through the change feed)',
      async (w) => {
        const { token, jti, exp } = await w.issue();
        w.feed.notifyLocal('revoked_jti', `${jti} ${exp}`);
        return token;
      },
      'revoked',
    ],
    [
      'revoked jti (in the store when the cache loads)',
      async (w) => {
        const { token, jti, exp } = await w.issue();
        await w.revocations.revoke(jti, w.client.id, exp, w.now());
        const cache = new RegistryCache(w.clients, w.users, w.revocations);
        await cache.load(w.now(), localFeed());
        w.tokens = new TokenService(w.ring, cache, w.tokens.settings);
        return token;
      },
      'revoked',
    ],
    [
      "iat before the app's valid-after (secret regenerated)",
      async (w) => {
        const { token } = await w.issue();
        w.clock.advance(1);
        await w.updateClient(w.client.id, { tokensValidAfter: w.now() });
        return token;
      },
      'app credentials changed after issue',
    ],
    [
      "iat before the user's valid-after",
      async (w) => {
        const { token } = await w.issue(w.delegated);
        w.clock.advance(1);
        await w.updateUser(w.user.id, { tokensValidAfter: w.now() });
        return token;
      },
      'user changed after issue',
    ],
    [
      'disabled user',
      async (w) => {
        const { token } = await w.issue(w.delegated);
        await w.updateUser(w.user.id, { disabled: true });
        return token;
      },
      'user disabled',
    ],
    [
      'deleted user',
      async (w) => {
        const { token } = await w.issue(w.delegated);
        w.users.users.delete(w.user.id);
        w.feed.notifyLocal('user', w.user.id);
        return token;
      },
      'user no longer exists',
    ],
    [
      'deleted app',
      async (w) => {
        const { token } = await w.issue();
        await w.clients.delete(w.client.id);
        w.feed.notifyLocal('client', w.client.id);
        return token;
      },
      'app no longer exists',
    ],
    [
      'client_id naming another app',
      async (w) => signJwt({ ...(await w.issue()).claims, client_id: 'no-such-app' }, w.ring.signingKey('ES256'), 'at+jwt'),
      'app no longer exists',
    ],
  ];

  test.each(rejections)('%s → inactive', async (_name, forge, reason) => {
    const token = await forge(w);
    expectInactive(await w.tokens.checkAccessToken(token, w.now()), reason);
  });

  test('a revoked token of another app does not affect this one', async () => {
    const a = await w.issue();
    const b = await w.issue();
    w.cache.markRevoked(a.jti, a.exp);
    expectInactive(await w.check(a.token), 'revoked');
    expect((await w.check(b.token)).active).toBe(true);
  });

  test("a token issued after the app's valid-after is active again", async () => {
    const before = await w.issue();
    w.clock.advance(5);
    await w.updateClient(w.client.id, { tokensValidAfter: w.now() });
    const after = await w.issue();
    expectInactive(await w.check(before.token), 'app credentials changed');
    expect((await w.check(after.token)).active).toBe(true);
  });

  test('disabling the user does not affect a token the app holds as itself', async () => {
    const own = await w.issue(w.client);
    await w.updateUser(w.user.id, { disabled: true });
    expect((await w.check(own.token)).active).toBe(true);
  });
});

describe('TokenService: verified-token cache (a token checked before is checked again in full, except its signature)', () => {
  let w: World;
  beforeEach(async () => {
    w = await world();
  });

  /** A token that has passed a check once, so its verified claims are cached. */
  async function checkedOnce(client?: Client) {
    const issued = await w.issue(client);
    expect((await w.check(issued.token)).active).toBe(true);
    return issued;
  }

  test('revocation by jti still applies', async () => {
    const { token, jti, exp } = await checkedOnce();
    w.cache.markRevoked(jti, exp);
    expectInactive(await w.check(token), 'revoked');
  });

  test("the app's and the user's valid-after epochs, and disabling the user, still apply", async () => {
    const own = await checkedOnce();
    const delegated = await checkedOnce(w.delegated);
    w.clock.advance(1);
    await w.updateClient(w.client.id, { tokensValidAfter: w.now() });
    expectInactive(await w.check(own.token), 'app credentials changed after issue');
    await w.updateUser(w.user.id, { disabled: true });
    expectInactive(await w.check(delegated.token), 'user disabled');
  });

  test('expiry still applies', async () => {
    const { token, exp } = await checkedOnce();
    expect((await w.check(token, exp - 1)).active).toBe(true);
    expectInactive(await w.check(token, exp), 'expired');
  });

  test('a retired signing key refuses cached tokens it signed', async () => {
    const { token } = await checkedOnce();
    const now = w.now();
    await w.ring.rotate(now, 3600);
    expect((await w.check(token)).active).toBe(true);
    await w.ring.retireExpired(now + 3601, 3600);
    expectInactive(await w.check(token), 'unknown signing key');
  });

  test('a changed issuer refuses cached tokens', async () => {
    const { token } = await checkedOnce();
    w.tokens.settings.issuer = 'https://elsewhere.example';
    expectInactive(await w.check(token), 'wrong issuer');
  });

  test('a token differing in one byte from a cached one is verified, and refused', async () => {
    const { token } = await checkedOnce();
    const sig = token.slice(token.lastIndexOf('.') + 1);
    const flipped = `${token.slice(0, token.lastIndexOf('.') + 1)}${sig[0] === 'A' ? 'B' : 'A'}${sig.slice(1)}`;
    expectInactive(await w.check(flipped), 'bad signature');
    const forged = reassemble(token, (t) => void (t.payload.scope = 'accounts.read accounts.write'));
    expectInactive(await w.check(forged), 'bad signature');
    expect((await w.check(token)).active).toBe(true);
  });

  test('the cached claims cannot be changed by a caller', async () => {
    const { token } = await checkedOnce();
    const check = await w.check(token);
    if (!check.active) throw new Error('expected active');
    expect(() => {
      (check.claims as { scope: string }).scope = 'everything';
    }).toThrow(TypeError);
  });
});

describe('VerifiedTokenCache', () => {
  test('is bounded: expired entries go first, then the oldest', () => {
    const cache = new VerifiedTokenCache<number>(10);
    for (let i = 0; i < 5; i++) cache.set(`short-${i}`, i, 'kid', 100, 0);
    for (let i = 0; i < 5; i++) cache.set(`long-${i}`, i, 'kid', 1000, 0);
    // Full at t=200: the five expired entries are evicted to make room.
    cache.set('new', 99, 'kid', 1000, 200);
    expect(cache.size).toBe(6);
    expect(cache.get('short-0', 200)).toBeUndefined();
    expect(cache.get('long-0', 200)?.claims).toBe(0);
    for (let i = 0; i < 100; i++) cache.set(`more-${i}`, i, 'kid', 1000, 200);
    expect(cache.size).toBeLessThanOrEqual(10);
    expect(cache.get('more-99', 200)?.claims).toBe(99);
    expect(cache.get('long-0', 200)).toBeUndefined();
  });

  test('an entry is gone at its exp', () => {
    const cache = new VerifiedTokenCache<string>(10);
    cache.set('k', 'claims', 'kid', 50, 0);
    expect(cache.get('k', 49)?.claims).toBe('claims');
    expect(cache.get('k', 50)).toBeUndefined();
    expect(cache.size).toBe(0);
  });

  test('keys are SHA-256 of the whole token', () => {
    expect(VerifiedTokenCache.keyOf('a.b.c')).toBe(createHash('sha256').update('a.b.c').digest('base64url'));
    expect(VerifiedTokenCache.keyOf('a.b.c')).not.toBe(VerifiedTokenCache.keyOf('a.b.d'));
  });
});

describe('KeyRing', () => {
  const MAX_LIFETIME = 86_400;

  async function ring() {
    const store = new MemoryKeyStore();
    const encrypter = new KeyEncrypter(randomBytes(32));
    const keys = new KeyRing(store, encrypter);
    await keys.load(T0);
    return { store, encrypter, keys };
  }

  const jwksKids = (keys: KeyRing) => (JSON.parse(keys.jwksJson()) as { keys: Array<{ kid: string }> }).keys.map((k) => k.kid).sort();

  test('signingKey before load throws', () => {
    expect(() => new KeyRing(new MemoryKeyStore(), new KeyEncrypter(randomBytes(32))).signingKey('ES256')).toThrow(/no active ES256/);
  });

  test('load creates one active key per algorithm and publishes only public parts', async () => {
    const { store, keys } = await ring();
    expect(store.rows.map((r) => [r.alg, r.status])).toEqual([
      ['ES256', 'active'],
      ['RS256', 'active'],
    ]);
    const jwks = JSON.parse(keys.jwksJson()) as { keys: Array<Record<string, unknown>> };
    expect(jwks.keys).toHaveLength(2);
    for (const jwk of jwks.keys) {
      expect(jwk).toMatchObject({ use: 'sig' });
      expect(['ES256', 'RS256']).toContain(jwk.alg);
      for (const secret of ['d', 'p', 'q', 'dp', 'dq', 'qi']) expect(jwk).not.toHaveProperty(secret);
    }
    expect(keys.signingKey('ES256').kid).toMatch(/^es256-/);
    expect(keys.signingKey('RS256').kid).toMatch(/^rs256-/);
    expect(keys.hasActiveKey('ES256')).toBe(true);
  });

  test('private keys are stored encrypted, and only the right key-encryption key opens them', async () => {
    const { store } = await ring();
    for (const row of store.rows) {
      expect(row.private_key).toMatch(/^v1\./);
      expect(row.private_key).not.toContain('PRIVATE KEY');
    }
    // Another key-encryption key: the ring loads (the public keys still verify) but cannot sign,
    // and names the keys it cannot open, for the server's refusal and `tessera keys recover`.
    const wrongKek = new KeyRing(store, new KeyEncrypter(randomBytes(32)));
    await wrongKek.load(T0);
    const active = store.rows.filter((r) => r.status === 'active').map((r) => r.kid);
    expect(wrongKek.undecryptableKeys().sort()).toEqual(active.sort());
    expect(() => wrongKek.signingKey('ES256')).toThrow(KeyEncryptionError);
    expect(store.rows.every((r) => !wrongKek.canDecrypt(r))).toBe(true);
  });

  test('recover: retires every key the key-encryption key cannot open, makes new active ones, keeps the ones it can', async () => {
    const { store } = await ring();
    const lost = store.rows.map((r) => r.kid);
    const kek = new KeyEncrypter(randomBytes(32));
    const recovering = new KeyRing(store, kek);
    await recovering.load(T0);
    const { retired, created } = await recovering.recover(T0 + 10);
    expect(retired.map((k) => k.kid).sort()).toEqual(lost.sort());
    expect(created.map((k) => k.alg).sort()).toEqual(['ES256', 'RS256']);
    expect(store.rows.filter((r) => lost.includes(r.kid)).every((r) => r.status === 'retired')).toBe(true);
    expect(recovering.undecryptableKeys()).toEqual([]);
    expect(recovering.signingKey('ES256').kid).toBe(created.find((k) => k.alg === 'ES256')!.kid);
    expect(JSON.parse(recovering.jwksJson()).keys.map((k: { kid: string }) => k.kid).sort()).toEqual(created.map((k) => k.kid).sort());
    // Nothing left to do: nothing changes.
    expect(await recovering.recover(T0 + 20)).toEqual({ retired: [], created: [] });
  });

  test('loading again reuses the stored keys', async () => {
    const { store, encrypter, keys } = await ring();
    const second = new KeyRing(store, encrypter);
    await second.load(T0 + 60);
    expect(store.rows).toHaveLength(2);
    expect(second.signingKey('ES256').kid).toBe(keys.signingKey('ES256').kid);
    expect(second.jwksJson()).toBe(keys.jwksJson());
  });

  test('rotate: new active keys; the old ones stay published and keep verifying; retire after the max lifetime', async () => {
    const { store, keys } = await ring();
    const client = makeClient();
    const clients = new MemoryClientStore();
    await clients.insert(client);
    const tokens = new TokenService(keys, new RegistryCache(clients, new MemoryUserStore(), new MemoryRevocationStore()), {
      issuer: ISSUER,
      accessTokenTtl: 3600,
    });

    const oldKid = keys.signingKey('ES256').kid;
    const oldToken = tokens.issueAccessToken({ client, principal: undefined, scopes: [], now: T0 }).token;
    const before = jwksKids(keys);

    const t1 = T0 + 100;
    const created = await keys.rotate(t1, MAX_LIFETIME);
    expect(created.map((k) => k.alg)).toEqual(['ES256', 'RS256']);
    const newKid = keys.signingKey('ES256').kid;
    expect(newKid).not.toBe(oldKid);
    expect(created.map((k) => k.kid)).toContain(newKid);

    // Old keys: demoted to published at t1, still in the JWKS, still verifying.
    expect(store.rows.filter((r) => before.includes(r.kid)).map((r) => [r.status, r.deactivated_at])).toEqual([
      ['published', t1],
      ['published', t1],
    ]);
    expect(jwksKids(keys)).toEqual([...before, ...created.map((k) => k.kid)].sort());
    expect((await tokens.checkAccessToken(oldToken, t1 + 1)).active).toBe(true);
    const newToken = tokens.issueAccessToken({ client, principal: undefined, scopes: [], now: t1 + 1 }).token;
    expect(parts(newToken).header.kid).toBe(newKid);
    expect((await tokens.checkAccessToken(newToken, t1 + 2)).active).toBe(true);

    // Exactly the max lifetime after deactivation: still published.
    expect(await keys.retireExpired(t1 + MAX_LIFETIME, MAX_LIFETIME)).toBe(0);
    expect(jwksKids(keys)).toHaveLength(4);

    // One second later: retired, gone from the JWKS, and their tokens no longer verify.
    expect(await keys.retireExpired(t1 + MAX_LIFETIME + 1, MAX_LIFETIME)).toBe(2);
    expect(jwksKids(keys)).toEqual(created.map((k) => k.kid).sort());
    expect(keys.publicKey(oldKid)).toBeUndefined();
    expectInactive(await tokens.checkAccessToken(oldToken, T0 + 10), 'unknown signing key');
    expect(store.rows.filter((r) => before.includes(r.kid)).every((r) => r.status === 'retired')).toBe(true);
    // The active keys are never retired.
    expect(keys.signingKey('ES256').kid).toBe(newKid);
  });

  test('a later rotation retires keys demoted more than the max lifetime ago, keeps the newer ones', async () => {
    const { store, keys } = await ring();
    const first = jwksKids(keys);
    await keys.rotate(T0 + 10, MAX_LIFETIME);
    const second = store.rows.filter((r) => r.status === 'active').map((r) => r.kid);
    await keys.rotate(T0 + 10 + MAX_LIFETIME + 1, MAX_LIFETIME);
    const statuses = Object.fromEntries(store.rows.map((r) => [r.kid, r.status]));
    for (const kid of first) expect(statuses[kid]).toBe('retired');
    for (const kid of second) expect(statuses[kid]).toBe('published');
    expect(jwksKids(keys)).toHaveLength(4);
  });

  test('reload picks up a rotation made elsewhere (the CLI, another node)', async () => {
    const { store, encrypter, keys } = await ring();
    const cli = new KeyRing(store, encrypter);
    await cli.load(T0);
    await cli.rotate(T0 + 5, MAX_LIFETIME);
    expect(keys.signingKey('ES256').kid).not.toBe(cli.signingKey('ES256').kid);
    await keys.reload();
    expect(keys.signingKey('ES256').kid).toBe(cli.signingKey('ES256').kid);
    expect(keys.jwksJson()).toBe(cli.jwksJson());
  });
});
