import { isIP } from 'node:net';
import { availableParallelism } from 'node:os';
import { RTL_TEST_LOCALE, SHIPPED_LOCALES } from '../i18n/catalogues.ts';
import { inRange, LIMITS, type Range } from './limits.ts';

/**
 * Tessera's configuration: one typed object, loaded once from the environment (and CLI
 * flags, which win), validated, then passed down. No other module reads process.env.
 * docs/configuration.md documents every field below; the ranges are in limits.ts.
 */
export interface TesseraConfig {
  /** `sqlite:<path>` or `postgres://…` (TESSERA_DATABASE_URL). */
  databaseUrl: string;
  server: {
    /** TESSERA_HOST, default 127.0.0.1. */
    host: string;
    /** TESSERA_PORT, default 8080; 0 picks a free port. */
    port: number;
    /** TESSERA_ISSUER; when unset the issuer is the URL the server listens on. */
    issuer: string | undefined;
    /** TESSERA_TRUST_PROXY: whose X-Forwarded-* headers to believe. Default false (nobody's). */
    trustProxy: TrustProxy;
    /** TESSERA_BODY_LIMIT: largest request body in bytes on protocol endpoints. */
    bodyLimit: number;
    /** TESSERA_WORKERS (`serve --workers`): processes sharing the port; `auto` is one per CPU. Default 1. */
    workers: number;
  };
  tokens: {
    /** TESSERA_ACCESS_TOKEN_TTL seconds, default 3600. Apps may override. */
    accessTokenTtl: number;
    /** TESSERA_REFRESH_TOKEN_TTL seconds, default 30 days. Apps may override. */
    refreshTokenTtl: number;
    /** TESSERA_CODE_TTL seconds, default 1800. */
    codeTtl: number;
    /** TESSERA_ID_TOKEN_TTL seconds, default 3600. */
    idTokenTtl: number;
  };
  /** TESSERA_SESSION_TTL seconds a sign-in lasts, default 12 h. */
  sessionTtl: number;
  /**
   * TESSERA_REDIRECT_URI_POLICY: `strict` or `development` (RFC 8252 loopback); undefined when
   * unset. The policy itself is a saved setting (settings-service.ts) that every process reads;
   * `tessera serve` saves this value over it at start (docs/configuration.md).
   */
  redirectUriPolicy: 'strict' | 'development' | undefined;
  keys: {
    /** TESSERA_KEY_ENCRYPTION_KEY: base64 of 32 bytes; encrypts signing keys at rest. */
    encryptionKey: string | undefined;
    /** TESSERA_KEY_ENCRYPTION_KEY_FILE: read (or created) when the variable above is unset. */
    encryptionKeyFile: string;
    /** TESSERA_PREVIOUS_KEY_ENCRYPTION_KEY: the key being replaced; decrypts only (docs/operations.md, "Replacing the key-encryption key"). */
    previousEncryptionKey: string | undefined;
  };
  gateway: {
    /** TESSERA_GATEWAY_BODY_TIMEOUT_MS: a gateway request's whole body must arrive within it (else 408), default 60 000. */
    bodyTimeoutMs: number;
    /** TESSERA_GATEWAY_IDLE_TIMEOUT_MS: nothing arriving for this long while a gateway request's body is expected → 408, default 15 000. */
    idleTimeoutMs: number;
  };
  /** TESSERA_CHANGE_POLL_MS: how often a node looks for changes made by other nodes/CLI. */
  changePollMs: number;
  /** Clients registering without an admin (docs/resources.md). */
  registration: {
    /** TESSERA_CLIENT_ID_METADATA_DOCUMENTS `on`/`off` (default off): accept https client_id URLs naming a metadata document. */
    metadataDocuments: boolean;
    /** TESSERA_REGISTRATIONS_PER_IP (default 10): open-mode registrations per IP address before each further one waits. */
    perIp: number;
  };
  /** TESSERA_DEVICE_FLOW `on`/`off` (default on): the device authorization grant, /device and its discovery entries (docs/device-flow.md). */
  deviceFlow: boolean;
  /** DPoP, sender-constrained tokens (RFC 9449, docs/dpop.md). */
  dpop: {
    /** TESSERA_DPOP_PROOF_MAX_AGE: how old (seconds) a DPoP proof may be, default 60. */
    proofMaxAge: number;
    /** TESSERA_DPOP_NONCE `required`/`off` (default off): proofs must carry a server nonce (RFC 9449 §8). */
    requireNonce: boolean;
  };
  /** TESSERA_DATABASE_POOL_SIZE: PostgreSQL connections per process (each worker has its own pool). */
  databasePoolSize: number;
  /**
   * TESSERA_SQLITE_SYNCHRONOUS `normal` (default: a process crash loses nothing committed, a
   * power loss may lose the last transactions) or `full` (every commit is on disk before it
   * is answered: survives power loss, costs an fsync per commit).
   */
  sqliteSynchronous: SqliteSynchronous;
  /**
   * TESSERA_PASSWORD_HASHING_NICE (default 10): how many nice steps below the event loop the
   * password hashing threads run (Linux; 0 = the same priority). Higher favours token requests
   * over sign-ins when the cores are all busy (docs/performance.md, issue 16).
   */
  passwordHashingNice: number;
  /**
   * TESSERA_THREADPOOL_NICE (default 5): how many nice steps below the event loop libuv's
   * threadpool runs, where RS256 ID tokens are signed (Linux; 0 = the same priority). The
   * event loop is then run first when both want a core (docs/performance.md, step 19).
   */
  threadpoolNice: number;
  cleanup: {
    /** TESSERA_CLEANUP_INTERVAL_SECONDS: how often each serving node removes expired rows, default 300. */
    intervalSeconds: number;
    /** TESSERA_AUDIT_RETENTION_DAYS: audit entries older than this many days are removed; default 0, which keeps them forever (an upgrade never deletes history by itself). */
    auditRetentionDays: number;
  };
  metrics: {
    /** TESSERA_METRICS_TOKEN: `/metrics` answers only `Authorization: Bearer <this>`. */
    token: string | undefined;
    /** TESSERA_METRICS_LISTEN (`host:port`): `/metrics` on its own listener there, not on the main port. */
    listen: { host: string; port: number } | undefined;
  };
  /** TESSERA_LOG_LEVEL: fatal, error, warn, info (default), debug, trace, silent. */
  logLevel: string;
  /** TESSERA_ADMIN_PASSWORD: the first admin's password on an empty database (else random, printed once). */
  adminPassword: string | undefined;
  email: EmailConfig;
  /** TESSERA_PAGE_TEMPLATES_DIR: the operator's header.html, footer.html and extra.css for the pages (docs/branding.md#template-overrides). */
  pageTemplatesDir: string | undefined;
  /** The languages of the pages and emails (docs/languages.md). */
  languages: LanguagesConfig;
}

