/**
 * The ranges Tessera accepts, defined once. The config loader, the runtime settings, the
 * admin API's JSON schemas (and through the OpenAPI document the console) and the per-app
 * and per-API checks read them from here; docs/configuration.md, docs/cli.md and
 * docs/gateway.md state the same numbers (test/unit/limits.test.ts compares them).
 */
export interface Range {
  readonly min: number;
  readonly max: number;
}

const DAY = 86_400;

export const LIMITS = {
  /** TESSERA_PORT; 0 picks a free port. */
  port: { min: 0, max: 65_535 },
  /** TESSERA_WORKERS (`serve`): processes sharing the port; `auto` is one per CPU. */
  workers: { min: 1, max: 256 },
  /** TESSERA_TRUST_PROXY as a hop count: how many proxies in front of Tessera to believe (0: none). */
  trustProxyHops: { min: 0, max: 10 },
  /** TESSERA_BODY_LIMIT, bytes. */
  bodyLimit: { min: 1024, max: 16 * 1024 * 1024 },

  // Lifetimes in seconds, server-wide: environment and runtime settings (admin API, console).
  accessTokenTtl: { min: 60, max: 7 * DAY },
  refreshTokenTtl: { min: 60, max: 365 * DAY },
  codeTtl: { min: 10, max: 3600 },
  idTokenTtl: { min: 60, max: DAY },
  sessionTtl: { min: 60, max: 30 * DAY },

  // Per-app overrides of the lifetimes (CLI flags, admin API).
  /** At most a day: a retired signing key stays published that long (app/tessera.ts). */
  appAccessTokenTtl: { min: 60, max: DAY },
  appRefreshTokenTtl: { min: 60, max: 365 * DAY },
  /** `rotate-secret --grace`: how long the previous secret still authenticates the app, seconds. */
  secretGrace: { min: 0, max: 30 * DAY },

  // An app's fields (CLI flags, admin API): characters, or entries of a list.
  appName: { min: 1, max: 200 },
  appDescription: { min: 0, max: 2000 },
  /** Redirect URIs, and post-logout redirect URIs, each. */
  appRedirectUris: { min: 0, max: 20 },
  /** A token-exchange policy's audiences, scopes and subject apps (RFC 8693, docs/token-exchange.md), each. */
  tokenExchangeEntries: { min: 1, max: 20 },

  // Branding (docs/branding.md): an uploaded logo, bytes; the product name, characters.
  logoBytes: { min: 1, max: 256 * 1024 },
  productName: { min: 1, max: 80 },

  /** An API's upstream timeout behind the gateway, milliseconds. */
  apiTimeoutMs: { min: 100, max: 300_000 },
  /** An API's largest request body behind the gateway, bytes (unset: no limit). */
  apiMaxBodyBytes: { min: 1, max: 1024 * 1024 * 1024 },
  /** TESSERA_GATEWAY_BODY_TIMEOUT_MS: a gateway request's whole body must arrive within it. */
  gatewayBodyTimeoutMs: { min: 1000, max: 3_600_000 },
  /** TESSERA_GATEWAY_IDLE_TIMEOUT_MS: a gateway request's body may stall this long at most. */
  gatewayIdleTimeoutMs: { min: 1000, max: 300_000 },

  /** TESSERA_DPOP_PROOF_MAX_AGE: how old a DPoP proof may be, seconds (RFC 9449 §11.1). */
  dpopProofMaxAge: { min: 5, max: 600 },

  /**
   * TESSERA_REGISTRATIONS_PER_IP: apps one IP address may register at /connect/register in open
   * mode before each further one waits (a minute, doubling to an hour; forgotten after a quiet hour).
   */
  registrationsPerIp: { min: 1, max: 100_000 },

  /** TESSERA_CHANGE_POLL_MS. */
  changePollMs: { min: 50, max: 60_000 },
  /** TESSERA_DATABASE_POOL_SIZE, connections per process. */
  databasePoolSize: { min: 1, max: 1000 },
  /** TESSERA_PASSWORD_HASHING_NICE: nice steps below the event loop for password hashing (Linux's 0 – 19). */
  passwordHashingNice: { min: 0, max: 19 },
  /** TESSERA_THREADPOOL_NICE: nice steps below the event loop for libuv's threadpool (Linux's 0 – 19). */
  threadpoolNice: { min: 0, max: 19 },
  /** TESSERA_CLEANUP_INTERVAL_SECONDS: how often each node removes expired rows. */
  cleanupIntervalSeconds: { min: 1, max: DAY },
  /** TESSERA_AUDIT_RETENTION_DAYS: audit entries older than this are removed; 0 keeps them forever. */
  auditRetentionDays: { min: 0, max: 36_500 },
  /**
   * private_key_jwt (docs/client-authentication.md): how far ahead of now a client assertion's
   * `exp` may be, seconds. Short, because a captured assertion works until it expires (its
   * `jti` is remembered that long).
   */
  clientAssertionLifetime: { min: 1, max: 300 },
  /** TESSERA_METRICS_TOKEN, characters: long enough not to be guessed, short enough for a header. */
  metricsTokenLength: { min: 16, max: 512 },
} as const satisfies Record<string, Range>;

/**
 * Pushed authorization requests (RFC 9126, docs/client-authentication.md): the `expires_in` of a
 * request_uri, seconds — the app must send the user to /connect/authorize within it. Once the
 * user has arrived, the request lives for `PAR_STARTED_LIFETIME` more (sign-in and consent).
 */
export const PAR_EXPIRES_IN = 60;
export const PAR_STARTED_LIFETIME = 1800;

export function inRange(value: number, range: Range): boolean {
  return Number.isInteger(value) && value >= range.min && value <= range.max;
}
