import { ClientService } from '../clients/client-service.ts';
import { KyselyClientStore } from '../clients/client-store.ts';
import { systemClock, epochSeconds, type Clock } from '../clock.ts';
import type { TesseraConfig } from '../config/config.ts';
import { RoleService } from '../identity/role-service.ts';
import { UserService } from '../identity/user-service.ts';
import { KyselyUserStore } from '../identity/user-store.ts';
import { KyselyConsentStore } from '../identity/consent-store.ts';
import { LoginThrottle } from '../identity/login-throttle.ts';
import { SessionService } from '../identity/session-service.ts';
import { KyselySessionStore } from '../identity/session-store.ts';
import { KyselyCodeStore } from '../oauth/code-store.ts';
import { authorizationFlow } from '../oauth/endpoints/authorize.ts';
import { endSessionEndpoint } from '../oauth/endpoints/end-session.ts';
import { userinfoEndpoint } from '../oauth/endpoints/userinfo.ts';
import { IdTokenService } from '../oauth/id-token.ts';
import { KyselyRefreshStore } from '../oauth/refresh-store.ts';
import { loadKeyEncrypter } from '../keys/encryption.ts';
import { KyselyKeyStore } from '../keys/key-store.ts';
import { KeyRing } from '../keys/key-ring.ts';
import { KeyService } from '../keys/key-service.ts';
import { GRANT_HANDLERS } from '../oauth/grants/index.ts';
import { introspectionEndpoint } from '../oauth/endpoints/introspection.ts';
import { revocationEndpoint } from '../oauth/endpoints/revocation.ts';
import { tokenEndpoint } from '../oauth/endpoints/token.ts';
import { systemResolver, type HostResolver } from '../oauth/redirect-uri-policy.ts';
import { RegistryCache } from '../oauth/registry-cache.ts';
import { KyselyRevocationStore } from '../oauth/revocation-store.ts';
import { TokenService } from '../oauth/token-service.ts';
import { ChangeFeed } from '../storage/change-feed.ts';
import { migrateToLatest, openDatabase, type DatabaseHandle } from '../storage/database.ts';

export interface TesseraOptions {
  clock?: Clock;
  resolver?: HostResolver;
  /** Run pending migrations on open (default true: every command works on a fresh database). */
  migrate?: boolean;
  /** Called with a one-line warning for operators (e.g. a key-encryption key file was created). */
  warn?: (message: string) => void;
}

/**
 * The composition root: config + database + clock + resolver in, every service out.
 * Nothing here is a module singleton, so tests build as many instances as they need.
 */
export async function openTessera(config: TesseraConfig, options: TesseraOptions = {}) {
  const clock = options.clock ?? systemClock;
  const database = openDatabase(config.databaseUrl);
  try {
    if (options.migrate !== false) await migrateToLatest(database);
    return await assemble(config, database, clock, options);
  } catch (error) {
    await database.close();
    throw error;
  }
}

