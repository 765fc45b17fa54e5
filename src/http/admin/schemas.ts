import { INITIAL_TOKEN_MAX_USES, INITIAL_TOKEN_TTL } from '../../oauth/registration-service.ts';
import { Type, type Static, type StringOptions, type TArray, type TInteger, type TObject, type TOptional, type TSchema, type TString } from '@sinclair/typebox';
import { SELF_REGISTRABLE_GRANTS, SELF_REGISTRATION_AUTH_METHODS } from '../../clients/registration-policy.ts';
import { LIMITS, type Range } from '../../config/limits.ts';
import { SHIPPED_LOCALES } from '../../i18n/catalogues.ts';

/**
 * JSON Schemas of the admin API, written with TypeBox so that one declaration gives Fastify
 * the schema it validates and serialises with, @fastify/swagger the OpenAPI component (each
 * `$id` below is a name under components/schemas), and the routes their TypeScript types
 * (through the TypeBox type provider). The document cannot drift from what the server does,
 * and neither can the handlers' types.
 */

const str = (description?: string, extra: StringOptions = {}) =>
  Type.String({ ...(description ? { description } : {}), ...extra });
const strs = (description?: string) => Type.Array(Type.String(), description ? { description } : {});
/**
 * `T | null` as a type list, not anyOf: with coerceTypes Ajv coerces null into the first
 * anyOf branch (null → 0 or ""), while a type list leaves a value alone when one type fits.
 * TypeBox has no such form, so the schema is spelled out and its static type given with it.
 */
function nullable<T extends TString | TInteger | TArray | TObject>(schema: T) {
  const { type, ...rest } = schema;
  return Type.Unsafe<Static<T> | null>({ ...rest, type: [type, 'null'] });
}
/**
 * A string from a list, as `enum` (TypeBox's own unions of literals become anyOf, whose Ajv
 * messages would differ from the ones clients get today).
 */
const oneOf = <const V extends string>(values: readonly V[], description?: string) =>
  Type.Unsafe<V>({ type: 'string', enum: values, ...(description ? { description } : {}) });
/** A JWK set (RFC 7517 §5): an app's public keys; each key is checked by the service (clients/client-keys.ts). */
const jwkSet = (description: string) =>
  Type.Object({ keys: Type.Array(Type.Record(Type.String(), Type.Unknown()), { minItems: 1, maxItems: 10 }) }, { description });
const nullableOneOf = <const V extends string>(values: readonly V[]) => Type.Unsafe<V | null>({ type: ['string', 'null'], enum: [...values, null] });
/** A whole number in one of the ranges of config/limits.ts: the OpenAPI document (and the console) carry it. */
const integerIn = (range: Range, description: string) =>
  Type.Integer({ minimum: range.min, maximum: range.max, description: `${description} (${range.min} – ${range.max})` });
const dateTime = (options: { description?: string } = {}) => Type.String({ format: 'date-time', ...options });
const opt = Type.Optional;
/**
 * Words an operator enters in other languages (docs/languages.md): one optional text per
 * shipped language; an empty text removes that language. The whole object replaces the old one.
 */
const translations = (description: string, maxLength: number) =>
  Type.Object(Object.fromEntries(SHIPPED_LOCALES.map((l) => [l, opt(str('', { maxLength }))])) as Record<(typeof SHIPPED_LOCALES)[number], TOptional<TString>>, {
    additionalProperties: false,
    description,
  });

export const ErrorSchema = Type.Object(
  {
    error: str('validation_failed, invalid_token, insufficient_scope, not_found, conflict, …'),
    error_description: str(),
    field: opt(str()),
  },
  { $id: 'Error', description: 'Every error: a stable code, a one-line message, and the field at fault when there is one.' },
);

const exchangeList = (description: string) => Type.Array(Type.String({ minLength: 1, maxLength: 500 }), { minItems: LIMITS.tokenExchangeEntries.min, maxItems: LIMITS.tokenExchangeEntries.max, description });
const tokenExchangePolicy = Type.Object(
  {
    audiences: exchangeList('audiences the app may get tokens for: an API’s resource identifier or its own audience'),
    scopes: opt(nullable(exchangeList('scopes an exchanged token may carry; null or absent: any the subject token holds'))),
    subject_clients: opt(nullable(exchangeList('client ids of the apps whose tokens may be exchanged; null or absent: any app’s'))),
  },
  { additionalProperties: false, description: 'Which tokens the app may exchange for which audiences (RFC 8693, docs/token-exchange.md).' },
);

