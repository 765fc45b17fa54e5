import { Type, type Static } from '@sinclair/typebox';
import type { UserInput } from '../../../identity/user-service.ts';
import { GrantSchema, listOf, PasswordResetSchema, ref, SessionSchema, UserCreateSchema, UserSchema, UserUpdateSchema } from '../schemas.ts';
import { errors, IdParams, noContent, SearchQuery, tag, type AdminApi, type AdminRouteDeps } from './route-kit.ts';

const SessionParams = Type.Object({ id: Type.String(), sid: Type.String({ maxLength: 100 }) });
const GrantParams = Type.Object({ id: Type.String(), clientId: Type.String() });

/** Users, their sessions and the apps they approved: the same services as `tessera users`. */
export function userRoutes(api: AdminApi, { tessera, audit }: AdminRouteDeps): void {
  const { users, clients, access } = tessera.services;

  api.get('/users', { schema: { ...tag('users'), summary: 'List users', querystring: SearchQuery, response: { 200: listOf(UserSchema), ...errors } } }, async (request) => ({
    items: await users.list(request.query.search),
  }));

  api.post(
    '/users',
    { schema: { ...tag('users'), summary: 'Create a user', body: ref(UserCreateSchema), response: { 201: ref(UserSchema), ...errors } } },
    async (request, reply) => {
      const user = await users.create(userInput(request.body));
      await audit(request, 'user.create', 'user', user.id, { username: user.username, roles: user.roles });
      return reply.code(201).send(user);
    },
  );

  api.get('/users/:id', { schema: { ...tag('users'), summary: 'Show a user (by id or username)', params: IdParams, response: { 200: ref(UserSchema), ...errors } } }, async (request) =>
    users.show(request.params.id),
  );

  api.patch(
    '/users/:id',
    {
      schema: {
        ...tag('users'),
        summary: 'Change a user; disabled=true ends their sessions and tokens',
        params: IdParams,
        body: ref(UserUpdateSchema),
        response: { 200: ref(UserSchema), ...errors },
      },
    },
    async (request) => {
      const { disabled, ...rest } = request.body;
      let user = await users.show(request.params.id);
      if (Object.keys(rest).length) user = await users.update(user.id, userInput(rest));
      if (typeof disabled === 'boolean' && disabled !== user.disabled) {
        user = await users.setDisabled(user.id, disabled);
        await audit(request, disabled ? 'user.disable' : 'user.enable', 'user', user.id);
      }
      if (Object.keys(rest).length) await audit(request, 'user.update', 'user', user.id, { fields: Object.keys(rest) });
      return user;
    },
  );

  api.post(
    '/users/:id/password',
    { schema: { ...tag('users'), summary: 'Set a new password; ends the user’s sessions', params: IdParams, body: ref(PasswordResetSchema), response: noContent } },
    async (request, reply) => {
      const user = await users.update(request.params.id, { password: request.body.password });
      await audit(request, 'user.password_reset', 'user', user.id);
      return reply.code(204).send();
    },
  );

  api.get(
    '/users/:id/sessions',
    { schema: { ...tag('users'), summary: 'Active sign-in sessions', params: IdParams, response: { 200: listOf(SessionSchema), ...errors } } },
    async (request) => {
      const user = await users.show(request.params.id);
      return { items: await access.sessions(user.id) };
    },
  );

  api.delete(
    '/users/:id/sessions',
    { schema: { ...tag('users'), summary: 'End every session of the user', params: IdParams, response: noContent } },
    async (request, reply) => {
      const user = await users.show(request.params.id);
      const ended = await access.revokeAllSessions(user.id);
      await audit(request, 'session.revoke_all', 'user', user.id, { ended });
      return reply.code(204).send();
    },
  );

  api.delete(
    '/users/:id/sessions/:sid',
    { schema: { ...tag('users'), summary: 'End one session', params: SessionParams, response: noContent } },
    async (request, reply) => {
      const user = await users.show(request.params.id);
      await access.revokeSession(user.id, request.params.sid);
      await audit(request, 'session.revoke', 'user', user.id, { sid: request.params.sid });
      return reply.code(204).send();
    },
  );

  api.get(
    '/users/:id/grants',
    { schema: { ...tag('users'), summary: 'Apps the user approved', params: IdParams, response: { 200: listOf(GrantSchema), ...errors } } },
    async (request) => {
      const user = await users.show(request.params.id);
      return { items: await access.grants({ userId: user.id }) };
    },
  );

  api.delete(
    '/users/:id/grants/:clientId',
    { schema: { ...tag('users'), summary: 'Revoke the user’s grant to an app', params: GrantParams, response: noContent } },
    async (request, reply) => {
      const user = await users.show(request.params.id);
      const app = await clients.show(request.params.clientId);
      await access.revokeGrant(user.id, app.client_id);
      await audit(request, 'grant.revoke', 'user', user.id, { client_id: app.client_id });
      return reply.code(204).send();
    },
  );
}

/** snake_case JSON → the service's input; a field left out of the body stays unset. */
function userInput(body: Partial<Static<typeof UserCreateSchema>>): UserInput {
  return {
    username: body.username,
    password: body.password,
    email: body.email,
    name: body.name,
    givenName: body.given_name,
    familyName: body.family_name,
    roles: body.roles,
  };
}
