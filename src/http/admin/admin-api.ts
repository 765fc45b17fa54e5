import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import swagger from '@fastify/swagger';
import { authenticateAdmin, type AdminActor } from '../../admin/admin-auth.ts';
import type { Tessera } from '../../app/tessera.ts';
import type { ClientInput } from '../../clients/client-service.ts';
import { epochSeconds } from '../../clock.ts';
import { ServiceError, validationError } from '../../errors.ts';
import type { ApiInput } from '../../gateway/api-service.ts';
import type { UserInput } from '../../identity/user-service.ts';
import { checkRedirectUri } from '../../oauth/redirect-uri-policy.ts';
import { OAuthError } from '../../oauth/errors.ts';
import { sendOAuthError } from '../oauth-reply.ts';
import { referencePage } from './reference-page.ts';
import { listOf, ref, SHARED_SCHEMAS } from './schemas.ts';

export const ADMIN_API_PREFIX = '/admin/api/v1';

declare module 'fastify' {
  interface FastifyRequest {
    adminActor?: AdminActor;
  }
}

const errors = { 400: ref('Error'), 401: ref('Error'), 403: ref('Error'), 404: ref('Error'), 409: ref('Error') };
const idParam = (name: string) => ({ type: 'object', properties: { [name]: { type: 'string', maxLength: 200 } }, required: [name] });
const noContent = { 204: { type: 'null', description: 'done' }, ...errors };

/**
 * The admin REST API (`/admin/api/v1`). Routes only translate HTTP to the service layer the
 * CLI uses too (src/clients, src/identity, src/keys, src/admin): no rule lives here. Every
 * change writes an audit event naming the caller and their address.
 */
export async function registerAdminApi(app: FastifyInstance, tessera: Tessera): Promise<void> {
  await app.register(swagger, {
    openapi: {
      openapi: '3.1.0',
      info: {
        title: 'Tessera admin API',
        version: '1',
        description:
          'Manage apps, users, roles, permissions, APIs, settings, signing keys, grants, sessions and the audit log. ' +
          'Every call needs `Authorization: Bearer <access token>` with the `tessera.admin` scope, which only users holding the `admin` role can obtain.',
      },
      servers: [{ url: '/' }],
      components: { securitySchemes: { bearer: { type: 'http', scheme: 'bearer', bearerFormat: 'JWT' } } },
      security: [{ bearer: [] }],
    },
    hideUntagged: true,
  });
  await app.register(async (api) => adminRoutes(api, tessera), { prefix: ADMIN_API_PREFIX });
}