export const AppSchema = Type.Object(
  {
    client_id: str('UUID; for an app that registered itself with a Client ID Metadata Document, the https URL of that document'),
    registration: opt(Type.Union([Type.Literal('admin'), Type.Literal('metadata_document'), Type.Literal('dynamic')], { description: 'admin: registered by an administrator; metadata_document: self-registered by its client_id URL (docs/resources.md); dynamic: self-registered at /connect/register (docs/registration.md)' })),
    name: str(),
    name_translations: opt(translations('the name in other languages, shown on pages in that language', LIMITS.appName.max)),
    description: opt(str()),
    grant_types: strs('authorization_code, client_credentials and/or urn:ietf:params:oauth:grant-type:device_code'),
    redirect_uris: opt(strs()),
    post_logout_redirect_uris: opt(strs()),
    scopes: opt(strs('scopes the app may request')),
    default_scopes: opt(strs('scopes added to every token')),
    public: opt(Type.Boolean({ description: 'no secret; PKCE; authorization code only' })),
    on_behalf_of: opt(nullable(str('username the app acts for with client_credentials'))),
    on_behalf_of_user_id: opt(nullable(str())),
    access_token_ttl: opt(nullable(integerIn(LIMITS.appAccessTokenTtl, 'per-app override of the access token lifetime in seconds'))),
    refresh_token_ttl: opt(nullable(integerIn(LIMITS.appRefreshTokenTtl, 'per-app override of the absolute refresh-token family lifetime in seconds'))),
    require_permission: opt(str('permission a user must hold to approve the app')),
    id_token_signed_response_alg: opt(nullable(str('RS256 (default) or ES256'))),
    require_mfa: opt(Type.Boolean({ description: 'users must pass a second factor to sign in to this app' })),
    dpop_bound_access_tokens: opt(Type.Boolean({ description: 'every token request must carry a DPoP proof, so every access token is sender-constrained (RFC 9449 §5.2)' })),
    token_exchange: opt(nullable(tokenExchangePolicy)),
    secret_updated_at: opt(nullable(dateTime())),
    previous_secret_expires_at: opt(nullable(dateTime({ description: 'after a secret regeneration with a grace period: when the previous secret stops working' }))),
    logo_uri: opt(nullable(str("the app's logo (https), shown on the consent page when the brand allows remote app logos"))),
    client_uri: opt(nullable(str("the app's homepage (https), linked on the consent page"))),
    policy_uri: opt(nullable(str("the app's privacy policy (https), linked on the consent page"))),
    tos_uri: opt(nullable(str("the app's terms of service (https), linked on the consent page"))),
    token_endpoint_auth_method: opt(nullable(str('how the app authenticates: null (its secret; none when public), client_secret_basic, client_secret_post, or private_key_jwt (a client assertion signed with its key; docs/client-authentication.md)'))),
    jwks: opt(Type.Union([jwkSet("the app's public keys for private_key_jwt (a JWK set)"), Type.Null()])),
    jwks_uri: opt(nullable(str("where the app serves its public keys for private_key_jwt"))),
    require_pushed_authorization_requests: opt(Type.Boolean({ description: 'the code flow only through /connect/par (RFC 9126)' })),
    logo: opt(nullable(str("the app's uploaded logo (/assets/logo-<sha256>), shown on the consent page before any logo_uri; PUT /apps/{id}/logo"))),
    created_at: opt(dateTime()),
    updated_at: opt(dateTime()),
    client_secret: opt(str('only in the answer to registration and secret regeneration')),
  },
  { $id: 'App', description: 'A registered app (OAuth client). Never includes its secret.' },
);

