import type { Static } from '@sinclair/typebox';
import { Type } from '@sinclair/typebox';
import { claimMappingFromView, type ProviderUpdate } from '../../../federation/provider-service.ts';
import { listOf, ProviderCreateSchema, ProviderSchema, ProviderUpdateSchema, ref } from '../schemas.ts';
import { actorOf, errors, noContent, tag, type AdminApi, type AdminRouteDeps } from './route-kit.ts';

const SlugParams = Type.Object({ slug: Type.String({ maxLength: 100 }) });
const DiscoveryCheck = Type.Object({ ok: Type.Boolean(), reason: Type.Optional(Type.String()) });

/** Upstream identity providers: the same service as `tessera providers`. */
export function providerRoutes(api: AdminApi, { tessera }: AdminRouteDeps): void {
  const { providers } = tessera.services;

  api.get(
    '/providers',
    { schema: { ...tag('providers'), summary: 'List identity providers', response: { 200: listOf(ProviderSchema), ...errors } } },
    async () => ({ items: await providers.list() }),
  );

  api.post(
    '/providers',
    {
      schema: {
        ...tag('providers'),
        summary: 'Register an identity provider; an OpenID provider’s discovery document is fetched and checked',
        body: ref(ProviderCreateSchema),
        response: { 201: ref(ProviderSchema), ...errors },
      },
    },
    async (request, reply) => {
      const { slug, kind, ...rest } = request.body;
      const created = await providers.create({ ...providerInput(rest), slug, kind }, actorOf(request));
      return reply.code(201).send(created);
    },
  );

  api.get(
    '/providers/:slug',
    { schema: { ...tag('providers'), summary: 'Show an identity provider', params: SlugParams, response: { 200: ref(ProviderSchema), ...errors } } },
    async (request) => providers.show(request.params.slug),
  );

  api.patch(
    '/providers/:slug',
    {
      schema: {
        ...tag('providers'),
        summary: 'Change an identity provider; a new issuer is discovered again',
        params: SlugParams,
        body: ref(ProviderUpdateSchema),
        response: { 200: ref(ProviderSchema), ...errors },
      },
    },
    async (request) => providers.update(request.params.slug, providerInput(request.body), actorOf(request)),
  );

  api.post(
    '/providers/:slug/test',
    {
      schema: {
        ...tag('providers'),
        summary: 'Fetch and check the provider’s configuration again (changes nothing)',
        params: SlugParams,
        response: { 200: DiscoveryCheck, ...errors },
      },
    },
    async (request) => providers.testDiscovery(request.params.slug),
  );

  api.delete(
    '/providers/:slug',
    { schema: { ...tag('providers'), summary: 'Delete an identity provider and its users’ links to it (the users stay)', params: SlugParams, response: noContent } },
    async (request, reply) => {
      await providers.delete(request.params.slug, actorOf(request));
      return reply.code(204).send();
    },
  );
}

/** snake_case JSON → the service's input; a field left out of the body stays unset. */
function providerInput(body: Static<typeof ProviderUpdateSchema>): ProviderUpdate {
  return {
    name: body.name,
    issuer: body.issuer,
    authorizationUrl: body.authorization_url,
    tokenUrl: body.token_url,
    userinfoUrl: body.userinfo_url,
    tokenEndpointAuthMethod: body.token_endpoint_auth_method,
    claimMapping: body.claim_mapping === undefined || body.claim_mapping === null ? body.claim_mapping : claimMappingFromView(body.claim_mapping),
    clientId: body.client_id,
    clientSecret: body.client_secret,
    scopes: body.scopes,
    defaultRoles: body.default_roles,
    trustEmail: body.trust_email,
    enabled: body.enabled,
  };
}
