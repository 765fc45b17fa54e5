import { createHash } from 'node:crypto';
import { describe, expect, test } from 'vitest';
import { migrateToLatest } from '../../src/storage/database.ts';
import { refreshStoreFor } from '../../src/oauth/refresh-store.ts';
import { DIALECTS } from '../support/databases.ts';
import { freshDatabase, migrateToBefore } from '../support/migrations.ts';

const sha256 = (s: string) => createHash('sha256').update(s).digest('base64url');

/**
 * Migration 0026 on a database an earlier release left: a family issued before it keeps its
 * tokens in `refresh_tokens`, and they go on working — found by hash, rotated there, a spent
 * one still revoking the family.
 */
describe.each(DIALECTS)('migration 0026 on existing refresh tokens (%s)', (dialect) => {
  const database = freshDatabase(dialect);

  test('tokens issued before it are found, rotate and detect reuse as before', async () => {
    const handle = database();
    await migrateToBefore(handle, dialect, '0026-refresh-token-generations');
    const now = 1_700_000_000;
    await handle.db.insertInto('clients').values({ id: 'old-app', name: 'Old app', public: 1, grant_types: '["authorization_code"]', created_at: now, updated_at: now } as never).execute();
    await handle.db.insertInto('refresh_token_families').values({
      id: 'fam-old', client_id: 'old-app', user_id: null, scope: 'openid offline_access', session_id: null, auth_time: now, amr: 'pwd',
      resource: null, dpop_jkt: null, created_at: now, expires_at: now + 3600, revoked_at: null,
    } as never).execute();
    await handle.db.insertInto('refresh_tokens').values({ token_hash: sha256('old-token'), family_id: 'fam-old', scope: 'openid offline_access', created_at: now, expires_at: now + 3600, used_at: null }).execute();

    expect(await migrateToLatest(handle)).toContain('0026-refresh-token-generations');
    const store = refreshStoreFor(handle);
    const found = await store.find(sha256('old-token'));
    expect(found).toMatchObject({ family: { id: 'fam-old', clientId: 'old-app' }, usedAt: null, expiresAt: now + 3600 });
    expect(found!.generation).toBeUndefined();
    expect(found!.family.tokenKey).toBeUndefined();

    expect(await store.rotate(sha256('old-token'), sha256('old-successor'), 'fam-old', 'openid offline_access', now + 10, now + 3600)).toEqual({ status: 'rotated' });
    expect(await store.rotate(sha256('old-token'), sha256('old-other'), 'fam-old', 'openid offline_access', now + 11, now + 3600)).toEqual({ status: 'already_used' });
    expect((await store.find(sha256('old-token')))!.usedAt).toBe(now + 10);
    expect((await store.find(sha256('old-successor')))!.usedAt).toBeNull();
    const family = await handle.db.selectFrom('refresh_token_families').selectAll().where('id', '=', 'fam-old').executeTakeFirstOrThrow();
    expect(family).toMatchObject({ token_key: null, token_generation: null, token_hash: null });
  });
});
