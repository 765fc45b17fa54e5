import { metadataDocumentHost } from '../clients/metadata-document.ts';
import { readFileSync } from 'node:fs';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { Tessera } from '../app/tessera.ts';
import { epochSeconds } from '../clock.ts';
import { CSRF_COOKIE, DEVICE_COOKIE, SESSION_COOKIE } from '../lib/cookie-names.ts';
import type { AuthorizeOutcome } from '../oauth/endpoints/authorize.ts';
import { OAuthError } from '../oauth/errors.ts';
import type { RawParams } from '../oauth/params.ts';
import { verifyNeededPage } from '../pages/email-pages.ts';
import { productName } from '../pages/brand-parts.ts';
import type { Client } from '../clients/client.ts';
import { cspSafeOrigin } from '../lib/https-url.ts';
import { consentPage, loginPage, logoutPage, messagePage, type ConsentPageData } from '../pages/pages.ts';
import { passkeySignInControl } from '../pages/passkey-pages.ts';
import { appName, t, tEntered } from '../pages/i18n-html.ts';
import { pageContext } from '../pages/page-context.ts';
import { passkeyScripts, scriptNonce } from './passkey-assets.ts';
import { pageForm, pageHeaders, queryParams, safeReturnTo, type PageKit } from './page-kit.ts';
import { noStore } from './oauth-reply.ts';
import { scopesInWords } from './scope-words.ts';
import type { SignInSteps } from './sign-in-steps.ts';

const STYLESHEET = readFileSync(new URL('../pages/tessera.css', import.meta.url), 'utf8');
/** The brand mark: two tiles, as in the page header. */
const FAVICON =
  '<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 32 32"><rect width="32" height="32" rx="7" fill="#2f5bea"/>' +
  '<path d="M32 0v25a7 7 0 0 1-7 7H0z" fill="#7aa2ff"/></svg>';

