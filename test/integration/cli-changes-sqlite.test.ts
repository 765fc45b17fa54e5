import { afterAll, beforeAll, describe, expect, test, vi } from 'vitest';
import { cliRunner } from '../support/cli-runner.ts';
import { startTestServer, type TestServer } from '../support/server.ts';

/**
 * A change made with the CLI while a server runs on the same SQLite file is applied by the
 * server in milliseconds — with its poll set to a minute, only the check for other
 * connections' commits (src/storage/sqlite-data-version.ts) can bring it. What a script that
 * creates an API and calls it at once (README.md) relies on.
 */
vi.setConfig({ testTimeout: 60_000 });

describe('CLI changes reach a running SQLite server at once', () => {
  let server: TestServer;
  const { json } = cliRunner(() => ({ databaseUrl: server.databaseUrl, env: { TESSERA_KEY_ENCRYPTION_KEY_FILE: server.env.TESSERA_KEY_ENCRYPTION_KEY_FILE!, TESSERA_LOG_LEVEL: 'silent' } }));

  beforeAll(async () => {
    server = await startTestServer('sqlite', { env: { TESSERA_CHANGE_POLL_MS: '60000' } });
  });
  afterAll(async () => server?.close());

  async function within(ms: number, seen: () => boolean): Promise<number> {
    const started = performance.now();
    while (!seen() && performance.now() - started < ms) await new Promise((r) => setTimeout(r, 5));
    return performance.now() - started;
  }

  test('tessera apis create: the gateway routes the new base path; tessera settings set: the server uses the new lifetime', async () => {
    expect(server.tessera.gateway.match('/0/odata/Account')).toBeUndefined();
    await json(['apis', 'create', '--name', 'Accounts', '--base-path', '/0/odata', '--upstream', 'http://127.0.0.1:9/odata', '--scope', 'accounts.read=Read', '--route', 'GET /Account accounts.read']);
    const routed = await within(2_000, () => server.tessera.gateway.match('/0/odata/Account') !== undefined);
    expect(server.tessera.gateway.match('/0/odata/Account')).toBeDefined();
    expect(routed).toBeLessThan(500);

    const before = server.tessera.services.settings.live.accessTokenTtl;
    expect(before).not.toBe(900);
    await json(['settings', 'set', 'access_token_ttl', '900']);
    const applied = await within(2_000, () => server.tessera.services.settings.live.accessTokenTtl === 900);
    expect(server.tessera.services.settings.live.accessTokenTtl).toBe(900);
    expect(applied).toBeLessThan(500);
  });
});
