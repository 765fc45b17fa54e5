import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import swagger from '@fastify/swagger';
import type { FastifyInstance } from 'fastify';
import { authenticateAdmin } from '../../admin/admin-auth.ts';
import type { Tessera } from '../../app/tessera.ts';
import { epochSeconds } from '../../clock.ts';
import { referencePage } from './reference-page.ts';
import { apiRoutes } from './routes/apis.ts';
import { appRoutes } from './routes/apps.ts';
import { auditRoutes } from './routes/audit.ts';
import { keyRoutes } from './routes/keys.ts';
import { meRoutes } from './routes/me.ts';
import { permissionRoutes } from './routes/permissions.ts';
import { providerRoutes } from './routes/providers.ts';
import { userLinkRoutes } from './routes/user-links.ts';
import { roleRoutes } from './routes/roles.ts';
import type { AdminApi, AdminRouteDeps } from './routes/route-kit.ts';
import { settingsRoutes } from './routes/settings.ts';
import { brandingRoutes } from './routes/branding.ts';
import { invitationRoutes } from './routes/invitations.ts';
import { registrationTokenRoutes } from './routes/registration-tokens.ts';
import { userRoutes } from './routes/users.ts';
import { SHARED_SCHEMAS } from './schemas.ts';

export const ADMIN_API_PREFIX = '/admin/api/v1';

/** One module per resource; each registers its routes on the admin scope. */
const RESOURCES: Array<(api: AdminApi, deps: AdminRouteDeps) => void> = [
  meRoutes,
  appRoutes,
  invitationRoutes,
  registrationTokenRoutes,
  userRoutes,
  roleRoutes,
  permissionRoutes,
  settingsRoutes,
  brandingRoutes,
  keyRoutes,
  auditRoutes,
  apiRoutes,
  providerRoutes,
  userLinkRoutes,
];

/**
 * The admin REST API (`/admin/api/v1`). Routes only translate HTTP to the service layer the
 * CLI uses too (src/clients, src/identity, src/keys, src/admin): no rule lives here. Every
 * change passes the caller and their address (actorOf) to the service, which audits it.
 * Errors are rendered by the app's one error handler (../error-reply.ts).
 */
export async function registerAdminApi(app: FastifyInstance, tessera: Tessera): Promise<void> {
  await app.register(swagger, {
    openapi: {
      openapi: '3.1.0',
      info: {
        title: 'Tessera admin API',
        version: '1',
        description:
          'Manage apps, users, roles, permissions, APIs, identity providers, settings, signing keys, grants, sessions and the audit log. ' +
          'Every call needs `Authorization: Bearer <access token>` with the `tessera.admin` scope, which only users holding the `admin` role can obtain.',
      },
      servers: [{ url: '/' }],
      components: { securitySchemes: { bearer: { type: 'http', scheme: 'bearer', bearerFormat: 'JWT' } } },
      security: [{ bearer: [] }],
    },
    hideUntagged: true,
    // Components named after their schema's $id (App, AppCreate, …), not def-0, def-1, …:
    // the console's generated types refer to them by name.
    refResolver: { buildLocalReference: (json, _baseUri, _fragment, i) => (typeof json.$id === 'string' ? json.$id : `def-${i}`) },
  });
  await app.register(async (scope) => adminScope(scope.withTypeProvider<TypeBoxTypeProvider>(), tessera), { prefix: ADMIN_API_PREFIX });
}

function adminScope(api: AdminApi, tessera: Tessera): void {
  for (const schema of SHARED_SCHEMAS) api.addSchema(schema);

  api.addHook('onRequest', async (request, reply) => {
    reply.header('cache-control', 'no-store');
    const path = request.url.split('?')[0];
    if (path === `${ADMIN_API_PREFIX}/openapi.json` || path === `${ADMIN_API_PREFIX}/docs`) return;
    request.adminActor = await authenticateAdmin(tessera.tokens, request.headers.authorization, epochSeconds(tessera.clock));
  });

  api.get('/openapi.json', { schema: { hide: true } }, (_request, reply) => {
    reply.header('cache-control', 'public, max-age=60').send(api.swagger());
  });
  api.get('/docs', { schema: { hide: true } }, (_request, reply) => {
    reply
      .header('content-security-policy', "default-src 'none'; style-src 'self'; frame-ancestors 'none'; base-uri 'none'")
      .header('x-frame-options', 'DENY')
      .header('cache-control', 'public, max-age=60')
      .type('text/html; charset=utf-8')
      .send(referencePage(api.swagger()));
  });

  for (const register of RESOURCES) register(api, { tessera });
}