const appName = str('', { minLength: LIMITS.appName.min, maxLength: LIMITS.appName.max });
const appGrantTypes = Type.Array(oneOf(['authorization_code', 'client_credentials', 'urn:ietf:params:oauth:grant-type:device_code']), { minItems: 1, maxItems: 3 });
const appFields = {
  name: opt(appName),
  name_translations: opt(translations('the name in other languages (language → text; "" removes one); replaces every translation', LIMITS.appName.max)),
  description: opt(str('', { maxLength: LIMITS.appDescription.max })),
  grant_types: opt(appGrantTypes),
  redirect_uris: opt(Type.Array(Type.String({ maxLength: 2048 }), { maxItems: LIMITS.appRedirectUris.max })),
  post_logout_redirect_uris: opt(Type.Array(Type.String({ maxLength: 2048 }), { maxItems: LIMITS.appRedirectUris.max })),
  scopes: opt(Type.Array(Type.String({ maxLength: 200 }), { maxItems: 200 })),
  default_scopes: opt(Type.Array(Type.String({ maxLength: 200 }), { maxItems: 200 })),
  on_behalf_of: opt(nullable(str('username or user id', { maxLength: 200 }))),
  public: opt(Type.Boolean()),
  access_token_ttl: opt(nullable(integerIn(LIMITS.appAccessTokenTtl, 'seconds'))),
  refresh_token_ttl: opt(nullable(integerIn(LIMITS.appRefreshTokenTtl, 'seconds'))),
  require_permission: opt(str('', { maxLength: 64 })),
  id_token_signed_response_alg: opt(nullableOneOf(['RS256', 'ES256'])),
  logo_uri: opt(nullable(str('https URL; null clears it', { maxLength: 2000 }))),
  client_uri: opt(nullable(str('https URL; null clears it', { maxLength: 2000 }))),
  policy_uri: opt(nullable(str('https URL; null clears it', { maxLength: 2000 }))),
  tos_uri: opt(nullable(str('https URL; null clears it', { maxLength: 2000 }))),
  require_mfa: opt(Type.Boolean({ description: 'users must pass a second factor to sign in to this app (default false)' })),
  dpop_bound_access_tokens: opt(Type.Boolean({ description: 'every token request must carry a DPoP proof (RFC 9449 §5.2; default false)' })),
  token_endpoint_auth_method: opt(nullableOneOf(['client_secret_basic', 'client_secret_post', 'private_key_jwt'])),
  jwks: opt(Type.Union([jwkSet('public keys (JWK set) for private_key_jwt; setting it clears jwks_uri; null clears it'), Type.Null()])),
  jwks_uri: opt(nullable(str('https URL of the app\'s JWK set for private_key_jwt; setting it clears jwks; null clears it', { maxLength: 2000 }))),
  require_pushed_authorization_requests: opt(Type.Boolean({ description: 'the code flow only through /connect/par (RFC 9126; default false)' })),
  token_exchange: opt(nullable(tokenExchangePolicy)),
};

export const AppCreateSchema = Type.Object(
  { ...appFields, name: appName, grant_types: appGrantTypes },
  { $id: 'AppCreate', additionalProperties: false },
);
export const AppUpdateSchema = Type.Object(appFields, { $id: 'AppUpdate', additionalProperties: false });

export const UserSchema = Type.Object(
  {
    id: str('UUID'),
    username: str(),
    email: opt(nullable(str())),
    email_verified: opt(Type.Boolean({ description: 'the user followed a link sent to the address (docs/email.md)' })),
    name: opt(nullable(str())),
    given_name: opt(nullable(str())),
    family_name: opt(nullable(str())),
    disabled: opt(Type.Boolean()),
    locale: opt(nullable(str('the language mail to the user is written in (docs/languages.md); null: not known, the operator\'s default applies'))),
    roles: strs(),
    permissions: opt(strs('what the roles grant')),
    created_at: opt(dateTime()),
    updated_at: opt(dateTime()),
  },
  { $id: 'User' },
);

const profileFields = {
  email: opt(nullable(str('', { maxLength: 320 }))),
  name: opt(nullable(str('', { maxLength: 200 }))),
  given_name: opt(nullable(str('', { maxLength: 200 }))),
  family_name: opt(nullable(str('', { maxLength: 200 }))),
  roles: opt(Type.Array(Type.String({ maxLength: 64 }), { maxItems: 100 })),
  locale: opt(nullable(str('one of the available languages (ui_locales_supported), e.g. "de"; a regional tag matches its language ("de-AT" → "de"); null clears it', { maxLength: 35 }))),
};

export const UserCreateSchema = Type.Object(
  { username: str('', { maxLength: 100 }), password: str('', { maxLength: 1024 }), ...profileFields },
  { $id: 'UserCreate', additionalProperties: false },
);

export const UserUpdateSchema = Type.Object(
  { ...profileFields, disabled: opt(Type.Boolean({ description: 'disabling ends sessions and invalidates every token' })) },
  { $id: 'UserUpdate', additionalProperties: false },
);

export const PasswordResetSchema = Type.Object({ password: str('', { maxLength: 1024 }) }, { $id: 'PasswordReset', additionalProperties: false });

