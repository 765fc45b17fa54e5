import type { Client } from '../clients/client.ts';
import { ClientService } from '../clients/client-service.ts';
import { KyselyClientStore } from '../clients/client-store.ts';
import { KyselyInitialAccessTokenStore } from '../clients/initial-access-token-store.ts';
import { RegistrationService } from '../oauth/registration-service.ts';
import { DEFAULT_REGISTRATION_POLICY } from '../clients/registration-policy.ts';
import { systemResolver, type HostResolver } from '../clients/redirect-uri-policy.ts';
import { systemClock, epochSeconds, type Clock } from '../clock.ts';
import type { TesseraConfig } from '../config/config.ts';
import { LIMITS } from '../config/limits.ts';
import { AccountService } from '../identity/account-service.ts';
import { PasswordHasher } from '../identity/password-hasher.ts';
import { RoleService } from '../identity/role-service.ts';
import { UserService } from '../identity/user-service.ts';
import { KyselyUserStore } from '../identity/user-store.ts';
import { KyselyConsentStore } from '../identity/consent-store.ts';
import { DeviceCookies } from '../identity/device-cookie.ts';
import { KyselyGuessThrottleStore } from '../identity/guess-throttle-store.ts';
import { KyselyFactorStore } from '../identity/mfa/factor-store.ts';
import { MfaService } from '../identity/mfa/mfa-service.ts';
import { KyselySecondStepStore } from '../identity/mfa/second-step-store.ts';
import { PasskeyService } from '../identity/passkey-service.ts';
import { KyselyPasskeyStore } from '../identity/passkey-store.ts';
import { PasskeySignIn } from '../identity/passkey-sign-in.ts';
import { SessionService } from '../identity/session-service.ts';
import { sessionStoreFor } from '../identity/session-store.ts';
import { codeStoreFor } from '../oauth/code-store.ts';
import { KyselyDeviceAuthorizationStore } from '../oauth/device-store.ts';
import { DeviceVerification } from '../oauth/device-verification.ts';
import { DEVICE_CODE_GRANT } from '../clients/client.ts';
import { DEVICE_FLOW_DEFAULTS, deviceAuthorizationEndpoint } from '../oauth/endpoints/device-authorization.ts';
import { authorizationFlow } from '../oauth/endpoints/authorize.ts';
import { endSessionEndpoint } from '../oauth/endpoints/end-session.ts';
import { userinfoEndpoint } from '../oauth/endpoints/userinfo.ts';
import { IdTokenService } from '../oauth/id-token.ts';
import { refreshStoreFor } from '../oauth/refresh-store.ts';
import { KeyEncryptionError, loadKeyEncrypter } from '../keys/encryption.ts';
import { KyselyKeyStore } from '../keys/key-store.ts';
import { KeyRing } from '../keys/key-ring.ts';
import { KeyService } from '../keys/key-service.ts';
import type { ClientLookup } from '../oauth/client-auth.ts';
import { GRANT_HANDLERS } from '../oauth/grants/index.ts';
import { introspectionEndpoint } from '../oauth/endpoints/introspection.ts';
import { revocationEndpoint } from '../oauth/endpoints/revocation.ts';
import { tokenEndpoint } from '../oauth/endpoints/token.ts';
import { RegistryCache } from '../oauth/registry-cache.ts';
import { KyselyRevocationStore } from '../oauth/revocation-store.ts';
import { DpopNonces, DpopVerifier } from '../oauth/dpop.ts';
import { ResourceGuard } from '../oauth/resource-access.ts';
import { KyselyDpopReplayStore } from '../oauth/dpop-replay-store.ts';
import { TokenService } from '../oauth/token-service.ts';
import { AccessService } from '../admin/access-service.ts';
import { SettingsService, type RuntimeSettings, type SettingsView } from '../admin/settings-service.ts';
import { KyselySettingsStore } from '../admin/settings-store.ts';
import { BrandingService } from '../admin/branding-service.ts';
import { KyselyBrandingStore } from '../admin/branding-store.ts';
import { loadPageTemplates } from '../admin/page-templates.ts';
import { bootstrapAdmin, ensureConsoleClient } from '../admin/bootstrap.ts';
import { SYSTEM } from '../audit/actor.ts';
import { AuditLog } from '../audit/audit-log.ts';
import { KyselyAuditStore } from '../audit/audit-store.ts';
import { FederatedAccounts } from '../federation/federated-accounts.ts';
import { FederatedSignIn } from '../federation/federated-sign-in.ts';
import { JwksCache } from '../federation/jwks-cache.ts';
import { ClientJwks } from '../federation/client-jwks.ts';
import { ClientAssertions } from '../oauth/client-assertion.ts';
import { KyselyClientAssertionJtiStore } from '../oauth/client-assertion-store.ts';
import { KyselyPushedRequestStore } from '../oauth/pushed-request-store.ts';
import { pushedAuthorizationEndpoint } from '../oauth/endpoints/par.ts';
import { KyselyLinkStore } from '../federation/link-store.ts';
import { LinkService } from '../federation/link-service.ts';
import { outboundHttp } from '../federation/outbound.ts';
import { ClientMetadataDocuments } from '../federation/client-metadata-documents.ts';
import { looksLikeMetadataDocumentClientId } from '../clients/metadata-document.ts';
import { UpstreamSignIn } from '../federation/upstream-sign-in.ts';
import { KyselyPendingSignInStore } from '../federation/pending-sign-in-store.ts';
import { KyselyProviderStore } from '../federation/provider-store.ts';
import { ProviderService } from '../federation/provider-service.ts';
import { ApiService } from '../gateway/api-service.ts';
import { KyselyApiStore, type ScopeText } from '../gateway/api-store.ts';
import { Gateway } from '../gateway/gateway.ts';
import { BackgroundTask } from '../lib/background-task.ts';
import { KyselyEmailLinkStore } from '../email/email-link-store.ts';
import { KyselyOutboxStore } from '../email/outbox-store.ts';
import { JobQueue } from '../email/job-queue.ts';
import { EmailVerification } from '../email/email-verification.ts';
import { wireEmailEvents } from '../email/email-events.ts';
import { Invitations } from '../email/invitations.ts';
import { Links } from '../email/links.ts';
import { Mailer } from '../email/mailer.ts';
import { PasswordReset } from '../email/password-reset.ts';
import { Templates } from '../email/templates.ts';
import { smtpTransport, type MailTransport } from '../email/transport.ts';
import type { Logger } from '../lib/logger.ts';
import { noMetrics, type MetricsRecorder } from '../lib/metrics.ts';
import { ChangeFeed } from '../storage/change-feed.ts';
import { commitsByOthers } from '../storage/sqlite-data-version.ts';
import { ChangeNotificationListener } from '../storage/change-notifications.ts';
import { migrateToLatest, openDatabase, requireCurrentSchema, type DatabaseHandle } from '../storage/database.ts';
import { Cleanup, expiryJobs } from './cleanup.ts';