async function adminRoutes(api: FastifyInstance, tessera: Tessera): Promise<void> {
  const { services } = tessera;
  for (const schema of SHARED_SCHEMAS) api.addSchema(schema);

  api.addHook('onRequest', async (request, reply) => {
    reply.header('cache-control', 'no-store');
    const path = request.url.split('?')[0]!;
    if (path === `${ADMIN_API_PREFIX}/openapi.json` || path === `${ADMIN_API_PREFIX}/docs`) return;
    request.adminActor = await authenticateAdmin(tessera.tokens, request.headers.authorization, epochSeconds(tessera.clock));
  });

  api.setErrorHandler((error: Error & { validation?: unknown; validationContext?: string; statusCode?: number }, request, reply) => {
    if (error instanceof OAuthError) return sendOAuthError(reply, error);
    if (error instanceof ServiceError) {
      return reply.code(error.status).send({ error: error.code, error_description: error.message, ...(error.field ? { field: error.field } : {}) });
    }
    if (error.validation) {
      const first = (error.validation as Array<{ instancePath?: string; params?: { missingProperty?: string; additionalProperty?: string } }>)[0];
      const field =
        first?.params?.missingProperty ?? first?.params?.additionalProperty ?? first?.instancePath?.replace(/^\//, '').split('/')[0] ?? undefined;
      return reply.code(400).send({ error: 'validation_failed', error_description: `${error.validationContext ?? 'request'}: ${error.message}`, ...(field ? { field } : {}) });
    }
    const status = error.statusCode;
    if (typeof status === 'number' && status >= 400 && status < 500) {
      return reply.code(status).send({ error: status === 413 ? 'too_large' : 'invalid_request', error_description: status === 413 ? 'the request body is too large' : 'the request is malformed' });
    }
    request.log.error({ err: error }, 'admin api error');
    return reply.code(500).send({ error: 'server_error', error_description: 'the server could not complete the request' });
  });

  /** Records a change made through the API; details never carry secrets (AuditLog redacts). */
  const audit = (request: FastifyRequest, action: string, targetType: string, targetId: string | null, details: Record<string, unknown> = {}) =>
    services.audit.record({ actor: request.adminActor!.label, action, targetType, targetId, ip: request.ip, details });

  const tag = (t: string) => ({ tags: [t], security: [{ bearer: [] }] });

  api.get('/openapi.json', { schema: { hide: true } }, (_request, reply) => {
    reply.header('cache-control', 'public, max-age=60').send(api.swagger());
  });
  api.get('/docs', { schema: { hide: true } }, (_request, reply) => {
    reply
      .header('content-security-policy', "default-src 'none'; style-src 'self'; frame-ancestors 'none'; base-uri 'none'")
      .header('x-frame-options', 'DENY')
      .header('cache-control', 'public, max-age=60')
      .type('text/html; charset=utf-8')
      .send(referencePage(api.swagger() as Record<string, unknown>));
  });

  api.get('/me', { schema: { ...tag('me'), summary: 'Who is calling', response: { 200: ref('Me'), ...errors } } }, async (request) => {
    const actor = request.adminActor!;
    const user = await services.users.show(actor.userId);
    return { id: user.id, username: user.username, roles: user.roles, permissions: user.permissions, client_id: actor.clientId };
  });

  // ---- apps ---------------------------------------------------------------------------
  api.get<{ Querystring: { search?: string } }>(
    '/apps',
    { schema: { ...tag('apps'), summary: 'List apps', querystring: { type: 'object', properties: { search: { type: 'string', maxLength: 200 } } }, response: { 200: listOf('App'), ...errors } } },
    async (request) => {
      const search = request.query.search?.trim().toLowerCase();
      const items = await services.clients.list();
      return { items: search ? items.filter((c) => [c.name, c.client_id, c.description].some((v) => v.toLowerCase().includes(search))) : items };
    },
  );
  api.post<{ Body: Record<string, unknown> }>(
    '/apps',
    { schema: { ...tag('apps'), summary: 'Register an app; the answer carries its secret, once', body: ref('AppCreate'), response: { 201: ref('App'), ...errors } } },
    async (request, reply) => {
      const created = await services.clients.create(clientInput(request.body));
      await audit(request, 'app.create', 'app', created.client_id, { name: created.name, grant_types: created.grant_types });
      return reply.code(201).send(created);
    },
  );
  api.post<{ Body: { uri: string } }>(
    '/apps/check-redirect-uri',
    {
      schema: {
        ...tag('apps'),
        summary: 'Check a redirect URI against the policy without saving anything',
        body: { type: 'object', additionalProperties: false, properties: { uri: { type: 'string', maxLength: 4096 } }, required: ['uri'] },
        response: { 200: { type: 'object', properties: { ok: { type: 'boolean' }, rule: { type: 'string' }, reason: { type: 'string' } }, required: ['ok'] }, ...errors },
      },
    },
    async (request) => {
      const result = await checkRedirectUri(request.body.uri, tessera.redirectPolicy);
      return result.ok ? { ok: true } : { ok: false, rule: result.rule, reason: result.reason };
    },
  );
  api.get<{ Params: { id: string } }>('/apps/:id', { schema: { ...tag('apps'), summary: 'Show an app', params: idParam('id'), response: { 200: ref('App'), ...errors } } }, async (request) =>
    services.clients.show(request.params.id),
  );
  api.patch<{ Params: { id: string }; Body: Record<string, unknown> }>(
    '/apps/:id',
    {
      schema: {
        ...tag('apps'),
        summary: 'Change an app (changing on_behalf_of invalidates every token issued to it)',
        params: idParam('id'),
        body: ref('AppUpdate'),
        response: { 200: ref('App'), ...errors },
      },
    },
    async (request) => {
      const updated = await services.clients.update(request.params.id, clientInput(request.body));
      await audit(request, 'app.update', 'app', updated.client_id, { fields: Object.keys(request.body) });
      return updated;
    },
  );
  api.delete<{ Params: { id: string } }>('/apps/:id', { schema: { ...tag('apps'), summary: 'Delete an app', params: idParam('id'), response: noContent } }, async (request, reply) => {
    await services.clients.delete(request.params.id);
    await audit(request, 'app.delete', 'app', request.params.id);
    return reply.code(204).send();
  });
  api.post<{ Params: { id: string } }>(
    '/apps/:id/secret',
    {
      schema: {
        ...tag('apps'),
        summary: 'Regenerate the secret: the old secret and every token issued to the app stop working',
        params: idParam('id'),
        response: { 200: { type: 'object', properties: { client_id: { type: 'string' }, client_secret: { type: 'string' } }, required: ['client_id', 'client_secret'] }, ...errors },
      },
    },
    async (request) => {
      const rotated = await services.clients.rotateSecret(request.params.id);
      await audit(request, 'app.secret_regenerate', 'app', rotated.client_id);
      return { client_id: rotated.client_id, client_secret: rotated.client_secret };
    },
  );
  api.get<{ Params: { id: string } }>(
    '/apps/:id/grants',
    { schema: { ...tag('apps'), summary: 'Users who approved this app', params: idParam('id'), response: { 200: listOf('Grant'), ...errors } } },
    async (request) => {
      const app = await services.clients.show(request.params.id);
      return { items: await services.access.grants({ clientId: app.client_id }) };
    },
  );
  api.delete<{ Params: { id: string; userId: string } }>(
    '/apps/:id/grants/:userId',
    { schema: { ...tag('apps'), summary: 'Revoke a user’s grant to this app (consent and refresh tokens)', params: { type: 'object', properties: { id: { type: 'string' }, userId: { type: 'string' } } }, response: noContent } },
    async (request, reply) => {
      const app = await services.clients.show(request.params.id);
      const user = await services.users.show(request.params.userId);
      await services.access.revokeGrant(user.id, app.client_id);
      await audit(request, 'grant.revoke', 'app', app.client_id, { user_id: user.id });
      return reply.code(204).send();
    },
  );

  // ---- users --------------------------------------------------------------------------
  api.get<{ Querystring: { search?: string } }>(
    '/users',
    { schema: { ...tag('users'), summary: 'List users', querystring: { type: 'object', properties: { search: { type: 'string', maxLength: 200 } } }, response: { 200: listOf('User'), ...errors } } },
    async (request) => {
      const search = request.query.search?.trim().toLowerCase();
      const items = await services.users.list();
      return { items: search ? items.filter((u) => [u.username, u.email ?? '', u.name ?? '', u.id].some((v) => v.toLowerCase().includes(search))) : items };
    },
  );
  api.post<{ Body: Record<string, unknown> }>(
    '/users',
    { schema: { ...tag('users'), summary: 'Create a user', body: ref('UserCreate'), response: { 201: ref('User'), ...errors } } },
    async (request, reply) => {
      const user = await services.users.create(userInput(request.body));
      await audit(request, 'user.create', 'user', user.id, { username: user.username, roles: user.roles });
      return reply.code(201).send(user);
    },
  );
  api.get<{ Params: { id: string } }>('/users/:id', { schema: { ...tag('users'), summary: 'Show a user (by id or username)', params: idParam('id'), response: { 200: ref('User'), ...errors } } }, async (request) =>
    services.users.show(request.params.id),
  );
  api.patch<{ Params: { id: string }; Body: Record<string, unknown> }>(
    '/users/:id',
    { schema: { ...tag('users'), summary: 'Change a user; disabled=true ends their sessions and tokens', params: idParam('id'), body: ref('UserUpdate'), response: { 200: ref('User'), ...errors } } },
    async (request) => {
      const { disabled, ...rest } = request.body;
      let user = await services.users.show(request.params.id);
      if (Object.keys(rest).length) user = await services.users.update(user.id, userInput(rest));
      if (typeof disabled === 'boolean' && disabled !== user.disabled) {
        user = await services.users.setDisabled(user.id, disabled);
        await audit(request, disabled ? 'user.disable' : 'user.enable', 'user', user.id);
      }
      if (Object.keys(rest).length) await audit(request, 'user.update', 'user', user.id, { fields: Object.keys(rest) });
      return user;
    },
  );
  api.post<{ Params: { id: string }; Body: { password: string } }>(
    '/users/:id/password',
    { schema: { ...tag('users'), summary: 'Set a new password; ends the user’s sessions', params: idParam('id'), body: ref('PasswordReset'), response: noContent } },
    async (request, reply) => {
      const user = await services.users.update(request.params.id, { password: request.body.password });
      await audit(request, 'user.password_reset', 'user', user.id);
      return reply.code(204).send();
    },
  );
  api.get<{ Params: { id: string } }>(
    '/users/:id/sessions',
    { schema: { ...tag('users'), summary: 'Active sign-in sessions', params: idParam('id'), response: { 200: listOf('Session'), ...errors } } },
    async (request) => {
      const user = await services.users.show(request.params.id);
      return { items: await services.access.sessions(user.id) };
    },
  );
  api.delete<{ Params: { id: string } }>(
    '/users/:id/sessions',
    { schema: { ...tag('users'), summary: 'End every session of the user', params: idParam('id'), response: noContent } },
    async (request, reply) => {
      const user = await services.users.show(request.params.id);
      const ended = await services.access.revokeAllSessions(user.id);
      await audit(request, 'session.revoke_all', 'user', user.id, { ended });
      return reply.code(204).send();
    },
  );
  api.delete<{ Params: { id: string; sid: string } }>(
    '/users/:id/sessions/:sid',
    { schema: { ...tag('users'), summary: 'End one session', params: { type: 'object', properties: { id: { type: 'string' }, sid: { type: 'string', maxLength: 100 } } }, response: noContent } },
    async (request, reply) => {
      const user = await services.users.show(request.params.id);
      await services.access.revokeSession(user.id, request.params.sid);
      await audit(request, 'session.revoke', 'user', user.id, { sid: request.params.sid });
      return reply.code(204).send();
    },
  );
  api.get<{ Params: { id: string } }>(
    '/users/:id/grants',
    { schema: { ...tag('users'), summary: 'Apps the user approved', params: idParam('id'), response: { 200: listOf('Grant'), ...errors } } },
    async (request) => {
      const user = await services.users.show(request.params.id);
      return { items: await services.access.grants({ userId: user.id }) };
    },
  );
  api.delete<{ Params: { id: string; clientId: string } }>(
    '/users/:id/grants/:clientId',
    { schema: { ...tag('users'), summary: 'Revoke the user’s grant to an app', params: { type: 'object', properties: { id: { type: 'string' }, clientId: { type: 'string' } } }, response: noContent } },
    async (request, reply) => {
      const user = await services.users.show(request.params.id);
      const app = await services.clients.show(request.params.clientId);
      await services.access.revokeGrant(user.id, app.client_id);
      await audit(request, 'grant.revoke', 'user', user.id, { client_id: app.client_id });
      return reply.code(204).send();
    },
  );

  // ---- roles and permissions ----------------------------------------------------------
  api.get('/roles', { schema: { ...tag('roles'), summary: 'List roles', response: { 200: listOf('Role'), ...errors } } }, async () => ({ items: await services.roles.list() }));
  api.post<{ Body: { name: string; description?: string; permissions?: string[] } }>(
    '/roles',
    { schema: { ...tag('roles'), summary: 'Create a role', body: ref('RoleCreate'), response: { 201: ref('Role'), ...errors } } },
    async (request, reply) => {
      const role = await services.roles.create(request.body);
      await audit(request, 'role.create', 'role', role.name, { permissions: role.permissions });
      return reply.code(201).send(role);
    },
  );
  api.get<{ Params: { name: string } }>('/roles/:name', { schema: { ...tag('roles'), summary: 'Show a role', params: idParam('name'), response: { 200: ref('Role'), ...errors } } }, async (request) =>
    services.roles.show(request.params.name),
  );
  api.patch<{ Params: { name: string }; Body: { description?: string; permissions?: string[] } }>(
    '/roles/:name',
    { schema: { ...tag('roles'), summary: 'Change a role’s description or replace its permissions', params: idParam('name'), body: ref('RoleUpdate'), response: { 200: ref('Role'), ...errors } } },
    async (request) => {
      const role = await services.roles.update(request.params.name, request.body);
      await audit(request, 'role.update', 'role', role.name, { fields: Object.keys(request.body), permissions: role.permissions });
      return role;
    },
  );
  api.delete<{ Params: { name: string } }>('/roles/:name', { schema: { ...tag('roles'), summary: 'Delete a role (not a built-in one)', params: idParam('name'), response: noContent } }, async (request, reply) => {
    await services.roles.delete(request.params.name);
    await audit(request, 'role.delete', 'role', request.params.name);
    return reply.code(204).send();
  });
  api.get('/permissions', { schema: { ...tag('roles'), summary: 'List permissions', response: { 200: listOf('Permission'), ...errors } } }, async () => ({
    items: await services.roles.listPermissions(),
  }));
  api.post<{ Body: { name: string; description?: string } }>(
    '/permissions',
    { schema: { ...tag('roles'), summary: 'Create a permission', body: ref('PermissionCreate'), response: { 201: ref('Permission'), ...errors } } },
    async (request, reply) => {
      const permission = await services.roles.createPermission(request.body);
      await audit(request, 'permission.create', 'permission', permission.name);
      return reply.code(201).send(permission);
    },
  );
  api.delete<{ Params: { name: string } }>(
    '/permissions/:name',
    { schema: { ...tag('roles'), summary: 'Delete a permission (removes it from every role)', params: idParam('name'), response: noContent } },
    async (request, reply) => {
      await services.roles.deletePermission(request.params.name);
      await audit(request, 'permission.delete', 'permission', request.params.name);
      return reply.code(204).send();
    },
  );

  // ---- settings and keys --------------------------------------------------------------
  api.get('/settings', { schema: { ...tag('settings'), summary: 'Current settings', response: { 200: ref('Settings'), ...errors } } }, async () => services.settings.view());
  api.patch<{ Body: Record<string, unknown> }>(
    '/settings',
    { schema: { ...tag('settings'), summary: 'Change settings; they apply to the next request on every node', body: ref('SettingsUpdate'), response: { 200: ref('Settings'), ...errors } } },
    async (request) => {
      const { view, changed } = await services.settings.update(request.body);
      await audit(request, 'settings.update', 'settings', null, { changed });
      return view;
    },
  );
  api.get('/keys', { schema: { ...tag('keys'), summary: 'Signing keys', response: { 200: listOf('SigningKey'), ...errors } } }, async () => ({ items: await services.keys.list() }));
  api.post(
    '/keys/rotate',
    { schema: { ...tag('keys'), summary: 'New active signing keys; the previous ones stay published until their tokens expire', response: { 200: listOf('SigningKey'), ...errors } } },
    async (request) => {
      const items = await services.keys.rotate();
      await audit(request, 'keys.rotate', 'keys', null, { kids: items.map((k) => k.kid) });
      return { items };
    },
  );

  // ---- audit --------------------------------------------------------------------------
  api.get<{ Querystring: { actor?: string; action?: string; target_type?: string; target_id?: string; since?: string; until?: string; limit?: number; before?: string } }>(
    '/audit',
    {
      schema: {
        ...tag('audit'),
        summary: 'Audit events, newest first',
        querystring: {
          type: 'object',
          additionalProperties: false,
          properties: {
            actor: { type: 'string', maxLength: 300 },
            action: { type: 'string', maxLength: 100 },
            target_type: { type: 'string', maxLength: 100 },
            target_id: { type: 'string', maxLength: 300 },
            since: { type: 'string', format: 'date-time' },
            until: { type: 'string', format: 'date-time' },
            limit: { type: 'integer', minimum: 1, maximum: 500 },
            before: { type: 'string', maxLength: 100, description: 'the `next` cursor of the previous page' },
          },
        },
        response: { 200: listOf('AuditEvent', { next: { anyOf: [{ type: 'string' }, { type: 'null' }] } }), ...errors },
      },
    },
    async (request) => {
      const q = request.query;
      return services.audit.list({
        actor: q.actor,
        action: q.action,
        targetType: q.target_type,
        targetId: q.target_id,
        since: q.since ? toEpoch(q.since, 'since') : undefined,
        until: q.until ? toEpoch(q.until, 'until') : undefined,
        limit: q.limit,
        before: q.before,
      });
    },
  );

  await registerApiRoutes(api, tessera, audit, tag);
}

/** The gateway's API definitions (same service as `tessera apis`). */
async function registerApiRoutes(
  api: FastifyInstance,
  tessera: Tessera,
  audit: (request: FastifyRequest, action: string, targetType: string, targetId: string | null, details?: Record<string, unknown>) => Promise<void>,
  tag: (t: string) => object,
): Promise<void> {
  const { apis } = tessera.services;
  api.get('/apis', { schema: { ...tag('apis'), summary: 'List APIs behind the gateway', response: { 200: listOf('Api'), ...errors } } }, async () => ({ items: await apis.list() }));
  api.post<{ Body: Record<string, unknown> }>(
    '/apis',
    { schema: { ...tag('apis'), summary: 'Register an API: base path, upstream, scopes, routes', body: ref('ApiCreate'), response: { 201: ref('Api'), ...errors } } },
    async (request, reply) => {
      const created = await apis.create(apiInput(request.body));
      await audit(request, 'api.create', 'api', created.id, { name: created.name, base_path: created.base_path, upstream: created.upstream });
      return reply.code(201).send(created);
    },
  );
  api.get<{ Params: { id: string } }>('/apis/:id', { schema: { ...tag('apis'), summary: 'Show an API (by id or name)', params: idParam('id'), response: { 200: ref('Api'), ...errors } } }, async (request) =>
    apis.show(request.params.id),
  );
  api.patch<{ Params: { id: string }; Body: Record<string, unknown> }>(
    '/apis/:id',
    { schema: { ...tag('apis'), summary: 'Change an API; scopes and routes replace the lists', params: idParam('id'), body: ref('ApiUpdate'), response: { 200: ref('Api'), ...errors } } },
    async (request) => {
      const updated = await apis.update(request.params.id, apiInput(request.body));
      await audit(request, 'api.update', 'api', updated.id, { fields: Object.keys(request.body) });
      return updated;
    },
  );
  api.delete<{ Params: { id: string } }>('/apis/:id', { schema: { ...tag('apis'), summary: 'Delete an API', params: idParam('id'), response: noContent } }, async (request, reply) => {
    const found = await apis.show(request.params.id);
    await apis.delete(found.id);
    await audit(request, 'api.delete', 'api', found.id, { name: found.name });
    return reply.code(204).send();
  });
}

function apiInput(body: Record<string, unknown>): ApiInput {
  const input: ApiInput = {};
  if (body.name !== undefined) input.name = body.name as string;
  if (body.base_path !== undefined) input.basePath = body.base_path as string;
  if (body.upstream !== undefined) input.upstream = body.upstream as string;
  if (body.audience !== undefined) input.audience = body.audience as string | null;
  if (body.timeout_ms !== undefined) input.timeoutMs = body.timeout_ms as number;
  if (body.scopes !== undefined) input.scopes = body.scopes as ApiInput['scopes'];
  if (body.routes !== undefined) input.routes = body.routes as ApiInput['routes'];
  return input;
}

function toEpoch(value: string, field: string): number {
  const ms = Date.parse(value);
  if (Number.isNaN(ms)) throw validationError(`${field} must be an ISO 8601 date-time`, field);
  return Math.floor(ms / 1000);
}

/** snake_case JSON → the service's input (only fields present are set). */
function clientInput(body: Record<string, unknown>): ClientInput {
  const input: ClientInput = {};
  const map: Array<[string, keyof ClientInput]> = [
    ['name', 'name'],
    ['description', 'description'],
    ['grant_types', 'grantTypes'],
    ['redirect_uris', 'redirectUris'],
    ['post_logout_redirect_uris', 'postLogoutRedirectUris'],
    ['scopes', 'scopes'],
    ['default_scopes', 'defaultScopes'],
    ['on_behalf_of', 'onBehalfOf'],
    ['public', 'public'],
    ['access_token_ttl', 'accessTokenTtl'],
    ['refresh_token_ttl', 'refreshTokenTtl'],
    ['require_permission', 'requirePermission'],
    ['id_token_signed_response_alg', 'idTokenSignedResponseAlg'],
  ];
  for (const [from, to] of map) if (body[from] !== undefined) (input as Record<string, unknown>)[to] = body[from];
  return input;
}

function userInput(body: Record<string, unknown>): UserInput {
  const input: UserInput = {};
  const map: Array<[string, keyof UserInput]> = [
    ['username', 'username'],
    ['password', 'password'],
    ['email', 'email'],
    ['name', 'name'],
    ['given_name', 'givenName'],
    ['family_name', 'familyName'],
    ['roles', 'roles'],
  ];
  for (const [from, to] of map) if (body[from] !== undefined) (input as Record<string, unknown>)[to] = body[from];
  return input;
}

export type AdminReply = FastifyReply;
