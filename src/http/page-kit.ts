import type { FastifyReply, FastifyRequest } from 'fastify';
import type { Tessera } from '../app/tessera.ts';
import type { SignedIn } from '../identity/session-service.ts';
import { CSRF_COOKIE, SESSION_COOKIE } from '../lib/cookie-names.ts';
import { parseForm, type RawParams } from '../oauth/params.ts';
import { messagePage } from '../pages/pages.ts';
import { t } from '../pages/i18n-html.ts';
import { AccountArea } from './account-area.ts';
import { Csrf } from './csrf.ts';
import { noStore } from './oauth-reply.ts';

/**
 * What every route module of the pages shares (login, consent, logout, the account area, the
 * email links): cookies, CSRF, the signed-in user and the page headers. One instance per app,
 * made in src/http/app.ts and handed to each `register…Routes(app, tessera, kit)`.
 */
export class PageKit {
  readonly csrf: Csrf;
  /** The account area: render a page in the account layout, add an entry to its Security page (docs in src/http/account-area.ts). */
  readonly account: AccountArea;
  readonly #tessera: Tessera;

  constructor(tessera: Tessera) {
    this.#tessera = tessera;
    this.csrf = new Csrf(tessera.csrfSecrets);
    this.account = new AccountArea({ signOutCsrf: (request, reply) => this.csrfToken(request, reply, 'logout'), pageHeaders });
  }

  /** Secure when the issuer is https (read per request: with --port 0 the issuer is set after listen). */
  cookieOptions(): { path: string; httpOnly: true; sameSite: 'lax'; secure: boolean } {
    return { path: '/', httpOnly: true, sameSite: 'lax', secure: this.#tessera.issuer.startsWith('https:') };
  }

  /** The per-browser CSRF value, set on first sight. */
  browserValue(request: FastifyRequest, reply: FastifyReply): string {
    const existing = request.cookies[CSRF_COOKIE];
    if (existing && existing.length <= 100) return existing;
    const fresh = this.csrf.newBrowserValue();
    reply.setCookie(CSRF_COOKIE, fresh, this.cookieOptions());
    return fresh;
  }

  /** A CSRF token for a form of this browser, bound to `binding` (a session id once signed in). */
  csrfToken(request: FastifyRequest, reply: FastifyReply, binding = ''): string {
    return this.csrf.token(this.browserValue(request, reply), binding);
  }

  /** Whether the form's CSRF token is this browser's for `binding`. */
  csrfOk(request: FastifyRequest, form: Map<string, string>, binding = ''): boolean {
    return this.csrf.verify(request.cookies[CSRF_COOKIE], binding, form.get('csrf'));
  }

  /** The answer to a form whose CSRF token did not verify. */
  csrfRefused(reply: FastifyReply): FastifyReply {
    return pageHeaders(reply).code(403).send(messagePage(t('error.retry.title'), t('error.retry.formExpired')));
  }

  signedInOf(request: FastifyRequest): Promise<SignedIn | undefined> {
    return this.#tessera.interactive.sessions.resolve(request.cookies[SESSION_COOKIE]);
  }

  /**
   * The signed-in user, or undefined after answering with a redirect to /login that comes back
   * to `returnTo` (a path under /account, or /connect/authorize?…; see `safeReturnTo`).
   */
  async requireSignedIn(request: FastifyRequest, reply: FastifyReply, returnTo: string): Promise<SignedIn | undefined> {
    const signedIn = await this.signedInOf(request);
    if (signedIn) return signedIn;
    const target = safeReturnTo(returnTo);
    noStore(reply).redirect(`/login${target ? `?${new URLSearchParams({ return_to: target })}` : ''}`, 303);
    return undefined;
  }
}

/**
 * Every page: no script, no framing, no caching, no referrer (the URL carries codes and state).
 * A page that needs a script (the passkey ceremonies) passes a fresh `scriptNonce`: only the
 * script elements carrying it run (CSP3 nonce; no inline handlers, no other source), and they
 * may call back to this origin alone (`connect-src 'self'`).
 */
export function pageHeaders(reply: FastifyReply, options: { scriptNonce?: string; imageOrigins?: string[] } = {}): FastifyReply {
  return noStore(reply)
    .header('content-security-policy', pageCsp(options.scriptNonce, options.imageOrigins))
    .header('x-frame-options', 'DENY')
    .header('referrer-policy', 'no-referrer')
    .type('text/html; charset=utf-8');
}

/**
 * `imageOrigins`: the consent page's app logo, when the operator allows remote app logos —
 * that one https origin (checked by cspSafeOrigin), never `https:` as a whole.
 */
export function pageCsp(scriptNonce?: string, imageOrigins: string[] = []): string {
  const scripts = scriptNonce ? ` script-src 'nonce-${scriptNonce}'; connect-src 'self';` : '';
  const images = ["'self'", 'data:', ...imageOrigins].join(' ');
  return `default-src 'none';${scripts} style-src 'self'; img-src ${images}; frame-ancestors 'none'; base-uri 'none';`;
}

/**
 * Where /login may send the browser back to: our own authorize endpoint, and the account area
 * (/account and the pages under it). Anything else would make /login an open redirector.
 */
export function safeReturnTo(value: string | undefined): string | undefined {
  if (!value || value.length > 8192) return undefined;
  if (value.startsWith('/connect/authorize?')) return value;
  // The device flow's verification page (RFC 8628 §3.3), with the code the user typed.
  if (value === '/device' || /^\/device\?user_code=[A-Za-z0-9%-]{1,40}$/.test(value)) return value;
  if (/^\/account(?:[/?][^\\]*)?$/.test(value) && !value.startsWith('/account//')) return value;
  return undefined;
}

export function queryParams(request: FastifyRequest): RawParams {
  const q = request.url.indexOf('?');
  return q < 0 ? new Map() : parseForm(request.url.slice(q + 1));
}

/** A page form's fields, one value each (a repeated field keeps its first value; longer than 4096 characters is dropped). */
export function pageForm(request: FastifyRequest): Map<string, string> {
  const body = request.body;
  if (!(body instanceof Map)) return new Map();
  const out = new Map<string, string>();
  for (const [k, values] of body as RawParams) if (values[0] !== undefined && values[0].length <= 4096) out.set(k, values[0]);
  return out;
}
