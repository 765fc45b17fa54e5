import type { IdentityProvidersTable } from '../storage/schema.ts';

/** `oidc`: configured from its discovery document; `oauth2`: plain OAuth 2.0 with a userinfo URL (GitHub-style). */
export type ProviderKind = 'oidc' | 'oauth2';

/** How Tessera authenticates to the provider's token endpoint (RFC 6749 §2.3.1). */
export type UpstreamClientAuth = 'client_secret_basic' | 'client_secret_post';

/**
 * Where the provider's endpoints are. For `oidc` this is what its discovery document said when
 * the provider was last validated (a snapshot, like Keycloak's "import from URL"); its keys are
 * fetched from `jwksUri` at run time and follow rotation.
 */
export interface ProviderEndpoints {
  authorizationEndpoint: string;
  tokenEndpoint: string;
  userinfoEndpoint: string | null;
  jwksUri: string | null;
  tokenEndpointAuthMethod: UpstreamClientAuth;
  /** JWS algorithms the provider signs ID tokens with; only asymmetric ones are accepted. */
  idTokenSigningAlgs: string[];
  /** RFC 9207 §3: the provider always sends `iss` on its authorization responses. */
  issParameterSupported: boolean;
}

/**
 * Where a plain OAuth 2.0 provider's userinfo answer keeps each profile field: a member name,
 * or a dotted path into nested objects. `subject` is required; the rest are optional.
 */
export interface ClaimMapping {
  subject: string;
  email?: string;
  emailVerified?: string;
  name?: string;
  givenName?: string;
  familyName?: string;
  preferredUsername?: string;
}

export interface IdentityProvider {
  id: string;
  /** URL-safe, unique; the callback is `{issuer}/login/providers/{slug}/callback`. */
  slug: string;
  name: string;
  kind: ProviderKind;
  /** Required for `oidc`; for `oauth2` optional (then the RFC 9207 `iss` cannot be checked). */
  issuer: string | null;
  endpoints: ProviderEndpoints;
  claimMapping: ClaimMapping | null;
  clientId: string;
  /** Sealed with the key-encryption key; null for a public upstream client (PKCE only). */
  clientSecretSealed: string | null;
  scopes: string[];
  defaultRoles: string[];
  /** Whether the provider's `email_verified: true` may link a sign-in to an existing local user. */
  trustEmail: boolean;
  enabled: boolean;
  createdAt: number;
  updatedAt: number;
}

/** The callback URL to register upstream: always this shape, so an operator can register it first. */
export function providerRedirectUri(issuer: string, slug: string): string {
  return `${issuer.replace(/\/+$/, '')}/login/providers/${encodeURIComponent(slug)}/callback`;
}

export function providerFromRow(row: IdentityProvidersTable, defaultRoles: string[]): IdentityProvider {
  return {
    id: row.id,
    slug: row.slug,
    name: row.name,
    kind: row.kind === 'oauth2' ? 'oauth2' : 'oidc',
    issuer: row.issuer,
    endpoints: JSON.parse(row.endpoints) as ProviderEndpoints,
    claimMapping: row.claim_mapping === null ? null : (JSON.parse(row.claim_mapping) as ClaimMapping),
    clientId: row.client_id,
    clientSecretSealed: row.client_secret,
    scopes: JSON.parse(row.scopes) as string[],
    defaultRoles,
    trustEmail: row.trust_email === 1,
    enabled: row.enabled === 1,
    createdAt: row.created_at,
    updatedAt: row.updated_at,
  };
}

export function providerToRow(p: IdentityProvider): IdentityProvidersTable {
  return {
    id: p.id,
    slug: p.slug,
    name: p.name,
    kind: p.kind,
    issuer: p.issuer,
    endpoints: JSON.stringify(p.endpoints),
    claim_mapping: p.claimMapping === null ? null : JSON.stringify(p.claimMapping),
    client_id: p.clientId,
    client_secret: p.clientSecretSealed,
    scopes: JSON.stringify(p.scopes),
    trust_email: p.trustEmail ? 1 : 0,
    enabled: p.enabled ? 1 : 0,
    created_at: p.createdAt,
    updated_at: p.updatedAt,
  };
}
