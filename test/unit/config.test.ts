import { availableParallelism } from 'node:os';
import { describe, expect, test } from 'vitest';
import { ConfigError, DEFAULT_DATABASE_URL, loadConfig, type TrustProxy } from '../../src/config/config.ts';

describe('loadConfig defaults', () => {
  test('an empty environment gives the documented defaults', () => {
    const config = loadConfig({});
    // toMatchObject: fields added later need their own assertions, but do not break these.
    expect(config).toMatchObject({
      databaseUrl: DEFAULT_DATABASE_URL,
      server: { host: '127.0.0.1', port: 8080, issuer: undefined, trustProxy: false, bodyLimit: 65_536, workers: 1 },
      tokens: { accessTokenTtl: 3600, refreshTokenTtl: 30 * 86_400, codeTtl: 1800, idTokenTtl: 3600 },
      sessionTtl: 12 * 3600,
      redirectUriPolicy: undefined,
      keys: { encryptionKey: undefined, encryptionKeyFile: './data/tessera-key-encryption.key' },
      changePollMs: 500,
      databasePoolSize: 10,
      cleanup: { intervalSeconds: 300, auditRetentionDays: 0 },
      logLevel: 'info',
    });
    expect(DEFAULT_DATABASE_URL).toBe('sqlite:./data/tessera.db');
  });

  test('the key-encryption key file defaults to beside an SQLite database', () => {
    expect(loadConfig({ TESSERA_DATABASE_URL: 'sqlite:/var/lib/tessera/db.sqlite' }).keys.encryptionKeyFile).toBe(
      '/var/lib/tessera/tessera-key-encryption.key',
    );
    expect(loadConfig({ TESSERA_DATABASE_URL: 'sqlite:tessera.db' }).keys.encryptionKeyFile).toBe('./tessera-key-encryption.key');
    expect(loadConfig({ TESSERA_DATABASE_URL: 'postgres://db.example/tessera' }).keys.encryptionKeyFile).toBe(
      './data/tessera-key-encryption.key',
    );
    expect(loadConfig({ TESSERA_KEY_ENCRYPTION_KEY_FILE: '/run/secrets/kek' }).keys.encryptionKeyFile).toBe('/run/secrets/kek');
  });

  test('empty numeric and boolean variables mean "unset"', () => {
    const config = loadConfig({ TESSERA_PORT: '', TESSERA_ACCESS_TOKEN_TTL: '', TESSERA_TRUST_PROXY: '', TESSERA_KEY_ENCRYPTION_KEY: '' });
    expect(config.server.port).toBe(8080);
    expect(config.tokens.accessTokenTtl).toBe(3600);
    expect(config.server.trustProxy).toBe(false);
    expect(config.keys.encryptionKey).toBeUndefined();
  });
});

