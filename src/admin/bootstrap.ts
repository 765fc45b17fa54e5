import { randomBytes } from 'node:crypto';
import { SYSTEM } from '../audit/actor.ts';
import { newClient, type Client } from '../clients/client.ts';
import type { ClientService } from '../clients/client-service.ts';
import type { UserService } from '../identity/user-service.ts';
import type { UserStore } from '../identity/user-store.ts';
import { CONSOLE_CLIENT_ID, CONSOLE_SCOPES, consolePostLogoutUri, consoleRedirectUri } from './console-client.ts';

/**
 * The admin console's own client, kept in step with the issuer on every start (through
 * ClientService.ensureBuiltIn: its URIs point at Tessera itself, so they skip the
 * registration policy that vets third parties' URIs).
 */
export function ensureConsoleClient(clients: ClientService, issuer: string, now: number): Promise<Client> {
  return clients.ensureBuiltIn(
    newClient(now, {
      id: CONSOLE_CLIENT_ID,
      name: 'Tessera console',
      description: 'The administration console of this Tessera.',
      public: true,
      grantTypes: ['authorization_code'],
      redirectUris: [consoleRedirectUri(issuer)],
      postLogoutRedirectUris: [consolePostLogoutUri(issuer)],
      scopes: [...CONSOLE_SCOPES],
    }),
    SYSTEM,
  );
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