export interface LanguagesConfig {
  /** TESSERA_DEFAULT_LOCALE: the language when neither the request nor the browser names an available one (default `en`). */
  defaultLocale: string;
  /** Every language a page can be in: the shipped ones, plus the RTL test locale with TESSERA_TEST_LOCALE=on. */
  available: readonly string[];
}

/**
 * Outgoing mail (docs/email.md). Without TESSERA_SMTP_URL, email is "not configured": the
 * features that need mail (reset by email, invitations, verification links, notices) say so.
 */
export interface EmailConfig {
  /** TESSERA_SMTP_URL (`smtp://user:pass@host:587` or `smtps://…:465`) and TESSERA_SMTP_FROM; undefined: email is not configured. */
  smtp: { url: string; from: string } | undefined;
  /** TESSERA_EMAIL_TEMPLATES_DIR: a folder whose `<message>.subject.txt`, `<message>.txt`, `<message>.html` replace the built-in texts. */
  templatesDir: string | undefined;
}

/**
 * Whose `X-Forwarded-For/-Proto/-Host` Tessera believes: nobody (the client is the socket
 * peer), the nearest `hops` proxies whatever their address, or proxies at these addresses
 * (IPs or CIDRs). Never "everyone": that lets any client choose the IP it is throttled and
 * audited under.
 */
export type TrustProxy = false | { hops: number } | { addresses: string[] };

export class ConfigError extends Error {}

export const DEFAULT_DATABASE_URL = 'sqlite:./data/tessera.db';