async function assemble(config: TesseraConfig, database: DatabaseHandle, clock: Clock, options: TesseraOptions) {
  const { db } = database;
  const clientStore = new KyselyClientStore(db);
  const userStore = new KyselyUserStore(db);
  const revocations = new KyselyRevocationStore(db);
  const feed = new ChangeFeed(db);
  const cache = new RegistryCache(clientStore, userStore, revocations);
  const codes = new KyselyCodeStore(db);
  const refresh = new KyselyRefreshStore(db);
  const sessionStore = new KyselySessionStore(db);
  const consents = new KyselyConsentStore(db);

  const { encrypter, createdFile } = loadKeyEncrypter(config.keys);
  if (createdFile) {
    options.warn?.(`created a key-encryption key in ${createdFile}; set TESSERA_KEY_ENCRYPTION_KEY in production`);
  }
  const keyRing = new KeyRing(new KyselyKeyStore(db), encrypter);
  await keyRing.load(epochSeconds(clock));

  const redirectPolicy = { mode: config.redirectUriPolicy, resolve: options.resolver ?? systemResolver };
  const tokens = new TokenService(keyRing, cache, {
    issuer: config.server.issuer ?? `http://${config.server.host}:${config.server.port}`,
    accessTokenTtl: config.tokens.accessTokenTtl,
  });
  const lookupClient = (id: string) => cache.client(id);
  const issuer = () => tokens.settings.issuer;
  const idTokens = new IdTokenService(keyRing, issuer, config.tokens.idTokenTtl);
  const grantDeps = { tokens, cache, codes, refresh, revocations, idTokens, refreshTokenTtl: config.tokens.refreshTokenTtl };
  const sessions = new SessionService({
    sessions: sessionStore,
    users: userStore,
    cache,
    throttle: new LoginThrottle(db),
    clock,
    sessionTtl: config.sessionTtl,
  });

  const services = {
    clients: new ClientService({ clients: clientStore, users: userStore, roles: userStore, clock, redirectPolicy, feed }),
    users: new UserService({ users: userStore, roles: userStore, clock, feed, sessions: sessionStore }),
    roles: new RoleService({ roles: userStore, clock, feed }),
    keys: new KeyService(keyRing, new KyselyKeyStore(db), clock, () => maxSignedTokenLifetime(config), feed),
  };

  const endpoints = {
    token: tokenEndpoint({ grants: GRANT_HANDLERS, lookupClient, ...grantDeps }),
    introspect: introspectionEndpoint({ tokens, lookupClient, refresh }),
    revoke: revocationEndpoint({ tokens, lookupClient, revocations, cache, refresh }),
    userinfo: userinfoEndpoint({ tokens, users: userStore }),
  };

  /** What the browser-facing pages need: sign-in, the authorize decision, logout. */
  const interactive = {
    clock,
    sessions,
    flow: authorizationFlow({ lookupClient, consents, codes, issuer, codeTtl: config.tokens.codeTtl }),
    endSession: endSessionEndpoint({ keys: keyRing, lookupClient, issuer }),
  };

  let background: NodeJS.Timeout | undefined;

  return {
    config,
    clock,
    database,
    keyRing,
    tokens,
    cache,
    feed,
    services,
    endpoints,
    interactive,
    redirectPolicy,
    csrfSecret: encrypter.deriveSecret('csrf'),
    /** Descriptions of API scopes (declared with the gateway's APIs), for the consent page. */
    async scopeDescriptions(names: string[]): Promise<Map<string, string>> {
      if (!names.length) return new Map();
      const rows = await db.selectFrom('api_scopes').select(['name', 'description']).where('name', 'in', names).execute();
      return new Map(rows.map((r) => [r.name, r.description]));
    },
    get issuer(): string {
      return tokens.settings.issuer;
    },
    /** The issuer is known only once the server listens when --port 0 and no --issuer was given. */
    setIssuer(issuer: string): void {
      tokens.settings.issuer = issuer.replace(/\/+$/, '');
    },
    /** Caches, the change feed and housekeeping: what a serving node needs beyond the services. */
    async startBackground(): Promise<void> {
      await cache.load(epochSeconds(clock), feed);
      feed.subscribe((kind) => {
        if (kind === 'keys') void keyRing.reload();
      });
      await feed.start(config.changePollMs);
      background = setInterval(() => {
        const now = epochSeconds(clock);
        cache.purgeExpired(now);
        void revocations.purgeExpired(now).catch(() => {});
        // Housekeeping (ORY Hydra's lesson: token tables grow without a cleanup job).
        void codes.purgeExpired(now - 3600).catch(() => {});
        void refresh.purgeExpired(now).catch(() => {});
        void sessionStore.purgeExpired(now - 86_400).catch(() => {});
        void keyRing.retireExpired(now, maxSignedTokenLifetime(config)).catch(() => {});
      }, 60_000);
      background.unref();
    },
    async close(): Promise<void> {
      if (background) clearInterval(background);
      await feed.stop();
      await database.close();
    },
  };
}

export type Tessera = Awaited<ReturnType<typeof openTessera>>;

/** A retired key must stay published while any JWT it signed can still be valid. */
function maxSignedTokenLifetime(config: TesseraConfig): number {
  return Math.max(config.tokens.accessTokenTtl, config.tokens.idTokenTtl, 86_400);
}
