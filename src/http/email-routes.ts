import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { Tessera } from '../app/tessera.ts';
import { ServiceError } from '../errors.ts';
import { MIN_PASSWORD_LENGTH } from '../identity/passwords.ts';
import { forgotPage, forgotSentPage, linkInvalidPage, resetPage } from '../pages/email-pages.ts';
import { messagePage } from '../pages/pages.ts';
import { pageForm, pageHeaders, queryParams, type PageKit } from './page-kit.ts';
import { waitText } from './page-routes.ts';

const NOT_AVAILABLE = 'Resetting a password by email is not available here: Tessera has no email server configured. Ask your administrator to set a new password for you.';

/** "Forgot password?" (/login/forgot) and the link it mails (/reset): docs/email.md. */
export function registerEmailRoutes(app: FastifyInstance, tessera: Tessera, kit: PageKit): void {
  const reset = tessera.email.passwordReset;
  const tokenOf = (request: FastifyRequest) => queryParams(request).get('token')?.[0];

  const forgotAgain = (request: FastifyRequest, reply: FastifyReply, status: number, error: string, identifier?: string) =>
    pageHeaders(reply).code(status).send(forgotPage({ csrf: kit.csrfToken(request, reply, 'forgot'), identifier, error }));

  app.get('/login/forgot', async (request, reply) => {
    if (!reset.available) return pageHeaders(reply).code(404).send(messagePage('Not available', NOT_AVAILABLE));
    return pageHeaders(reply).send(forgotPage({ csrf: kit.csrfToken(request, reply, 'forgot') }));
  });

  app.post('/login/forgot', async (request, reply) => {
    if (!reset.available) return pageHeaders(reply).code(404).send(messagePage('Not available', NOT_AVAILABLE));
    const form = pageForm(request);
    const identifier = (form.get('identifier') ?? '').trim();
    if (!kit.csrfOk(request, form, 'forgot')) return forgotAgain(request, reply, 403, 'This form expired. Please try again.', identifier);
    if (!identifier) return forgotAgain(request, reply, 400, 'Enter your username or email address.');
    const outcome = await reset.request(identifier, { ip: request.ip });
    if (!outcome.ok && outcome.reason === 'throttled') {
      reply.header('retry-after', String(outcome.retryAfter));
      return forgotAgain(request, reply, 429, `Too many requests. Wait ${waitText(outcome.retryAfter)}, then try again.`, identifier);
    }
    // The same page whether or not the account exists (the work happens in the background).
    return pageHeaders(reply).send(forgotSentPage());
  });

  const invalidReset = (reply: FastifyReply) =>
    pageHeaders(reply).code(400).send(linkInvalidPage('Password reset', reset.available ? { href: '/login/forgot', label: 'Send a new link' } : undefined));

  app.get('/reset', async (request, reply) => {
    const token = tokenOf(request);
    const user = await reset.check(token);
    if (!user || !token) return invalidReset(reply);
    return pageHeaders(reply).send(resetPage({ csrf: kit.csrfToken(request, reply, 'reset'), token, username: user.username, minLength: MIN_PASSWORD_LENGTH }));
  });

  app.post('/reset', async (request, reply) => {
    const form = pageForm(request);
    const token = form.get('token') ?? '';
    const again = async (status: number, error: string) => {
      const user = await reset.check(token);
      if (!user) return invalidReset(reply);
      return pageHeaders(reply).code(status).send(resetPage({ csrf: kit.csrfToken(request, reply, 'reset'), token, username: user.username, minLength: MIN_PASSWORD_LENGTH, error }));
    };
    if (!kit.csrfOk(request, form, 'reset')) return again(403, 'This form expired. Please try again.');
    const password = form.get('password') ?? '';
    if (password !== (form.get('confirm') ?? '')) return again(400, 'The two passwords differ.');
    try {
      const outcome = await reset.complete(token, password, { ip: request.ip });
      if (!outcome.ok) return invalidReset(reply);
      return pageHeaders(reply).send(
        messagePage('Password changed', `The password of ${outcome.username} is changed, and every session was signed out. Sign in with the new password.`),
      );
    } catch (error) {
      if (error instanceof ServiceError && error.code === 'validation_failed') return again(400, `The ${error.message}.`);
      throw error;
    }
  });
}
