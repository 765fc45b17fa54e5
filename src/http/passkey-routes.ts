import { dateText } from '../pages/when.ts';
import { t, tError } from '../pages/i18n-html.ts';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { Tessera } from '../app/tessera.ts';
import { visitor } from '../audit/actor.ts';
import { epochSeconds } from '../clock.ts';
import { ServiceError } from '../errors.ts';
import { PasskeyRefused, RECENT_SIGN_IN_SECONDS } from '../identity/passkey-service.ts';
import type { SignedIn } from '../identity/session-service.ts';
import { CSRF_COOKIE, SECOND_STEP_COOKIE } from '../lib/cookie-names.ts';
import { withMethod, type AuthMethod } from '../identity/authentication-methods.ts';
import type { SignInSteps } from './sign-in-steps.ts';
import { iso } from '../lib/time.ts';
import { passkeySecondStepControl, passkeysBody } from '../pages/passkey-pages.ts';
import { waitText } from './page-routes.ts';
import { noStore } from './oauth-reply.ts';
import { pageCsp, pageForm, safeReturnTo, type PageKit } from './page-kit.ts';
import { passkeyScripts, registerPasskeyAssets, scriptNonce } from './passkey-assets.ts';
import { ceremonyCsrfOk, jsonBody, jsonError, newCeremonyHandle, takeCeremonyHandle } from './webauthn-ceremony.ts';

const PAGE = '/account/passkeys';
/** One message for every refused passkey: which check failed is for the log, not for a prober. */

/**
 * Passkeys (issue #14): the account page (/account/passkeys: list, add, rename, remove) and the
 * JSON endpoints the page script calls for the WebAuthn ceremonies (/webauthn/…). Every JSON
 * call carries the page's CSRF token in its body; a ceremony's challenge is bound to this
 * browser by the `tessera_webauthn` cookie. Adding and removing a passkey need a sign-in within
 * RECENT_SIGN_IN_SECONDS: a stolen session alone cannot plant a passkey nor remove the owner's.
 */
