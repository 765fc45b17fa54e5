import { looksLikeMetadataDocumentClientId } from './metadata-document.ts';
import { iso } from '../lib/time.ts';
import type { Client, JwkSet } from './client.ts';

/** How an app is shown to operators (CLI --json, admin API). Never includes the secret hash. */
export interface ClientView {
  client_id: string;
  name: string;
  /** Language → the name on pages in that language (docs/languages.md). */
  name_translations: Record<string, string>;
  description: string;
  grant_types: string[];
  redirect_uris: string[];
  post_logout_redirect_uris: string[];
  scopes: string[];
  default_scopes: string[];
  public: boolean;
  on_behalf_of: string | null;
  on_behalf_of_user_id: string | null;
  access_token_ttl: number | null;
  refresh_token_ttl: number | null;
  require_permission: string;
  id_token_signed_response_alg: string | null;
  /** Users must pass a second factor to sign in to this app. */
  require_mfa: boolean;
  /** RFC 9449 §5.2: token requests without a DPoP proof are refused. */
  dpop_bound_access_tokens: boolean;
  /** RFC 8693: which tokens the app may exchange for which audiences; null: it may not. */
  token_exchange: { audiences: string[]; scopes: string[] | null; subject_clients: string[] | null } | null;
  secret_updated_at: string | null;
  /** During a grace period after a secret rotation: when the previous secret stops working. */
  previous_secret_expires_at: string | null;
  /** OIDC client metadata for the consent page (https, or null). */
  logo_uri: string | null;
  client_uri: string | null;
  policy_uri: string | null;
  tos_uri: string | null;
  /**
   * How the app came to be: registered by an administrator, by itself with a Client ID
   * Metadata Document, or by itself at the registration endpoint (RFC 7591, `dynamic`).
   */
  registration: 'admin' | 'metadata_document' | 'dynamic';
  /** How the app authenticates: null (its secret, or none when public), client_secret_basic, client_secret_post, private_key_jwt. */
  token_endpoint_auth_method: string | null;
  /** The app's public keys for private_key_jwt: inline, or where they are fetched from. */
  jwks: JwkSet | null;
  jwks_uri: string | null;
  /** The code flow only through /connect/par (RFC 9126). */
  require_pushed_authorization_requests: boolean;
  /** The uploaded logo's URL (on this server), shown on the consent page before any logo_uri. */
  logo: string | null;
  created_at: string;
  updated_at: string;
}

export function clientView(client: Client, onBehalfOfUsername: string | null): ClientView {
  return {
    client_id: client.id,
    registration: looksLikeMetadataDocumentClientId(client.id) ? 'metadata_document' : client.registrationTokenHash ? 'dynamic' : 'admin',
    name: client.name,
    name_translations: { ...client.nameTranslations },
    description: client.description,
    grant_types: client.grantTypes,
    redirect_uris: client.redirectUris,
    post_logout_redirect_uris: client.postLogoutRedirectUris,
    scopes: client.scopes,
    default_scopes: client.defaultScopes,
    public: client.public,
    on_behalf_of: onBehalfOfUsername,
    on_behalf_of_user_id: client.onBehalfOfUserId,
    access_token_ttl: client.accessTokenTtl,
    refresh_token_ttl: client.refreshTokenTtl,
    require_permission: client.requirePermission,
    id_token_signed_response_alg: client.idTokenSignedResponseAlg,
    require_mfa: client.requireMfa === true,
    dpop_bound_access_tokens: client.dpopBoundAccessTokens === true,
    token_exchange: client.tokenExchange ? { audiences: client.tokenExchange.audiences, scopes: client.tokenExchange.scopes, subject_clients: client.tokenExchange.subjectClients } : null,
    secret_updated_at: client.secretUpdatedAt === null ? null : iso(client.secretUpdatedAt),
    previous_secret_expires_at: client.previousSecretExpiresAt === null ? null : iso(client.previousSecretExpiresAt),
    logo_uri: client.logoUri ?? null,
    client_uri: client.clientUri ?? null,
    policy_uri: client.policyUri ?? null,
    tos_uri: client.tosUri ?? null,
    token_endpoint_auth_method: client.tokenEndpointAuthMethod ?? null,
    jwks: client.jwks ?? null,
    jwks_uri: client.jwksUri ?? null,
    require_pushed_authorization_requests: client.requirePushedAuthorizationRequests === true,
    logo: client.logoHash ? `/assets/logo-${client.logoHash}` : null,
    created_at: iso(client.createdAt),
    updated_at: iso(client.updatedAt),
  };
}