export const RoleSchema = Type.Object(
  {
    name: str(),
    description: opt(str()),
    builtin: opt(Type.Boolean()),
    permissions: Type.Union([strs(), Type.Literal('*')], { description: '"*" for a role holding every permission' }),
    require_mfa: opt(Type.Boolean({ description: 'users holding the role must pass a second factor at sign-in' })),
  },
  { $id: 'Role' },
);

const rolePermissions = Type.Array(Type.String({ maxLength: 64 }), { maxItems: 200 });
export const RoleCreateSchema = Type.Object(
  { name: str('', { maxLength: 64 }), description: opt(str('', { maxLength: 500 })), permissions: opt(rolePermissions), require_mfa: opt(Type.Boolean()) },
  { $id: 'RoleCreate', additionalProperties: false },
);
export const RoleUpdateSchema = Type.Object(
  { description: opt(str('', { maxLength: 500 })), permissions: opt(rolePermissions), require_mfa: opt(Type.Boolean({ description: 'users holding the role must pass a second factor at sign-in' })) },
  { $id: 'RoleUpdate', additionalProperties: false },
);

export const PermissionSchema = Type.Object({ name: str(), description: opt(str()), builtin: opt(Type.Boolean()) }, { $id: 'Permission' });
export const PermissionCreateSchema = Type.Object(
  { name: str('', { maxLength: 64 }), description: opt(str('', { maxLength: 500 })) },
  { $id: 'PermissionCreate', additionalProperties: false },
);

const settingsFields = {
  access_token_ttl: integerIn(LIMITS.accessTokenTtl, 'access token lifetime in seconds'),
  refresh_token_ttl: integerIn(LIMITS.refreshTokenTtl, 'absolute lifetime of a refresh-token family, from its first issue, in seconds'),
  code_ttl: integerIn(LIMITS.codeTtl, 'authorization code lifetime in seconds'),
  id_token_ttl: integerIn(LIMITS.idTokenTtl, 'ID token lifetime in seconds'),
  session_ttl: integerIn(LIMITS.sessionTtl, 'sign-in session lifetime in seconds'),
  redirect_uri_policy: oneOf(['strict', 'development']),
  mfa_policy: oneOf(['off', 'optional', 'required'], 'second factors: off, optional (users may enrol), or required for everyone'),
  require_verified_email: Type.Boolean({ description: 'no app can be authorized by a user whose email address is not verified (needs email configured)' }),
  client_registration: oneOf(['off', 'open', 'token'], 'dynamic client registration (RFC 7591): off, open to anyone, or token (an initial access token is required)'),
  require_pushed_authorization_requests: Type.Boolean({ description: 'every app must push its authorization requests to /connect/par (RFC 9126)' }),
  registration_grant_types: Type.Array(oneOf(SELF_REGISTRABLE_GRANTS), {
    minItems: 1,
    uniqueItems: true,
    description: 'grant types a self-registered app (RFC 7591, or a client ID metadata document) may use; refresh_token comes with either',
  }),
  registration_scopes: Type.Unsafe<string[] | null>({
    type: ['array', 'null'],
    items: { type: 'string', maxLength: 200 },
    maxItems: 200,
    description: 'scopes a self-registered app may be given; null: every built-in user scope and every scope an API declares (never tessera.admin)',
  }),
  registration_auth_methods: Type.Array(oneOf(SELF_REGISTRATION_AUTH_METHODS), {
    minItems: 1,
    uniqueItems: true,
    description: 'token_endpoint_auth_method values a self-registered app may declare; without none, client ID metadata documents (always public) are refused',
  }),
};
/** Every setting is in the answer; a change names only the ones it changes. */
export const SettingsSchema = Type.Object(settingsFields, { $id: 'Settings' });
export const SettingsUpdateSchema = Type.Object(
  {
    access_token_ttl: opt(settingsFields.access_token_ttl),
    refresh_token_ttl: opt(settingsFields.refresh_token_ttl),
    code_ttl: opt(settingsFields.code_ttl),
    id_token_ttl: opt(settingsFields.id_token_ttl),
    session_ttl: opt(settingsFields.session_ttl),
    redirect_uri_policy: opt(settingsFields.redirect_uri_policy),
    mfa_policy: opt(settingsFields.mfa_policy),
    require_verified_email: opt(settingsFields.require_verified_email),
    client_registration: opt(settingsFields.client_registration),
    require_pushed_authorization_requests: opt(settingsFields.require_pushed_authorization_requests),
    registration_grant_types: opt(settingsFields.registration_grant_types),
    registration_scopes: opt(settingsFields.registration_scopes),
    registration_auth_methods: opt(settingsFields.registration_auth_methods),
  },
  { $id: 'SettingsUpdate', additionalProperties: false },
);

