import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { Tessera } from '../app/tessera.ts';
import { visitor } from '../audit/actor.ts';
import { matchLocale, negotiateLocale } from '../i18n/index.ts';
import { LANGUAGE_COOKIE } from '../lib/cookie-names.ts';
import { messagePage } from '../pages/pages.ts';
import { t } from '../pages/i18n-html.ts';
import { pageHeaders, queryParams, type PageKit } from './page-kit.ts';
import { jsonBody } from './webauthn-ceremony.ts';
import { noStore } from './oauth-reply.ts';

/** A year: the choice is a preference the person made, kept until they make another. */
const LANGUAGE_COOKIE_MAX_AGE = 365 * 86_400;

/**
 * The language of a page request (docs/languages.md): `ui_locales` of the authorization
 * request — on the request itself (/connect/authorize, /consent) or inside its `return_to`
 * (/login) — then the chooser's cookie, then Accept-Language, then the operator's default.
 */
export function requestLocale(request: FastifyRequest, available: readonly string[], fallback: string): string {
  return negotiateLocale(
    { uiLocales: uiLocalesOf(request), cookie: request.cookies?.[LANGUAGE_COOKIE], acceptLanguage: request.headers['accept-language'] },
    available,
    fallback,
  );
}

/** The language of this request's page, as Tessera is configured (what mail to the person is then written in). */
export function pageLocale(request: FastifyRequest, tessera: Tessera): string {
  return requestLocale(request, tessera.config.languages.available, tessera.config.languages.defaultLocale);
}

/**
 * Remembers the page's language as the user's (`users.locale`, docs/languages.md), for mail
 * sent to them later: called where a person shows which language they read (signing in,
 * choosing a language while signed in, accepting an invitation).
 */
export async function rememberPageLocale(request: FastifyRequest, tessera: Tessera, user: { id: string; username: string }, locale = pageLocale(request, tessera)): Promise<void> {
  await tessera.services.users.rememberLocale(user.id, locale, tessera.config.languages.defaultLocale, visitor(user.username, request.ip));
}

function uiLocalesOf(request: FastifyRequest): string | undefined {
  const query = queryParams(request);
  const body = request.body instanceof Map ? (request.body as Map<string, string[]>) : undefined;
  // A page's script posting JSON (the invitation's passkey button) carries it as a string.
  const json = jsonBody(request);
  const jsonValue = (name: string) => (typeof json?.[name] === 'string' ? (json[name] as string) : undefined);
  const value = (name: string) => query.get(name)?.[0] ?? body?.get(name)?.[0] ?? jsonValue(name);
  const direct = value('ui_locales');
  if (direct !== undefined) return direct;
  const returnTo = value('return_to');
  const q = returnTo?.indexOf('?') ?? -1;
  return q >= 0 ? (new URLSearchParams(returnTo!.slice(q + 1)).get('ui_locales') ?? undefined) : undefined;
}

/** Where the chooser on this page comes back to: the page itself (a POST's page with its return_to). */
export function pageHere(request: FastifyRequest): string {
  if (request.method === 'GET') return request.url;
  const body = request.body instanceof Map ? (request.body as Map<string, string[]>) : undefined;
  const returnTo = body?.get('return_to')?.[0];
  const path = request.url.split('?')[0]!;
  return returnTo ? `${path}?${new URLSearchParams({ return_to: returnTo })}` : path;
}

/**
 * GET /language?set=<locale>&return_to=<path>: the language chooser's links. The choice is a
 * cookie (a preference: no CSRF token needed, nothing else changes), and a `ui_locales` in the
 * page being returned to — the app's wish — gives way to the person's own choice.
 */
export function registerLanguageRoutes(app: FastifyInstance, tessera: Tessera, kit: PageKit): void {
  const { available } = tessera.config.languages;
  app.get('/language', async (request, reply) => {
    const q = queryParams(request);
    const chosen = matchLocale(q.get('set')?.[0] ?? '', available);
    if (!chosen) return pageHeaders(reply).code(400).send(messagePage(t('error.language.title'), t('error.language.message')));
    reply.setCookie(LANGUAGE_COOKIE, chosen, { ...kit.cookieOptions(), maxAge: LANGUAGE_COOKIE_MAX_AGE });
    // Signed in: the choice is the user's language for mail too (the same preference as the
    // cookie, so the same rule: a link, no CSRF token; it changes only which language mail is in).
    const signedIn = await kit.signedInOf(request);
    if (signedIn) await rememberPageLocale(request, tessera, signedIn.principal.user, chosen);
    const back = samePagePath(q.get('return_to')?.[0]);
    return noStore(reply).redirect(back ? withUiLocales(back, chosen) : '/account', 303);
  });
}

/** A path on this site (never `//host` or `/\host`, which browsers read as another origin). */
export function samePagePath(value: string | undefined): string | undefined {
  if (!value || value.length > 8192) return undefined;
  return /^\/(?![/\\])[^\\\s]*$/.test(value) ? value : undefined;
}

/** `path` with any `ui_locales` in it (or in its `return_to`) replaced by the chosen locale. */
export function withUiLocales(path: string, locale: string): string {
  const q = path.indexOf('?');
  if (q < 0) return path;
  const params = new URLSearchParams(path.slice(q + 1));
  let changed = false;
  if (params.has('ui_locales')) {
    params.set('ui_locales', locale);
    changed = true;
  }
  const returnTo = params.get('return_to');
  if (returnTo) {
    const inner = withUiLocales(returnTo, locale);
    if (inner !== returnTo) {
      params.set('return_to', inner);
      changed = true;
    }
  }
  return changed ? `${path.slice(0, q)}?${params}` : path;
}