/** Login, consent, logout and the browser-facing protocol endpoints. */
export function registerPageRoutes(app: FastifyInstance, tessera: Tessera, kit: PageKit, steps: SignInSteps): void {
  const { flow, sessions, clock, endSession } = tessera.interactive;
  const { csrf } = kit;
  const browserValue = (request: FastifyRequest, reply: FastifyReply) => kit.browserValue(request, reply);
  const signedInOf = (request: FastifyRequest) => kit.signedInOf(request);

  function errorPage(reply: FastifyReply, error: OAuthError, status = 400): FastifyReply {
    return pageHeaders(reply)
      .code(status)
      .send(messagePage(t('error.title'), t('error.signInRequest'), t('error.detail', { detail: `${error.error}: ${error.description}` })));
  }

  async function render(request: FastifyRequest, reply: FastifyReply, outcome: AuthorizeOutcome): Promise<FastifyReply> {
    switch (outcome.kind) {
      case 'error_page':
        return errorPage(reply, outcome.error);
      case 'redirect':
        return noStore(reply).redirect(outcome.location, 303);
      case 'login': {
        // idp_hint={slug} skips Tessera's login page and goes straight to that provider (issue #11).
        const hint = new URLSearchParams(outcome.returnTo.slice(outcome.returnTo.indexOf('?') + 1)).get('idp_hint');
        if (hint && (await tessera.interactive.federation.providers.findBySlug(hint.slice(0, 100)))?.enabled) {
          return noStore(reply).redirect(`/login/providers/${encodeURIComponent(hint)}?${new URLSearchParams({ return_to: outcome.returnTo })}`, 303);
        }
        const q = new URLSearchParams({ return_to: outcome.returnTo });
        if (outcome.loginHint) q.set('login_hint', outcome.loginHint);
        return noStore(reply).redirect(`/login?${q}`, 303);
      }
      case 'verify_email':
        return pageHeaders(reply)
          .code(403)
          .send(
            verifyNeededPage({
              csrf: kit.csrfToken(request, reply, outcome.signedIn.session.sid),
              email: outcome.signedIn.principal.user.email,
              clientName: appName(outcome.request.client),
              returnTo: `/connect/authorize?${new URLSearchParams([...outcome.request.params])}`,
              canSend: tessera.email.mailer.configured,
            }),
          );
      case 'consent': {
        const { request: req, signedIn, newScopes } = outcome;
        const app = appBranding(req.client, tessera.services.branding.live.document.allow_remote_app_logos);
        return pageHeaders(reply, { imageOrigins: app.imageOrigins }).send(
          consentPage({
            csrf: csrf.token(browserValue(request, reply), signedIn.session.sid),
            clientName: appName(req.client),
            clientDescription: req.client.description,
            clientHost: metadataDocumentHost(req.client.id),
            username: signedIn.principal.user.username,
            scopes: await scopesInWords(tessera, newScopes),
            params: req.params,
            app,
          }),
        );
      }
    }
  }

  const authorize = async (request: FastifyRequest, reply: FastifyReply) => {
    let raw: RawParams;
    try {
      raw = requestParams(request);
    } catch (error) {
      return errorPage(reply, error as OAuthError);
    }
    const outcome = await flow.authorize(raw, await signedInOf(request), epochSeconds(clock));
    // Consent is shown at /consent, so the URL the user sees says what the page is.
    if (outcome.kind === 'consent') return noStore(reply).redirect(`/consent?${new URLSearchParams([...outcome.request.params])}`, 303);
    return render(request, reply, outcome);
  };
  app.get('/connect/authorize', authorize);
  app.post('/connect/authorize', authorize);

  app.get('/consent', async (request, reply) => {
    const raw = queryParams(request);
    const outcome = await flow.authorize(raw, await signedInOf(request), epochSeconds(clock));
    return render(request, reply, outcome);
  });

  app.post('/consent', async (request, reply) => {
    const form = pageForm(request);
    const signedIn = await signedInOf(request);
    const raw: RawParams = new Map([...form].filter(([k]) => k !== 'csrf' && k !== 'decision').map(([k, v]) => [k, [v]]));
    if (!signedIn) return noStore(reply).redirect(`/login?${new URLSearchParams({ return_to: `/connect/authorize?${toQuery(raw)}` })}`, 303);
    if (!csrf.verify(request.cookies[CSRF_COOKIE], signedIn.session.sid, form.get('csrf'))) {
      return pageHeaders(reply).code(403).send(messagePage(t('error.retry.title'), t('error.retry.formExpired')));
    }
    const decision = form.get('decision');
    if (decision !== 'allow' && decision !== 'deny') return errorPage(reply, new OAuthError('invalid_request', 'choose Allow or Deny'));
    return render(request, reply, await flow.decide(raw, signedIn, decision === 'allow', epochSeconds(clock), request.ip));
  });

  app.get('/login', async (request, reply) => {
    const q = queryParams(request);
    const returnTo = safeReturnTo(q.get('return_to')?.[0]);
    const nonce = scriptNonce();
    const token = csrf.token(browserValue(request, reply));
    return pageHeaders(reply, { scriptNonce: nonce }).send(
      loginPage({
        csrf: token,
        returnTo,
        clientName: await clientNameOf(returnTo),
        username: q.get('login_hint')?.[0]?.slice(0, 200),
        error: undefined,
        providers: await enabledProviders(returnTo),
        forgotPassword: tessera.email.passwordReset.available,
        passkey: passkeySignInControl({ csrf: token, returnTo, scripts: passkeyScripts(nonce) }),
      }),
    );
  });

  app.post('/login', async (request, reply) => {
    const form = pageForm(request);
    const returnTo = safeReturnTo(form.get('return_to'));
    const username = (form.get('username') ?? '').trim();
    const again = async (status: number, error: string) => {
      const nonce = scriptNonce();
      const token = csrf.token(browserValue(request, reply));
      const passkey = passkeySignInControl({ csrf: token, returnTo, scripts: passkeyScripts(nonce) });
      return pageHeaders(reply, { scriptNonce: nonce })
        .code(status)
        .send(loginPage({ csrf: token, returnTo, clientName: await clientNameOf(returnTo), username, error, providers: await enabledProviders(returnTo), forgotPassword: tessera.email.passwordReset.available, passkey }));
    };
    if (!csrf.verify(request.cookies[CSRF_COOKIE], '', form.get('csrf'))) return again(403, t('login.error.expired'));
    if (!username || !form.get('password')) return again(400, t('login.error.missing'));
    const deviceCookie = request.cookies[DEVICE_COOKIE];
    const result = await sessions.authenticatePassword(username, form.get('password')!, { ip: request.ip, userAgent: request.headers['user-agent'] ?? null, deviceCookie });
    if (!result.ok) {
      // No username: a password typed into the username field must not end up in the logs.
      request.log.info({ reason: result.reason }, 'sign-in refused');
      if (result.reason === 'throttled') {
        reply.header('retry-after', String(result.retryAfter));
        return again(429, t('login.error.throttled', { wait: waitText(result.retryAfter) }));
      }
      // One message for unknown user, wrong password and disabled account.
      return again(401, t('login.error.wrong'));
    }
    // A second factor (or its enrolment) comes before any session (docs/mfa.md).
    if (await steps.afterPassword(request, reply, result.user, returnTo)) return reply;
    await steps.finish(request, reply, result.user, ['pwd']);
    return steps.done(reply, returnTo, username);
  });

  const endsession = async (request: FastifyRequest, reply: FastifyReply) => {
    let raw: RawParams;
    try {
      raw = requestParams(request);
    } catch (error) {
      return errorPage(reply, error as OAuthError);
    }
    const signedIn = await signedInOf(request);
    const outcome = await endSession(raw, signedIn);
    if (outcome.kind === 'error_page') return errorPage(reply, outcome.error);
    if (outcome.kind === 'logout') return finishLogout(request, reply, outcome.redirect);
    const q = new URLSearchParams();
    if (outcome.clientId) q.set('client_id', outcome.clientId);
    if (outcome.postLogoutRedirectUri) q.set('post_logout_redirect_uri', outcome.postLogoutRedirectUri);
    if (outcome.state) q.set('state', outcome.state);
    return noStore(reply).redirect(`/logout${q.size ? `?${q}` : ''}`, 303);
  };
  app.get('/connect/endsession', endsession);
  app.post('/connect/endsession', endsession);

  app.get('/logout', async (request, reply) => {
    const q = queryParams(request);
    const outcome = await endSession(stripHint(q), await signedInOf(request));
    if (outcome.kind === 'error_page') return errorPage(reply, outcome.error);
    const c = outcome.kind === 'confirm' ? outcome : undefined;
    return pageHeaders(reply).send(
      logoutPage({
        csrf: csrf.token(browserValue(request, reply), 'logout'),
        clientId: c?.clientId,
        clientName: c?.clientName === undefined ? undefined : tEntered(c.clientName, c.clientNameTranslations),
        postLogoutRedirectUri: c?.postLogoutRedirectUri,
        state: c?.state,
        signedIn: true,
      }),
    );
  });

  app.post('/logout', async (request, reply) => {
    const form = pageForm(request);
    if (!csrf.verify(request.cookies[CSRF_COOKIE], 'logout', form.get('csrf'))) {
      return pageHeaders(reply).code(403).send(messagePage(t('error.retry.title'), t('error.retry.formExpired')));
    }
    const raw: RawParams = new Map([...form].filter(([k]) => k !== 'csrf').map(([k, v]) => [k, [v]]));
    const outcome = await endSession(stripHint(raw), undefined);
    if (outcome.kind === 'error_page') return errorPage(reply, outcome.error);
    const target = outcome.kind === 'confirm' && outcome.postLogoutRedirectUri ? withState(outcome.postLogoutRedirectUri, outcome.state) : undefined;
    return finishLogout(request, reply, target);
  });

  async function finishLogout(request: FastifyRequest, reply: FastifyReply, redirect: string | undefined): Promise<FastifyReply> {
    await sessions.signOut(request.cookies[SESSION_COOKIE], request.ip);
    reply.clearCookie(SESSION_COOKIE, { path: '/' });
    if (redirect) return noStore(reply).redirect(redirect, 303);
    return pageHeaders(reply).send(messagePage(t('logout.done.title'), t('logout.done.message', { product: productName() })));
  }

  /** "Continue with {name}" for each enabled provider, carrying the request to resume. */
  async function enabledProviders(returnTo: string | undefined): Promise<Array<{ name: string; href: string }>> {
    const all = await tessera.interactive.federation.providers.list();
    return all
      .filter((p) => p.enabled)
      .map((p) => ({ name: p.name, href: `/login/providers/${encodeURIComponent(p.slug)}${returnTo ? `?${new URLSearchParams({ return_to: returnTo })}` : ''}` }));
  }

  async function clientNameOf(returnTo: string | undefined): Promise<string | undefined> {
    if (!returnTo) return undefined;
    const id = new URLSearchParams(returnTo.slice(returnTo.indexOf('?') + 1)).get('client_id');
    const client = id ? await tessera.cache.client(id) : undefined;
    return client ? appName(client) : undefined;
  }

  app.get('/assets/favicon.svg', (_request, reply) => {
    reply.header('cache-control', 'public, max-age=86400').type('image/svg+xml').send(FAVICON);
  });
  // Browsers ask for /favicon.ico on their own, whatever the page links.
  app.get('/favicon.ico', (_request, reply) => {
    reply.header('cache-control', 'public, max-age=86400').type('image/svg+xml').send(FAVICON);
  });

  app.get('/assets/tessera.css', (_request, reply) => {
    reply.header('cache-control', 'public, max-age=3600').type('text/css; charset=utf-8').send(STYLESHEET);
  });
}

