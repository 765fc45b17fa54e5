import { Type, type Static } from '@sinclair/typebox';
import type { UserInput, UserUpdate } from '../../../identity/user-service.ts';
import { FactorsResetSchema, GrantSchema, listOf, UserFactorsSchema, PasswordResetSchema, ref, SessionSchema, SignInThrottleSchema, UnlockResultSchema, UserCreateSchema, UserSchema, UserUpdateSchema } from '../schemas.ts';
import { actorOf, errors, IdParams, noContent, SearchQuery, tag, type AdminApi, type AdminRouteDeps } from './route-kit.ts';

const SessionParams = Type.Object({ id: Type.String(), sid: Type.String({ maxLength: 100 }) });
const GrantParams = Type.Object({ id: Type.String(), clientId: Type.String() });

/** Users, their sessions and the apps they approved: the same services as `tessera users`. */
export function userRoutes(api: AdminApi, { tessera }: AdminRouteDeps): void {
  const { users, access } = tessera.services;

  api.get('/users', { schema: { ...tag('users'), summary: 'List users', querystring: SearchQuery, response: { 200: listOf(UserSchema), ...errors } } }, async (request) => ({
    items: await users.list(request.query.search),
  }));

  api.post(
    '/users',
    { schema: { ...tag('users'), summary: 'Create a user', body: ref(UserCreateSchema), response: { 201: ref(UserSchema), ...errors } } },
    async (request, reply) => {
      const user = await users.create(userInput(request.body), actorOf(request));
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
    async (request) => users.update(request.params.id, userUpdate(request.body), actorOf(request)),
  );

  api.delete(
    '/users/:id',
    {
      schema: {
        ...tag('users'),
        summary: 'Delete a user with their sessions, consents, refresh tokens and provider links; their access tokens stop working',
        params: IdParams,
        response: noContent,
      },
    },
    async (request, reply) => {
      await users.delete(request.params.id, actorOf(request));
      return reply.code(204).send();
    },
  );

  api.post(
    '/users/:id/password',
    { schema: { ...tag('users'), summary: 'Set a new password; ends the user’s sessions', params: IdParams, body: ref(PasswordResetSchema), response: noContent } },
    async (request, reply) => {
      await users.setPassword(request.params.id, request.body.password, actorOf(request));
      return reply.code(204).send();
    },
  );

  api.get(
    '/users/:id/sign-in-throttle',
    {
      schema: {
        ...tag('users'),
        summary: 'The user’s sign-in throttle counters: which browsers and addresses are slowed, and for how long',
        params: IdParams,
        response: { 200: ref(SignInThrottleSchema), ...errors },
      },
    },
    async (request) => users.signInThrottle(request.params.id),
  );

  api.post(
    '/users/:id/unlock',
    {
      schema: {
        ...tag('users'),
        summary: 'Clear the user’s sign-in throttling (their devices, the clients that failed as them, the account-wide counter)',
        params: IdParams,
        response: { 200: ref(UnlockResultSchema), ...errors },
      },
    },
    async (request) => users.unlock(request.params.id, actorOf(request)),
  );

  api.get(
    '/users/:id/factors',
    {
      schema: {
        ...tag('users'),
        summary: 'The user’s second factors (authenticator app, passkeys) and how many recovery codes are left',
        params: IdParams,
        response: { 200: ref(UserFactorsSchema), ...errors },
      },
    },
    async (request) => tessera.services.mfa.factorsView(request.params.id),
  );

  api.delete(
    '/users/:id/factors',
    {
      schema: {
        ...tag('users'),
        summary: 'Remove every second factor and recovery code of the user (they sign in with the password, then enrol again if required)',
        params: IdParams,
        response: { 200: ref(FactorsResetSchema), ...errors },
      },
    },
    async (request) => tessera.services.mfa.resetFactorsOf(request.params.id, actorOf(request)),
  );

  api.get(
    '/users/:id/sessions',
    { schema: { ...tag('users'), summary: 'Active sign-in sessions', params: IdParams, response: { 200: listOf(SessionSchema), ...errors } } },
    async (request) => ({ items: await access.sessions(request.params.id) }),
  );

  api.delete(
    '/users/:id/sessions',
    { schema: { ...tag('users'), summary: 'End every session of the user', params: IdParams, response: noContent } },
    async (request, reply) => {
      await access.revokeAllSessions(request.params.id, actorOf(request));
      return reply.code(204).send();
    },
  );

  api.delete(
    '/users/:id/sessions/:sid',
    { schema: { ...tag('users'), summary: 'End one session', params: SessionParams, response: noContent } },
    async (request, reply) => {
      await access.revokeSession(request.params.id, request.params.sid, actorOf(request));
      return reply.code(204).send();
    },
  );

  api.get(
    '/users/:id/grants',
    { schema: { ...tag('users'), summary: 'Apps the user approved', params: IdParams, response: { 200: listOf(GrantSchema), ...errors } } },
    async (request) => ({ items: await access.grants({ user: request.params.id }) }),
  );

  api.delete(
    '/users/:id/grants/:clientId',
    { schema: { ...tag('users'), summary: 'Revoke the user’s grant to an app', params: GrantParams, response: noContent } },
    async (request, reply) => {
      await access.revokeGrant(request.params.id, request.params.clientId, actorOf(request));
      return reply.code(204).send();
    },
  );
}

/** snake_case JSON → the service's change; a field left out of the body stays unset. */
function userUpdate(body: Static<typeof UserUpdateSchema>): UserUpdate {
  return {
    email: body.email,
    name: body.name,
    givenName: body.given_name,
    familyName: body.family_name,
    roles: body.roles,
    disabled: body.disabled,
    locale: body.locale,
  };
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
    locale: body.locale,
  };
}
