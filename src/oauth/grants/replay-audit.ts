import { appActor, SYSTEM } from '../../audit/actor.ts';
import type { GrantDeps, GrantRequest } from './grant-handler.ts';

/** A replay and what its revocation ended, for the audit log (`token.replay`). */
export interface Replay {
  /** The app the token or code was issued to. */
  clientId: string;
  tokenType: 'refresh_token' | 'authorization_code';
  /** The user of the grant. */
  sub: string;
  refreshFamilyId: string | null;
  accessTokenJti: string | null;
}

/**
 * Records a replayed refresh token or code once what it gave is revoked: operators see the
 * theft RFC 9700 §4.14.2 guards against, not only its victims' failed refreshes. `by` is the
 * request that presented it again (the actor is its app, with its address), or 'system' when
 * Tessera found the replay itself while finishing the first exchange.
 */
export function recordReplay(deps: GrantDeps, by: GrantRequest | 'system', replay: Replay): Promise<void> {
  return deps.audit.record(
    {
      action: 'token.replay',
      targetId: replay.refreshFamilyId ?? replay.accessTokenJti,
      details: {
        client_id: replay.clientId,
        token_type: replay.tokenType,
        sub: replay.sub,
        revoked: { refresh_family: replay.refreshFamilyId, access_token_jti: replay.accessTokenJti },
      },
    },
    by === 'system' ? SYSTEM : appActor(by.client.id, by.ip?.() ?? null),
  );
}