/**
 * An app's branding on the consent page (docs/branding.md): homepage, policy and terms links
 * always (https, checked when saved); its own logo only when the operator allows remote app
 * logos and the URL is https on a plain host, and then the page's CSP names that one origin.
 */
export function appBranding(client: Client, allowRemoteLogos: boolean): NonNullable<ConsentPageData['app']> & { imageOrigins: string[] } {
  // An uploaded logo (served from our origin) wins over a remote one.
  const origin = !client.logoHash && allowRemoteLogos && client.logoUri ? cspSafeOrigin(client.logoUri) : undefined;
  return {
    logoSrc: client.logoHash ? `/assets/logo-${client.logoHash}` : origin ? client.logoUri! : undefined,
    homepage: client.clientUri ?? undefined,
    policyUrl: client.policyUri ?? undefined,
    tosUrl: client.tosUri ?? undefined,
    imageOrigins: origin ? [origin] : [],
  };
}

/** "37 seconds", "1 minute", "4 minutes" (rounded up) in the page's language: how long a throttled sign-in must wait. */
export function waitText(seconds: number): string {
  return pageContext().i18n.wait(seconds);
}

function requestParams(request: FastifyRequest): RawParams {
  if (request.method === 'GET') return queryParams(request);
  const body = request.body;
  if (!(body instanceof Map)) throw new OAuthError('invalid_request', 'the request body must be application/x-www-form-urlencoded');
  return body as RawParams;
}

function toQuery(raw: RawParams): string {
  const q = new URLSearchParams();
  for (const [k, vs] of raw) for (const v of vs) q.append(k, v);
  return q.toString();
}

function stripHint(raw: RawParams): RawParams {
  const out: RawParams = new Map(raw);
  out.delete('id_token_hint');
  return out;
}

function withState(uri: string, state: string | undefined): string {
  const url = new URL(uri);
  if (state !== undefined) url.searchParams.append('state', state);
  return url.toString();
}