/** A switch: `on`/`off` (also `true`/`false`, `1`/`0`); unset or empty → `fallback`. */
function onOff(name: string, value: string | undefined, fallback: boolean): boolean {
  if (value === undefined || value === '') return fallback;
  const v = value.trim().toLowerCase();
  if (v === 'on' || v === 'true' || v === '1') return true;
  if (v === 'off' || v === 'false' || v === '0') return false;
  throw new ConfigError(`${name} must be "on" or "off" (got "${value.slice(0, 40)}")`);
}

/** TESSERA_DPOP_NONCE: `required` makes every DPoP proof carry a server nonce; `off` (default) does not ask for one. */
function dpopNonce(value: string | undefined): boolean {
  const v = value?.trim().toLowerCase() ?? '';
  if (v === '' || v === 'off') return false;
  if (v === 'required') return true;
  throw new ConfigError(`TESSERA_DPOP_NONCE must be "required" or "off" (got "${value!.slice(0, 40)}")`);
}

export type SqliteSynchronous = 'normal' | 'full';

function sqliteSynchronous(value: string | undefined): SqliteSynchronous {
  const v = value?.trim().toLowerCase() ?? '';
  if (v === '' || v === 'normal') return 'normal';
  if (v === 'full') return 'full';
  throw new ConfigError(`TESSERA_SQLITE_SYNCHRONOUS must be "normal" or "full" (got "${value!.slice(0, 40)}")`);
}

type Env = Record<string, string | undefined>;

export interface ConfigOverrides {
  databaseUrl?: string | undefined;
  host?: string | undefined;
  port?: string | number | undefined;
  issuer?: string | undefined;
  workers?: string | undefined;
}