export interface TesseraOptions {
  clock?: Clock;
  resolver?: HostResolver;
  /** Run pending migrations on open (default true). */
  migrate?: boolean;
  /**
   * Read-only commands (list, show, get…): never migrate (an older or newer schema is refused
   * with what to do), never create the database, a signing key or the key-encryption key file.
   */
  readOnly?: boolean;
  /** Create an SQLite database that does not exist yet (default true; the CLI allows it only for serve and migrate). */
  createDatabase?: boolean;
  /**
   * Refuse to open when an active signing key cannot be decrypted (default true: a server
   * could not sign). The CLI opens anyway, so that `tessera keys recover` and every command
   * that signs nothing still work.
   */
  requireSigningKeys?: boolean;
  /** Called with a one-line warning for operators (e.g. a key-encryption key file was created). */
  warn?: (message: string) => void;
  /** Where background work (change feed, reloads, housekeeping, session touches) reports failures. */
  log: Logger;
  /** Where tokens issued and sign-ins are counted (src/observability/metrics.ts); none by default. */
  metrics?: MetricsRecorder;
  /** Where mail goes instead of TESSERA_SMTP_URL's server (tests); only used when SMTP is configured. */
  mailTransport?: MailTransport;
}

/**
 * The composition root: config + database + clock + resolver in, every service out.
 * Nothing here is a module singleton, so tests build as many instances as they need.
 */
