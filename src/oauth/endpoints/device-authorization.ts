import type { Client } from '../../clients/client.ts';
import { DEVICE_CODE_GRANT } from '../../clients/client.ts';
import { randomToken, sha256 } from '../../lib/crypto.ts';
import { authenticateClient, presentedCredentials, type ClientLookup } from '../client-auth.ts';
import type { ClientAssertions } from '../client-assertion.ts';
import type { DeviceAuthorizationStore } from '../device-store.ts';
import { invalidScope, unauthorizedClient } from '../errors.ts';
import { singleValued, type RawParams } from '../params.ts';
import { checkResourceAllowed, rejectSeveralResources, resolveResource, type ResourceDirectory } from '../resource-indicators.ts';
import { parseScope } from '../scopes.ts';
import { newUserCode, normalizeUserCode, userCodeHash } from '../user-codes.ts';

/** RFC 8628 §3.2: the device authorization response. */
export interface DeviceAuthorizationResponse {
  device_code: string;
  user_code: string;
  verification_uri: string;
  verification_uri_complete: string;
  expires_in: number;
  interval: number;
}

export interface DeviceAuthorizationDeps {
  /** private_key_jwt (docs/client-authentication.md); without it client assertions are refused. */
  clientAssertions?: ClientAssertions;
  lookupClient: ClientLookup;
  devices: DeviceAuthorizationStore;
  issuer: () => string;
  resources: ResourceDirectory;
  /** Seconds a request lives (10 minutes: long enough to find a phone and sign in). */
  ttl: number;
  /** Seconds between polls (RFC 8628 §3.2 default 5). */
  interval: number;
}

export const DEVICE_FLOW_DEFAULTS = { ttl: 600, interval: 5 } as const;

/**
 * POST /connect/deviceauthorization (RFC 8628 §3.1). The client authenticates as at the token
 * endpoint (public clients send client_id alone); the app must be registered for the device
 * grant; scopes and resource are checked as at /connect/authorize.
 */
export function deviceAuthorizationEndpoint(deps: DeviceAuthorizationDeps) {
  const assertions = deps.clientAssertions?.forEndpoint('/connect/deviceauthorization');
  return async function handle(req: { params: RawParams; authorization: string | undefined; now: number }): Promise<DeviceAuthorizationResponse> {
    rejectSeveralResources(req.params);
    const params = singleValued(req.params);
    const { client } = await authenticateClient(presentedCredentials(req.authorization, params), deps.lookupClient, req.now, assertions);
    if (!(client.grantTypes as string[]).includes(DEVICE_CODE_GRANT)) throw unauthorizedClient('this app is not registered for the device authorization grant');
    const scopes = requestedScopes(client, params.get('scope'));
    const resource = resolveResource(params.get('resource'), deps.resources);
    if (resource) checkResourceAllowed(resource, [...client.scopes, ...client.defaultScopes]);
    const deviceCode = randomToken();
    const userCode = newUserCode();
    await deps.devices.insert({
      deviceCodeHash: sha256(deviceCode),
      userCodeHash: userCodeHash(normalizeUserCode(userCode)!),
      clientId: client.id,
      scope: scopes.join(' '),
      resource: resource?.id ?? null,
      interval: deps.interval,
      createdAt: req.now,
      expiresAt: req.now + deps.ttl,
    });
    const verification = `${deps.issuer()}/device`;
    return {
      device_code: deviceCode,
      user_code: userCode,
      verification_uri: verification,
      verification_uri_complete: `${verification}?${new URLSearchParams({ user_code: userCode })}`,
      expires_in: deps.ttl,
      interval: deps.interval,
    };
  };
}

function requestedScopes(client: Client, scope: string | undefined): string[] {
  const scopes = parseScope(scope);
  const notAllowed = scopes.filter((s) => !client.scopes.includes(s) && !client.defaultScopes.includes(s));
  if (notAllowed.length) throw invalidScope(`scope not allowed for this app: ${notAllowed.join(' ')}`);
  for (const s of client.defaultScopes) if (!scopes.includes(s)) scopes.push(s);
  return scopes;
}
