import { Type, type Static } from '@sinclair/typebox';
import { REGISTRATION_FILTERS, type ClientInput, type RegistrationFilter } from '../../../clients/client-service.ts';
import { checkRedirectUri } from '../../../clients/redirect-uri-policy.ts';
import { LIMITS } from '../../../config/limits.ts';
import { AppCreateSchema, AppSchema, AppUpdateSchema, GrantSchema, listOf, ref } from '../schemas.ts';
import { actorOf, errors, IdParams, noContent, SearchQuery, tag, type AdminApi, type AdminRouteDeps } from './route-kit.ts';

const RedirectUriCheck = Type.Object({ uri: Type.String({ maxLength: 4096 }) }, { additionalProperties: false });
const RedirectUriVerdict = Type.Object({ ok: Type.Boolean(), rule: Type.Optional(Type.String()), reason: Type.Optional(Type.String()) });
const Secret = Type.Object({
  client_id: Type.String(),
  client_secret: Type.String(),
  previous_secret_expires_at: Type.Union([Type.String({ format: 'date-time' }), Type.Null()], { description: 'with a grace period: when the previous secret stops working' }),
});
const SecretRotation = Type.Object(
  {
    grace_seconds: Type.Optional(
      Type.Integer({
        minimum: LIMITS.secretGrace.min,
        maximum: LIMITS.secretGrace.max,
        description: 'keep the previous secret usable for token requests this long; tokens issued before stay valid. 0 (default): the old secret and every token issued to the app stop working at once',
      }),
    ),
  },
  { additionalProperties: false },
);
const AppListQuery = Type.Object({
  ...SearchQuery.properties,
  registration: Type.Optional(
    Type.Unsafe<RegistrationFilter>({
      type: 'string',
      enum: [...REGISTRATION_FILTERS],
      description: 'only apps registered this way: admin, dynamic (RFC 7591), metadata_document, or self (either of the two)',
    }),
  ),
});
const GrantParams = Type.Object({ id: Type.String(), userId: Type.String() });

/** Apps (OAuth clients): the same service as `tessera clients`. */
export function appRoutes(api: AdminApi, { tessera }: AdminRouteDeps): void {
  const { clients, access } = tessera.services;

  api.get('/apps', { schema: { ...tag('apps'), summary: 'List apps', querystring: AppListQuery, response: { 200: listOf(AppSchema), ...errors } } }, async (request) => ({
    items: await clients.list(request.query.search, request.query.registration),
  }));

  api.post(
    '/apps',
    { schema: { ...tag('apps'), summary: 'Register an app; the answer carries its secret, once', body: ref(AppCreateSchema), response: { 201: ref(AppSchema), ...errors } } },
    async (request, reply) => {
      const created = await clients.create(clientInput(request.body), actorOf(request));
      return reply.code(201).send(created);
    },
  );

  api.post(
    '/apps/check-redirect-uri',
    {
      schema: {
        ...tag('apps'),
        summary: 'Check a redirect URI against the policy without saving anything',
        body: RedirectUriCheck,
        response: { 200: RedirectUriVerdict, ...errors },
      },
    },
    async (request) => {
      const result = await checkRedirectUri(request.body.uri, tessera.redirectPolicy);
      return result.ok ? { ok: true } : { ok: false, rule: result.rule, reason: result.reason };
    },
  );

  api.get('/apps/:id', { schema: { ...tag('apps'), summary: 'Show an app', params: IdParams, response: { 200: ref(AppSchema), ...errors } } }, async (request) =>
    clients.show(request.params.id),
  );

  api.patch(
    '/apps/:id',
    {
      schema: {
        ...tag('apps'),
        summary: 'Change an app (changing on_behalf_of invalidates every token issued to it)',
        params: IdParams,
        body: ref(AppUpdateSchema),
        response: { 200: ref(AppSchema), ...errors },
      },
    },
    async (request) => {
      return clients.update(request.params.id, clientInput(request.body), actorOf(request));
    },
  );

  api.delete('/apps/:id', { schema: { ...tag('apps'), summary: 'Delete an app', params: IdParams, response: noContent } }, async (request, reply) => {
    await clients.delete(request.params.id, actorOf(request));
    return reply.code(204).send();
  });

  api.post(
    '/apps/:id/secret',
    {
      schema: {
        ...tag('apps'),
        summary: 'Regenerate the secret: the old secret and every token issued to the app stop working, unless a grace period is given',
        params: IdParams,
        body: SecretRotation,
        response: { 200: Secret, ...errors },
      },
      // The body is optional (an empty POST regenerates at once, as before grace periods).
      preValidation: async (request) => {
        if (request.body === undefined || request.body === null) request.body = {};
      },
    },
    async (request) => {
      const graceSeconds = request.body.grace_seconds;
      const rotated = await clients.rotateSecret(request.params.id, actorOf(request), graceSeconds === undefined ? {} : { graceSeconds });
      return { client_id: rotated.client_id, client_secret: rotated.client_secret, previous_secret_expires_at: rotated.previous_secret_expires_at };
    },
  );

  api.get(
    '/apps/:id/grants',
    { schema: { ...tag('apps'), summary: 'Users who approved this app', params: IdParams, response: { 200: listOf(GrantSchema), ...errors } } },
    async (request) => ({ items: await access.grants({ app: request.params.id }) }),
  );

  api.delete(
    '/apps/:id/grants/:userId',
    { schema: { ...tag('apps'), summary: 'Revoke a user’s grant to this app (consent and refresh tokens)', params: GrantParams, response: noContent } },
    async (request, reply) => {
      await access.revokeGrant(request.params.userId, request.params.id, actorOf(request));
      return reply.code(204).send();
    },
  );
}

/** snake_case JSON → the service's input; a field left out of the body stays unset. */
function clientInput(body: Static<typeof AppUpdateSchema>): ClientInput {
  return {
    name: body.name,
    nameTranslations: body.name_translations,
    description: body.description,
    grantTypes: body.grant_types,
    redirectUris: body.redirect_uris,
    postLogoutRedirectUris: body.post_logout_redirect_uris,
    scopes: body.scopes,
    defaultScopes: body.default_scopes,
    onBehalfOf: body.on_behalf_of,
    public: body.public,
    accessTokenTtl: body.access_token_ttl,
    refreshTokenTtl: body.refresh_token_ttl,
    requirePermission: body.require_permission,
    idTokenSignedResponseAlg: body.id_token_signed_response_alg,
    logoUri: body.logo_uri,
    clientUri: body.client_uri,
    policyUri: body.policy_uri,
    tosUri: body.tos_uri,
    requireMfa: body.require_mfa,
    dpopBoundAccessTokens: body.dpop_bound_access_tokens,
    tokenEndpointAuthMethod: body.token_endpoint_auth_method,
    jwks: body.jwks,
    jwksUri: body.jwks_uri,
    requirePushedAuthorizationRequests: body.require_pushed_authorization_requests,
    tokenExchange:
      body.token_exchange === undefined || body.token_exchange === null
        ? body.token_exchange
        : { audiences: body.token_exchange.audiences, scopes: body.token_exchange.scopes, subjectClients: body.token_exchange.subject_clients },
  };
}
