/**
 * JSON Schemas of the admin API. Fastify validates requests with them and serialises
 * responses with them; @fastify/swagger turns them into the OpenAPI document. One source:
 * the document cannot drift from what the server does.
 */

const str = (description?: string, extra: object = {}) => ({ type: 'string', ...(description ? { description } : {}), ...extra }) as const;
const strs = (description?: string) => ({ type: 'array', items: { type: 'string' }, ...(description ? { description } : {}) }) as const;
/**
 * `T | null` as a type list, not anyOf: with coerceTypes Ajv coerces null into the first
 * anyOf branch (null → 0 or ""), while a type list leaves a value alone when one type fits.
 */
const nullable = (schema: { type: string; enum?: readonly unknown[] }) => ({
  ...schema,
  type: [schema.type, 'null'],
  ...(schema.enum ? { enum: [...schema.enum, null] } : {}),
});
const seconds = (description: string) => ({ type: 'integer', description }) as const;

export const errorSchema = {
  $id: 'Error',
  type: 'object',
  description: 'Every error: a stable code, a one-line message, and the field at fault when there is one.',
  properties: {
    error: str('validation_failed, invalid_token, insufficient_scope, not_found, conflict, …'),
    error_description: str(),
    field: str(),
  },
  required: ['error', 'error_description'],
} as const;

export const appSchema = {
  $id: 'App',
  type: 'object',
  description: 'A registered app (OAuth client). Never includes its secret.',
  properties: {
    client_id: str('UUID'),
    name: str(),
    description: str(),
    grant_types: strs('authorization_code and/or client_credentials'),
    redirect_uris: strs(),
    post_logout_redirect_uris: strs(),
    scopes: strs('scopes the app may request'),
    default_scopes: strs('scopes added to every token'),
    public: { type: 'boolean', description: 'no secret; PKCE; authorization code only' },
    on_behalf_of: nullable(str('username the app acts for with client_credentials')),
    on_behalf_of_user_id: nullable(str()),
    access_token_ttl: nullable(seconds('per-app override of the access token lifetime')),
    refresh_token_ttl: nullable(seconds('per-app override of the refresh token lifetime')),
    require_permission: str('permission a user must hold to approve the app'),
    id_token_signed_response_alg: nullable(str('RS256 (default) or ES256')),
    secret_updated_at: nullable(str('', { format: 'date-time' })),
    created_at: str('', { format: 'date-time' }),
    updated_at: str('', { format: 'date-time' }),
    client_secret: str('only in the answer to registration and secret regeneration'),
  },
  required: ['client_id', 'name', 'grant_types'],
} as const;

const appFields = {
  name: str('', { minLength: 1, maxLength: 200 }),
  description: str('', { maxLength: 1000 }),
  grant_types: { type: 'array', items: { type: 'string', enum: ['authorization_code', 'client_credentials'] }, minItems: 1, maxItems: 2 },
  redirect_uris: { type: 'array', items: { type: 'string', maxLength: 2048 }, maxItems: 50 },
  post_logout_redirect_uris: { type: 'array', items: { type: 'string', maxLength: 2048 }, maxItems: 50 },
  scopes: { type: 'array', items: { type: 'string', maxLength: 200 }, maxItems: 200 },
  default_scopes: { type: 'array', items: { type: 'string', maxLength: 200 }, maxItems: 200 },
  on_behalf_of: nullable(str('username or user id', { maxLength: 200 })),
  public: { type: 'boolean' },
  access_token_ttl: nullable({ type: 'integer' }),
  refresh_token_ttl: nullable({ type: 'integer' }),
  require_permission: str('', { maxLength: 64 }),
  id_token_signed_response_alg: nullable({ type: 'string', enum: ['RS256', 'ES256'] }),
} as const;

export const appCreateSchema = {
  $id: 'AppCreate',
  type: 'object',
  additionalProperties: false,
  properties: appFields,
  required: ['name', 'grant_types'],
} as const;

export const appUpdateSchema = { $id: 'AppUpdate', type: 'object', additionalProperties: false, properties: appFields } as const;

