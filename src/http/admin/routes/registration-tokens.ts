import { listOf, ref, RegistrationTokenCreateSchema, RegistrationTokenSchema } from '../schemas.ts';
import { actorOf, errors, IdParams, noContent, tag, type AdminApi, type AdminRouteDeps } from './route-kit.ts';

/** Initial access tokens for Dynamic Client Registration: the same service as `tessera registration tokens`. */
export function registrationTokenRoutes(api: AdminApi, { tessera }: AdminRouteDeps): void {
  const { registration } = tessera.services;

  api.post(
    '/registration-tokens',
    {
      schema: {
        ...tag('apps'),
        summary: 'Issue an initial access token for POST /connect/register (client_registration "token"); the token is in this answer only',
        body: ref(RegistrationTokenCreateSchema),
        response: { 201: ref(RegistrationTokenSchema), ...errors },
      },
    },
    async (request, reply) => {
      const b = request.body;
      return reply.code(201).send(await registration.issueToken({ label: b.label, expiresIn: b.expires_in, maxUses: b.max_uses }, actorOf(request)));
    },
  );

  api.get('/registration-tokens', { schema: { ...tag('apps'), summary: 'Initial access tokens, oldest first (never the tokens themselves)', response: { 200: listOf(RegistrationTokenSchema), ...errors } } }, async () => ({
    items: await registration.listTokens(),
  }));

  api.delete('/registration-tokens/:id', { schema: { ...tag('apps'), summary: 'Revoke an initial access token', params: IdParams, response: noContent } }, async (request, reply) => {
    await registration.revokeToken(request.params.id, actorOf(request));
    return reply.code(204).send();
  });
}
