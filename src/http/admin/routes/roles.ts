import { listOf, ref, RoleCreateSchema, RoleSchema, RoleUpdateSchema } from '../schemas.ts';
import { actorOf, errors, NameParams, noContent, tag, type AdminApi, type AdminRouteDeps } from './route-kit.ts';

/** Roles: named sets of permissions given to users. */
export function roleRoutes(api: AdminApi, { tessera }: AdminRouteDeps): void {
  const { roles } = tessera.services;

  api.get('/roles', { schema: { ...tag('roles'), summary: 'List roles', response: { 200: listOf(RoleSchema), ...errors } } }, async () => ({ items: await roles.list() }));

  api.post(
    '/roles',
    { schema: { ...tag('roles'), summary: 'Create a role', body: ref(RoleCreateSchema), response: { 201: ref(RoleSchema), ...errors } } },
    async (request, reply) => {
      const { require_mfa, ...rest } = request.body;
      const role = await roles.create({ ...rest, requireMfa: require_mfa }, actorOf(request));
      return reply.code(201).send(role);
    },
  );

  api.get('/roles/:name', { schema: { ...tag('roles'), summary: 'Show a role', params: NameParams, response: { 200: ref(RoleSchema), ...errors } } }, async (request) =>
    roles.show(request.params.name),
  );

  api.patch(
    '/roles/:name',
    {
      schema: {
        ...tag('roles'),
        summary: 'Change a role’s description, replace its permissions, or require a second factor of its users',
        params: NameParams,
        body: ref(RoleUpdateSchema),
        response: { 200: ref(RoleSchema), ...errors },
      },
    },
    async (request) => {
      const { require_mfa, ...rest } = request.body;
      return roles.update(request.params.name, { ...rest, requireMfa: require_mfa }, actorOf(request));
    },
  );

  api.delete('/roles/:name', { schema: { ...tag('roles'), summary: 'Delete a role (not a built-in one)', params: NameParams, response: noContent } }, async (request, reply) => {
    await roles.delete(request.params.name, actorOf(request));
    return reply.code(204).send();
  });
}
