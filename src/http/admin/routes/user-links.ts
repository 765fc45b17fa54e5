import { Type } from '@sinclair/typebox';
import { IdentityLinkSchema, listOf } from '../schemas.ts';
import { actorOf, errors, IdParams, noContent, tag, type AdminApi, type AdminRouteDeps } from './route-kit.ts';

const LinkParams = Type.Object({ id: Type.String({ maxLength: 200 }), provider: Type.String({ maxLength: 100 }), subject: Type.String({ maxLength: 255 }) });

/** A user's links to upstream identity providers (issue #11): shown, and removable by an admin. */
export function userLinkRoutes(api: AdminApi, { tessera }: AdminRouteDeps): void {
  const { links } = tessera.services;

  api.get(
    '/users/:id/links',
    { schema: { ...tag('users'), summary: 'The user’s accounts at upstream identity providers', params: IdParams, response: { 200: listOf(IdentityLinkSchema), ...errors } } },
    async (request) => ({ items: await links.list(request.params.id) }),
  );

  api.delete(
    '/users/:id/links/:provider/:subject',
    {
      schema: {
        ...tag('users'),
        summary: 'Remove a link: the user can no longer sign in through that upstream account',
        params: LinkParams,
        response: noContent,
      },
    },
    async (request, reply) => {
      await links.remove(request.params.id, request.params.provider, request.params.subject, actorOf(request));
      return reply.code(204).send();
    },
  );
}
