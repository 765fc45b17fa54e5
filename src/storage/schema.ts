import type { ColumnType, Generated } from 'kysely';

/**
 * Table shapes as Kysely sees them. Portable across SQLite and PostgreSQL:
 * times are epoch seconds (bigint), booleans are 0/1 integers, lists are JSON text.
 */
type Epoch = number;
type Flag = number;
type Json = string;

export interface ClientsTable {
  id: string;
  name: string;
  description: string;
  secret_hash: string | null;
  secret_updated_at: Epoch | null;
  previous_secret_hash: string | null;
  previous_secret_expires_at: Epoch | null;
  public: Flag;
  grant_types: Json;
  redirect_uris: Json;
  post_logout_redirect_uris: Json;
  scopes: Json;
  default_scopes: Json;
  on_behalf_of_user_id: string | null;
  access_token_ttl: number | null;
  refresh_token_ttl: number | null;
  require_permission: string;
  id_token_signed_response_alg: string | null;
  tokens_valid_after: Epoch;
  created_at: Epoch;
  updated_at: Epoch;
  /** Added by migration 0009 with a default of 0 (optional here: inserts written before it omit it). */
  require_mfa?: Flag;
  /** Added by migration 0014 (OIDC client metadata for the consent page; optional as above). */
  logo_uri?: string | null;
  client_uri?: string | null;
  policy_uri?: string | null;
  tos_uri?: string | null;
  /** An uploaded logo: the hash of its row in brand_assets. */
  logo_hash?: string | null;
  /** Migration 0018: SHA-256 of the registration access token of an app that registered itself (RFC 7591); null otherwise. */
  registration_token_hash?: string | null;
  /** Migration 0018: the token endpoint auth method a self-registered app declared. */
  token_endpoint_auth_method?: string | null;
  /** Migration 0022 (RFC 9449 §5.2): every token request of the app must carry a DPoP proof. */
  dpop_bound_access_tokens?: Flag;
  /** Migration 0021: the app's public keys for private_key_jwt, a JWK set as JSON; or where to fetch them. */
  jwks?: string | null;
  jwks_uri?: string | null;
  /** Migration 0021: the code flow only with a pushed authorization request (RFC 9126). */
  require_pushed_authorization_requests?: Flag;
  /** Migration 0020: the name in other languages, JSON `{"de": "…"}` (docs/languages.md). */
  name_translations?: Json;
  /** Migration 0023: the app's token-exchange policy (RFC 8693) as JSON; null: the grant is off. */
  token_exchange?: Json | null;
}

/** Migration 0021: the jti of each accepted client assertion (RFC 7523 §3), hashed with the client id. */
export interface ClientAssertionJtisTable {
  jti_hash: string;
  expires_at: Epoch;
}

/** Migration 0021: pushed authorization requests (RFC 9126), by the SHA-256 of their request_uri. */
export interface PushedAuthorizationRequestsTable {
  request_uri_hash: string;
  client_id: string;
  /** The request's parameters, a JSON object of strings. */
  params: string;
  created_at: Epoch;
  started_at: Epoch | null;
  expires_at: Epoch;
}

/** Initial access tokens (RFC 7591 §3): issued by an administrator when registration is protected. */
export interface InitialAccessTokensTable {
  id: string;
  token_hash: string;
  label: string;
  created_by: string;
  created_at: Epoch;
  expires_at: Epoch;
  max_uses: number | null;
  uses: Generated<number>;
  revoked_at: Epoch | null;
}

export interface UsersTable {
  id: string;
  username: string;
  username_key: string;
  email: string | null;
  email_verified: Flag;
  name: string | null;
  given_name: string | null;
  family_name: string | null;
  password_hash: string | null;
  password_changed_at: Epoch | null;
  disabled: Flag;
  tokens_valid_after: Epoch;
  created_at: Epoch;
  updated_at: Epoch;
  /** The user's language for mail (migration 0019); null until known. */
  locale: string | null;
}