/** The brand of the pages (docs/branding.md). Colours are checked (and normalised) by the service. */
const brandingFields = {
  product_name: str('shown in every page header and title', { minLength: LIMITS.productName.min, maxLength: LIMITS.productName.max }),
  primary_color: str('#rrggbb: buttons, links, focus', { maxLength: 7 }),
  background_color: str('#rrggbb: the page behind the card', { maxLength: 7 }),
  logo_url: nullable(str('a path on this server (e.g. /static/logo.svg), used when no logo is uploaded', { maxLength: 2000 })),
  terms_url: nullable(str('https URL of the terms, linked on the consent page', { maxLength: 2000 })),
  privacy_url: nullable(str('https URL of the privacy policy, linked on the consent page', { maxLength: 2000 })),
  allow_remote_app_logos: Type.Boolean({ description: "show an app's own https logo_uri on the consent page (off: only uploaded app logos)" }),
};
export const BrandingSchema = Type.Object(
  {
    ...brandingFields,
    logo: Type.Union([Type.Object({ url: str('/assets/logo-<sha256>.<ext>'), content_type: str() }), Type.Null()]),
    stylesheet_url: str('/assets/brand-<hash>.css, linked by every page'),
    logo_max_bytes: Type.Integer({ description: 'the largest logo an upload may be, in bytes' }),
    warnings: strs('contrast checks that fail WCAG AA (4.5:1); empty when all pass'),
  },
  { $id: 'Branding' },
);
export const BrandingUpdateSchema = Type.Object(
  {
    product_name: opt(brandingFields.product_name),
    primary_color: opt(brandingFields.primary_color),
    background_color: opt(brandingFields.background_color),
    logo_url: opt(brandingFields.logo_url),
    terms_url: opt(brandingFields.terms_url),
    privacy_url: opt(brandingFields.privacy_url),
    allow_remote_app_logos: opt(brandingFields.allow_remote_app_logos),
  },
  { $id: 'BrandingUpdate', additionalProperties: false },
);
/** An image, base64: the service checks its size, its real type (magic bytes) and, for SVG, the safe subset. */
export const LogoUploadSchema = Type.Object(
  {
    content_type: str('image/png, image/jpeg, image/webp, image/gif or image/svg+xml', { maxLength: 100 }),
    // No maxLength here: the route's body limit stops what is far too large, and the service
    // refuses anything over the limit with a message that says the limit in bytes.
    data: str(`the file, base64 (at most ${LIMITS.logoBytes.max} bytes decoded)`),
  },
  { $id: 'LogoUpload', additionalProperties: false },
);

export const SigningKeySchema = Type.Object(
  {
    kid: str(),
    alg: str('ES256 or RS256'),
    status: oneOf(
      ['active', 'published', 'retired'],
      'active: signs new tokens; published: still in the JWKS so tokens it signed verify; retired: gone from the JWKS',
    ),
    created_at: dateTime(),
    activated_at: nullable(dateTime()),
    deactivated_at: nullable(dateTime()),
  },
  { $id: 'SigningKey' },
);

export const GrantSchema = Type.Object(
  {
    client_id: str(),
    client_name: str(),
    user_id: str(),
    username: str(),
    scopes: strs(),
    granted_at: dateTime(),
    updated_at: dateTime(),
    active_refresh_tokens: Type.Integer(),
  },
  { $id: 'Grant', description: 'A user’s approval of an app, with its live refresh tokens.' },
);

export const SessionSchema = Type.Object(
  {
    sid: str(),
    auth_time: dateTime(),
    created_at: dateTime(),
    expires_at: dateTime(),
    last_seen_at: dateTime(),
    ip: nullable(str()),
    user_agent: nullable(str()),
  },
  { $id: 'Session' },
);

export const AuditEventSchema = Type.Object(
  {
    id: str(),
    at: dateTime(),
    actor: str('user:<username>, app:<client_id> for user:<username>, cli:<os user>'),
    action: str('<resource>.<verb>, e.g. app.create'),
    target_type: nullable(str()),
    target_id: nullable(str()),
    ip: nullable(str()),
    details: Type.Unsafe<Record<string, unknown>>({ type: 'object', additionalProperties: true }),
  },
  { $id: 'AuditEvent' },
);

export const MeSchema = Type.Object(
  { id: str(), username: str(), roles: strs(), permissions: strs(), client_id: str() },
  { $id: 'Me' },
);