export function registerPasskeyRoutes(app: FastifyInstance, tessera: Tessera, kit: PageKit, steps: SignInSteps): void {
  const { passkeys } = tessera.services;
  const { clock, passkeySignIn, mfa } = tessera.interactive;
  registerPasskeyAssets(app);

  // The Security page's entry: each passkey, and a link here to manage them.
  kit.account.addSecuritySource({
    id: 'passkeys',
    order: 30,
    async entry(signedIn) {
      const list = await passkeys.list(signedIn.principal.user.id);
      return {
        title: t('passkeys.title'),
        active: list.length > 0,
        status: list.length === 0 ? t('security.notSetUp') : t('security.passkeyCount', { count: list.length }),
        items: list.map((p) => ({ name: p.name, detail: t('passkeys.added', { date: day(p.createdAt) }) })),
        actions: [{ label: list.length ? t('security.managePasskeys') : t('passkeys.add'), href: PAGE }],
      };
    },
  });

  // The account layout sets the strict page CSP; pages of this scope that carry scripts widen
  // it to their own nonce, here, just before the answer leaves.
  const nonces = new WeakMap<FastifyRequest, string>();
  void app.register(async (scope) => {
    scope.addHook('onSend', async (request, reply, payload) => {
      const nonce = nonces.get(request);
      if (nonce) reply.header('content-security-policy', pageCsp(nonce));
      return payload;
    });

    const recent = (signedIn: SignedIn) => epochSeconds(clock) - signedIn.session.authTime <= RECENT_SIGN_IN_SECONDS;
    const reauthHref = (signedIn: SignedIn) => `/login?${new URLSearchParams({ return_to: PAGE, login_hint: signedIn.principal.user.username })}`;

    async function showPage(request: FastifyRequest, reply: FastifyReply, signedIn: SignedIn, o: { notice?: string; error?: string; status?: number } = {}) {
      const nonce = scriptNonce();
      nonces.set(request, nonce);
      const list = await passkeys.list(signedIn.principal.user.id);
      return kit.account.send(request, reply, signedIn, {
        title: t('passkeys.title'),
        current: 'security',
        ...(o.notice ? { notice: o.notice } : {}),
        ...(o.status ? { status: o.status } : {}),
        body: passkeysBody({
          csrf: kit.csrfToken(request, reply, signedIn.session.sid),
          username: signedIn.principal.user.username,
          passkeys: list.map((p) => ({
            id: p.id,
            name: p.name,
            createdAt: day(p.createdAt),
            lastUsedAt: p.lastUsedAt === null ? null : day(p.lastUsedAt),
            synced: p.deviceType === 'multiDevice' || p.backedUp,
          })),
          recent: recent(signedIn),
          reauthHref: reauthHref(signedIn),
          scripts: passkeyScripts(nonce),
          error: o.error,
        }),
      });
    }

    scope.get(PAGE, async (request, reply) => {
      const signedIn = await kit.requireSignedIn(request, reply, PAGE);
      if (!signedIn) return reply;
      const done = new URLSearchParams(request.url.split('?')[1] ?? '').get('done');
      const notice = done === 'added' ? t('passkeys.notice.added') : done === 'removed' ? t('passkeys.notice.removed') : done === 'renamed' ? t('passkeys.notice.renamed') : undefined;
      return showPage(request, reply, signedIn, notice ? { notice } : {});
    });

    scope.post(`${PAGE}/rename`, async (request, reply) => {
      const signedIn = await kit.requireSignedIn(request, reply, PAGE);
      if (!signedIn) return reply;
      const form = pageForm(request);
      if (!kit.csrfOk(request, form, signedIn.session.sid)) return kit.csrfRefused(reply);
      try {
        await passkeys.rename(signedIn.principal.user.id, form.get('id') ?? '', form.get('name') ?? '', actorOf(request, signedIn));
      } catch (error) {
        if (!(error instanceof ServiceError)) throw error;
        return showPage(request, reply, signedIn, { error: tError(error, sentence), status: 400 });
      }
      return noStore(reply).redirect(`${PAGE}?done=renamed`, 303);
    });

    scope.post(`${PAGE}/remove`, async (request, reply) => {
      const signedIn = await kit.requireSignedIn(request, reply, PAGE);
      if (!signedIn) return reply;
      const form = pageForm(request);
      if (!kit.csrfOk(request, form, signedIn.session.sid)) return kit.csrfRefused(reply);
      if (!recent(signedIn)) return showPage(request, reply, signedIn, { error: t('passkeys.error.reauthRemove'), status: 403 });
      try {
        await passkeys.remove(signedIn.principal.user.id, form.get('id') ?? '', actorOf(request, signedIn));
      } catch (error) {
        if (!(error instanceof ServiceError)) throw error;
        return showPage(request, reply, signedIn, { error: tError(error, sentence), status: 400 });
      }
      return noStore(reply).redirect(`${PAGE}?done=removed`, 303);
    });
  });

  // ---- the ceremonies (JSON) ----

  const body = jsonBody;
  const newHandle = (reply: FastifyReply) => newCeremonyHandle(reply, kit);
  const takeHandle = takeCeremonyHandle;
  const csrfValid = (request: FastifyRequest, b: Record<string, unknown>, binding: string) => ceremonyCsrfOk(kit, request, b, binding);

  async function signedInForCeremony(request: FastifyRequest, reply: FastifyReply, b: Record<string, unknown> | undefined): Promise<SignedIn | undefined> {
    if (!b) return void jsonError(reply, 400, 'invalid_request', 'the body must be a JSON object');
    const signedIn = await kit.signedInOf(request);
    if (!signedIn) return void jsonError(reply, 401, 'login_required', t('passkeys.error.sessionEnded'));
    if (!csrfValid(request, b, signedIn.session.sid)) return void jsonError(reply, 403, 'invalid_csrf', t('passkeys.error.pageExpired'));
    if (epochSeconds(clock) - signedIn.session.authTime > RECENT_SIGN_IN_SECONDS) return void jsonError(reply, 403, 'reauthentication_required', t('passkeys.error.reauthAdd'));
    return signedIn;
  }

  app.post('/webauthn/registration/options', async (request, reply) => {
    const signedIn = await signedInForCeremony(request, reply, body(request));
    if (!signedIn) return reply;
    const { user } = signedIn.principal;
    try {
      return noStore(reply).send(await passkeys.startRegistration({ id: user.id, username: user.username, name: user.name }, newHandle(reply)));
    } catch (error) {
      if (!(error instanceof ServiceError)) throw error;
      return jsonError(reply, 400, 'invalid_request', tError(error, sentence));
    }
  });

  app.post('/webauthn/registration/verify', async (request, reply) => {
    const b = body(request);
    const signedIn = await signedInForCeremony(request, reply, b);
    if (!signedIn || !b) return reply;
    const handle = takeHandle(request, reply);
    try {
      const name = typeof b.name === 'string' ? b.name : '';
      await passkeys.finishRegistration(signedIn.principal.user.id, handle, b.response, name, actorOf(request, signedIn));
    } catch (error) {
      if (error instanceof ServiceError) return jsonError(reply, 400, 'invalid_request', tError(error, sentence));
      if (!(error instanceof PasskeyRefused)) throw error;
      request.log.info({ reason: error.reason, detail: error.message }, 'passkey registration refused');
      return jsonError(reply, 400, 'passkey_refused', t('passkeys.error.addFailed'));
    }
    return noStore(reply).send({ redirect: `${PAGE}?done=added` });
  });

  app.post('/webauthn/authentication/options', async (request, reply) => {
    const b = body(request);
    if (!b) return jsonError(reply, 400, 'invalid_request', 'the body must be a JSON object');
    if (!csrfValid(request, b, '')) return jsonError(reply, 403, 'invalid_csrf', t('passkeys.error.pageExpired'));
    return noStore(reply).send(await passkeys.startAuthentication(newHandle(reply), 'passwordless'));
  });

  app.post('/webauthn/authentication/verify', async (request, reply) => {
    const b = body(request);
    if (!b) return jsonError(reply, 400, 'invalid_request', 'the body must be a JSON object');
    if (!csrfValid(request, b, '')) return jsonError(reply, 403, 'invalid_csrf', t('passkeys.error.pageExpired'));
    const returnTo = safeReturnTo(typeof b.return_to === 'string' ? b.return_to : undefined);
    const result = await passkeySignIn.verify(takeHandle(request, reply), b.response, { ip: request.ip, userAgent: request.headers['user-agent'] ?? null });
    if (!result.ok) {
      if (result.reason === 'throttled') {
        reply.header('retry-after', String(result.retryAfter));
        return jsonError(reply, 429, 'slow_down', t('login.error.throttled', { wait: waitText(result.retryAfter) }));
      }
      return jsonError(reply, 401, 'passkey_refused', t('passkeys.error.refused'));
    }
    // The same end as every other sign-in: session, audit (new device noticed), device cookie.
    await steps.finish(request, reply, result.user, result.amr);
    return noStore(reply).send({ redirect: returnTo ?? '/account' });
  });

  // ---- a passkey as the second step after the password (/login/second-factor) ----
  // Under /login: the pending step's cookie is scoped to that path. The step is bound to this
  // browser and used once (MfaService); the page's CSRF token is bound to 'second-step'. Failed
  // assertions are not counted as guesses: the password was right, and a signature cannot be
  // guessed; the step itself expires after 10 minutes.
  const SECOND_STEP = '/login/second-factor/passkey';
  const SECOND_STEP_BINDING = 'second-step';

  steps.methods.push(async (_step, user, page) => {
    if (!(await passkeys.list(user.id)).length) return undefined;
    return passkeySecondStepControl({ csrf: page.csrf, scripts: passkeyScripts(page.scriptNonce) });
  });

  async function pendingStepFor(request: FastifyRequest, reply: FastifyReply, b: Record<string, unknown> | undefined) {
    if (!b) return void jsonError(reply, 400, 'invalid_request', 'the body must be a JSON object');
    const step = await mfa.pendingStep(request.cookies[SECOND_STEP_COOKIE], request.cookies[CSRF_COOKIE]);
    if (!step || step.enrol) return void jsonError(reply, 400, 'sign_in_expired', t('passkeys.error.signInExpired'));
    if (!csrfValid(request, b, SECOND_STEP_BINDING)) return void jsonError(reply, 403, 'invalid_csrf', t('passkeys.error.pageExpired'));
    return step;
  }

  app.post(`${SECOND_STEP}/options`, async (request, reply) => {
    const step = await pendingStepFor(request, reply, body(request));
    if (!step) return reply;
    return noStore(reply).send(await passkeys.startAuthentication(newHandle(reply), 'second_factor', step.userId));
  });

  app.post(`${SECOND_STEP}/verify`, async (request, reply) => {
    const b = body(request);
    const step = await pendingStepFor(request, reply, b);
    if (!step || !b) return reply;
    let assertion;
    try {
      assertion = await passkeys.finishAuthentication(takeHandle(request, reply), b.response, 'second_factor', step.userId);
    } catch (error) {
      if (!(error instanceof PasskeyRefused)) throw error;
      request.log.info({ user_id: step.userId, reason: error.reason, detail: error.message }, 'passkey second step refused');
      return jsonError(reply, 401, 'passkey_refused', t('passkeys.error.refused'));
    }
    const principal = await tessera.cache.principal(step.userId);
    if (!principal || principal.user.disabled || !(await mfa.finishSecondStep(step))) {
      return jsonError(reply, 400, 'sign_in_expired', t('passkeys.error.signInExpired'));
    }
    // The password, then the key: two factors (withMethod adds `mfa`).
    const key = assertion.amr[0] as AuthMethod;
    await steps.finish(request, reply, principal.user, withMethod(step.amr, key));
    return noStore(reply).send({ redirect: step.returnTo ?? '/account' });
  });
}

function actorOf(request: FastifyRequest, signedIn: SignedIn) {
  return visitor(signedIn.principal.user.username, request.ip);
}

/** "6 December 2026" in the page's language. */
function day(epochSeconds: number): string {
  return dateText(epochSeconds);
}

function sentence(message: string): string {
  const s = message.charAt(0).toUpperCase() + message.slice(1);
  return s.endsWith('.') ? s : `${s}.`;
}
