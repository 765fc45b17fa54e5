import type { Static } from '@sinclair/typebox';
import type { ApiInput } from '../../../gateway/api-service.ts';
import { ApiCreateSchema, ApiSchema, ApiUpdateSchema, listOf, ref } from '../schemas.ts';
import { actorOf, errors, IdParams, noContent, tag, type AdminApi, type AdminRouteDeps } from './route-kit.ts';

/** The gateway's API definitions: the same service as `tessera apis`. */
export function apiRoutes(api: AdminApi, { tessera }: AdminRouteDeps): void {
  const { apis } = tessera.services;

  api.get('/apis', { schema: { ...tag('apis'), summary: 'List APIs behind the gateway', response: { 200: listOf(ApiSchema), ...errors } } }, async () => ({ items: await apis.list() }));

  api.post(
    '/apis',
    { schema: { ...tag('apis'), summary: 'Register an API: base path, upstream, scopes, routes', body: ref(ApiCreateSchema), response: { 201: ref(ApiSchema), ...errors } } },
    async (request, reply) => {
      const created = await apis.create(apiInput(request.body), actorOf(request));
      return reply.code(201).send(created);
    },
  );

  api.get('/apis/:id', { schema: { ...tag('apis'), summary: 'Show an API (by id or name)', params: IdParams, response: { 200: ref(ApiSchema), ...errors } } }, async (request) =>
    apis.show(request.params.id),
  );

  api.patch(
    '/apis/:id',
    {
      schema: {
        ...tag('apis'),
        summary: 'Change an API; scopes and routes replace the lists',
        params: IdParams,
        body: ref(ApiUpdateSchema),
        response: { 200: ref(ApiSchema), ...errors },
      },
    },
    async (request) => {
      return apis.update(request.params.id, apiInput(request.body), actorOf(request));
    },
  );

  api.delete('/apis/:id', { schema: { ...tag('apis'), summary: 'Delete an API', params: IdParams, response: noContent } }, async (request, reply) => {
    await apis.delete(request.params.id, actorOf(request));
    return reply.code(204).send();
  });
}

/** snake_case JSON → the service's input; a field left out of the body stays unset. */
function apiInput(body: Static<typeof ApiUpdateSchema>): ApiInput {
  return {
    name: body.name,
    basePath: body.base_path,
    upstream: body.upstream,
    audience: body.audience,
    timeoutMs: body.timeout_ms,
    forwardAuthorization: body.forward_authorization,
    upstreamToken: body.upstream_token,
    upstreamAudience: body.upstream_audience,
    maxBodyBytes: body.max_body_bytes,
    scopes: body.scopes?.map((s) => ({ name: s.name, description: s.description, descriptionTranslations: s.description_translations })),
    routes: body.routes,
  };
}