const apiScope = Type.Object(
  {
    name: str('', { maxLength: 200 }),
    description: opt(str('', { maxLength: 300 })),
    description_translations: opt(translations('the description in other languages (language → text), shown on pages in that language', 300)),
  },
  { additionalProperties: false },
);
const apiRoute = Type.Object(
  {
    methods: Type.Array(oneOf(['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS']), { minItems: 1 }),
    path: str('template: literal segments, {param}, trailing /**', { maxLength: 500 }),
    scopes: Type.Array(Type.String({ maxLength: 200 }), { minItems: 1, description: 'a token holding any of these is admitted' }),
  },
  { additionalProperties: false },
);
const apiName = str('', { maxLength: 100 });
const apiBasePath = str('e.g. /0/odata; must not overlap Tessera’s paths or another API', { maxLength: 200 });
const apiUpstream = str('e.g. http://accounts.internal:9000/odata', { maxLength: 2000 });
const apiFields = {
  name: opt(apiName),
  base_path: opt(apiBasePath),
  upstream: opt(apiUpstream),
  audience: opt(nullable(str('when set, tokens must carry it in aud', { maxLength: 500 }))),
  timeout_ms: opt(integerIn(LIMITS.apiTimeoutMs, 'upstream timeout in milliseconds')),
  forward_authorization: opt(Type.Boolean({ description: "true: upstream_token forward; false: none (send one of the two)" })),
  upstream_token: opt(oneOf(['forward', 'exchange', 'none'], "what the upstream gets in Authorization: the client's token (forward, the default), a token minted for upstream_audience (exchange, RFC 8693), or nothing")),
  upstream_audience: opt(nullable(str('aud of the token minted for the upstream (exchange); null: the upstream URL', { maxLength: 500 }))),
  max_body_bytes: opt(nullable(integerIn(LIMITS.apiMaxBodyBytes, 'largest request body in bytes, 413 above it; null for no limit (the default)'))),
  scopes: opt(Type.Array(apiScope, { maxItems: 200 })),
  routes: opt(Type.Array(apiRoute, { maxItems: 500 })),
};

export const ApiSchema = Type.Object(
  {
    id: str(),
    name: str(),
    base_path: str(),
    upstream: str(),
    audience: nullable(str()),
    timeout_ms: Type.Integer(),
    forward_authorization: Type.Boolean(),
    upstream_token: oneOf(['forward', 'exchange', 'none']),
    upstream_audience: nullable(str()),
    max_body_bytes: nullable(Type.Integer()),
    scopes: Type.Array(Type.Object({ name: str(), description: str(), description_translations: opt(translations('the description in other languages', 300)) })),
    routes: Type.Array(Type.Object({ methods: strs(), path: str(), scopes: strs() })),
    created_at: dateTime(),
    updated_at: dateTime(),
  },
  { $id: 'Api', description: 'An API behind the gateway.' },
);
export const ApiCreateSchema = Type.Object(
  { ...apiFields, name: apiName, base_path: apiBasePath, upstream: apiUpstream },
  { $id: 'ApiCreate', additionalProperties: false },
);
export const ApiUpdateSchema = Type.Object(apiFields, { $id: 'ApiUpdate', additionalProperties: false });

const claimMapping = Type.Object(
  {
    subject: str('where the account id is, e.g. "id" (GitHub) or "sub"'),
    email: opt(str()),
    email_verified: opt(str()),
    name: opt(str()),
    given_name: opt(str()),
    family_name: opt(str()),
    preferred_username: opt(str()),
  },
  { additionalProperties: false, description: 'Plain OAuth 2.0: the userinfo member (or dotted path) of each profile field.' },
);
const authMethod = oneOf(['client_secret_basic', 'client_secret_post'] as const, 'how Tessera authenticates at the token endpoint');

