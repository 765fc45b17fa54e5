import { t } from '../pages/i18n-html.ts';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import QRCode from 'qrcode';
import type { Tessera } from '../app/tessera.ts';
import { visitor } from '../audit/actor.ts';
import { withMethod } from '../identity/authentication-methods.ts';
import type { PendingSecondStep } from '../identity/mfa/second-step-store.ts';
import { groupedSecret } from '../identity/mfa/totp.ts';
import type { User } from '../identity/user.ts';
import { CSRF_COOKIE, DEVICE_COOKIE, SECOND_STEP_COOKIE } from '../lib/cookie-names.ts';
import { recoveryCodesPage, recoveryCodeUsedPage, secondFactorPage, totpEnrolPage } from '../pages/mfa-pages.ts';
import { messagePage } from '../pages/pages.ts';
import type { SafeHtml } from '../pages/html.ts';
import { pageForm, pageHeaders, type PageKit } from './page-kit.ts';
import { scriptNonce } from './passkey-assets.ts';
import { waitText } from './page-routes.ts';
import { ownUiLocalesQuery, type SignInSteps } from './sign-in-steps.ts';

/** The otpauth:// URI as an SVG QR code in a data: URL (the pages' CSP allows data: images, no script). */
export async function qrDataUrl(uri: string): Promise<string> {
  const svg = await QRCode.toString(uri, { type: 'svg', errorCorrectionLevel: 'M', margin: 2 });
  return `data:image/svg+xml;base64,${Buffer.from(svg).toString('base64')}`;
}

/**
 * /login/second-factor (a code after the password) and /login/enrol (a user who must have a
 * factor and has none sets one up before the session starts). Both need the pending step this
 * browser got at /login: server-side, short-lived, bound to the browser, used once.
 */
export function registerSecondFactorRoutes(app: FastifyInstance, tessera: Tessera, kit: PageKit, steps: SignInSteps): void {
  const { mfa } = tessera.interactive;
  const BINDING = 'second-step';

  async function pendingOf(request: FastifyRequest): Promise<{ step: PendingSecondStep; user: User } | undefined> {
    const step = await mfa.pendingStep(request.cookies[SECOND_STEP_COOKIE], request.cookies[CSRF_COOKIE]);
    if (!step) return undefined;
    const principal = await tessera.cache.principal(step.userId);
    if (!principal || principal.user.disabled) return undefined;
    return { step, user: principal.user };
  }

  function expired(reply: FastifyReply): FastifyReply {
    return pageHeaders(reply).code(400).send(messagePage(t('signIn.expired.title'), t('signIn.expired.message'), t('signIn.expired.detail')));
  }

  async function secondFactor(request: FastifyRequest, reply: FastifyReply, pending: { step: PendingSecondStep; user: User }, status: number, error: string | undefined) {
    const extra: SafeHtml[] = [];
    const csrf = kit.csrfToken(request, reply, BINDING);
    // A method may need a script (a passkey): allowed by this response's nonce only.
    const nonce = scriptNonce();
    for (const method of steps.methods) {
      const offered = await method(pending.step, pending.user, { csrf, scriptNonce: nonce });
      if (offered) extra.push(offered);
    }
    // A code is asked for only from a user who has something that makes one (an authenticator
    // app, recovery codes): a user with passkeys alone sees only the passkey.
    const { factors, recoveryCodesRemaining } = await mfa.factorsOf(pending.user.id);
    const codes = recoveryCodesRemaining > 0 || factors.some((f) => f.type === 'totp') || extra.length === 0;
    return pageHeaders(reply, extra.length ? { scriptNonce: nonce } : {}).code(status).send(secondFactorPage({ csrf, error, extraMethods: extra, codes, action: `/login/second-factor${ownUiLocalesQuery(request)}` }));
  }

  app.get('/login/second-factor', async (request, reply) => {
    const pending = await pendingOf(request);
    if (!pending) return expired(reply);
    if (pending.step.enrol) return reply.redirect(`/login/enrol${ownUiLocalesQuery(request)}`, 303);
    return secondFactor(request, reply, pending, 200, undefined);
  });

  app.post('/login/second-factor', async (request, reply) => {
    const form = pageForm(request);
    const pending = await pendingOf(request);
    if (!pending || pending.step.enrol) return expired(reply);
    if (!kit.csrfOk(request, form, BINDING)) return kit.csrfRefused(reply);
    const code = (form.get('code') ?? '').trim();
    if (!code) return secondFactor(request, reply, pending, 400, t('mfa.error.codeMissing'));
    const result = await mfa.verifyCode(pending.user, code, { ip: request.ip, deviceCookie: request.cookies[DEVICE_COOKIE] });
    if (!result.ok) {
      if (result.reason === 'throttled') {
        reply.header('retry-after', String(result.retryAfter));
        return secondFactor(request, reply, pending, 429, t('wait.codes', { wait: waitText(result.retryAfter) }));
      }
      return secondFactor(request, reply, pending, 401, t('mfa.error.codeWrong'));
    }
    // Single use: of two tabs posting a right code, one signs in.
    if (!(await mfa.finishSecondStep(pending.step))) return expired(reply);
    await steps.finish(request, reply, pending.user, withMethod(pending.step.amr, 'otp'));
    const returnTo = pending.step.returnTo ?? undefined;
    if (result.method === 'recovery_code') {
      return pageHeaders(reply).send(recoveryCodeUsedPage(result.remaining, returnTo ?? '/account/totp'));
    }
    return steps.done(reply, returnTo, pending.user.username);
  });

  app.get('/login/enrol', async (request, reply) => {
    const pending = await pendingOf(request);
    if (!pending || !pending.step.enrol) return expired(reply);
    return enrolPage(request, reply, pending.user, 200, undefined);
  });

  app.post('/login/enrol', async (request, reply) => {
    const form = pageForm(request);
    const pending = await pendingOf(request);
    if (!pending || !pending.step.enrol) return expired(reply);
    if (!kit.csrfOk(request, form, BINDING)) return kit.csrfRefused(reply);
    const confirmed = await mfa.confirmTotp(pending.user, form.get('code') ?? '', visitor(pending.user.username, request.ip));
    if (!confirmed.ok) return enrolPage(request, reply, pending.user, 400, t('mfa.error.enrolWrong'));
    if (!(await mfa.finishSecondStep(pending.step))) return expired(reply);
    await steps.finish(request, reply, pending.user, withMethod(pending.step.amr, 'otp'));
    const next = pending.step.returnTo ?? '/account/totp';
    if (!confirmed.recoveryCodes) return steps.done(reply, pending.step.returnTo ?? undefined, pending.user.username);
    return pageHeaders(reply).send(recoveryCodesPage({ codes: confirmed.recoveryCodes, heading: t('mfa.enrol.done'), continueHref: next, continueLabel: t('mfa.used.continue') }));
  });

  async function enrolPage(request: FastifyRequest, reply: FastifyReply, user: User, status: number, error: string | undefined) {
    const enrolment = await mfa.totpEnrolment(user);
    return pageHeaders(reply)
      .code(status)
      .send(
        totpEnrolPage({
          csrf: kit.csrfToken(request, reply, BINDING),
          action: `/login/enrol${ownUiLocalesQuery(request)}`,
          qrDataUrl: await qrDataUrl(enrolment.uri),
          groupedSecret: groupedSecret(enrolment.secret),
          intro: t('mfa.enrol.required'),
          error,
          cancelHref: '/login',
        }),
      );
  }
}
