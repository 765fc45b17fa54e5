import { MeSchema, ref } from '../schemas.ts';
import { callerOf, errors, tag, type AdminApi, type AdminRouteDeps } from './route-kit.ts';

/** The caller: the console shows who is signed in from this. */
export function meRoutes(api: AdminApi, { tessera }: AdminRouteDeps): void {
  api.get('/me', { schema: { ...tag('me'), summary: 'Who is calling', response: { 200: ref(MeSchema), ...errors } } }, async (request) => {
    const caller = callerOf(request);
    const user = await tessera.services.users.show(caller.userId);
    return { id: user.id, username: user.username, roles: user.roles, permissions: user.permissions, client_id: caller.clientId };
  });
}