export const ProviderSchema = Type.Object(
  {
    slug: str(),
    name: str(),
    kind: oneOf(['oidc', 'oauth2'] as const),
    issuer: nullable(str()),
    redirect_uri: str('register this at the provider: {issuer}/login/providers/{slug}/callback'),
    client_id: str(),
    has_client_secret: Type.Boolean({ description: 'the secret itself is never shown' }),
    scopes: strs(),
    default_roles: strs('roles users created through the provider get'),
    trust_email: Type.Boolean({ description: 'link a first sign-in to the local user with the same verified email' }),
    enabled: Type.Boolean(),
    authorization_endpoint: str(),
    token_endpoint: str(),
    userinfo_endpoint: nullable(str()),
    jwks_uri: nullable(str()),
    token_endpoint_auth_method: authMethod,
    claim_mapping: Type.Union([claimMapping, Type.Null()]),
    created_at: dateTime(),
    updated_at: dateTime(),
  },
  { $id: 'Provider', description: 'An upstream identity provider people sign in through.' },
);
const providerFields = {
  name: opt(str('shown as "Continue with {name}"', { minLength: 1, maxLength: 100 })),
  issuer: opt(nullable(str('OpenID provider: its issuer; the discovery document is fetched from it', { maxLength: 2048 }))),
  authorization_url: opt(str('plain OAuth 2.0', { maxLength: 2048 })),
  token_url: opt(str('plain OAuth 2.0', { maxLength: 2048 })),
  userinfo_url: opt(nullable(str('plain OAuth 2.0: where the account is read', { maxLength: 2048 }))),
  token_endpoint_auth_method: opt(authMethod),
  claim_mapping: opt(Type.Union([claimMapping, Type.Null()])),
  client_id: opt(str('Tessera’s client id at the provider', { minLength: 1, maxLength: 255 })),
  client_secret: opt(nullable(str('stored encrypted, never shown again; null: a public client', { maxLength: 1024 }))),
  scopes: opt(strs()),
  default_roles: opt(strs()),
  trust_email: opt(Type.Boolean()),
  enabled: opt(Type.Boolean()),
};
export const ProviderCreateSchema = Type.Object(
  {
    ...providerFields,
    slug: str('short name in URLs: lower-case letters, digits, inner hyphens', { maxLength: 40 }),
    kind: opt(oneOf(['oidc', 'oauth2'] as const)),
    name: str('shown as "Continue with {name}"', { minLength: 1, maxLength: 100 }),
    client_id: str('Tessera’s client id at the provider', { minLength: 1, maxLength: 255 }),
  },
  { $id: 'ProviderCreate', additionalProperties: false },
);
export const ProviderUpdateSchema = Type.Object(providerFields, { $id: 'ProviderUpdate', additionalProperties: false });

export const IdentityLinkSchema = Type.Object(
  {
    provider: str('the provider’s slug'),
    provider_name: str(),
    subject: str('the provider’s id for the account (sub)'),
    email: nullable(str()),
    created_at: dateTime(),
    last_sign_in_at: nullable(dateTime()),
  },
  { $id: 'IdentityLink', description: 'A user’s account at an upstream identity provider.' },
);

export const SignInThrottleSchema = Type.Object(
  {
    user_id: str(),
    username: str(),
    counters: Type.Array(
      Type.Object({
        guess: str('what is guessed: password'),
        counter: str('device (a browser that signed in as the user before), client (one IP address without one), account (every such client)'),
        ip: nullable(str('the IP address of a client counter')),
        failures: Type.Integer(),
        wait_seconds: Type.Integer({ description: 'how long the next attempt through this counter must wait (0: none)' }),
        forgotten_at: dateTime({ description: 'when the counter forgets its failures unless more come' }),
      }),
    ),
  },
  { $id: 'SignInThrottle', description: 'A user’s sign-in throttle counters: who is being slowed, and for how long.' },
);

export const UnlockResultSchema = Type.Object(
  { user_id: str(), username: str(), cleared: Type.Integer({ description: 'how many throttle counters were cleared (0: none)' }) },
  { $id: 'UnlockResult' },
);

export const UserFactorsSchema = Type.Object(
  {
    user_id: str(),
    username: str(),
    factors: Type.Array(
      Type.Object({
        id: str(),
        type: str('totp (an authenticator app) or passkey'),
        name: str(),
        created_at: dateTime({ description: 'when the factor became active' }),
        last_used_at: nullable(dateTime({ description: 'when it last passed a sign-in' })),
      }),
    ),
    recovery_codes_remaining: Type.Integer({ description: 'unused recovery codes (each stands in for the second factor once)' }),
  },
  { $id: 'UserFactors' },
);

export const FactorsResetSchema = Type.Object(
  { user_id: str(), username: str(), removed: Type.Array(str(), { description: 'the kinds removed: totp, passkey, recovery_codes (empty: the user had none)' }) },
  { $id: 'FactorsReset' },
);