export const userSchema = {
  $id: 'User',
  type: 'object',
  properties: {
    id: str('UUID'),
    username: str(),
    email: nullable(str()),
    name: nullable(str()),
    given_name: nullable(str()),
    family_name: nullable(str()),
    disabled: { type: 'boolean' },
    roles: strs(),
    permissions: strs('what the roles grant'),
    created_at: str('', { format: 'date-time' }),
    updated_at: str('', { format: 'date-time' }),
  },
  required: ['id', 'username', 'roles'],
} as const;

const profileFields = {
  email: nullable(str('', { maxLength: 320 })),
  name: nullable(str('', { maxLength: 200 })),
  given_name: nullable(str('', { maxLength: 200 })),
  family_name: nullable(str('', { maxLength: 200 })),
  roles: { type: 'array', items: { type: 'string', maxLength: 64 }, maxItems: 100 },
} as const;

export const userCreateSchema = {
  $id: 'UserCreate',
  type: 'object',
  additionalProperties: false,
  properties: { username: str('', { maxLength: 100 }), password: str('', { maxLength: 1024 }), ...profileFields },
  required: ['username', 'password'],
} as const;

export const userUpdateSchema = {
  $id: 'UserUpdate',
  type: 'object',
  additionalProperties: false,
  properties: { ...profileFields, disabled: { type: 'boolean', description: 'disabling ends sessions and invalidates every token' } },
} as const;

export const passwordSchema = {
  $id: 'PasswordReset',
  type: 'object',
  additionalProperties: false,
  properties: { password: str('', { maxLength: 1024 }) },
  required: ['password'],
} as const;

export const roleSchema = {
  $id: 'Role',
  type: 'object',
  properties: {
    name: str(),
    description: str(),
    builtin: { type: 'boolean' },
    permissions: { anyOf: [strs(), { type: 'string', const: '*' }], description: '"*" for a role holding every permission' },
  },
  required: ['name', 'permissions'],
} as const;

export const roleCreateSchema = {
  $id: 'RoleCreate',
  type: 'object',
  additionalProperties: false,
  properties: { name: str('', { maxLength: 64 }), description: str('', { maxLength: 500 }), permissions: { type: 'array', items: { type: 'string', maxLength: 64 }, maxItems: 200 } },
  required: ['name'],
} as const;

export const roleUpdateSchema = {
  $id: 'RoleUpdate',
  type: 'object',
  additionalProperties: false,
  properties: { description: str('', { maxLength: 500 }), permissions: { type: 'array', items: { type: 'string', maxLength: 64 }, maxItems: 200 } },
} as const;

export const permissionSchema = {
  $id: 'Permission',
  type: 'object',
  properties: { name: str(), description: str(), builtin: { type: 'boolean' } },
  required: ['name'],
} as const;

export const permissionCreateSchema = {
  $id: 'PermissionCreate',
  type: 'object',
  additionalProperties: false,
  properties: { name: str('', { maxLength: 64 }), description: str('', { maxLength: 500 }) },
  required: ['name'],
} as const;

export const settingsSchema = {
  $id: 'Settings',
  type: 'object',
  properties: {
    access_token_ttl: seconds('access token lifetime (60 – 604800)'),
    refresh_token_ttl: seconds('refresh token lifetime from each rotation (60 – 31536000)'),
    code_ttl: seconds('authorization code lifetime (10 – 3600)'),
    id_token_ttl: seconds('ID token lifetime (60 – 86400)'),
    session_ttl: seconds('sign-in session lifetime (60 – 2592000)'),
    redirect_uri_policy: { type: 'string', enum: ['strict', 'development'] },
  },
} as const;

export const settingsUpdateSchema = { ...settingsSchema, $id: 'SettingsUpdate', additionalProperties: false } as const;

export const keySchema = {
  $id: 'SigningKey',
  type: 'object',
  properties: {
    kid: str(),
    alg: str('ES256 or RS256'),
    status: { type: 'string', enum: ['active', 'published', 'retired'], description: 'active: signs new tokens; published: still in the JWKS so tokens it signed verify; retired: gone from the JWKS' },
    created_at: str('', { format: 'date-time' }),
    activated_at: nullable(str('', { format: 'date-time' })),
    deactivated_at: nullable(str('', { format: 'date-time' })),
  },
} as const;

export const grantSchema = {
  $id: 'Grant',
  type: 'object',
  description: 'A user’s approval of an app, with its live refresh tokens.',
  properties: {
    client_id: str(),
    client_name: str(),
    user_id: str(),
    username: str(),
    scopes: strs(),
    granted_at: str('', { format: 'date-time' }),
    updated_at: str('', { format: 'date-time' }),
    active_refresh_tokens: { type: 'integer' },
  },
} as const;