describe('loadConfig from the environment', () => {
  test('every variable is read', () => {
    const config = loadConfig({
      TESSERA_DATABASE_URL: 'postgres://u:p@db:5432/tessera',
      TESSERA_HOST: '0.0.0.0',
      TESSERA_PORT: '9000',
      TESSERA_ISSUER: 'https://id.example.com',
      TESSERA_TRUST_PROXY: '2',
      TESSERA_BODY_LIMIT: '2048',
      TESSERA_WORKERS: '3',
      TESSERA_ACCESS_TOKEN_TTL: '180',
      TESSERA_REFRESH_TOKEN_TTL: '172800',
      TESSERA_CODE_TTL: '60',
      TESSERA_ID_TOKEN_TTL: '600',
      TESSERA_SESSION_TTL: '3600',
      TESSERA_REDIRECT_URI_POLICY: 'development',
      TESSERA_KEY_ENCRYPTION_KEY: 'a2V5',
      TESSERA_CHANGE_POLL_MS: '100',
      TESSERA_DATABASE_POOL_SIZE: '25',
      TESSERA_CLEANUP_INTERVAL_SECONDS: '60',
      TESSERA_AUDIT_RETENTION_DAYS: '30',
      TESSERA_LOG_LEVEL: 'debug',
    });
    expect(config).toMatchObject({
      databaseUrl: 'postgres://u:p@db:5432/tessera',
      server: { host: '0.0.0.0', port: 9000, issuer: 'https://id.example.com', trustProxy: { hops: 2 }, bodyLimit: 2048, workers: 3 },
      tokens: { accessTokenTtl: 180, refreshTokenTtl: 172_800, codeTtl: 60, idTokenTtl: 600 },
      sessionTtl: 3600,
      redirectUriPolicy: 'development',
      keys: { encryptionKey: 'a2V5', encryptionKeyFile: './data/tessera-key-encryption.key' },
      changePollMs: 100,
      databasePoolSize: 25,
      cleanup: { intervalSeconds: 60, auditRetentionDays: 30 },
      logLevel: 'debug',
    });
  });

  test.each<[string, TrustProxy]>([
    ['false', false],
    ['no', false],
    ['OFF', false],
    ['0', false],
    [' 0 ', false],
    ['1', { hops: 1 }],
    ['10', { hops: 10 }],
    ['127.0.0.1', { addresses: ['127.0.0.1'] }],
    ['10.0.0.0/8', { addresses: ['10.0.0.0/8'] }],
    ['10.1.2.3, 192.168.0.0/16 ,::1,fd00::/8', { addresses: ['10.1.2.3', '192.168.0.0/16', '::1', 'fd00::/8'] }],
    ['0.0.0.0/0', { addresses: ['0.0.0.0/0'] }],
  ])('TESSERA_TRUST_PROXY=%s → %j', (raw, expected) => {
    expect(loadConfig({ TESSERA_TRUST_PROXY: raw }).server.trustProxy).toEqual(expected);
  });

  test.each(['true', 'TRUE', 'yes', 'on'])('TESSERA_TRUST_PROXY=%s (trust every hop) is refused with what to give instead', (raw) => {
    expect(() => loadConfig({ TESSERA_TRUST_PROXY: raw })).toThrow(
      new ConfigError(
        `TESSERA_TRUST_PROXY=${raw} is no longer accepted: it trusts every hop, so any client could pick its own IP; ` +
          'give the number of proxies in front of Tessera (e.g. TESSERA_TRUST_PROXY=1) or their addresses (e.g. TESSERA_TRUST_PROXY=10.0.0.5 or 10.0.0.0/24)',
      ),
    );
  });

  test('the cleanup interval and the audit retention are refused outside their ranges, naming the variable', () => {
    expect(() => loadConfig({ TESSERA_CLEANUP_INTERVAL_SECONDS: '0' })).toThrow('TESSERA_CLEANUP_INTERVAL_SECONDS must be a whole number from 1 to 86400 (got "0")');
    expect(() => loadConfig({ TESSERA_AUDIT_RETENTION_DAYS: '-1' })).toThrow('TESSERA_AUDIT_RETENTION_DAYS must be a whole number from 0 to 36500 (got "-1")');
    expect(() => loadConfig({ TESSERA_AUDIT_RETENTION_DAYS: 'forever' })).toThrow(ConfigError);
  });

  test('whole numbers may carry surrounding whitespace', () => {
    expect(loadConfig({ TESSERA_PORT: ' 8443 ' }).server.port).toBe(8443);
  });

  test('the issuer loses trailing slashes (it is a base URL for endpoint paths)', () => {
    expect(loadConfig({ TESSERA_ISSUER: 'https://id.example.com/' }).server.issuer).toBe('https://id.example.com');
    expect(loadConfig({ TESSERA_ISSUER: 'https://id.example.com/tenant//' }).server.issuer).toBe('https://id.example.com/tenant');
    expect(loadConfig({ TESSERA_ISSUER: 'http://127.0.0.1:8080' }).server.issuer).toBe('http://127.0.0.1:8080');
  });
});