/** Every named schema, added to the admin scope once; routes point at them with `ref`. */
export const InvitationCreateSchema = Type.Object(
  {
    email: str('the address the invitation link is sent to', { maxLength: 320 }),
    roles: opt(Type.Array(Type.String({ maxLength: 64 }), { maxItems: 100 })),
    locale: opt(nullable(str('the language of the mail and of the invitation page (one of ui_locales_supported); absent or null: the operator\'s default', { maxLength: 35 }))),
  },
  { $id: 'InvitationCreate', additionalProperties: false },
);
export const InvitationSchema = Type.Object(
  {
    id: str('an id for the invitation (never its link)'),
    email: str(),
    roles: strs('the roles the account gets when the invitation is accepted'),
    locale: nullable(str('the language the invitation was written in; null: the operator\'s default')),
    invited_by: str('the actor who invited'),
    created_at: dateTime(),
    expires_at: dateTime({ description: 'the link works until then (7 days), once' }),
  },
  { $id: 'Invitation', description: 'An invitation by email that has not been accepted yet (docs/email.md).' },
);
export const EmailStatusSchema = Type.Object(
  {
    configured: Type.Boolean({ description: 'false: TESSERA_SMTP_URL is not set, and reset by email, invitations, verification links and notices are not available' }),
    from: nullable(str('TESSERA_SMTP_FROM')),
    templates_overridden: strs('template parts replaced from TESSERA_EMAIL_TEMPLATES_DIR, e.g. invite.html'),
    pending: Type.Integer({ description: 'messages waiting in the outbox for the SMTP server (every node\'s; sent or retried in the background for up to an hour)' }),
  },
  { $id: 'EmailStatus' },
);

/** Initial access tokens for Dynamic Client Registration (docs/registration.md). */
export const RegistrationTokenCreateSchema = Type.Object(
  {
    label: opt(str('what the token is for, shown in the list', { minLength: 1, maxLength: 100 })),
    expires_in: opt(Type.Integer({ minimum: INITIAL_TOKEN_TTL.min, maximum: INITIAL_TOKEN_TTL.max, description: `seconds until it stops working (${INITIAL_TOKEN_TTL.min} – ${INITIAL_TOKEN_TTL.max}); default 86400` })),
    max_uses: opt(nullable(Type.Integer({ minimum: INITIAL_TOKEN_MAX_USES.min, maximum: INITIAL_TOKEN_MAX_USES.max, description: 'registrations it allows; null or absent: any number until it expires' }))),
  },
  { $id: 'RegistrationTokenCreate', additionalProperties: false },
);
export const RegistrationTokenSchema = Type.Object(
  {
    id: str('an id for the token (never the token)'),
    label: str(),
    created_by: str('the actor who issued it'),
    created_at: dateTime(),
    expires_at: dateTime(),
    max_uses: nullable(Type.Integer()),
    uses: Type.Integer({ description: 'registrations made with it' }),
    revoked_at: nullable(dateTime()),
    state: oneOf(['active', 'expired', 'used_up', 'revoked']),
    token: opt(str('the initial access token: only in the answer to its creation; only its hash is stored')),
  },
  { $id: 'RegistrationToken', description: 'An initial access token for POST /connect/register when client_registration is "token".' },
);

export const SHARED_SCHEMAS = [
  RegistrationTokenCreateSchema,
  RegistrationTokenSchema,
  UserFactorsSchema,
  FactorsResetSchema,
  InvitationCreateSchema,
  InvitationSchema,
  EmailStatusSchema,
  SignInThrottleSchema,
  UnlockResultSchema,
  IdentityLinkSchema,
  ProviderSchema,
  ProviderCreateSchema,
  ProviderUpdateSchema,
  ApiSchema,
  ApiCreateSchema,
  ApiUpdateSchema,
  ErrorSchema,
  AppSchema,
  AppCreateSchema,
  AppUpdateSchema,
  UserSchema,
  UserCreateSchema,
  UserUpdateSchema,
  PasswordResetSchema,
  RoleSchema,
  RoleCreateSchema,
  RoleUpdateSchema,
  PermissionSchema,
  PermissionCreateSchema,
  SettingsSchema,
  SettingsUpdateSchema,
  BrandingSchema,
  BrandingUpdateSchema,
  LogoUploadSchema,
  SigningKeySchema,
  GrantSchema,
  SessionSchema,
  AuditEventSchema,
  MeSchema,
];

/** A `$ref` to a named schema, typed as that schema (the OpenAPI document shows it as a component). */
export const ref = <T extends TSchema>(schema: T) => Type.Ref(schema);
export const listOf = <T extends TSchema>(schema: T) => Type.Object({ items: Type.Array(ref(schema)) });
