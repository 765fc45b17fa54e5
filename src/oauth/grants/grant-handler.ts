import type { AuditLog } from '../../audit/audit-log.ts';
import type { Client } from '../../clients/client.ts';
import type { ClientAuthMethod } from '../client-auth.ts';
import type { CodeStore } from '../code-store.ts';
import type { DeviceAuthorizationStore } from '../device-store.ts';
import type { IdTokenService } from '../id-token.ts';
import type { RefreshStore } from '../refresh-store.ts';
import type { RegistryCache } from '../registry-cache.ts';
import type { ResourceDirectory } from '../resource-indicators.ts';
import type { RevocationStore } from '../revocation-store.ts';
import type { TokenService } from '../token-service.ts';

/** The JSON body of a successful token response (RFC 6749 §5.1). */
export interface TokenResponse {
  access_token: string;
  /** `DPoP` when the access token is bound to the request's DPoP key (RFC 9449 §5). */
  token_type: 'Bearer' | 'DPoP';
  expires_in: number;
  scope?: string;
  refresh_token?: string;
  id_token?: string;
  /** RFC 8693 §2.2.1: the type of the token issued by a token exchange. */
  issued_token_type?: string;
}

export interface GrantRequest {
  params: Map<string, string>;
  client: Client;
  authMethod: ClientAuthMethod;
  /**
   * RFC 9449: the thumbprint of the key of the request's valid DPoP proof. Every token the
   * grant issues is bound to it (`cnf.jkt`, `token_type: DPoP`); the token endpoint refuses a
   * response that is not.
   */
  dpopJkt?: string | undefined;
  /** Epoch seconds. */
  now: number;
  /**
   * The caller's address, for the audit entry of a replayed token (computed only then: the
   * trusted-proxy rules cost more than nothing). Absent in callers that do not know it.
   */
  ip?: (() => string | null) | undefined;
}

/** Everything a grant handler may use; each handler takes only the slice it needs. */
export interface GrantDeps {
  tokens: TokenService;
  cache: RegistryCache;
  codes: CodeStore;
  refresh: RefreshStore;
  revocations: RevocationStore;
  idTokens: IdTokenService;
  refreshTokenTtl: number;
  /** The gateway's APIs as RFC 8707 resources. */
  resources: ResourceDirectory;
  /** Device authorization requests (RFC 8628); absent: the device grant is off. */
  devices?: DeviceAuthorizationStore;
  /** Records a replayed refresh token or code and what its revocation ended (`token.replay`). */
  audit: AuditLog;
}

/** One grant type. The token endpoint dispatches on `grantType` through a map of these. */
export interface GrantHandler {
  grantType: string;
  /** Whether a public client (no secret, PKCE) may use this grant. */
  allowPublicClients: boolean;
  handle(req: GrantRequest, deps: GrantDeps): TokenResponse | Promise<TokenResponse>;
}
