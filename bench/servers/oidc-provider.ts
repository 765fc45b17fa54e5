/**
 * node-oidc-provider (v9), configured like Tessera for the bench: one confidential client
 * (client_secret_basic) with client credentials, authorization code (PKCE) and refresh
 * tokens; JWT access tokens signed ES256 for a default resource, 1 h lifetime; ID tokens
 * RS256; refresh tokens rotate on every use; introspection on.
 *
 * Storage is a plain in-memory Map (below): the library's default adapter is an LRU of
 * 1000 entries (it would evict pre-minted codes) whose per-grant bookkeeping is O(n) per
 * write. A Map is faster than any real store, so this favours oidc-provider. With
 * BENCH_DATABASE_URL set it persists to PostgreSQL instead (./oidc-provider-pg-adapter.ts),
 * the fair peer of a server that persists.
 *
 * Environment: BENCH_CLIENT_ID, BENCH_CLIENT_SECRET, BENCH_REDIRECT_URI, BENCH_DATABASE_URL.
 * Prints its URL as the first line.
 */
import { generateKeyPairSync } from 'node:crypto';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import Provider from 'oidc-provider';
import { postgresAdapter } from './oidc-provider-pg-adapter.ts';

const clientId = process.env.BENCH_CLIENT_ID ?? 'bench-client';
const clientSecret = process.env.BENCH_CLIENT_SECRET ?? 'bench-secret-bench-secret-bench-secret';
const redirectUri = process.env.BENCH_REDIRECT_URI ?? 'http://127.0.0.1:9/cb';
const RESOURCE = 'urn:tessera-bench:api';
// oidc-provider cannot introspect JWT access tokens ("Structured JWT Tokens cannot be
// introspected"), so the introspection scenario asks for an opaque one for this resource.
const OPAQUE_RESOURCE = 'urn:tessera-bench:opaque';

type Payload = Record<string, unknown> & { grantId?: string; uid?: string; userCode?: string; jti?: string };
interface Entry {
  payload: Payload;
  expiresAt: number;
}

const store = new Map<string, Entry>();
const grants = new Map<string, Set<string>>();
const byUid = new Map<string, string>();
const byUserCode = new Map<string, string>();
const grantable = new Set(['AccessToken', 'AuthorizationCode', 'RefreshToken', 'DeviceCode', 'BackchannelAuthenticationRequest']);

/** Unbounded Map adapter with expiry checked on read. */
class MapAdapter {
  readonly model: string;
  constructor(model: string) {
    this.model = model;
  }
  key(id: string): string {
    return `${this.model}:${id}`;
  }
  async upsert(id: string, payload: Payload, expiresIn?: number): Promise<void> {
    const key = this.key(id);
    store.set(key, { payload, expiresAt: typeof expiresIn === 'number' ? Date.now() + expiresIn * 1000 : Infinity });
    if (grantable.has(this.model) && payload.grantId) {
      let members = grants.get(payload.grantId);
      if (!members) grants.set(payload.grantId, (members = new Set()));
      members.add(key);
    }
    if (this.model === 'Session' && payload.uid) byUid.set(payload.uid, id);
    if (payload.userCode) byUserCode.set(payload.userCode, id);
  }
  async find(id: string | undefined): Promise<Payload | undefined> {
    if (id === undefined) return undefined;
    const entry = store.get(this.key(id));
    if (!entry) return undefined;
    if (entry.expiresAt <= Date.now()) {
      store.delete(this.key(id));
      return undefined;
    }
    return entry.payload;
  }
  async findByUid(uid: string): Promise<Payload | undefined> {
    return this.find(byUid.get(uid));
  }
  async findByUserCode(code: string): Promise<Payload | undefined> {
    return this.find(byUserCode.get(code));
  }
  async consume(id: string): Promise<void> {
    const entry = store.get(this.key(id));
    if (entry) entry.payload.consumed = Math.floor(Date.now() / 1000);
  }
  async destroy(id: string): Promise<void> {
    const key = this.key(id);
    const entry = store.get(key);
    store.delete(key);
    if (entry?.payload.grantId) grants.get(entry.payload.grantId)?.delete(key);
  }
  async revokeByGrantId(grantId: string): Promise<void> {
    for (const key of grants.get(grantId) ?? []) store.delete(key);
    grants.delete(grantId);
  }
}

const es256 = generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey.export({ format: 'jwk' });
const rs256 = generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey.export({ format: 'jwk' });

const databaseUrl = process.env.BENCH_DATABASE_URL;
const persistent = databaseUrl ? await postgresAdapter(databaseUrl) : undefined;

const provider = new Provider('http://127.0.0.1', {
  adapter: persistent?.Adapter ?? MapAdapter,
  clients: [
    {
      client_id: clientId,
      client_secret: clientSecret,
      token_endpoint_auth_method: 'client_secret_basic',
      grant_types: ['client_credentials', 'authorization_code', 'refresh_token'],
      response_types: ['code'],
      redirect_uris: [redirectUri],
      scope: 'openid offline_access api:read',
    },
  ],
  jwks: { keys: [{ ...rs256, kid: 'rs', alg: 'RS256', use: 'sig' }, { ...es256, kid: 'es', alg: 'ES256', use: 'sig' }] },
  findAccount: async (_ctx: unknown, sub: string) => ({ accountId: sub, claims: async () => ({ sub }) }),
  scopes: ['openid', 'offline_access', 'api:read'],
  pkce: { required: () => true },
  features: {
    devInteractions: { enabled: true },
    clientCredentials: { enabled: true },
    introspection: { enabled: true },
    revocation: { enabled: true },
    resourceIndicators: {
      enabled: true,
      defaultResource: () => RESOURCE,
      useGrantedResource: () => true,
      getResourceServerInfo: (_ctx: unknown, indicator: string) =>
        indicator === OPAQUE_RESOURCE
          ? { scope: 'api:read', audience: OPAQUE_RESOURCE, accessTokenTTL: 3600, accessTokenFormat: 'opaque' }
          : { scope: 'api:read', audience: RESOURCE, accessTokenTTL: 3600, accessTokenFormat: 'jwt', jwt: { sign: { alg: 'ES256' } } },
    },
  },
  ttl: {
    AccessToken: 3600,
    ClientCredentials: 3600,
    AuthorizationCode: 1800,
    IdToken: 3600,
    RefreshToken: 30 * 24 * 3600,
    Grant: 30 * 24 * 3600,
    Session: 12 * 3600,
    Interaction: 3600,
  },
  // Tessera rotates every refresh token; make oidc-provider do the same.
  rotateRefreshToken: () => true,
  // Tessera issues a refresh token whenever offline_access is granted; oidc-provider drops
  // offline_access without prompt=consent, so issue one whenever the client may refresh.
  issueRefreshToken: async (_ctx: unknown, client: { grantTypeAllowed(g: string): boolean }) => client.grantTypeAllowed('refresh_token'),
});
// The bench talks plain HTTP on loopback.
provider.proxy = true;

const server = createServer(provider.callback());
server.keepAliveTimeout = 60_000;
server.listen(0, '127.0.0.1', () => {
  process.stdout.write(`oidc-provider listening on http://127.0.0.1:${(server.address() as AddressInfo).port}\n`);
});
process.once('SIGTERM', () =>
  server.close(() => {
    if (!persistent) process.exit(0);
    else void persistent.pool.end().finally(() => process.exit(0));
  }),
);
