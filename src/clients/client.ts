import { parseTranslations } from '../i18n/translations.ts';
import type { ClientsTable } from '../storage/schema.ts';

/** RFC 8628 §3.4: the device authorization grant's grant_type. */
export const DEVICE_CODE_GRANT = 'urn:ietf:params:oauth:grant-type:device_code';

/** RFC 8693 §2.1: the token exchange grant's grant_type. */
export const TOKEN_EXCHANGE_GRANT = 'urn:ietf:params:oauth:grant-type:token-exchange';

/**
 * Which tokens an app may exchange (RFC 8693) for which audiences: the app's token-exchange
 * policy. An app without one (null, the default) may not use the grant.
 */
export interface TokenExchangePolicy {
  /** Audiences (resource identifiers, or an API's own audience) the app may get tokens for; at least one. */
  audiences: string[];
  /** Scopes an exchanged token may carry; null: any the subject token holds. */
  scopes: string[] | null;
  /** Apps whose tokens may be exchanged (client ids); null: tokens issued to any app. */
  subjectClients: string[] | null;
}

/** Grant types an app may be registered for; refresh_token comes with authorization_code and the device grant. */
export const REGISTRABLE_GRANTS = ['client_credentials', 'authorization_code', DEVICE_CODE_GRANT] as const;
export type RegistrableGrant = (typeof REGISTRABLE_GRANTS)[number];

/** A JSON Web Key Set (RFC 7517 §5): public keys only, checked when registered (clients/client-keys.ts). */
export interface JwkSet {
  keys: Array<Record<string, unknown>>;
}

/** An app ("integration") as the protocol core sees it. */
export interface Client {
  id: string;
  name: string;
  description: string;
  /** SHA-256 of the secret; null for public clients. */
  secretHash: string | null;
  secretUpdatedAt: number | null;
  /** SHA-256 of the secret before a rotation with a grace period; null outside a grace. */
  previousSecretHash: string | null;
  /** Until when (epoch s, exclusive) `previousSecretHash` still authenticates the app. */
  previousSecretExpiresAt: number | null;
  public: boolean;
  grantTypes: RegistrableGrant[];
  redirectUris: string[];
  postLogoutRedirectUris: string[];
  /** Scopes the app may request. */
  scopes: string[];
  /** Scopes added to every grant. */
  defaultScopes: string[];
  onBehalfOfUserId: string | null;
  accessTokenTtl: number | null;
  refreshTokenTtl: number | null;
  requirePermission: string;
  idTokenSignedResponseAlg: 'RS256' | 'ES256' | null;
  /** Users must pass a second factor to sign in to this app (docs/mfa.md). */
  requireMfa?: boolean;
  /**
   * OIDC client metadata shown on the consent page (OpenID Connect Dynamic Client
   * Registration 1.0 §2): https URLs, or null. Optional: apps built before migration 0014.
   */
  logoUri?: string | null;
  clientUri?: string | null;
  policyUri?: string | null;
  tosUri?: string | null;
  /** An uploaded logo: the SHA-256 of its asset (brand_assets), served at /assets/logo-<hash>. */
  logoHash?: string | null;
  /**
   * SHA-256 of the registration access token of an app that registered itself (RFC 7591/7592,
   * docs/registration.md); null or absent for every other app.
   */
  registrationTokenHash?: string | null;
  /**
   * How the app authenticates at the token, introspection, revocation, PAR and device
   * authorization endpoints (RFC 7591 §2): `private_key_jwt` (RFC 7523, docs/client-authentication.md)
   * means a signed client assertion and never the secret. A self-registered app's declared
   * method; null: by its secret (or none, when public).
   */
  tokenEndpointAuthMethod?: string | null;
  /** RFC 9449 §5.2 `dpop_bound_access_tokens`: every token request must carry a DPoP proof (so every access token is DPoP-bound). */
  dpopBoundAccessTokens?: boolean;
  /** The app's public keys for private_key_jwt: an inline JWK set, or the URL that serves it (one of them). */
  jwks?: JwkSet | null;
  jwksUri?: string | null;
  /** The code flow only through a pushed authorization request (RFC 9126 §6). */
  requirePushedAuthorizationRequests?: boolean;
  /** The name in other languages, shown on pages in that language (docs/languages.md). */
  nameTranslations?: Readonly<Record<string, string>>;
  /** RFC 8693: which tokens the app may exchange for which audiences; null (the default): none. */
  tokenExchange?: TokenExchangePolicy | null;
  /** Tokens issued to the app with `iat` before this (epoch s) are invalid. */
  tokensValidAfter: number;
  createdAt: number;
  updatedAt: number;
}

/**
 * A new app with every setting at its default; callers name only what differs. One place for
 * the defaults, so an app created by an admin, by the console bootstrap or from a client
 * metadata document never misses a field a later migration added.
 */