describe('loadConfig precedence: flags over environment over defaults', () => {
  const env = {
    TESSERA_DATABASE_URL: 'sqlite:/env/db',
    TESSERA_HOST: '10.0.0.1',
    TESSERA_PORT: '7000',
    TESSERA_ISSUER: 'https://env.example',
  };

  test('flags win over the environment', () => {
    const config = loadConfig(env, { databaseUrl: 'sqlite:/flag/db', host: '::1', port: '7001', issuer: 'https://flag.example/' });
    expect(config.databaseUrl).toBe('sqlite:/flag/db');
    expect(config.server.host).toBe('::1');
    expect(config.server.port).toBe(7001);
    expect(config.server.issuer).toBe('https://flag.example');
    // The key file follows the database actually used.
    expect(config.keys.encryptionKeyFile).toBe('/flag/tessera-key-encryption.key');
  });

  test('absent flags leave the environment in force', () => {
    const config = loadConfig(env, { databaseUrl: undefined, host: undefined, port: undefined, issuer: undefined });
    expect(config.databaseUrl).toBe('sqlite:/env/db');
    expect(config.server.host).toBe('10.0.0.1');
    expect(config.server.port).toBe(7000);
    expect(config.server.issuer).toBe('https://env.example');
  });

  test('a numeric port flag, including 0 (pick a free port)', () => {
    expect(loadConfig(env, { port: 0 }).server.port).toBe(0);
    expect(loadConfig(env, { port: '0' }).server.port).toBe(0);
    expect(loadConfig({}, { port: 65_535 }).server.port).toBe(65_535);
  });

  test('an invalid flag is refused even when the environment is valid', () => {
    expect(() => loadConfig(env, { port: 'eighty' })).toThrow(ConfigError);
    expect(() => loadConfig(env, { issuer: 'https://flag.example/?x=1' })).toThrow(ConfigError);
  });

  test('TESSERA_LOG_LEVEL: one of pino\'s levels, else a ConfigError naming them', () => {
    for (const level of ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']) expect(loadConfig({ TESSERA_LOG_LEVEL: level }).logLevel).toBe(level);
    expect(loadConfig({ TESSERA_LOG_LEVEL: '' }).logLevel).toBe('info');
    expect(() => loadConfig({ TESSERA_LOG_LEVEL: 'loud' })).toThrow(/TESSERA_LOG_LEVEL must be one of fatal, error, warn, info, debug, trace, silent \(got "loud"\)/);
    expect(() => loadConfig({ TESSERA_LOG_LEVEL: 'INFO' })).toThrow(ConfigError);
  });

  test('workers: the flag over TESSERA_WORKERS; "auto" is one per CPU', () => {
    expect(loadConfig({ TESSERA_WORKERS: '2' }, { workers: '4' }).server.workers).toBe(4);
    expect(loadConfig({ TESSERA_WORKERS: '2' }, { workers: undefined }).server.workers).toBe(2);
    expect(loadConfig({ TESSERA_WORKERS: 'auto' }).server.workers).toBe(availableParallelism());
  });

  test('a valid flag hides an invalid environment value', () => {
    expect(loadConfig({ TESSERA_PORT: 'nope' }, { port: 1234 }).server.port).toBe(1234);
    expect(loadConfig({ TESSERA_ISSUER: 'not a url' }, { issuer: 'https://ok.example' }).server.issuer).toBe('https://ok.example');
  });
});

describe('loadConfig validation', () => {
  const invalid: Array<[string, Record<string, string>, Parameters<typeof loadConfig>[1], RegExp]> = [
    ['port not a number', { TESSERA_PORT: 'http' }, {}, /port must be a whole number from 0 to 65535 \(got "http"\)/],
    ['port negative', { TESSERA_PORT: '-1' }, {}, /port/],
    ['port too large', { TESSERA_PORT: '65536' }, {}, /port/],
    ['port with a fraction', { TESSERA_PORT: '80.5' }, {}, /port/],
    ['port in hex', { TESSERA_PORT: '0x50' }, {}, /port/],
    ['port in exponent notation', { TESSERA_PORT: '8e3' }, {}, /port/],
    ['port flag with a fraction', {}, { port: 80.5 }, /port/],
    ['port flag negative', {}, { port: -1 }, /port/],
    ['port flag NaN', {}, { port: Number.NaN }, /port/],
    ['access TTL below the minimum', { TESSERA_ACCESS_TOKEN_TTL: '59' }, {}, /TESSERA_ACCESS_TOKEN_TTL must be a whole number from 60 to 604800/],
    ['access TTL above the maximum', { TESSERA_ACCESS_TOKEN_TTL: '604801' }, {}, /TESSERA_ACCESS_TOKEN_TTL/],
    ['access TTL with a unit', { TESSERA_ACCESS_TOKEN_TTL: '1h' }, {}, /TESSERA_ACCESS_TOKEN_TTL/],
    ['refresh TTL zero', { TESSERA_REFRESH_TOKEN_TTL: '0' }, {}, /TESSERA_REFRESH_TOKEN_TTL/],
    ['code TTL too long', { TESSERA_CODE_TTL: '3601' }, {}, /TESSERA_CODE_TTL/],
    ['ID token TTL negative', { TESSERA_ID_TOKEN_TTL: '-60' }, {}, /TESSERA_ID_TOKEN_TTL/],
    ['session TTL not a number', { TESSERA_SESSION_TTL: 'forever' }, {}, /TESSERA_SESSION_TTL/],
    ['body limit too small', { TESSERA_BODY_LIMIT: '1023' }, {}, /TESSERA_BODY_LIMIT/],
    ['change poll too fast', { TESSERA_CHANGE_POLL_MS: '10' }, {}, /TESSERA_CHANGE_POLL_MS/],
    ['workers zero', { TESSERA_WORKERS: '0' }, {}, /--workers must be a number from 1 to 256, or "auto" \(got "0"\)/],
    ['workers too many', { TESSERA_WORKERS: '257' }, {}, /--workers/],
    ['workers flag not a number', {}, { workers: 'all' }, /--workers must be a number from 1 to 256, or "auto" \(got "all"\)/],
    ['pool size zero', { TESSERA_DATABASE_POOL_SIZE: '0' }, {}, /TESSERA_DATABASE_POOL_SIZE must be a whole number from 1 to 1000/],
    ['trust proxy a word', { TESSERA_TRUST_PROXY: 'maybe' }, {}, /^TESSERA_TRUST_PROXY must be false, a number of proxies from 0 to 10, or a comma-separated list of the proxies' IP addresses or CIDRs \("maybe" is not an IP address or CIDR\)$/],
    ['trust proxy too many hops', { TESSERA_TRUST_PROXY: '11' }, {}, /TESSERA_TRUST_PROXY must be false, a number of proxies from 0 to 10, .* \(got "11"\)/],
    ['trust proxy negative hops', { TESSERA_TRUST_PROXY: '-1' }, {}, /"-1" is not an IP address or CIDR/],
    ['trust proxy a host name', { TESSERA_TRUST_PROXY: 'proxy.internal' }, {}, /"proxy.internal" is not an IP address or CIDR/],
    ['trust proxy one bad entry in a list', { TESSERA_TRUST_PROXY: '10.0.0.1,10.0.0.300' }, {}, /"10.0.0.300" is not an IP address or CIDR/],
    ['trust proxy an empty entry', { TESSERA_TRUST_PROXY: '10.0.0.1,' }, {}, /"" is not an IP address or CIDR/],
    ['trust proxy IPv4 prefix too long', { TESSERA_TRUST_PROXY: '10.0.0.0/33' }, {}, /"10.0.0.0\/33" is not/],
    ['trust proxy IPv6 prefix too long', { TESSERA_TRUST_PROXY: 'fd00::/129' }, {}, /"fd00::\/129" is not/],
    ['trust proxy prefix not a number', { TESSERA_TRUST_PROXY: '10.0.0.0/x' }, {}, /"10.0.0.0\/x" is not/],
    ['trust proxy netmask form', { TESSERA_TRUST_PROXY: '10.0.0.0/255.0.0.0' }, {}, /is not an IP address or CIDR/],
    ['trust proxy two slashes', { TESSERA_TRUST_PROXY: '10.0.0.0/8/8' }, {}, /is not an IP address or CIDR/],
    ['trust proxy zone id', { TESSERA_TRUST_PROXY: 'fe80::1%eth0' }, {}, /is not an IP address or CIDR/],
    ['policy unknown', { TESSERA_REDIRECT_URI_POLICY: 'lenient' }, {}, /TESSERA_REDIRECT_URI_POLICY must be "strict" or "development" \(got "lenient"\)/],
    ['policy in the wrong case', { TESSERA_REDIRECT_URI_POLICY: 'Strict' }, {}, /TESSERA_REDIRECT_URI_POLICY/],
    ['issuer not a URL', { TESSERA_ISSUER: 'id.example.com' }, {}, /issuer must be an absolute URL/],
    ['issuer with a query', { TESSERA_ISSUER: 'https://id.example.com/?tenant=a' }, {}, /query or fragment/],
    ['issuer with a fragment', { TESSERA_ISSUER: 'https://id.example.com/#x' }, {}, /query or fragment/],
    ['issuer with an empty query', { TESSERA_ISSUER: 'https://id.example.com/?' }, {}, /query or fragment/],
    ['issuer with an empty fragment', { TESSERA_ISSUER: 'https://id.example.com#' }, {}, /query or fragment/],
    ['issuer with another scheme', { TESSERA_ISSUER: 'ftp://id.example.com' }, {}, /http\(s\)/],
    ['issuer flag with a query', {}, { issuer: 'https://id.example.com?x' }, /query or fragment/],
    ['metrics token too short', { TESSERA_METRICS_TOKEN: 'a'.repeat(15) }, {}, /TESSERA_METRICS_TOKEN must be 16 to 512 characters/],
    ['metrics token too long', { TESSERA_METRICS_TOKEN: 'a'.repeat(513) }, {}, /TESSERA_METRICS_TOKEN/],
    ['metrics token with a space', { TESSERA_METRICS_TOKEN: 'abcdefgh ijklmnopq' }, {}, /TESSERA_METRICS_TOKEN/],
    ['metrics listen without a port', { TESSERA_METRICS_LISTEN: '127.0.0.1' }, {}, /TESSERA_METRICS_LISTEN must be host:port, e.g. 127.0.0.1:9464 or \[::1\]:9464 \(got "127.0.0.1"\)/],
    ['metrics listen port too large', { TESSERA_METRICS_LISTEN: '127.0.0.1:65536' }, {}, /TESSERA_METRICS_LISTEN/],
    ['metrics listen as a URL', { TESSERA_METRICS_LISTEN: 'http://127.0.0.1:9464' }, {}, /TESSERA_METRICS_LISTEN/],
    ['metrics token alone with workers', { TESSERA_METRICS_TOKEN: 'x'.repeat(32), TESSERA_WORKERS: '2' }, {}, /with more than one worker, set TESSERA_METRICS_LISTEN/],
  ];

  test.each(invalid)('%s → ConfigError', (_name, env, overrides, message) => {
    let error: unknown;
    try {
      loadConfig(env, overrides);
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(ConfigError);
    expect((error as Error).message).toMatch(message);
  });

  test('metrics: off by default; a token, an address (IPv4, IPv6, name), both', () => {
    expect(loadConfig({}).metrics).toEqual({ token: undefined, listen: undefined });
    const token = 'f3a9c1e0-metrics~token_0123456789+/=';
    expect(loadConfig({ TESSERA_METRICS_TOKEN: token }).metrics).toEqual({ token, listen: undefined });
    expect(loadConfig({ TESSERA_METRICS_LISTEN: '127.0.0.1:9464' }).metrics.listen).toEqual({ host: '127.0.0.1', port: 9464 });
    expect(loadConfig({ TESSERA_METRICS_LISTEN: '[::1]:9464' }).metrics.listen).toEqual({ host: '::1', port: 9464 });
    expect(loadConfig({ TESSERA_METRICS_LISTEN: 'localhost:0' }).metrics.listen).toEqual({ host: 'localhost', port: 0 });
    expect(loadConfig({ TESSERA_METRICS_LISTEN: '10.0.0.5:9464', TESSERA_METRICS_TOKEN: token, TESSERA_WORKERS: '4' }).metrics).toEqual({ token, listen: { host: '10.0.0.5', port: 9464 } });
  });

  test('range boundaries are inclusive', () => {
    const low = loadConfig({ TESSERA_ACCESS_TOKEN_TTL: '60', TESSERA_BODY_LIMIT: '1024', TESSERA_CHANGE_POLL_MS: '50', TESSERA_PORT: '0' });
    expect([low.tokens.accessTokenTtl, low.server.bodyLimit, low.changePollMs, low.server.port]).toEqual([60, 1024, 50, 0]);
    const high = loadConfig({ TESSERA_ACCESS_TOKEN_TTL: '604800', TESSERA_CODE_TTL: '3600', TESSERA_PORT: '65535' });
    expect([high.tokens.accessTokenTtl, high.tokens.codeTtl, high.server.port]).toEqual([604_800, 3600, 65_535]);
  });

  test('loadConfig does not read process.env', () => {
    const saved = process.env.TESSERA_PORT;
    process.env.TESSERA_PORT = '1';
    try {
      expect(loadConfig({}).server.port).toBe(8080);
    } finally {
      if (saved === undefined) delete process.env.TESSERA_PORT;
      else process.env.TESSERA_PORT = saved;
    }
  });
});

describe('TESSERA_SQLITE_SYNCHRONOUS', () => {
  test('normal by default, full on request (any case), anything else one clear error', () => {
    expect(loadConfig({}).sqliteSynchronous).toBe('normal');
    expect(loadConfig({ TESSERA_SQLITE_SYNCHRONOUS: 'FULL' }).sqliteSynchronous).toBe('full');
    expect(loadConfig({ TESSERA_SQLITE_SYNCHRONOUS: ' normal ' }).sqliteSynchronous).toBe('normal');
    expect(() => loadConfig({ TESSERA_SQLITE_SYNCHRONOUS: 'off' })).toThrow(new ConfigError('TESSERA_SQLITE_SYNCHRONOUS must be "normal" or "full" (got "off")'));
  });
});

describe('TESSERA_THREADPOOL_NICE', () => {
  test('5 steps below the event loop by default, 0 – 19 on request, anything else one clear error', () => {
    expect(loadConfig({}).threadpoolNice).toBe(5);
    expect(loadConfig({ TESSERA_THREADPOOL_NICE: '0' }).threadpoolNice).toBe(0);
    expect(loadConfig({ TESSERA_THREADPOOL_NICE: '19' }).threadpoolNice).toBe(19);
    expect(() => loadConfig({ TESSERA_THREADPOOL_NICE: '20' })).toThrow(new ConfigError('TESSERA_THREADPOOL_NICE must be a whole number from 0 to 19 (got "20")'));
    expect(() => loadConfig({ TESSERA_THREADPOOL_NICE: 'low' })).toThrow(ConfigError);
  });
});

describe('TESSERA_PASSWORD_HASHING_NICE', () => {
  test('10 steps below the event loop by default, 0 – 19 on request, anything else one clear error', () => {
    expect(loadConfig({}).passwordHashingNice).toBe(10);
    expect(loadConfig({ TESSERA_PASSWORD_HASHING_NICE: '0' }).passwordHashingNice).toBe(0);
    expect(loadConfig({ TESSERA_PASSWORD_HASHING_NICE: '19' }).passwordHashingNice).toBe(19);
    expect(() => loadConfig({ TESSERA_PASSWORD_HASHING_NICE: '20' })).toThrow(new ConfigError('TESSERA_PASSWORD_HASHING_NICE must be a whole number from 0 to 19 (got "20")'));
    expect(() => loadConfig({ TESSERA_PASSWORD_HASHING_NICE: '-1' })).toThrow(ConfigError);
  });
});