export function loadConfig(env: Env, overrides: ConfigOverrides = {}): TesseraConfig {
  const databaseUrl = overrides.databaseUrl ?? env.TESSERA_DATABASE_URL ?? DEFAULT_DATABASE_URL;
  const issuer = overrides.issuer ?? env.TESSERA_ISSUER;
  if (issuer !== undefined) checkIssuer(issuer);
  const policy = env.TESSERA_REDIRECT_URI_POLICY || undefined;
  if (policy !== undefined && policy !== 'strict' && policy !== 'development') {
    throw new ConfigError(`TESSERA_REDIRECT_URI_POLICY must be "strict" or "development" (got "${policy}")`);
  }
  const serverWorkers = workers(overrides.workers ?? env.TESSERA_WORKERS);
  const metricsListen = env.TESSERA_METRICS_LISTEN ? listenAddress('TESSERA_METRICS_LISTEN', env.TESSERA_METRICS_LISTEN) : undefined;
  const metricsTokenValue = metricsToken(env.TESSERA_METRICS_TOKEN);
  if (serverWorkers > 1 && metricsTokenValue !== undefined && metricsListen === undefined) {
    // Each worker would answer /metrics with its own numbers only, a different one per scrape.
    throw new ConfigError('with more than one worker, set TESSERA_METRICS_LISTEN: the primary process serves the sum of its workers\' metrics there');
  }
  return {
    databaseUrl,
    server: {
      host: overrides.host ?? env.TESSERA_HOST ?? '127.0.0.1',
      port: int('port', overrides.port ?? env.TESSERA_PORT, 8080, LIMITS.port),
      issuer: issuer?.replace(/\/+$/, ''),
      trustProxy: trustProxy(env.TESSERA_TRUST_PROXY),
      bodyLimit: int('TESSERA_BODY_LIMIT', env.TESSERA_BODY_LIMIT, 64 * 1024, LIMITS.bodyLimit),
      workers: serverWorkers,
    },
    tokens: {
      accessTokenTtl: int('TESSERA_ACCESS_TOKEN_TTL', env.TESSERA_ACCESS_TOKEN_TTL, 3600, LIMITS.accessTokenTtl),
      refreshTokenTtl: int('TESSERA_REFRESH_TOKEN_TTL', env.TESSERA_REFRESH_TOKEN_TTL, 30 * 86400, LIMITS.refreshTokenTtl),
      codeTtl: int('TESSERA_CODE_TTL', env.TESSERA_CODE_TTL, 1800, LIMITS.codeTtl),
      idTokenTtl: int('TESSERA_ID_TOKEN_TTL', env.TESSERA_ID_TOKEN_TTL, 3600, LIMITS.idTokenTtl),
    },
    sessionTtl: int('TESSERA_SESSION_TTL', env.TESSERA_SESSION_TTL, 12 * 3600, LIMITS.sessionTtl),
    redirectUriPolicy: policy,
    keys: {
      encryptionKey: env.TESSERA_KEY_ENCRYPTION_KEY || undefined,
      encryptionKeyFile: env.TESSERA_KEY_ENCRYPTION_KEY_FILE ?? defaultKeyFile(databaseUrl),
      previousEncryptionKey: env.TESSERA_PREVIOUS_KEY_ENCRYPTION_KEY || undefined,
    },
    gateway: {
      bodyTimeoutMs: int('TESSERA_GATEWAY_BODY_TIMEOUT_MS', env.TESSERA_GATEWAY_BODY_TIMEOUT_MS, 60_000, LIMITS.gatewayBodyTimeoutMs),
      idleTimeoutMs: int('TESSERA_GATEWAY_IDLE_TIMEOUT_MS', env.TESSERA_GATEWAY_IDLE_TIMEOUT_MS, 15_000, LIMITS.gatewayIdleTimeoutMs),
    },
    changePollMs: int('TESSERA_CHANGE_POLL_MS', env.TESSERA_CHANGE_POLL_MS, 500, LIMITS.changePollMs),
    registration: {
      metadataDocuments: onOff('TESSERA_CLIENT_ID_METADATA_DOCUMENTS', env.TESSERA_CLIENT_ID_METADATA_DOCUMENTS, false),
      perIp: int('TESSERA_REGISTRATIONS_PER_IP', env.TESSERA_REGISTRATIONS_PER_IP, 10, LIMITS.registrationsPerIp),
    },
    deviceFlow: onOff('TESSERA_DEVICE_FLOW', env.TESSERA_DEVICE_FLOW, true),
    dpop: {
      proofMaxAge: int('TESSERA_DPOP_PROOF_MAX_AGE', env.TESSERA_DPOP_PROOF_MAX_AGE, 60, LIMITS.dpopProofMaxAge),
      requireNonce: dpopNonce(env.TESSERA_DPOP_NONCE),
    },
    databasePoolSize: int('TESSERA_DATABASE_POOL_SIZE', env.TESSERA_DATABASE_POOL_SIZE, 10, LIMITS.databasePoolSize),
    sqliteSynchronous: sqliteSynchronous(env.TESSERA_SQLITE_SYNCHRONOUS),
    passwordHashingNice: int('TESSERA_PASSWORD_HASHING_NICE', env.TESSERA_PASSWORD_HASHING_NICE, 10, LIMITS.passwordHashingNice),
    threadpoolNice: int('TESSERA_THREADPOOL_NICE', env.TESSERA_THREADPOOL_NICE, 5, LIMITS.threadpoolNice),
    cleanup: {
      intervalSeconds: int('TESSERA_CLEANUP_INTERVAL_SECONDS', env.TESSERA_CLEANUP_INTERVAL_SECONDS, 300, LIMITS.cleanupIntervalSeconds),
      auditRetentionDays: int('TESSERA_AUDIT_RETENTION_DAYS', env.TESSERA_AUDIT_RETENTION_DAYS, 0, LIMITS.auditRetentionDays),
    },
    metrics: {
      token: metricsTokenValue,
      listen: metricsListen,
    },
    logLevel: logLevel(env.TESSERA_LOG_LEVEL),
    adminPassword: env.TESSERA_ADMIN_PASSWORD || undefined,
    email: {
      smtp: smtp(env.TESSERA_SMTP_URL, env.TESSERA_SMTP_FROM),
      templatesDir: env.TESSERA_EMAIL_TEMPLATES_DIR || undefined,
    },
    pageTemplatesDir: env.TESSERA_PAGE_TEMPLATES_DIR || undefined,
    languages: languages(env.TESSERA_DEFAULT_LOCALE, env.TESSERA_TEST_LOCALE),
  };
}