export interface RolesTable {
  name: string;
  description: string;
  all_permissions: Flag;
  builtin: Flag;
  created_at: Epoch;
  /** Added by migration 0009 with a default of 0 (optional here: inserts written before it omit it). */
  require_mfa?: Flag;
}

export interface PermissionsTable {
  name: string;
  description: string;
  builtin: Flag;
  created_at: Epoch;
}

export interface RolePermissionsTable {
  role_name: string;
  permission_name: string;
}

export interface UserRolesTable {
  user_id: string;
  role_name: string;
}

export interface SigningKeysTable {
  kid: string;
  alg: string;
  status: 'active' | 'published' | 'retired';
  public_jwk: Json;
  private_key: string;
  created_at: Epoch;
  activated_at: Epoch | null;
  deactivated_at: Epoch | null;
}

export interface RevokedTokensTable {
  jti: string;
  client_id: string | null;
  expires_at: Epoch;
  revoked_at: Epoch;
}

export interface AuthorizationCodesTable {
  code_hash: string;
  client_id: string;
  user_id: string;
  session_id: string | null;
  redirect_uri: string;
  scope: string;
  nonce: string | null;
  code_challenge: string | null;
  code_challenge_method: string | null;
  auth_time: Epoch;
  created_at: Epoch;
  expires_at: Epoch;
  consumed_at: Epoch | null;
  access_token_jti: string | null;
  access_token_expires_at: Epoch | null;
  refresh_family_id: string | null;
  redirect_uri_in_request: Flag;
  replayed_at: Epoch | null;
  /** RFC 8176 methods, space separated (null: issued before second factors existed). */
  amr: string | null;
  /** RFC 8707 resource named at authorization (migration 0015). */
  resource: string | null;
  /** RFC 9449 §10: the DPoP key thumbprint (`dpop_jkt`) the code is bound to (migration 0022). */
  dpop_jkt?: string | null;
}

export interface RefreshTokenFamiliesTable {
  id: string;
  client_id: string;
  user_id: string | null;
  scope: string;
  session_id: string | null;
  auth_time: Epoch | null;
  created_at: Epoch;
  expires_at: Epoch;
  revoked_at: Epoch | null;
  amr: string | null;
  /** RFC 8707 resource the grant is bound to (migration 0015). */
  resource: string | null;
  /** RFC 9449 §5: the DPoP key thumbprint a public client's refresh tokens are bound to (migration 0022). */
  dpop_jkt?: string | null;
  /**
   * Migration 0026: a family issued since keeps its current token here (its tokens name the
   * family by `token_key`); null for a family whose tokens are in `refresh_tokens`.
   */
  token_key?: string | null;
  token_generation?: number | null;
  token_hash?: string | null;
  token_scope?: string | null;
  token_expires_at?: Epoch | null;
  token_issued_at?: Epoch | null;
}

export interface RefreshTokensTable {
  token_hash: string;
  family_id: string;
  scope: string;
  created_at: Epoch;
  expires_at: Epoch;
  used_at: Epoch | null;
}

export interface SessionsTable {
  id_hash: string;
  user_id: string;
  auth_time: Epoch;
  created_at: Epoch;
  expires_at: Epoch;
  last_seen_at: Epoch;
  revoked_at: Epoch | null;
  ip: string | null;
  user_agent: string | null;
  sid: string | null;
  amr: string | null;
}

export interface ConsentsTable {
  user_id: string;
  client_id: string;
  scopes: Json;
  created_at: Epoch;
  updated_at: Epoch;
}

export interface ApisTable {
  id: string;
  name: string;
  base_path: string;
  upstream: string;
  audience: string | null;
  timeout_ms: number;
  forward_authorization: Flag;
  max_body_bytes: number | null;
  /** Migration 0023: forward | exchange | none (optional: inserts written before it omit it). */
  upstream_token?: string;
  /** Migration 0023: the audience of the token the gateway mints for the upstream (exchange). */
  upstream_audience?: string | null;
  created_at: Epoch;
  updated_at: Epoch;
}

