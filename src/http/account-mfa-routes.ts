import { dateText } from '../pages/when.ts';
import { t, tError } from '../pages/i18n-html.ts';
import { productName } from '../pages/brand-parts.ts';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { Tessera } from '../app/tessera.ts';
import { visitor } from '../audit/actor.ts';
import { epochSeconds } from '../clock.ts';
import { ServiceError } from '../errors.ts';
import { groupedSecret } from '../identity/mfa/totp.ts';
import type { SignedIn } from '../identity/session-service.ts';
import { DEVICE_COOKIE } from '../lib/cookie-names.ts';
import { recoveryCodesBody, recoveryCodesManageBody, totpEnrolBody, totpStatusBody } from '../pages/mfa-pages.ts';
import { messagePage } from '../pages/pages.ts';
import { noStore } from './oauth-reply.ts';
import { pageForm, pageHeaders, type PageKit } from './page-kit.ts';
import { waitText } from './page-routes.ts';
import { qrDataUrl } from './second-factor-routes.ts';

/**
 * The signed-in user's own second factors: /account/totp (set up, see, remove the
 * authenticator app) and /account/recovery-codes (make new ones). The account page links here.
 */
export function registerAccountMfaRoutes(app: FastifyInstance, tessera: Tessera, kit: PageKit): void {
  const { mfa, clock } = tessera.interactive;

  function off(reply: FastifyReply): FastifyReply | undefined {
    if (mfa.policy() !== 'off') return undefined;
    return pageHeaders(reply).code(404).send(messagePage(t('mfa.off.title'), t('mfa.off.message', { product: productName() })));
  }

  async function totpPage(request: FastifyRequest, reply: FastifyReply, signedIn: SignedIn, status: number, error?: string, notice?: string) {
    const userId = signedIn.principal.user.id;
    const { factors, recoveryCodesRemaining } = await mfa.factorsOf(userId);
    const totp = factors.find((f) => f.type === 'totp');
    const csrf = kit.csrfToken(request, reply, signedIn.session.sid);
    if (totp) {
      const body = totpStatusBody({
        csrf,
        factor: { id: totp.id, name: totp.name, since: day(totp.createdAt), lastUsed: totp.lastUsedAt === null ? undefined : day(totp.lastUsedAt) },
        recoveryCodesRemaining,
        error,
      });
      return kit.account.send(request, reply, signedIn, { title: t('mfa.totp.title'), current: 'security', body, notice, status });
    }
    const enrolment = await mfa.totpEnrolment(signedIn.principal.user);
    const body = totpEnrolBody({
      csrf,
      action: '/account/totp',
      qrDataUrl: await qrDataUrl(enrolment.uri),
      groupedSecret: groupedSecret(enrolment.secret),
      intro: t('mfa.enrol.intro'),
      error,
      cancelHref: '/account/security',
    });
    return kit.account.send(request, reply, signedIn, { title: t('mfa.enrol.title'), current: 'security', body, status });
  }

  // The Security page (/account/security) lists the authenticator app and the recovery codes.
  kit.account.addSecuritySource({
    id: 'totp',
    order: 10,
    async entry(signedIn) {
      if (mfa.policy() === 'off') return undefined;
      const totp = (await mfa.factorsOf(signedIn.principal.user.id)).factors.find((f) => f.type === 'totp');
      if (!totp) return { title: t('mfa.totp.title'), active: false, status: t('security.notSetUp'), actions: [{ label: t('security.setUp'), href: '/account/totp' }] };
      return { title: t('mfa.totp.title'), active: true, status: t('security.onSince', { date: longDay(totp.createdAt) }), actions: [{ label: t('security.manage'), href: '/account/totp' }] };
    },
  });
  kit.account.addSecuritySource({
    id: 'recovery-codes',
    order: 20,
    async entry(signedIn) {
      if (mfa.policy() === 'off') return undefined;
      const { factors, recoveryCodesRemaining } = await mfa.factorsOf(signedIn.principal.user.id);
      if (!factors.length) return undefined;
      return {
        title: t('mfa.manage.title'),
        active: recoveryCodesRemaining > 0,
        status: t('security.codesLeft', { left: recoveryCodesRemaining, total: 10 }),
        actions: [{ label: t('mfa.manage.make'), href: '/account/recovery-codes' }],
      };
    },
  });

  app.get('/account/totp', async (request, reply) => {
    const signedIn = await kit.requireSignedIn(request, reply, '/account/totp');
    if (!signedIn) return reply;
    return off(reply) ?? totpPage(request, reply, signedIn, 200);
  });

  app.post('/account/totp', async (request, reply) => {
    const form = pageForm(request);
    const signedIn = await kit.requireSignedIn(request, reply, '/account/totp');
    if (!signedIn) return reply;
    if (!kit.csrfOk(request, form, signedIn.session.sid)) return kit.csrfRefused(reply);
    const closed = off(reply);
    if (closed) return closed;
    const user = signedIn.principal.user;
    let confirmed;
    try {
      confirmed = await mfa.confirmTotp(user, form.get('code') ?? '', visitor(user.username, request.ip));
    } catch (error) {
      if (error instanceof ServiceError) return totpPage(request, reply, signedIn, error.status, tError(error));
      throw error;
    }
    if (!confirmed.ok) return totpPage(request, reply, signedIn, 400, t('mfa.error.enrolWrong'));
    if (!confirmed.recoveryCodes) return totpPage(request, reply, signedIn, 200, undefined, t('mfa.totp.turnedOn'));
    const codesBody = recoveryCodesBody({ codes: confirmed.recoveryCodes, heading: t('mfa.enrol.done'), continueHref: '/account/security', continueLabel: t('mfa.codes.done') });
    return kit.account.send(request, reply, signedIn, { title: t('mfa.codes.title'), current: 'security', body: codesBody });
  });

  // Removing the app asks for a current code (or a recovery code): a session left open on a
  // shared computer is not enough to turn the second factor off.
  app.post('/account/totp/remove', async (request, reply) => {
    const form = pageForm(request);
    const signedIn = await kit.requireSignedIn(request, reply, '/account/totp');
    if (!signedIn) return reply;
    if (!kit.csrfOk(request, form, signedIn.session.sid)) return kit.csrfRefused(reply);
    const user = signedIn.principal.user;
    const checked = await mfa.verifyCode(user, (form.get('code') ?? '').trim(), { ip: request.ip, deviceCookie: request.cookies[DEVICE_COOKIE] });
    if (!checked.ok) {
      if (checked.reason === 'throttled') {
        reply.header('retry-after', String(checked.retryAfter));
        return totpPage(request, reply, signedIn, 429, t('wait.codes', { wait: waitText(checked.retryAfter) }));
      }
      return totpPage(request, reply, signedIn, 401, t('mfa.error.codeWrongShort'));
    }
    try {
      await mfa.removeTotp(user.id, form.get('factor_id') ?? '', visitor(user.username, request.ip));
    } catch (error) {
      if (error instanceof ServiceError) return totpPage(request, reply, signedIn, error.status, tError(error));
      throw error;
    }
    return noStore(reply).redirect('/account/security', 303);
  });

  async function codesPage(request: FastifyRequest, reply: FastifyReply, signedIn: SignedIn, status: number, error?: string) {
    const { recoveryCodesRemaining } = await mfa.factorsOf(signedIn.principal.user.id);
    const body = recoveryCodesManageBody({ csrf: kit.csrfToken(request, reply, signedIn.session.sid), remaining: recoveryCodesRemaining, error });
    return kit.account.send(request, reply, signedIn, { title: t('mfa.manage.title'), current: 'security', body, status });
  }

  app.get('/account/recovery-codes', async (request, reply) => {
    const signedIn = await kit.requireSignedIn(request, reply, '/account/recovery-codes');
    if (!signedIn) return reply;
    return off(reply) ?? codesPage(request, reply, signedIn, 200);
  });

  app.post('/account/recovery-codes', async (request, reply) => {
    const form = pageForm(request);
    const signedIn = await kit.requireSignedIn(request, reply, '/account/recovery-codes');
    if (!signedIn) return reply;
    if (!kit.csrfOk(request, form, signedIn.session.sid)) return kit.csrfRefused(reply);
    const closed = off(reply);
    if (closed) return closed;
    const user = signedIn.principal.user;
    let codes: string[];
    try {
      codes = await mfa.regenerateRecoveryCodes(user.id, visitor(user.username, request.ip));
    } catch (error) {
      if (error instanceof ServiceError) return codesPage(request, reply, signedIn, error.status, tError(error));
      throw error;
    }
    const body = recoveryCodesBody({ codes, heading: t('mfa.codes.new'), continueHref: '/account/security', continueLabel: t('mfa.codes.done') });
    return kit.account.send(request, reply, signedIn, { title: t('mfa.codes.title'), current: 'security', body });
  });

  /** "6 December 2026" in the page's language. */
  function longDay(epoch: number): string {
    return dateText(epoch);
  }

  /** A date for people (UTC, the server does not know the user's zone). */
  function day(epoch: number): string {
    const now = epochSeconds(clock);
    return now - epoch < 60 ? 'just now' : `on ${new Date(epoch * 1000).toISOString().slice(0, 10)}`;
  }
}