/** TESSERA_DEFAULT_LOCALE must name a shipped language; TESSERA_TEST_LOCALE=on adds the right-to-left test locale. */
function languages(rawDefault: string | undefined, rawTest: string | undefined): LanguagesConfig {
  const available: string[] = [...SHIPPED_LOCALES];
  if (onOff('TESSERA_TEST_LOCALE', rawTest, false)) available.push(RTL_TEST_LOCALE);
  const wanted = rawDefault?.trim() || 'en';
  const defaultLocale = available.find((l) => l.toLowerCase() === wanted.toLowerCase());
  if (!defaultLocale) throw new ConfigError(`TESSERA_DEFAULT_LOCALE must be one of ${available.join(', ')} (got "${wanted.slice(0, 40)}")`);
  return { defaultLocale, available };
}

const MAIL_ADDRESS = /^[^\s@<>"]{1,64}@[^\s@<>"]{1,255}$/;

/**
 * TESSERA_SMTP_URL must be smtp:// (STARTTLS when the server offers it) or smtps:// (TLS from
 * the start) with a host; credentials go in the URL, percent-encoded. The message never
 * repeats the URL: it may hold a password.
 */
function smtp(rawUrl: string | undefined, rawFrom: string | undefined): EmailConfig['smtp'] {
  const url = rawUrl?.trim() ?? '';
  const from = rawFrom?.trim() ?? '';
  if (url === '') {
    if (from !== '') throw new ConfigError('TESSERA_SMTP_FROM is set but TESSERA_SMTP_URL is not: set both to send email, or neither');
    return undefined;
  }
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw new ConfigError('TESSERA_SMTP_URL must be a URL like smtp://user:password@mail.example.com:587 or smtps://…:465 (it is not a URL)');
  }
  if (parsed.protocol !== 'smtp:' && parsed.protocol !== 'smtps:') {
    throw new ConfigError(`TESSERA_SMTP_URL must start with smtp:// or smtps:// (got "${parsed.protocol}//")`);
  }
  if (!parsed.hostname) throw new ConfigError('TESSERA_SMTP_URL has no host: write it like smtp://user:password@mail.example.com:587');
  if (from === '') throw new ConfigError('TESSERA_SMTP_URL is set but TESSERA_SMTP_FROM is not: set the address mail is sent from, e.g. TESSERA_SMTP_FROM="Tessera <id@example.com>"');
  const address = /<([^<>]*)>\s*$/.exec(from)?.[1] ?? from;
  if (!MAIL_ADDRESS.test(address) || /[\r\n]/.test(from)) {
    throw new ConfigError(`TESSERA_SMTP_FROM must be an email address, optionally with a name: "id@example.com" or "Tessera <id@example.com>" (got "${from.slice(0, 100)}")`);
  }
  return { url, from };
}

/** Next to an SQLite file; for PostgreSQL in ./data (production should set the variable). */
function defaultKeyFile(databaseUrl: string): string {
  if (databaseUrl.startsWith('sqlite:') && !databaseUrl.includes(':memory:')) {
    const path = databaseUrl.slice('sqlite:'.length);
    const slash = path.lastIndexOf('/');
    return `${slash >= 0 ? path.slice(0, slash) : '.'}/tessera-key-encryption.key`;
  }
  return './data/tessera-key-encryption.key';
}