export interface ApiScopesTable {
  name: string;
  api_id: string;
  description: string;
  /** Migration 0020: the description in other languages, JSON `{"de": "…"}`. */
  description_translations?: Json;
}

export interface ApiRoutesTable {
  id: string;
  api_id: string;
  position: number;
  methods: Json;
  path: string;
  scopes: Json;
}

/** Migration 0014: the operator's brand, one JSON document (id 'default'). */
export interface BrandingTable {
  id: string;
  document: Json;
  updated_at: Epoch;
}

/** Migration 0014: uploaded logos, named by the SHA-256 of their bytes (base64 in `data`). */
export interface BrandAssetsTable {
  hash: string;
  content_type: string;
  data: string;
  size: number;
  created_at: Epoch;
}

export interface SettingsTable {
  key: string;
  value: Json;
  updated_at: Epoch;
}

export interface AuditEventsTable {
  id: string;
  at: Epoch;
  actor: string;
  action: string;
  target_type: string | null;
  target_id: string | null;
  ip: string | null;
  details: Json;
}

export interface GuessThrottleTable {
  key: string;
  account: string | null;
  failures: number;
  last_failure_at: Epoch;
  blocked_until: Epoch;
  expires_at: Epoch;
}

export interface ChangeEventsTable {
  id: Generated<number>;
  kind: string;
  key: string;
  at: ColumnType<Epoch, Epoch, never>;
}

export interface IdentityProvidersTable {
  id: string;
  slug: string;
  name: string;
  kind: string;
  issuer: string | null;
  endpoints: Json;
  claim_mapping: Json | null;
  client_id: string;
  client_secret: string | null;
  scopes: Json;
  trust_email: Flag;
  enabled: Flag;
  created_at: Epoch;
  updated_at: Epoch;
}

export interface IdentityProviderRolesTable {
  provider_id: string;
  role_name: string;
}

export interface IdentityLinksTable {
  provider_id: string;
  subject: string;
  user_id: string;
  email: string | null;
  created_at: Epoch;
  last_sign_in_at: Epoch | null;
}

export interface UpstreamSignInsTable {
  state_hash: string;
  provider_id: string;
  nonce: string;
  code_verifier: string;
  browser_hash: string;
  redirect_uri: string;
  return_to: string | null;
  created_at: Epoch;
  expires_at: Epoch;
  consumed_at: Epoch | null;
}

export interface UserFactorsTable {
  id: string;
  user_id: string;
  /** 'totp' (src/identity/mfa): other kinds keep their own tables. */
  type: string;
  name: string;
  /** The shared secret, encrypted under the key-encryption key (src/keys/encryption.ts). */
  secret: string;
  last_used_step: Epoch | null;
  created_at: Epoch;
  /** Null until the user typed a first code: an unconfirmed factor is never asked for. */
  confirmed_at: Epoch | null;
  last_used_at: Epoch | null;
}

export interface RecoveryCodesTable {
  user_id: string;
  code_hash: string;
  created_at: Epoch;
  used_at: Epoch | null;
}

export interface PendingSecondStepsTable {
  id_hash: string;
  user_id: string;
  amr: string;
  browser_hash: string;
  return_to: string | null;
  enrol: Flag;
  created_at: Epoch;
  expires_at: Epoch;
  consumed_at: Epoch | null;
}

/** A link sent by email (password reset, verification, invitation), by its token's hash (migration 0011). */
export interface EmailLinksTable {
  token_hash: string;
  purpose: string;
  user_id: string | null;
  email: string;
  data: Json;
  created_by: string;
  created_at: Epoch;
  expires_at: Epoch;
  used_at: Epoch | null;
}

