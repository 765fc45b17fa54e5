import { epochSeconds } from '../clock.ts';
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { Tessera } from '../app/tessera.ts';
import { DEVICE_COOKIE_TTL } from '../identity/device-cookie.ts';
import type { SignInResult } from '../identity/session-service.ts';
import type { User } from '../identity/user.ts';
import { DEVICE_COOKIE, SECOND_STEP_COOKIE, SESSION_COOKIE } from '../lib/cookie-names.ts';
import { messagePage } from '../pages/pages.ts';
import { t } from '../pages/i18n-html.ts';
import { SECOND_STEP_TTL } from '../identity/mfa/mfa-service.ts';
import { noStore } from './oauth-reply.ts';
import type { PendingSecondStep } from '../identity/mfa/second-step-store.ts';
import type { SafeHtml } from '../pages/html.ts';
import { pageHeaders, type PageKit } from './page-kit.ts';
import { rememberPageLocale } from './language-routes.ts';

/**
 * A way to pass the second step besides a code: its HTML for this user, or undefined when they
 * cannot use it. `page` is the page's CSRF token (bound to 'second-step') and the nonce its CSP
 * allows scripts by (a method that needs a script puts it in its script elements).
 */
export type SecondStepMethod = (step: PendingSecondStep, user: User, page: { csrf: string; scriptNonce: string }) => Promise<SafeHtml | undefined>;

/**
 * What the pages do between a right password and a session: a second step when the user has
 * a factor (or must enrol one), then the session cookie and the way back. Shared by /login,
 * /login/second-factor and /login/enrol (and the passkeys module).
 */
export class SignInSteps {
  /**
   * Other ways to pass the second step, offered on /login/second-factor beside the code form:
   * the passkeys module pushes one (it returns its button or form, or undefined for a user
   * without a passkey).
   */
  readonly methods: SecondStepMethod[] = [];
  readonly #tessera: Tessera;
  readonly #kit: PageKit;

  constructor(tessera: Tessera, kit: PageKit) {
    this.#tessera = tessera;
    this.#kit = kit;
  }

  /**
   * After a right password: answers with a redirect to the second step (or enrolment) and
   * says true when one is needed, else false (the caller finishes the sign-in with `['pwd']`).
   * (A boolean, not the reply: a FastifyReply is thenable, so an async function returning one
   * resolves to undefined once it is sent.)
   */
  async afterPassword(request: FastifyRequest, reply: FastifyReply, user: User, returnTo: string | undefined): Promise<boolean> {
    const { mfa } = this.#tessera.interactive;
    const principal = await this.#tessera.cache.principal(user.id);
    if (!principal) return false;
    const next = await mfa.afterPassword(principal, await this.requestContext(returnTo));
    if (next === 'done') return false;
    const cookie = await mfa.beginSecondStep({
      userId: user.id,
      amr: ['pwd'],
      browserValue: this.#kit.browserValue(request, reply),
      returnTo,
      enrol: next === 'enrol',
    });
    reply.setCookie(SECOND_STEP_COOKIE, cookie, { ...this.#kit.cookieOptions(), path: '/login', maxAge: SECOND_STEP_TTL });
    noStore(reply).redirect(`${next === 'enrol' ? '/login/enrol' : '/login/second-factor'}${uiLocalesQuery(returnTo)}`, 303);
    return true;
  }

  /** What the request being signed in to asks: its app's MFA setting and its acr_values. */
  async requestContext(returnTo: string | undefined): Promise<{ appRequiresMfa: boolean; acrValues: string | undefined }> {
    // Signing in for the device flow's /device page: the app is the one the user code was issued to.
    if (returnTo?.startsWith('/device?')) {
      const typed = new URLSearchParams(returnTo.slice(returnTo.indexOf('?') + 1)).get('user_code') ?? '';
      const client = await this.#tessera.interactive.devices.appOf(typed, epochSeconds(this.#tessera.clock));
      return { appRequiresMfa: client?.requireMfa === true, acrValues: undefined };
    }
    if (!returnTo?.startsWith('/connect/authorize?')) return { appRequiresMfa: false, acrValues: undefined };
    const q = new URLSearchParams(returnTo.slice(returnTo.indexOf('?') + 1));
    const clientId = q.get('client_id');
    const client = clientId ? await this.#tessera.cache.client(clientId.slice(0, 200)) : undefined;
    return { appRequiresMfa: client?.requireMfa === true, acrValues: q.get('acr_values')?.slice(0, 1000) };
  }

  /** Every step done: the session starts, this browser's earlier session ends, cookies are set. */
  async finish(request: FastifyRequest, reply: FastifyReply, user: User, amr: readonly string[]): Promise<SignInResult & { ok: true }> {
    const { sessions } = this.#tessera.interactive;
    const meta = { ip: request.ip, userAgent: request.headers['user-agent'] ?? null, deviceCookie: request.cookies[DEVICE_COOKIE] };
    // The language this person signs in in is the one mail to them is written in (first: the
    // new-device notice the sign-in may send is already in it).
    await rememberPageLocale(request, this.#tessera, user);
    const result = await sessions.completeSignIn(user, meta, amr);
    request.log.info({ user_id: result.session.userId, sid: result.session.sid, amr }, 'signed in');
    // A new sign-in replaces whatever session this browser had (no session left behind).
    await sessions.signOut(request.cookies[SESSION_COOKIE], request.ip);
    const options = this.#kit.cookieOptions();
    reply.setCookie(SESSION_COOKIE, result.cookieValue, { ...options, maxAge: result.session.expiresAt - result.session.createdAt });
    // Kept across sign-outs: it only says this browser signed in as this user before.
    reply.setCookie(DEVICE_COOKIE, result.deviceCookie, { ...options, maxAge: DEVICE_COOKIE_TTL });
    if (request.cookies[SECOND_STEP_COOKIE]) reply.clearCookie(SECOND_STEP_COOKIE, { path: '/login' });
    return result;
  }

  /** The answer once signed in: back to the request, or a plain "signed in" page. */
  done(reply: FastifyReply, returnTo: string | undefined, username: string): FastifyReply {
    if (returnTo) return noStore(reply).redirect(returnTo, 303);
    return pageHeaders(reply).send(messagePage(t('signIn.done.title'), t('signIn.done.message', { username })));
  }
}

/**
 * `?ui_locales=…` of the authorization request being signed in to (inside `returnTo`), or "":
 * the second-step pages carry it in their own URL, as /login carries it in return_to, so they
 * stay in the language the app asked for (docs/languages.md) and the chooser can replace it.
 */
export function uiLocalesQuery(returnTo: string | null | undefined): string {
  const q = returnTo?.indexOf('?') ?? -1;
  const value = q >= 0 ? new URLSearchParams(returnTo!.slice(q + 1)).get('ui_locales')?.slice(0, 200) : undefined;
  return value ? `?${new URLSearchParams({ ui_locales: value })}` : '';
}

/** The same, read from this request's own query (the second-step pages' forms post back with it). */
export function ownUiLocalesQuery(request: FastifyRequest): string {
  const q = request.url.indexOf('?');
  return q >= 0 ? uiLocalesQuery(request.url) : '';
}