export function newClient(now: number, fields: Pick<Client, 'id' | 'name'> & Partial<Client>): Client {
  return {
    description: '',
    secretHash: null,
    secretUpdatedAt: null,
    previousSecretHash: null,
    previousSecretExpiresAt: null,
    public: false,
    grantTypes: [],
    redirectUris: [],
    postLogoutRedirectUris: [],
    scopes: [],
    defaultScopes: [],
    onBehalfOfUserId: null,
    accessTokenTtl: null,
    refreshTokenTtl: null,
    requirePermission: 'developer_api',
    idTokenSignedResponseAlg: null,
    requireMfa: false,
    logoUri: null,
    clientUri: null,
    policyUri: null,
    tosUri: null,
    logoHash: null,
    registrationTokenHash: null,
    tokenEndpointAuthMethod: null,
    dpopBoundAccessTokens: false,
    jwks: null,
    jwksUri: null,
    requirePushedAuthorizationRequests: false,
    nameTranslations: {},
    tokenExchange: null,
    tokensValidAfter: 0,
    createdAt: now,
    updatedAt: now,
    ...fields,
  };
}

export function clientFromRow(row: ClientsTable): Client {
  return {
    id: row.id,
    name: row.name,
    description: row.description,
    secretHash: row.secret_hash,
    secretUpdatedAt: row.secret_updated_at,
    previousSecretHash: row.previous_secret_hash,
    previousSecretExpiresAt: row.previous_secret_expires_at,
    public: row.public === 1,
    grantTypes: JSON.parse(row.grant_types),
    redirectUris: JSON.parse(row.redirect_uris),
    postLogoutRedirectUris: JSON.parse(row.post_logout_redirect_uris),
    scopes: JSON.parse(row.scopes),
    defaultScopes: JSON.parse(row.default_scopes),
    onBehalfOfUserId: row.on_behalf_of_user_id,
    accessTokenTtl: row.access_token_ttl,
    refreshTokenTtl: row.refresh_token_ttl,
    requirePermission: row.require_permission,
    idTokenSignedResponseAlg: row.id_token_signed_response_alg as Client['idTokenSignedResponseAlg'],
    requireMfa: row.require_mfa === 1,
    logoUri: row.logo_uri ?? null,
    clientUri: row.client_uri ?? null,
    policyUri: row.policy_uri ?? null,
    tosUri: row.tos_uri ?? null,
    logoHash: row.logo_hash ?? null,
    registrationTokenHash: row.registration_token_hash ?? null,
    tokenEndpointAuthMethod: row.token_endpoint_auth_method ?? null,
    dpopBoundAccessTokens: row.dpop_bound_access_tokens === 1,
    jwks: row.jwks ? (JSON.parse(row.jwks) as JwkSet) : null,
    jwksUri: row.jwks_uri ?? null,
    requirePushedAuthorizationRequests: row.require_pushed_authorization_requests === 1,
    nameTranslations: parseTranslations(row.name_translations),
    tokenExchange: row.token_exchange ? tokenExchangeFromJson(row.token_exchange) : null,
    tokensValidAfter: row.tokens_valid_after,
    createdAt: row.created_at,
    updatedAt: row.updated_at,
  };
}

export function clientToRow(client: Client): ClientsTable {
  return {
    id: client.id,
    name: client.name,
    description: client.description,
    secret_hash: client.secretHash,
    secret_updated_at: client.secretUpdatedAt,
    previous_secret_hash: client.previousSecretHash,
    previous_secret_expires_at: client.previousSecretExpiresAt,
    public: client.public ? 1 : 0,
    grant_types: JSON.stringify(client.grantTypes),
    redirect_uris: JSON.stringify(client.redirectUris),
    post_logout_redirect_uris: JSON.stringify(client.postLogoutRedirectUris),
    scopes: JSON.stringify(client.scopes),
    default_scopes: JSON.stringify(client.defaultScopes),
    on_behalf_of_user_id: client.onBehalfOfUserId,
    access_token_ttl: client.accessTokenTtl,
    refresh_token_ttl: client.refreshTokenTtl,
    require_permission: client.requirePermission,
    id_token_signed_response_alg: client.idTokenSignedResponseAlg,
    require_mfa: client.requireMfa ? 1 : 0,
    logo_uri: client.logoUri ?? null,
    client_uri: client.clientUri ?? null,
    policy_uri: client.policyUri ?? null,
    tos_uri: client.tosUri ?? null,
    logo_hash: client.logoHash ?? null,
    registration_token_hash: client.registrationTokenHash ?? null,
    token_endpoint_auth_method: client.tokenEndpointAuthMethod ?? null,
    dpop_bound_access_tokens: client.dpopBoundAccessTokens ? 1 : 0,
    jwks: client.jwks ? JSON.stringify(client.jwks) : null,
    jwks_uri: client.jwksUri ?? null,
    require_pushed_authorization_requests: client.requirePushedAuthorizationRequests ? 1 : 0,
    name_translations: JSON.stringify(client.nameTranslations ?? {}),
    token_exchange: client.tokenExchange ? JSON.stringify({ audiences: client.tokenExchange.audiences, scopes: client.tokenExchange.scopes, subject_clients: client.tokenExchange.subjectClients }) : null,
    tokens_valid_after: client.tokensValidAfter,
    created_at: client.createdAt,
    updated_at: client.updatedAt,
  };
}

function tokenExchangeFromJson(json: string): TokenExchangePolicy {
  const doc = JSON.parse(json) as { audiences: string[]; scopes: string[] | null; subject_clients: string[] | null };
  return { audiences: doc.audiences, scopes: doc.scopes ?? null, subjectClients: doc.subject_clients ?? null };
}
