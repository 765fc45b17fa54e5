import { EmailStatusSchema, InvitationCreateSchema, InvitationSchema, listOf, ref } from '../schemas.ts';
import { actorOf, errors, tag, type AdminApi, type AdminRouteDeps } from './route-kit.ts';

/** Invitations by email and whether email works: the same services as `tessera users invite` and `tessera email status`. */
export function invitationRoutes(api: AdminApi, { tessera }: AdminRouteDeps): void {
  const { invitations } = tessera.email;

  api.post(
    '/users/invitations',
    {
      schema: {
        ...tag('users'),
        summary: 'Invite someone by email: a single-use link (7 days) lets them choose a username and password; 409 email_not_configured without SMTP',
        body: ref(InvitationCreateSchema),
        response: { 201: ref(InvitationSchema), ...errors },
      },
    },
    async (request, reply) => reply.code(201).send(await invitations.invite({ email: request.body.email, roles: request.body.roles, locale: request.body.locale }, actorOf(request))),
  );

  api.get('/users/invitations', { schema: { ...tag('users'), summary: 'Invitations not accepted yet (and not expired), newest first', response: { 200: listOf(InvitationSchema), ...errors } } }, async () => ({
    items: await invitations.list(),
  }));

  api.get('/email', { schema: { ...tag('settings'), summary: 'Whether email is configured, the sender, replaced templates', response: { 200: ref(EmailStatusSchema), ...errors } } }, async () =>
    tessera.email.status(),
  );
}