/** Device authorization requests (RFC 8628, migration 0017). */
export interface DeviceAuthorizationsTable {
  device_code_hash: string;
  user_code_hash: string;
  client_id: string;
  scope: string;
  resource: string | null;
  /** pending | approved | denied | used */
  status: string;
  user_id: string | null;
  session_id: string | null;
  auth_time: Epoch | null;
  amr: string | null;
  interval: number;
  last_polled_at: Epoch | null;
  created_at: Epoch;
  expires_at: Epoch;
}

/** WebAuthn passkeys (migration 0010). */
export interface WebauthnCredentialsTable {
  /** The credential id, base64url. */
  id: string;
  user_id: string;
  /** The COSE public key, base64url. */
  public_key: string;
  counter: Epoch;
  /** The transports the authenticator reported, JSON list. */
  transports: Json;
  /** 'singleDevice' | 'multiDevice' (WebAuthn's backup eligibility). */
  device_type: string;
  backed_up: Flag;
  name: string;
  created_at: Epoch;
  last_used_at: Epoch | null;
}

export interface WebauthnChallengesTable {
  /** SHA-256 of the random value in the browser's ceremony cookie. */
  id_hash: string;
  challenge: string;
  purpose: string;
  user_id: string | null;
  expires_at: Epoch;
}

export interface Database {
  clients: ClientsTable;
  users: UsersTable;
  roles: RolesTable;
  permissions: PermissionsTable;
  role_permissions: RolePermissionsTable;
  user_roles: UserRolesTable;
  signing_keys: SigningKeysTable;
  revoked_tokens: RevokedTokensTable;
  authorization_codes: AuthorizationCodesTable;
  refresh_token_families: RefreshTokenFamiliesTable;
  refresh_tokens: RefreshTokensTable;
  sessions: SessionsTable;
  consents: ConsentsTable;
  apis: ApisTable;
  api_scopes: ApiScopesTable;
  api_routes: ApiRoutesTable;
  settings: SettingsTable;
  branding: BrandingTable;
  brand_assets: BrandAssetsTable;
  audit_events: AuditEventsTable;
  guess_throttle: GuessThrottleTable;
  change_events: ChangeEventsTable;
  identity_providers: IdentityProvidersTable;
  identity_provider_roles: IdentityProviderRolesTable;
  identity_links: IdentityLinksTable;
  upstream_sign_ins: UpstreamSignInsTable;
  user_factors: UserFactorsTable;
  recovery_codes: RecoveryCodesTable;
  pending_second_steps: PendingSecondStepsTable;
  email_links: EmailLinksTable;
  webauthn_credentials: WebauthnCredentialsTable;
  webauthn_challenges: WebauthnChallengesTable;
  initial_access_tokens: InitialAccessTokensTable;
  device_authorizations: DeviceAuthorizationsTable;
  client_assertion_jtis: ClientAssertionJtisTable;
  pushed_authorization_requests: PushedAuthorizationRequestsTable;
  dpop_proof_jtis: DpopProofJtisTable;
  email_outbox: EmailOutboxTable;
}

/** DPoP proofs already seen (RFC 9449 §11.1), until they are too old to be accepted anyway (migration 0022). */
export interface DpopProofJtisTable {
  /** SHA-256 of the key thumbprint, the target URI and the proof's `jti`. */
  key: string;
  expires_at: Epoch;
}

/** Mail waiting for the SMTP server (migration 0024; src/email/outbox-store.ts). */
export interface EmailOutboxTable {
  id: string;
  /** The message's name (password_reset, invite, …), for the logs and metrics. */
  message: string;
  /** Whom it concerns (for the logs; never the address), null for an invitation. */
  user_id: string | null;
  /** The recipient and the rendered subject, text and HTML, encrypted with the key-encryption key. */
  sealed: string;
  attempts: number;
  created_at: Epoch;
  /** Not sent before this (backoff after a failure). */
  next_attempt_at: Epoch;
  /** A node is sending it until then (a lease, so that two nodes do not both send it). */
  claimed_until: Epoch;
}
