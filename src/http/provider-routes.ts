import type { FastifyInstance, FastifyReply } from 'fastify';
import type { Tessera } from '../app/tessera.ts';
import type { FailureKind, FederationFailure } from '../federation/failures.ts';
import { t } from '../pages/i18n-html.ts';
import { productName } from '../pages/brand-parts.ts';
import { providerRedirectUri } from '../federation/provider.ts';
import { PENDING_SIGN_IN_TTL_S } from '../federation/upstream-sign-in.ts';
import { parseForm } from '../oauth/params.ts';
import { messagePage } from '../pages/pages.ts';
import { noStore } from './oauth-reply.ts';
import { SESSION_COOKIE, UPSTREAM_COOKIE } from '../lib/cookie-names.ts';
import { pageHeaders, safeReturnTo } from './page-kit.ts';
import { rememberPageLocale } from './language-routes.ts';

/** The upstream sign-in cookie (UPSTREAM_COOKIE): only the callback paths ever see it. */
const COOKIE_PATH = '/login/providers/';

/** What the person reads when a sign-in through a provider ends without a session, in the page's language. */
function failureText(kind: FailureKind | 'user_disabled' | 'email_in_use'): string {
  return t(`provider.error.${kind}`, { product: productName() });
}

/**
 * Sign-in through upstream identity providers (issue #11): the start (`/login/providers/{slug}`,
 * the "Continue with {name}" link and the target of `idp_hint`) and the callback. The rules
 * live in src/federation; this only adapts HTTP and cookies.
 */
export function registerProviderRoutes(app: FastifyInstance, tessera: Tessera): void {
  const { interactive } = tessera;
  const { federation, sessions } = interactive;
  const secure = () => tessera.issuer.startsWith('https:');

  app.get<{ Params: { slug: string } }>('/login/providers/:slug', async (request, reply) => {
    const provider = await federation.providers.findBySlug(request.params.slug.slice(0, 100));
    if (!provider?.enabled) return failurePage(reply, 404, failureText('provider_unavailable'));
    const q = new URLSearchParams(request.url.slice(request.url.indexOf('?') + 1));
    const started = await federation.signIn.start({
      provider,
      redirectUri: providerRedirectUri(tessera.issuer, provider.slug),
      returnTo: safeReturnTo(q.get('return_to') ?? undefined) ?? null,
      browserValue: request.cookies[UPSTREAM_COOKIE],
    });
    if (!started.ok) return failurePage(reply, 404, failureText(started.failure.kind));
    // SameSite=Lax: the provider sends the browser back with a top-level GET, which carries it.
    reply.setCookie(UPSTREAM_COOKIE, started.browserValue, { path: COOKIE_PATH, httpOnly: true, sameSite: 'lax', secure: secure(), maxAge: PENDING_SIGN_IN_TTL_S });
    return noStore(reply).redirect(started.authorizationUrl, 303);
  });

  app.get<{ Params: { slug: string } }>('/login/providers/:slug/callback', async (request, reply) => {
    const slug = request.params.slug.slice(0, 100);
    const provider = await federation.providers.findBySlug(slug);
    const params = new URLSearchParams(request.url.includes('?') ? request.url.slice(request.url.indexOf('?') + 1) : '');
    const result = await federation.signIn.finish({ provider, params, browserValue: request.cookies[UPSTREAM_COOKIE] });
    if (!result.ok && 'refused' in result) {
      tessera.metrics.signIn('provider', 'refused');
      request.log.warn({ provider: slug, failure: result.refused }, 'sign-in through an identity provider refused');
      return failurePage(reply, 403, failureText(result.refused));
    }
    if (!result.ok) {
      tessera.metrics.signIn('provider', 'failed');
      request.log.warn({ provider: slug, failure: result.failure.kind, reason: result.failure.reason }, 'sign-in through an identity provider failed');
      // The user said no at the provider: the app hears access_denied, as after "Deny" on consent.
      if (result.failure.kind === 'cancelled' && result.returnTo) {
        const raw = parseForm(result.returnTo.slice(result.returnTo.indexOf('?') + 1));
        const outcome = await interactive.flow.deny(raw, 'the user cancelled the sign-in at the identity provider');
        if (outcome.kind === 'redirect') return noStore(reply).redirect(outcome.location, 303);
      }
      return failurePage(reply, statusOf(result.failure), failureText(result.failure.kind));
    }
    tessera.metrics.signIn('provider', 'success');
    request.log.info({ provider: slug, user_id: result.user.id }, 'signed in through an identity provider');
    // A new sign-in replaces whatever session this browser had.
    await sessions.signOut(request.cookies[SESSION_COOKIE], request.ip);
    // The language of this browser's pages is the one mail to the user is written in (docs/languages.md).
    await rememberPageLocale(request, tessera, result.user);
    const { cookieValue, session } = await sessions.startSession(result.user.id, { ip: request.ip, userAgent: request.headers['user-agent'] ?? null }, { amr: ['fed'] });
    reply.setCookie(SESSION_COOKIE, cookieValue, { path: '/', httpOnly: true, sameSite: 'lax', secure: secure(), maxAge: session.expiresAt - session.createdAt });
    if (result.returnTo) return noStore(reply).redirect(result.returnTo, 303);
    return pageHeaders(reply).send(messagePage(t('signIn.done.title'), t('signIn.done.message', { username: result.user.username })));
  });

  function failurePage(reply: FastifyReply, status: number, message: string): FastifyReply {
    return pageHeaders(reply).code(status).send(messagePage(t('provider.error.title'), message));
  }
}

function statusOf(failure: FederationFailure): number {
  if (failure.kind === 'unreachable' || failure.kind === 'bad_response') return 502;
  if (failure.kind === 'provider_unavailable') return 404;
  return 400;
}

