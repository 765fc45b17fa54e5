import { listOf, PermissionCreateSchema, PermissionSchema, ref } from '../schemas.ts';
import { actorOf, errors, NameParams, noContent, tag, type AdminApi, type AdminRouteDeps } from './route-kit.ts';

/** Permissions: what roles grant and apps may require (listed under the roles tag, as before). */
export function permissionRoutes(api: AdminApi, { tessera }: AdminRouteDeps): void {
  const { roles } = tessera.services;

  api.get('/permissions', { schema: { ...tag('roles'), summary: 'List permissions', response: { 200: listOf(PermissionSchema), ...errors } } }, async () => ({
    items: await roles.listPermissions(),
  }));

  api.post(
    '/permissions',
    { schema: { ...tag('roles'), summary: 'Create a permission', body: ref(PermissionCreateSchema), response: { 201: ref(PermissionSchema), ...errors } } },
    async (request, reply) => {
      const permission = await roles.createPermission(request.body, actorOf(request));
      return reply.code(201).send(permission);
    },
  );

  api.delete(
    '/permissions/:name',
    { schema: { ...tag('roles'), summary: 'Delete a permission (removes it from every role)', params: NameParams, response: noContent } },
    async (request, reply) => {
      await roles.deletePermission(request.params.name, actorOf(request));
      return reply.code(204).send();
    },
  );
}
