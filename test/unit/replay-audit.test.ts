import { describe, expect, test } from 'vitest';
import type { AuditLog } from '../../src/audit/audit-log.ts';
import type { Client } from '../../src/clients/client.ts';
import type { GrantDeps, GrantRequest } from '../../src/oauth/grants/grant-handler.ts';
import { recordReplay, type Replay } from '../../src/oauth/grants/replay-audit.ts';

/** The audit entry of a replayed code or refresh token: who is the actor, what is the target (src/oauth/grants/replay-audit.ts). */
describe('recordReplay', () => {
  function recorder() {
    const calls: unknown[][] = [];
    const deps = { audit: { record: async (...args: unknown[]) => void calls.push(args) } as unknown as AuditLog } as GrantDeps;
    return { calls, deps };
  }
  const request = (ip?: () => string | null) => ({ client: { id: 'presenter' } as Client, params: new Map(), authMethod: 'client_secret_basic', now: 0, ip }) as GrantRequest;
  const replay: Replay = { clientId: 'owner', tokenType: 'authorization_code', sub: 'user-1', refreshFamilyId: 'family-1', accessTokenJti: 'jti-1' };

  test('by a request: the app that presented it, with the address it gives; the refresh family is the target', async () => {
    const { calls, deps } = recorder();
    let asked = 0;
    await recordReplay(deps, request(() => (asked++, '198.51.100.7')), replay);
    expect(asked).toBe(1);
    expect(calls).toEqual([
      [
        { action: 'token.replay', targetId: 'family-1', details: { client_id: 'owner', token_type: 'authorization_code', sub: 'user-1', revoked: { refresh_family: 'family-1', access_token_jti: 'jti-1' } } },
        { kind: 'app', clientId: 'presenter', label: 'app:presenter', ip: '198.51.100.7' },
      ],
    ]);
  });

  test('found by the first exchange itself: the actor is `system`; without a family the access token is the target, without either none', async () => {
    const { calls, deps } = recorder();
    await recordReplay(deps, 'system', { ...replay, refreshFamilyId: null });
    await recordReplay(deps, request(), { ...replay, refreshFamilyId: null, accessTokenJti: null });
    expect(calls.map(([entry, actor]) => [(entry as { targetId: unknown }).targetId, actor])).toEqual([
      ['jti-1', { kind: 'system', label: 'system' }],
      [null, { kind: 'app', clientId: 'presenter', label: 'app:presenter', ip: null }],
    ]);
  });
});
