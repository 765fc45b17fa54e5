import { randomBytes } from 'node:crypto';
import { SYSTEM } from '../audit/actor.ts';
import type { Client } from '../clients/client.ts';
import type { ClientStore } from '../clients/client-store.ts';
import type { UserService } from '../identity/user-service.ts';
import type { UserStore } from '../identity/user-store.ts';
import { CONSOLE_CLIENT_ID, CONSOLE_SCOPES, consolePostLogoutUri, consoleRedirectUri } from './console-client.ts';

/**
 * The admin console's own client, kept in step with the issuer on every start. Its redirect
 * URIs point at Tessera itself, so they skip the registration policy (which exists to vet
 * third parties' URIs); nothing else can be registered this way.
 */
export async function ensureConsoleClient(clients: ClientStore, issuer: string, now: number): Promise<Client> {
  const redirectUris = [consoleRedirectUri(issuer)];
  const postLogoutRedirectUris = [consolePostLogoutUri(issuer)];
  const existing = await clients.findById(CONSOLE_CLIENT_ID);
  if (existing) {
    const same = existing.redirectUris.join() === redirectUris.join() && existing.postLogoutRedirectUris.join() === postLogoutRedirectUris.join();
    if (same) return existing;
    const next = { ...existing, redirectUris, postLogoutRedirectUris, updatedAt: Math.max(now, existing.updatedAt) };
    await clients.save(next);
    return next;
  }
  const client: Client = {
    id: CONSOLE_CLIENT_ID,
    name: 'Tessera console',
    description: 'The administration console of this Tessera.',
    secretHash: null,
    secretUpdatedAt: null,
    public: true,
    grantTypes: ['authorization_code'],
    redirectUris,
    postLogoutRedirectUris,
    scopes: [...CONSOLE_SCOPES],
    defaultScopes: [],
    onBehalfOfUserId: null,
    accessTokenTtl: null,
    refreshTokenTtl: null,
    requirePermission: 'developer_api',
    idTokenSignedResponseAlg: null,
    tokensValidAfter: 0,
    createdAt: now,
    updatedAt: now,
  };
  await clients.insert(client);
  return client;
}

/**
 * On an empty database, the first start creates an `admin` user, with the password from
 * TESSERA_ADMIN_PASSWORD or a random one that the caller prints once. Returns undefined when
 * users already exist.
 */
export async function bootstrapAdmin(
  users: UserService,
  store: UserStore,
  password: string | undefined,
): Promise<{ username: string; password: string; generated: boolean } | undefined> {
  if ((await store.list()).length > 0) return undefined;
  const generated = !password;
  const secret = password || randomBytes(18).toString('base64url');
  await users.create({ username: 'admin', password: secret, roles: ['admin'] }, SYSTEM);
  return { username: 'admin', password: secret, generated };
}
