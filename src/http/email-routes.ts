import { t, tError } from '../pages/i18n-html.ts';
import { productName } from '../pages/brand-parts.ts';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { Tessera } from '../app/tessera.ts';
import { ServiceError } from '../errors.ts';
import { MIN_PASSWORD_LENGTH } from '../identity/passwords.ts';
import { forgotPage, forgotSentPage, invitePage, linkInvalidPage, resetPage, verifyNeededPage, verifyPage } from '../pages/email-pages.ts';
import { messagePage } from '../pages/pages.ts';
import { SESSION_COOKIE } from '../lib/cookie-names.ts';
import { pageForm, pageHeaders, queryParams, safeReturnTo, type PageKit } from './page-kit.ts';
import { noStore } from './oauth-reply.ts';
import { waitText } from './page-routes.ts';
import { pageLocale, rememberPageLocale } from './language-routes.ts';
import { PasskeyRefused } from '../identity/passkey-service.ts';
import { passkeyScripts, scriptNonce } from './passkey-assets.ts';
import { ceremonyCsrfOk, jsonBody, jsonError, newCeremonyHandle, takeCeremonyHandle } from './webauthn-ceremony.ts';


/** "Forgot password?" (/login/forgot) and the link it mails (/reset), email verification (/verify-email), invitations (/invite): docs/email.md. */
export function registerEmailRoutes(app: FastifyInstance, tessera: Tessera, kit: PageKit): void {
  const reset = tessera.email.passwordReset;
  const tokenOf = (request: FastifyRequest) => queryParams(request).get('token')?.[0];

  const forgotAgain = (request: FastifyRequest, reply: FastifyReply, status: number, error: string, identifier?: string) =>
    pageHeaders(reply).code(status).send(forgotPage({ csrf: kit.csrfToken(request, reply, 'forgot'), identifier, error }));

  app.get('/login/forgot', async (request, reply) => {
    if (!reset.available) return pageHeaders(reply).code(404).send(messagePage(t('email.unavailable.title'), t('email.unavailable.message', { product: productName() })));
    return pageHeaders(reply).send(forgotPage({ csrf: kit.csrfToken(request, reply, 'forgot') }));
  });

  app.post('/login/forgot', async (request, reply) => {
    if (!reset.available) return pageHeaders(reply).code(404).send(messagePage(t('email.unavailable.title'), t('email.unavailable.message', { product: productName() })));
    const form = pageForm(request);
    const identifier = (form.get('identifier') ?? '').trim();
    if (!kit.csrfOk(request, form, 'forgot')) return forgotAgain(request, reply, 403, t('email.formExpired'), identifier);
    if (!identifier) return forgotAgain(request, reply, 400, t('email.forgot.enterIdentifier'));
    const outcome = await reset.request(identifier, { ip: request.ip, locale: pageLocale(request, tessera) });
    if (!outcome.ok && outcome.reason === 'throttled') {
      reply.header('retry-after', String(outcome.retryAfter));
      return forgotAgain(request, reply, 429, t('wait.requests', { wait: waitText(outcome.retryAfter) }), identifier);
    }
    // The same page whether or not the account exists (the work happens in the background).
    return pageHeaders(reply).send(forgotSentPage());
  });

  const invalidReset = (reply: FastifyReply) =>
    pageHeaders(reply).code(400).send(linkInvalidPage('reset', reset.available ? { href: '/login/forgot', label: t('email.link.newLink') } : undefined));

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
    if (!kit.csrfOk(request, form, 'reset')) return again(403, t('email.formExpired'));
    const password = form.get('password') ?? '';
    if (password !== (form.get('confirm') ?? '')) return again(400, t('email.password.differ'));
    try {
      const outcome = await reset.complete(token, password, { ip: request.ip });
      if (!outcome.ok) return invalidReset(reply);
      return pageHeaders(reply).send(
        messagePage(t('email.reset.done.title'), t('email.reset.done.message', { username: outcome.username })),
      );
    } catch (error) {
      if (error instanceof ServiceError && error.code === 'validation_failed') return again(400, tError(error, (m) => `The ${m}.`));
      throw error;
    }
  });

  const verification = tessera.email.verification;
  const invalidVerify = (reply: FastifyReply) => pageHeaders(reply).code(400).send(linkInvalidPage('verify', { href: '/account', label: t('email.link.toAccount') }));

  app.get('/verify-email', async (request, reply) => {
    const token = tokenOf(request);
    const found = await verification.check(token);
    if (!found || !token) return invalidVerify(reply);
    return pageHeaders(reply).send(verifyPage({ csrf: kit.csrfToken(request, reply, 'verify'), token, email: found.email }));
  });

  app.post('/verify-email', async (request, reply) => {
    const form = pageForm(request);
    if (!kit.csrfOk(request, form, 'verify')) return kit.csrfRefused(reply);
    const outcome = await verification.confirm(form.get('token'), { ip: request.ip });
    if (!outcome.ok) return invalidVerify(reply);
    return pageHeaders(reply).send(messagePage(t('email.confirmed.title'), t('email.confirmed.message', { email: outcome.email, username: outcome.username })));
  });

  /** "Resend the link" (from the page /connect/authorize shows when a verified address is required). */
  app.post('/verify-email/resend', async (request, reply) => {
    const form = pageForm(request);
    const returnTo = safeReturnTo(form.get('return_to')) ?? '/account';
    const signedIn = await kit.requireSignedIn(request, reply, returnTo);
    if (!signedIn) return reply;
    if (!kit.csrfOk(request, form, signedIn.session.sid)) return kit.csrfRefused(reply);
    const user = signedIn.principal.user;
    const outcome = await verification.resend(user, { ip: request.ip });
    // Verified meanwhile (in another tab): straight back to where the user was going.
    if (!outcome.ok && outcome.reason === 'already_verified') return reply.redirect(returnTo, 303);
    const page = (status: number, text: { notice?: string; error?: string }) =>
      pageHeaders(reply)
        .code(status)
        .send(verifyNeededPage({ csrf: kit.csrfToken(request, reply, signedIn.session.sid), email: user.email, clientName: t('email.needed.theApp'), returnTo, canSend: verification.available, ...text }));
    if (outcome.ok) return page(200, { notice: t('email.needed.sent', { email: user.email ?? '' }) });
    if (outcome.reason === 'throttled') reply.header('retry-after', String(outcome.retryAfter));
    if (outcome.reason === 'throttled') return page(429, { error: t('wait.linkSent', { wait: waitText(outcome.retryAfter) }) });
    if (outcome.reason === 'not_configured') return page(409, { error: t('email.needed.notConfigured') });
    return page(400, { error: t('email.needed.noAddress') });
  });

  const invitations = tessera.email.invitations;
  const invalidInvite = (reply: FastifyReply) =>
    pageHeaders(reply).code(400).send(linkInvalidPage('invite', { href: '/login', label: t('email.link.signIn') }));

  /** The invitation page, with the passkey option's scripts under this response's nonce. */
  const sendInvitePage = (request: FastifyRequest, reply: FastifyReply, status: number, d: { token: string; email: string; username: string; error?: string; uiLocales: string | undefined }) => {
    const nonce = scriptNonce();
    return pageHeaders(reply, { scriptNonce: nonce })
      .code(status)
      .send(invitePage({ csrf: kit.csrfToken(request, reply, 'invite'), minLength: MIN_PASSWORD_LENGTH, passkey: { scripts: passkeyScripts(nonce) }, ...d }));
  };

  app.get('/invite', async (request, reply) => {
    const token = tokenOf(request);
    const invitation = await invitations.check(token);
    if (!invitation || !token) return invalidInvite(reply);
    const suggested = invitation.email.split('@')[0]!.replace(/[^A-Za-z0-9._+-]/g, '').slice(0, 100);
    return sendInvitePage(request, reply, 200, { token, email: invitation.email, username: suggested, uiLocales: queryParams(request).get('ui_locales')?.[0] });
  });

  app.post('/invite', async (request, reply) => {
    const form = pageForm(request);
    const token = form.get('token') ?? '';
    const username = (form.get('username') ?? '').trim();
    const again = async (status: number, error: string) => {
      const invitation = await invitations.check(token);
      if (!invitation) return invalidInvite(reply);
      return sendInvitePage(request, reply, status, { token, email: invitation.email, username, error, uiLocales: form.get('ui_locales') });
    };
    if (!kit.csrfOk(request, form, 'invite')) return again(403, t('email.formExpired'));
    const password = form.get('password') ?? '';
    if (password !== (form.get('confirm') ?? '')) return again(400, t('email.password.differ'));
    try {
      const outcome = await invitations.accept(token, { username, password }, { ip: request.ip, userAgent: request.headers['user-agent'] ?? null });
      if (!outcome.ok) return invalidInvite(reply);
      await rememberPageLocale(request, tessera, { id: outcome.session.userId, username: outcome.username });
      reply.setCookie(SESSION_COOKIE, outcome.cookieValue, { ...kit.cookieOptions(), maxAge: outcome.session.expiresAt - outcome.session.createdAt });
      return noStore(reply).redirect('/account', 303);
    } catch (error) {
      if (error instanceof ServiceError && (error.code === 'validation_failed' || error.code === 'conflict')) return again(error.code === 'conflict' ? 409 : 400, tError(error, sentence));
      throw error;
    }
  });

  // ---- an invitation accepted with a passkey instead of a password (JSON, for the page script) ----
  // The page's CSRF token (bound to 'invite') and the link's token come in the body; the
  // challenge is bound to this browser's ceremony cookie. The account is created, and the link
  // used, only when the registration verifies (Invitations.acceptWithPasskey).
  const INVITE_LINK_GONE = () => t('email.link.body', { kind: 'invite' });

  app.post('/invite/passkey/options', async (request, reply) => {
    const b = jsonBody(request);
    if (!b) return jsonError(reply, 400, 'invalid_request', 'the body must be a JSON object');
    if (!ceremonyCsrfOk(kit, request, b, 'invite')) return jsonError(reply, 403, 'invalid_csrf', t('passkeys.error.pageExpired'));
    try {
      const outcome = await invitations.passkeyOptions(stringOf(b.token), { username: stringOf(b.username) }, newCeremonyHandle(reply, kit));
      if (!outcome.ok) return jsonError(reply, 400, 'invalid_link', INVITE_LINK_GONE());
      return noStore(reply).send(outcome.options);
    } catch (error) {
      if (error instanceof ServiceError && (error.code === 'validation_failed' || error.code === 'conflict')) return jsonError(reply, error.code === 'conflict' ? 409 : 400, error.code, tError(error, sentence));
      throw error;
    }
  });

  app.post('/invite/passkey/verify', async (request, reply) => {
    const b = jsonBody(request);
    if (!b) return jsonError(reply, 400, 'invalid_request', 'the body must be a JSON object');
    if (!ceremonyCsrfOk(kit, request, b, 'invite')) return jsonError(reply, 403, 'invalid_csrf', t('passkeys.error.pageExpired'));
    const handle = takeCeremonyHandle(request, reply);
    try {
      const outcome = await invitations.acceptWithPasskey(
        stringOf(b.token),
        { username: stringOf(b.username), passkeyName: t('passkeys.defaultName', { number: 1 }), response: b.response },
        handle,
        { ip: request.ip, userAgent: request.headers['user-agent'] ?? null },
      );
      if (!outcome.ok) return jsonError(reply, 400, 'invalid_link', INVITE_LINK_GONE());
      await rememberPageLocale(request, tessera, { id: outcome.session.userId, username: outcome.username });
      reply.setCookie(SESSION_COOKIE, outcome.cookieValue, { ...kit.cookieOptions(), maxAge: outcome.session.expiresAt - outcome.session.createdAt });
      return noStore(reply).send({ redirect: '/account' });
    } catch (error) {
      if (error instanceof ServiceError && (error.code === 'validation_failed' || error.code === 'conflict')) return jsonError(reply, error.code === 'conflict' ? 409 : 400, error.code, tError(error, sentence));
      if (!(error instanceof PasskeyRefused)) throw error;
      request.log.info({ reason: error.reason, detail: error.message }, 'passkey registration at an invitation refused');
      return jsonError(reply, 400, 'passkey_refused', t('passkeys.error.addFailed'));
    }
  });
}

const stringOf = (v: unknown): string => (typeof v === 'string' ? v.slice(0, 2000) : '');

function sentence(message: string): string {
  const s = message.charAt(0).toUpperCase() + message.slice(1);
  return s.endsWith('.') ? s : `${s}.`;
}
