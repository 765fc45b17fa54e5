import { randomUUID } from 'node:crypto';
import { describe, expect, test } from 'vitest';
import { KyselyClientStore } from '../../src/clients/client-store.ts';
import { KyselyApiStore } from '../../src/gateway/api-store.ts';
import { migrateToLatest } from '../../src/storage/database.ts';
import { DIALECTS } from '../support/databases.ts';
import { freshDatabase, migrateToBefore } from '../support/migrations.ts';

/**
 * Migration 0023 (token exchange) on a database an earlier release left: APIs keep what they
 * did (forward_authorization 1 → upstream_token forward, 0 → none), and apps have no
 * token-exchange policy.
 */
describe.each(DIALECTS)('migration 0023 on existing rows (%s)', (dialect) => {
  const database = freshDatabase(dialect);

  test('APIs keep forwarding or not; apps get no policy', async () => {
    const handle = database();
    await migrateToBefore(handle, dialect, '0023-token-exchange');
    const now = 1_700_000_000;
    const api = (name: string, forward: number) => ({ id: randomUUID(), name, base_path: `/${name}`, upstream: 'http://127.0.0.1:9', audience: null, timeout_ms: 30_000, forward_authorization: forward, max_body_bytes: null, created_at: now, updated_at: now });
    const db = handle.db as never as import('kysely').Kysely<Record<string, Record<string, unknown>>>;
    await db.insertInto('apis').values([api('open', 1), api('sealed', 0)]).execute();
    const clientId = randomUUID();
    await db
      .insertInto('clients')
      .values({ id: clientId, name: 'old', description: '', secret_hash: null, secret_updated_at: null, previous_secret_hash: null, previous_secret_expires_at: null, public: 0, grant_types: '["client_credentials"]', redirect_uris: '[]', post_logout_redirect_uris: '[]', scopes: '[]', default_scopes: '[]', on_behalf_of_user_id: null, access_token_ttl: null, refresh_token_ttl: null, require_permission: 'developer_api', id_token_signed_response_alg: null, tokens_valid_after: 0, created_at: now, updated_at: now })
      .execute();

    expect(await migrateToLatest(handle)).toContain('0023-token-exchange');
    const apis = await new KyselyApiStore(handle.db).loadAll();
    expect(apis.map((a) => [a.name, a.upstreamToken, a.upstreamAudience])).toEqual([
      ['open', 'forward', null],
      ['sealed', 'none', null],
    ]);
    expect((await new KyselyClientStore(handle.db).findById(clientId))!.tokenExchange).toBeNull();
  });
});
