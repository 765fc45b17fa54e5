import { listOf, ref, RoleCreateSchema, RoleSchema, RoleUpdateSchema } from '../schemas.ts';
import { errors, NameParams, noContent, tag, type AdminApi, type AdminRouteDeps } from './route-kit.ts';

/** Roles: named sets of permissions given to users. */
export function roleRoutes(api: AdminApi, { tessera, audit }: AdminRouteDeps): void {
  const { roles } = tessera.services;

  api.get('/roles', { schema: { ...tag('roles'), summary: 'List roles', response: { 200: listOf(RoleSchema), ...errors } } }, async () => ({ items: await roles.list() }));

  api.post(
    '/roles',
    { schema: { ...tag('roles'), summary: 'Create a role', body: ref(RoleCreateSchema), response: { 201: ref(RoleSchema), ...errors } } },
    async (request, reply) => {
      const role = await roles.create(request.body);
      await audit(request, 'role.create', 'role', role.name, { permissions: role.permissions });
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
        summary: 'Change a role’s description or replace its permissions',
        params: NameParams,
        body: ref(RoleUpdateSchema),
        response: { 200: ref(RoleSchema), ...errors },
      },
    },
    async (request) => {
      const role = await roles.update(request.params.name, request.body);
      await audit(request, 'role.update', 'role', role.name, { fields: Object.keys(request.body), permissions: role.permissions });
      return role;
    },
  );

  api.delete('/roles/:name', { schema: { ...tag('roles'), summary: 'Delete a role (not a built-in one)', params: NameParams, response: noContent } }, async (request, reply) => {
    await roles.delete(request.params.name);
    await audit(request, 'role.delete', 'role', request.params.name);
    return reply.code(204).send();
  });
}