export async function openTessera(config: TesseraConfig, options: TesseraOptions) {
  const clock = options.clock ?? systemClock;
  const database = openDatabase(config.databaseUrl, {
    poolSize: config.databasePoolSize,
    sqliteSynchronous: config.sqliteSynchronous,
    log: options.log,
    create: options.createDatabase !== false && !options.readOnly,
  });
  try {
    if (options.readOnly) await requireCurrentSchema(database);
    else if (options.migrate !== false) await migrateToLatest(database);
    return await assemble(config, database, clock, options);
  } catch (error) {
    await database.close();
    throw error;
  }
}

async function assemble(config: TesseraConfig, database: DatabaseHandle, clock: Clock, options: TesseraOptions) {
  const { db } = database;
  const { log } = options;
  const metrics = options.metrics ?? noMetrics;
  const clientStore = new KyselyClientStore(db);
  const userStore = new KyselyUserStore(db);
  const revocations = new KyselyRevocationStore(db);
  const feed = new ChangeFeed(
    db,
    log,
    database.listenerClient && new ChangeNotificationListener(database.listenerClient, log),
    database.sqlite && commitsByOthers(database.sqlite),
  );
  const cache = new RegistryCache(clientStore, userStore, revocations);
  const codes = codeStoreFor(database);
  const deviceAuthorizations = new KyselyDeviceAuthorizationStore(db);
  const refresh = refreshStoreFor(database);
  const sessionStore = sessionStoreFor(database);
  const consents = new KyselyConsentStore(db);
  const auditStore = new KyselyAuditStore(db);
  const audit = new AuditLog(auditStore, clock);
  // Read before anything is opened that would need closing: a template mistake is a config error.
  const templates = new Templates(config.email.templatesDir, config.languages.available);

  const { encrypter, createdFile, warnings, source: kekSource } = loadKeyEncrypter(config.keys, { create: !options.readOnly });
  for (const warning of warnings) options.log.warn({ file: config.keys.encryptionKeyFile }, warning);
  if (createdFile) {
    options.warn?.(`created a key-encryption key in ${createdFile}; set TESSERA_KEY_ENCRYPTION_KEY in production`);
  }
  const keyStore = new KyselyKeyStore(db);
  const keyRing = new KeyRing(keyStore, encrypter);
  await keyRing.load(epochSeconds(clock), { create: !options.readOnly });
  const undecryptable = keyRing.undecryptableKeys();
  if (undecryptable.length && options.requireSigningKeys !== false) {
    throw new KeyEncryptionError(
      `cannot decrypt the signing keys (${undecryptable.join(', ')}) with the key-encryption key from ${kekSource}${createdFile ? ', created just now because none was found' : ''}: ` +
        'restore the key they were stored with, or run `tessera keys recover` to replace them (tokens they signed stop working; docs/operations.md)',
    );
  }

  // Lifetimes and the redirect-URI policy may change at run time (admin API): everything
  // below reads them from this one live object, per use, through getters.
  const settings = new SettingsService({
    store: new KyselySettingsStore(db),
    clock,
    feed,
    audit,
    defaults: {
      accessTokenTtl: config.tokens.accessTokenTtl,
      refreshTokenTtl: config.tokens.refreshTokenTtl,
      codeTtl: config.tokens.codeTtl,
      idTokenTtl: config.tokens.idTokenTtl,
      sessionTtl: config.sessionTtl,
      // No environment default: the saved value (else strict) is the one policy every
      // process reads; `serve` saves TESSERA_REDIRECT_URI_POLICY over it (applyEnvironment).
      redirectUriPolicy: 'strict',
      mfaPolicy: 'optional',
      requireVerifiedEmail: false,
      clientRegistration: 'off',
      requirePushedAuthorizationRequests: false,
      registrationPolicy: DEFAULT_REGISTRATION_POLICY,
    },
    // Requiring verified addresses without a way to verify one would lock every user out.
    emailConfigured: () => config.email.smtp !== undefined,
  });
  await settings.load();
  const live = settings.live;
  // The brand of the pages (docs/branding.md), held in memory and reloaded on a `branding` change.
  // The operator's page partials and extra CSS (TESSERA_PAGE_TEMPLATES_DIR), checked at start.
  const pageTemplates = loadPageTemplates(config.pageTemplatesDir);
  const branding = new BrandingService({ store: new KyselyBrandingStore(db), clock, feed, audit,
    extraCss: pageTemplates.extraCss,
    setClientLogo: (id, hash, actor) => clients.setLogo(id, hash, actor),
    showClient: (id) => clients.show(id),
  });
  await branding.load();
  const redirectPolicy = {
    get mode() {
      return live.redirectUriPolicy;
    },
    resolve: options.resolver ?? systemResolver,
  };
  const tokens = new TokenService(keyRing, cache, {
    issuer: config.server.issuer ?? `http://${config.server.host}:${config.server.port}`,
    get accessTokenTtl() {
      return live.accessTokenTtl;
    },
    // The gateway is built after the token service (it verifies with it); bound late.
    audiencesFor: (scopes) => gateway.audiencesFor(scopes),
  });
  // A wrong secret for an app held in memory is checked once more against the database
  // before it is refused (the app may have been changed elsewhere since): see RegistryCache.
  // A client_id that is a URL names a Client ID Metadata Document (federation/client-metadata-documents.ts):
  // resolved (fetched, validated, stored) when they are on, unknown when they are off.
  const lookupClient: ClientLookup = Object.assign((id: string) => {
    if (!looksLikeMetadataDocumentClientId(id)) return cache.client(id);
    return config.registration.metadataDocuments ? metadataDocuments.resolve(id) : undefined;
  }, {
    changed: (id: string, seen: Client) => cache.changedClient(id, seen),
  });
  const issuer = () => tokens.settings.issuer;
  // DPoP (RFC 9449): proofs seen are remembered in the database (every node refuses a replay);
  // nonces are an HMAC of the time under a secret every node derives alike, so none is stored.
  const dpopProofs = new KyselyDpopReplayStore(db);
  const dpop = new DpopVerifier(dpopProofs, new DpopNonces(encrypter.deriveSecrets('dpop nonce')), config.dpop);
  const idTokens = new IdTokenService(keyRing, issuer, () => live.idTokenTtl);
  // No object spread of these deps anywhere: a spread would freeze the getters' values.
  const tokenDeps = {
    // TESSERA_DEVICE_FLOW=off: the device grant is unsupported_grant_type, as if it did not exist.
    grants: config.deviceFlow ? GRANT_HANDLERS : new Map([...GRANT_HANDLERS].filter(([type]) => type !== DEVICE_CODE_GRANT)),
    lookupClient,
    tokens,
    cache,
    codes,
    devices: deviceAuthorizations,
    refresh,
    revocations,
    idTokens,
    metrics,
    dpop,
    audit,
    get refreshTokenTtl() {
      return live.refreshTokenTtl;
    },
    // The gateway's APIs are the RFC 8707 resources; built after the token service, bound late.
    get resources() {
      return gateway;
    },
  };
  const guessThrottle = new KyselyGuessThrottleStore(db);
  // argon2id on low-priority threads of its own, started on the first password (issue 16).
  const passwords = new PasswordHasher({ log, niceSteps: config.passwordHashingNice });
  // Signed with a secret derived from the key-encryption key: every node agrees, the database never holds it.
  const devices = new DeviceCookies(encrypter.deriveSecrets('device cookie'));
  const secondSteps = new KyselySecondStepStore(db);
  const mfa = new MfaService({
    factors: new KyselyFactorStore(db),
    steps: secondSteps,
    secrets: encrypter,
    throttle: guessThrottle,
    devices,
    clock,
    audit,
    log,
    policy: () => live.mfaPolicy,
    issuerLabel: () => issuerLabel(tokens.settings.issuer),
    // The user service is built further down; bound late.
    findUser: (ref) => users.find(ref),
  });
  const sessions = new SessionService({
    sessions: sessionStore,
    users: userStore,
    cache,
    throttle: guessThrottle,
    devices,
    passwords,
    clock,
    log,
    audit,
    metrics,
    get sessionTtl() {
      return live.sessionTtl;
    },
  });

  const passkeyStore = new KyselyPasskeyStore(db);
  const passkeys = new PasskeyService({ store: passkeyStore, clock, audit, issuer: () => tokens.settings.issuer });
  // Passkeys are second factors too: listed with the user's factors (admin API, CLI, console),
  // removed by an admin's reset, and they make the password step ask for a second one.
  mfa.registerFactorKind({
    type: 'passkey',
    list: async (userId) => (await passkeys.list(userId)).map((p) => ({ id: p.id, type: 'passkey', name: p.name, createdAt: p.createdAt, lastUsedAt: p.lastUsedAt })),
    removeAll: (userId) => passkeys.removeAll(userId),
  });

  const providerStore = new KyselyProviderStore(db);
  const linkStore = new KyselyLinkStore(db);
  const pendingSignIns = new KyselyPendingSignInStore(db);
  const upstreamHttp = outboundHttp();
  const upstreamJwks = new JwksCache(upstreamHttp, clock);
  /** private_key_jwt: apps' keys, inline or fetched from their jwks_uri (docs/client-authentication.md). */
  const clientAssertionJtis = new KyselyClientAssertionJtiStore(db);
  const pushedRequests = new KyselyPushedRequestStore(db);
  const clientJwks = new ClientJwks({ policy: redirectPolicy, clock });
  const clientAssertions = new ClientAssertions({ issuer, jtis: clientAssertionJtis, remoteKeys: (uri) => clientJwks.resolver(uri) });
  const apis = new ApiService({ store: new KyselyApiStore(db), clock, feed, audit });
  // Userinfo and the gateway take Bearer and DPoP-bound tokens alike (RFC 9449 §7).
  const resourceGuard = new ResourceGuard(tokens, dpop);
  const gateway = new Gateway(tokens, resourceGuard);
  const metadataDocuments: ClientMetadataDocuments = new ClientMetadataDocuments({
    get clients() {
      return clients;
    },
    policy: redirectPolicy,
    enabled: () => config.registration.metadataDocuments,
    now: () => clock.now(),
    log,
  });
  // Every change goes through one of these: each takes the actor and audits what it did.
  const clients = new ClientService({
    clients: clientStore,
    users: userStore,
    roles: userStore,
    clock,
    redirectPolicy,
    feed,
    audit,
    declaredScopes: () => apis.declaredScopes(),
    registrationPolicy: () => live.registrationPolicy,
  });
  const users = new UserService({ users: userStore, roles: userStore, clock, feed, sessions: sessionStore, refresh, throttle: guessThrottle, passwords, audit, log, locales: config.languages.available });
  const services = {
    clients,
    apis,
    users,
    roles: new RoleService({
      roles: userStore,
      clock,
      feed,
      audit,
      appsRequiring: async (permission) => (await clientStore.list()).filter((c) => c.requirePermission === permission).map((c) => c.name),
    }),
    keys: new KeyService({ ring: keyRing, store: keyStore, clock, maxLifetime: () => maxSignedTokenLifetime(live), feed, audit }),
    settings,
    branding,
    access: new AccessService({ users, clients, consents, refresh, sessions: sessionStore, audit, clock }),
    links: new LinkService({ links: linkStore, providers: providerStore, findUser: (ref) => users.find(ref), audit }),
    providers: new ProviderService({
      store: providerStore,
      roles: userStore,
      secrets: encrypter,
      http: upstreamHttp,
      policy: redirectPolicy,
      issuer,
      clock,
      audit,
    }),
    /** WebAuthn passkeys: ceremonies and the user's own management (issue #14). */
    passkeys,
    audit,
    /** Second factors, their admin views and resets, the MFA policy (src/identity/mfa/). */
    mfa,
    /** Dynamic Client Registration (RFC 7591/7592) and initial access tokens (docs/registration.md). */
    registration: new RegistrationService({
      clients,
      clientStore,
      tokens: new KyselyInitialAccessTokenStore(db),
      clock,
      audit,
      mode: () => live.clientRegistration,
      policy: () => live.registrationPolicy,
      throttle: guessThrottle,
      perIp: () => config.registration.perIp,
      declaredScopes: () => apis.declaredScopes(),
      endpoint: () => `${issuer()}/connect/register`,
    }),
  };

  // Email (issue 14): the outbox, and the flows that send links.
  const mailer = new Mailer({
    transport: config.email.smtp ? (options.mailTransport ?? smtpTransport(config.email.smtp)) : undefined,
    templates,
    log,
    metrics,
    issuer,
    productName: () => branding.live.document.product_name,
    defaultLocale: config.languages.defaultLocale,
    locales: config.languages.available,
    outbox: new KyselyOutboxStore(db),
    secrets: encrypter,
    clock,
  });
  const emailJobs = new JobQueue('email flows', log);
  const emailLinkStore = new KyselyEmailLinkStore(db);
  const links = new Links(emailLinkStore, clock);
  const absoluteUrl = (path: string) => `${issuer()}${path}`;
  const emailVerification = new EmailVerification({ users: userStore, userService: users, links, mailer, throttle: guessThrottle, clock, log, url: absoluteUrl });
  // Verification links when an address is set or changed, and the security notices: from the audit log.
  wireEmailEvents({ audit, users: userStore, verification: emailVerification, mailer, jobs: emailJobs, log });
  const email = {
    mailer,
    templates,
    passwordReset: new PasswordReset({ users: userStore, userService: users, links, mailer, jobs: emailJobs, throttle: guessThrottle, clock, log, url: absoluteUrl }),
    verification: emailVerification,
    invitations: new Invitations({ links, store: emailLinkStore, mailer, users, roles: userStore, sessions, passkeys, audit, clock, log, url: absoluteUrl }),
    /** What `tessera email status`, the admin API and the console show. */
    async status(): Promise<EmailStatus> {
      return {
        configured: mailer.configured,
        from: config.email.smtp?.from ?? null,
        templates_overridden: templates.overridden,
        pending: await mailer.waiting(),
      };
    },
    /** Settles when the background email work (lookups, queued sends in progress) is done: for tests and the CLI. */
    async idle(): Promise<void> {
      await emailJobs.idle();
      await mailer.idle();
    },
  };

  const endpoints = {
    token: tokenEndpoint({ ...tokenDeps, clientAssertions }),
    introspect: introspectionEndpoint({ tokens, lookupClient, refresh, clientAssertions }),
    revoke: revocationEndpoint({ tokens, lookupClient, revocations, cache, refresh, audit, clientAssertions }),
    userinfo: userinfoEndpoint({ tokens, users: userStore, guard: resourceGuard, issuer }),
    /** RFC 8628 §3.1: POST /connect/deviceauthorization. */
    /** RFC 9126 §2: POST /connect/par. */
    par: pushedAuthorizationEndpoint({ lookupClient, pushed: pushedRequests, resources: gateway, clientAssertions, dpop }),
    deviceAuthorization: deviceAuthorizationEndpoint({ lookupClient, devices: deviceAuthorizations, issuer, resources: gateway, clientAssertions, ...DEVICE_FLOW_DEFAULTS }),
  };

  /** What the browser-facing pages need: sign-in, the authorize decision, logout. */
  const interactive = {
    clock,
    sessions,
    mfa,
    flow: authorizationFlow({
      lookupClient,
      consents,
      codes,
      issuer,
      audit,
      mfaNeed: (principal, request) => mfa.need(principal, request),
      resources: gateway,
      requireVerifiedEmail: () => live.requireVerifiedEmail,
      pushed: { store: pushedRequests, requiredForAll: () => live.requirePushedAuthorizationRequests, now: () => epochSeconds(clock) },
      get codeTtl() {
        return live.codeTtl;
      },
    }),
    /** Passwordless sign-in with a passkey (issue #14). */
    /** The device flow's verification page (/device, RFC 8628 §3.3). */
    devices: new DeviceVerification({ devices: deviceAuthorizations, throttle: guessThrottle, lookupClient, consents, audit, mfaNeed: (principal, request) => mfa.need(principal, request) }),
    passkeySignIn: new PasskeySignIn({ passkeys, cache, throttle: guessThrottle, clock, log, metrics }),
    endSession: endSessionEndpoint({ keys: keyRing, lookupClient, issuer }),
    /** The user's own account at /account (src/http/account-routes.ts). */
    account: new AccountService({ users, sessions, access: services.access }),
    /** Sign-in through upstream identity providers (issue #11). */
    federation: {
      providers: providerStore,
      signIn: new FederatedSignIn({
        protocol: new UpstreamSignIn({ pending: pendingSignIns, http: upstreamHttp, jwks: upstreamJwks, secrets: encrypter, clock }),
        accounts: new FederatedAccounts({ links: linkStore, users: userStore, clock, audit }),
        audit,
      }),
    },
  };

  // Each reload runs one at a time (an older read never replaces a newer one); a failed one
  // is logged and retried until the database answers again.
  const reloads = {
    keys: new BackgroundTask('key ring reload', () => keyRing.reload(), log),
    settings: new BackgroundTask('settings reload', () => settings.load(), log),
    branding: new BackgroundTask('branding reload', () => branding.load(), log),
    apis: new BackgroundTask('gateway API reload', async () => gateway.load(await apis.loadAll()), log),
  };
  let housekeeping: NodeJS.Timeout | undefined;

  // Rows that expire are removed in batches by every serving node (docs/architecture.md, "Cleanup").
  const cleanup = new Cleanup(
    expiryJobs({ codes, devices: deviceAuthorizations, clientAssertionJtis, pushedRequests, refresh, sessions: sessionStore, revocations, throttle: guessThrottle, pendingSignIns, secondSteps, passkeys: passkeyStore, audit: auditStore, emailLinks: emailLinkStore, dpopProofs, db }, config.cleanup.auditRetentionDays),
    { clock, log },
  );
  const cleanupTask = new BackgroundTask('cleanup of expired rows', async () => void (await cleanup.run()), log);
  let cleanupTimer: NodeJS.Timeout | undefined;

  return {
    config,
    clock,
    database,
    /** The key-encryption key (and the previous one while it is replaced): `tessera keys reencrypt`. */
    encrypter,
    keyRing,
    tokens,
    cache,
    feed,
    services,
    endpoints,
    interactive,
    /** DPoP proof validation and server nonces (RFC 9449, docs/dpop.md), for the token endpoint, userinfo and the gateway. */
    dpop,
    /** Outgoing mail and the flows that send links (src/email, docs/email.md). */
    email,
    gateway,
    redirectPolicy,
    metrics,
    /** Hit and miss counts of the in-memory caches, read by the metrics at scrape time. */
    cacheStats: {
      clients: cache.stats.clients,
      principals: cache.stats.principals,
      verified_tokens: tokens.verifiedCacheStats,
      upstream_jwks: upstreamJwks.stats,
    },
    csrfSecrets: encrypter.deriveSecrets('csrf'),
    /** The operator's page partials and extra CSS (docs/branding.md#template-overrides). */
    pageTemplates,
    /** Descriptions of API scopes (declared with the gateway's APIs), for the consent page. */
    scopeDescriptions(names: string[]): Promise<Map<string, ScopeText>> {
      return apis.scopeTexts(names);
    },
    get issuer(): string {
      return tokens.settings.issuer;
    },
    /** The cleanup of expired rows (it runs every `TESSERA_CLEANUP_INTERVAL_SECONDS` once the background starts). */
    cleanup,
    /** The console's own client, with redirect URIs on the current issuer (call after setIssuer). */
    ensureConsoleClient(): Promise<unknown> {
      return ensureConsoleClient(clients, tokens.settings.issuer, epochSeconds(clock));
    },
    /** First start on an empty database: an admin user (see src/admin/bootstrap.ts). */
    bootstrapAdmin(password: string | undefined) {
      return bootstrapAdmin(services.users, userStore, password);
    },
    /**
     * `tessera serve` at start: TESSERA_REDIRECT_URI_POLICY, when set, becomes the saved
     * setting (audited as a change by "system"), so CLI commands and other nodes read it too.
     * Answers what changed.
     */
    applyEnvironmentSettings(): Promise<Partial<SettingsView>> {
      return settings.applyEnvironment({ redirect_uri_policy: config.redirectUriPolicy }, SYSTEM);
    },
    /**
     * For commands other than `serve`: a warning when TESSERA_REDIRECT_URI_POLICY is set here
     * but differs from the saved policy (which is the one this command, and the server, use).
     */
    environmentSettingsWarning(): string | undefined {
      const wanted = config.redirectUriPolicy;
      const saved = settings.live.redirectUriPolicy;
      if (wanted === undefined || wanted === saved) return undefined;
      return `TESSERA_REDIRECT_URI_POLICY=${wanted} is not used by this command: the saved redirect-URI policy is "${saved}" (\`tessera serve\` saves the variable at start; \`tessera settings set redirect_uri_policy ${wanted}\` changes it now)`;
    },
    /** The issuer is known only once the server listens when --port 0 and no --issuer was given. */
    setIssuer(issuer: string): void {
      tokens.settings.issuer = issuer.replace(/\/+$/, '');
    },
    /** Caches, the change feed and housekeeping: what a serving node needs beyond the services. */
    async startBackground(): Promise<void> {
      // SQLite: the WAL is checkpointed on a thread of its own, not in the event loop's commits.
      database.startWalCheckpoints?.({ log });
      await cache.load(epochSeconds(clock), feed, () => epochSeconds(clock));
      gateway.load(await apis.loadAll());
      feed.subscribe((kind) => {
        if (kind === 'api') reloads.apis.request();
        if (kind === 'keys') reloads.keys.request();
        if (kind === 'settings') reloads.settings.request();
        if (kind === 'branding') reloads.branding.request();
      });
      // After a gap in reading the feed long enough to have missed events (RESYNC_AFTER_MS).
      feed.onResync(() => {
        for (const reload of Object.values(reloads)) reload.request();
      });
      await feed.start(config.changePollMs);
      // Mail other processes left in the outbox (a CLI command, a node that stopped or died).
      mailer.startDelivery();
      // The cleanup of expired rows (ORY Hydra's lesson: token tables grow without one). A
      // failed run is logged and retried with backoff by its task.
      cleanupTimer = setInterval(() => cleanupTask.request(), config.cleanup.intervalSeconds * 1000);
      cleanupTimer.unref();
      // Housekeeping in memory, and key retirement. A failed job is logged and simply runs
      // again on the next tick.
      const jobs: Array<[string, (now: number) => Promise<unknown>]> = [
        ['retirement of expired keys', (now) => keyRing.retireExpired(now, maxSignedTokenLifetime(live))],
      ];
      housekeeping = setInterval(() => {
        const now = epochSeconds(clock);
        cache.purgeExpired(now);
        for (const [job, run] of jobs) {
          run(now).catch((error: unknown) => log.error({ err: error, job }, `${job} failed; it runs again in a minute`));
        }
      }, 60_000);
      housekeeping.unref();
    },
    async close(): Promise<void> {
      if (housekeeping) clearInterval(housekeeping);
      clearInterval(cleanupTimer);
      cleanup.stop();
      await cleanupTask.stop();
      await feed.stop();
      await Promise.all(Object.values(reloads).map((r) => r.stop()));
      // Background email work needs the database; what is still queued is tried once more (bounded).
      await emailJobs.close();
      await mailer.close();
      await passwords.close();
      await database.close();
    },
  };
}

export type Tessera = Awaited<ReturnType<typeof openTessera>>;

/** Whether Tessera can send mail, and how (docs/email.md). Never the SMTP URL: it may hold a password. */
export interface EmailStatus {
  configured: boolean;
  /** TESSERA_SMTP_FROM, or null when email is not configured. */
  from: string | null;
  /** Template parts replaced from TESSERA_EMAIL_TEMPLATES_DIR, e.g. `invite.html`. */
  templates_overridden: string[];
  /** Messages waiting in the outbox for the SMTP server (every node's, and those CLI commands left). */
  pending: number;
}

/** What authenticator apps show as the account's issuer: the host of Tessera's issuer URL. */
function issuerLabel(issuer: string): string {
  try {
    return new URL(issuer).host || 'Tessera';
  } catch {
    return 'Tessera';
  }
}

/** A retired key must stay published while any JWT it signed can still be valid. */
function maxSignedTokenLifetime(live: RuntimeSettings): number {
  // Per-app access token lifetimes have their own cap, hence the floor.
  return Math.max(live.accessTokenTtl, live.idTokenTtl, LIMITS.appAccessTokenTtl.max);
}
