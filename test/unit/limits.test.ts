import { readFileSync } from 'node:fs';
import { describe, expect, test } from 'vitest';
import { LIMITS, type Range } from '../../src/config/limits.ts';

const docs = (name: string) => readFileSync(new URL(`../../docs/${name}`, import.meta.url), 'utf8');

/** The first "min – max" on the line where `anchor` is, after it. Digits may be grouped with spaces ("300 000"). */
function rangeAfter(text: string, anchor: string): Range | undefined {
  const at = text.indexOf(anchor);
  if (at < 0) return undefined;
  const end = text.indexOf('\n', at);
  const line = text.slice(at + anchor.length, end < 0 ? undefined : end);
  const m = /(\d(?:[\d\u00a0\u202f ]*\d)?)\s*[–-]\s*(\d(?:[\d\u00a0\u202f ]*\d)?)/.exec(line);
  const num = (s: string) => Number(s.replace(/\D/g, ''));
  return m ? { min: num(m[1]!), max: num(m[2]!) } : undefined;
}

describe('the docs state the ranges of src/config/limits.ts', () => {
  // [document, where the range is stated, the limit]
  const cases: Array<[string, string, keyof typeof LIMITS]> = [
    ['configuration.md', '| `TESSERA_PORT` |', 'port'],
    ['configuration.md', '| `TESSERA_WORKERS` |', 'workers'],
    ['configuration.md', '| `TESSERA_BODY_LIMIT` |', 'bodyLimit'],
    ['configuration.md', '| `TESSERA_TRUST_PROXY` |', 'trustProxyHops'],
    ['configuration.md', '| `TESSERA_ACCESS_TOKEN_TTL` |', 'accessTokenTtl'],
    ['configuration.md', '| `TESSERA_REFRESH_TOKEN_TTL` |', 'refreshTokenTtl'],
    ['configuration.md', '| `TESSERA_CODE_TTL` |', 'codeTtl'],
    ['configuration.md', '| `TESSERA_ID_TOKEN_TTL` |', 'idTokenTtl'],
    ['configuration.md', '| `TESSERA_SESSION_TTL` |', 'sessionTtl'],
    ['configuration.md', '| `TESSERA_CHANGE_POLL_MS` |', 'changePollMs'],
    ['configuration.md', '| `TESSERA_GATEWAY_BODY_TIMEOUT_MS` | | `60000` |', 'gatewayBodyTimeoutMs'],
    ['configuration.md', '| `TESSERA_GATEWAY_IDLE_TIMEOUT_MS` | | `15000` |', 'gatewayIdleTimeoutMs'],
    ['configuration.md', '| `TESSERA_DATABASE_POOL_SIZE` |', 'databasePoolSize'],
    ['configuration.md', '| `TESSERA_PASSWORD_HASHING_NICE` | | `10` |', 'passwordHashingNice'],
    ['configuration.md', '| `TESSERA_THREADPOOL_NICE` | | `5` |', 'threadpoolNice'],
    ['configuration.md', '| `TESSERA_REGISTRATIONS_PER_IP` |', 'registrationsPerIp'],
    ['configuration.md', '| `TESSERA_CLEANUP_INTERVAL_SECONDS` | | `300` |', 'cleanupIntervalSeconds'],
    ['configuration.md', '| `TESSERA_AUDIT_RETENTION_DAYS` | | `0` |', 'auditRetentionDays'],
    ['configuration.md', '| `TESSERA_METRICS_TOKEN` |', 'metricsTokenLength'],
    ['configuration.md', '| `TESSERA_DPOP_PROOF_MAX_AGE` | | `60` |', 'dpopProofMaxAge'],
    ['cli.md', '`--name`:', 'appName'],
    ['cli.md', '`--description`:', 'appDescription'],
    ['cli.md', '`--post-logout-redirect-uri` are repeatable,', 'appRedirectUris'],
    ['cli.md', '`--access-token-ttl` (', 'appAccessTokenTtl'],
    ['cli.md', '`--refresh-token-ttl` (', 'appRefreshTokenTtl'],
    ['cli.md', '`--grace DURATION` (', 'secretGrace'],
    ['token-exchange.md', '| entries per list |', 'tokenExchangeEntries'],
    ['gateway.md', '| timeout |', 'apiTimeoutMs'],
    ['gateway.md', '| max body |', 'apiMaxBodyBytes'],
    ['branding.md', '| `product_name` | `Tessera` |', 'productName'],
    ['branding.md', '| logo (upload) | none |', 'logoBytes'],
    ['client-authentication.md', "- The assertion's `exp` may be", 'clientAssertionLifetime'],
  ];

  test.each(cases)('%s %s', (doc, anchor, limit) => {
    expect(rangeAfter(docs(doc), anchor), `${doc}: no "min – max" after ${anchor}`).toEqual(LIMITS[limit]);
  });

  test('every limit is documented', () => {
    expect(new Set(cases.map(([, , limit]) => limit))).toEqual(new Set(Object.keys(LIMITS)));
  });
});