export const sessionSchema = {
  $id: 'Session',
  type: 'object',
  properties: {
    sid: str(),
    auth_time: str('', { format: 'date-time' }),
    created_at: str('', { format: 'date-time' }),
    expires_at: str('', { format: 'date-time' }),
    last_seen_at: str('', { format: 'date-time' }),
    ip: nullable(str()),
    user_agent: nullable(str()),
  },
} as const;

export const auditEventSchema = {
  $id: 'AuditEvent',
  type: 'object',
  properties: {
    id: str(),
    at: str('', { format: 'date-time' }),
    actor: str('user:<username>, app:<client_id> for user:<username>, cli:<os user>'),
    action: str('<resource>.<verb>, e.g. app.create'),
    target_type: nullable(str()),
    target_id: nullable(str()),
    ip: nullable(str()),
    details: { type: 'object', additionalProperties: true },
  },
} as const;

export const meSchema = {
  $id: 'Me',
  type: 'object',
  properties: { id: str(), username: str(), roles: strs(), permissions: strs(), client_id: str() },
} as const;

const apiScope = { type: 'object', additionalProperties: false, properties: { name: str('', { maxLength: 200 }), description: str('', { maxLength: 300 }) }, required: ['name'] } as const;
const apiRoute = {
  type: 'object',
  additionalProperties: false,
  properties: {
    methods: { type: 'array', items: { type: 'string', enum: ['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS'] }, minItems: 1 },
    path: str('template: literal segments, {param}, trailing /**', { maxLength: 500 }),
    scopes: { type: 'array', items: { type: 'string', maxLength: 200 }, minItems: 1, description: 'a token holding any of these is admitted' },
  },
  required: ['methods', 'path', 'scopes'],
} as const;
const apiFields = {
  name: str('', { maxLength: 100 }),
  base_path: str('e.g. /0/odata; must not overlap Tessera’s paths or another API', { maxLength: 200 }),
  upstream: str('e.g. http://accounts.internal:9000/odata', { maxLength: 2000 }),
  audience: nullable(str('when set, tokens must carry it in aud', { maxLength: 500 })),
  timeout_ms: { type: 'integer', description: 'upstream timeout (100 – 300000)' },
  scopes: { type: 'array', items: apiScope, maxItems: 200 },
  routes: { type: 'array', items: apiRoute, maxItems: 500 },
} as const;

export const apiSchema = {
  $id: 'Api',
  type: 'object',
  description: 'An API behind the gateway.',
  properties: {
    id: str(),
    name: str(),
    base_path: str(),
    upstream: str(),
    audience: nullable(str()),
    timeout_ms: { type: 'integer' },
    scopes: { type: 'array', items: { type: 'object', properties: { name: str(), description: str() } } },
    routes: { type: 'array', items: { type: 'object', properties: { methods: strs(), path: str(), scopes: strs() } } },
    created_at: str('', { format: 'date-time' }),
    updated_at: str('', { format: 'date-time' }),
  },
} as const;
export const apiCreateSchema = { $id: 'ApiCreate', type: 'object', additionalProperties: false, properties: apiFields, required: ['name', 'base_path', 'upstream'] } as const;
export const apiUpdateSchema = { $id: 'ApiUpdate', type: 'object', additionalProperties: false, properties: apiFields } as const;

export const SHARED_SCHEMAS = [
  apiSchema,
  apiCreateSchema,
  apiUpdateSchema,
  errorSchema,
  appSchema,
  appCreateSchema,
  appUpdateSchema,
  userSchema,
  userCreateSchema,
  userUpdateSchema,
  passwordSchema,
  roleSchema,
  roleCreateSchema,
  roleUpdateSchema,
  permissionSchema,
  permissionCreateSchema,
  settingsSchema,
  settingsUpdateSchema,
  keySchema,
  grantSchema,
  sessionSchema,
  auditEventSchema,
  meSchema,
];

export const ref = (id: string) => ({ $ref: `${id}#` });
export const listOf = (id: string, extra: Record<string, unknown> = {}) => ({
  type: 'object',
  properties: { items: { type: 'array', items: ref(id) }, ...extra },
  required: ['items'],
});