function checkIssuer(issuer: string): void {
  let url: URL;
  try {
    url = new URL(issuer);
  } catch {
    throw new ConfigError(`issuer must be an absolute URL (got "${issuer}")`);
  }
  // RFC 8414 §2: the issuer has no query or fragment.
  if (url.protocol !== 'https:' && url.protocol !== 'http:') throw new ConfigError('issuer must be an http(s) URL');
  // url.search and url.hash are '' for an empty query or fragment ("https://id.example/?"),
  // which would still end up in every endpoint URL built from the issuer.
  if (url.search || url.hash || /[?#]/.test(issuer)) throw new ConfigError('issuer must not have a query or fragment');
}

function metricsToken(raw: string | undefined): string | undefined {
  if (raw === undefined || raw === '') return undefined;
  const { min, max } = LIMITS.metricsTokenLength;
  // RFC 6750's b64token: it travels as `Authorization: Bearer <token>`.
  if (raw.length < min || raw.length > max || !/^[A-Za-z0-9\-._~+/]+=*$/.test(raw)) {
    throw new ConfigError(`TESSERA_METRICS_TOKEN must be ${min} to ${max} characters: letters, digits and - . _ ~ + / (e.g. from "openssl rand -hex 32")`);
  }
  return raw;
}

export const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;

function logLevel(raw: string | undefined): string {
  if (raw === undefined || raw === '') return 'info';
  if (!(LOG_LEVELS as readonly string[]).includes(raw)) {
    throw new ConfigError(`TESSERA_LOG_LEVEL must be one of ${LOG_LEVELS.join(', ')} (got "${raw}")`);
  }
  return raw;
}

/** `host:port`, `[v6]:port`; port 0 picks a free one. */
function listenAddress(name: string, raw: string): { host: string; port: number } {
  const m = /^(?:\[([0-9a-fA-F:.]+)\]|([A-Za-z0-9.-]+)):(\d{1,5})$/.exec(raw.trim());
  const port = m ? Number(m[3]) : NaN;
  if (!m || !inRange(port, LIMITS.port)) {
    throw new ConfigError(`${name} must be host:port, e.g. 127.0.0.1:9464 or [::1]:9464 (got "${raw}")`);
  }
  return { host: (m[1] ?? m[2])!, port };
}

function workers(raw: string | undefined): number {
  if (raw === undefined || raw === '') return 1;
  if (raw === 'auto') return availableParallelism();
  const { min, max } = LIMITS.workers;
  if (!/^\d+$/.test(raw) || !inRange(Number(raw), LIMITS.workers)) {
    throw new ConfigError(`--workers must be a number from ${min} to ${max}, or "auto" (got "${raw}")`);
  }
  return Number(raw);
}

function int(name: string, raw: string | number | undefined, fallback: number, range: Range): number {
  if (raw === undefined || raw === '') return fallback;
  const n = typeof raw === 'number' ? raw : /^\d+$/.test(raw.trim()) ? Number(raw.trim()) : NaN;
  if (!inRange(n, range)) {
    throw new ConfigError(`${name} must be a whole number from ${range.min} to ${range.max} (got "${raw}")`);
  }
  return n;
}

const TRUST_PROXY_FORMS = `false, a number of proxies from ${LIMITS.trustProxyHops.min} to ${LIMITS.trustProxyHops.max}, or a comma-separated list of the proxies' IP addresses or CIDRs`;

function trustProxy(raw: string | undefined): TrustProxy {
  const value = raw?.trim() ?? '';
  if (value === '' || /^(false|no|off)$/i.test(value)) return false;
  if (/^(true|yes|on)$/i.test(value)) {
    throw new ConfigError(
      `TESSERA_TRUST_PROXY=${value} is no longer accepted: it trusts every hop, so any client could pick its own IP; ` +
        'give the number of proxies in front of Tessera (e.g. TESSERA_TRUST_PROXY=1) or their addresses (e.g. TESSERA_TRUST_PROXY=10.0.0.5 or 10.0.0.0/24)',
    );
  }
  if (/^\d+$/.test(value)) {
    const hops = Number(value);
    if (!inRange(hops, LIMITS.trustProxyHops)) throw new ConfigError(`TESSERA_TRUST_PROXY must be ${TRUST_PROXY_FORMS} (got "${raw}")`);
    return hops === 0 ? false : { hops };
  }
  const addresses = value.split(',').map((entry) => entry.trim());
  for (const entry of addresses) {
    if (!isAddressOrCidr(entry)) {
      throw new ConfigError(`TESSERA_TRUST_PROXY must be ${TRUST_PROXY_FORMS} ("${entry}" is not an IP address or CIDR)`);
    }
  }
  return { addresses };
}

/** `10.0.0.5`, `10.0.0.0/8`, `::1`, `fd00::/8` (no zone ids, no netmask form). */
function isAddressOrCidr(entry: string): boolean {
  const [address = '', prefix, ...rest] = entry.split('/');
  const family = isIP(address);
  if (family === 0 || address.includes('%') || rest.length > 0) return false;
  if (prefix === undefined) return true;
  return /^\d{1,3}$/.test(prefix) && Number(prefix) <= (family === 4 ? 32 : 128);
}
