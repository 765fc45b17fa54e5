import { html, type SafeHtml } from './html.ts';
import { operatorPolicyLinks, productName } from './brand-parts.ts';
import { t, tHtml } from './i18n-html.ts';
import { layout } from './layout.ts';

export interface LoginPageData {
  csrf: string;
  returnTo: string | undefined;
  clientName: string | undefined;
  username: string | undefined;
  error: string | undefined;
  /** Upstream identity providers, one "Continue with {name}" control each. */
  providers: Array<{ name: string; href: string }>;
  /** Whether "Forgot password?" is offered (only when email is configured: docs/email.md). */
  forgotPassword?: boolean;
  /** "Sign in with a passkey" and its scripts (src/pages/passkey-pages.ts), when offered. */
  passkey?: SafeHtml;
}

export function loginPage(d: LoginPageData): string {
  return layout({
    title: t('login.title'),
    compact: true,
    body: html`<h1>${t('login.title')}</h1>
<p class="muted">${d.clientName ? tHtml('login.toContinue', { app: d.clientName }) : t('login.withAccount', { product: productName() })}</p>
${d.error ? html`<div class="alert" role="alert">${d.error}</div>` : ''}
<form method="post" action="/login" novalidate>
<input type="hidden" name="csrf" value="${d.csrf}">
${d.returnTo ? html`<input type="hidden" name="return_to" value="${d.returnTo}">` : ''}
<label for="username">${t('login.username')}</label>
<input id="username" name="username" type="text" autocomplete="username" autocapitalize="none" spellcheck="false" required maxlength="200" value="${d.username ?? ''}" ${d.username ? '' : html`autofocus`}>
<label for="password">${t('login.password')}</label>
<input id="password" name="password" type="password" autocomplete="current-password" required maxlength="1024" ${d.username ? html`autofocus` : ''}>
<div class="actions"><button class="primary" type="submit">${t('login.submit')}</button></div>
</form>
${d.forgotPassword ? html`<p class="small"><a href="/login/forgot">${t('login.forgot')}</a></p>` : ''}
${d.providers.length ? html`<div class="providers">${d.providers.map((p) => html`<a class="button" href="${p.href}">${t('login.continueWith', { provider: p.name })}</a>`)}</div>` : ''}
${d.passkey ?? ''}`,
  });
}

export interface ConsentPageData {
  csrf: string;
  clientName: string;
  clientDescription: string;
  /** The host of a client that registered itself with a metadata document ("from example.com"). */
  clientHost?: string | undefined;
  username: string;
  scopes: Array<{ name: string; description: string }>;
  /** The authorization request, re-submitted with the decision. */
  params: Map<string, string>;
  /**
   * The app's own branding (OIDC client metadata): its logo when the operator allows remote
   * app logos (else the initial letter), its homepage, privacy policy and terms.
   */
  app?: { logoSrc?: string; homepage?: string; policyUrl?: string; tosUrl?: string };
}

export function consentPage(d: ConsentPageData): string {
  const hidden: SafeHtml[] = [...d.params].map(([k, v]) => html`<input type="hidden" name="${k}" value="${v}">`);
  return layout({
    title: t('consent.title', { app: d.clientName }),
    body: html`<form method="post" action="/consent" class="consent-body">
<input type="hidden" name="csrf" value="${d.csrf}">
${hidden}
<div class="app">
${d.app?.logoSrc ? html`<img class="app__logo" src="${d.app.logoSrc}" alt="" width="40" height="40" referrerpolicy="no-referrer">` : html`<div class="app__icon" aria-hidden="true">${d.clientName.slice(0, 1).toUpperCase()}</div>`}
<div><h1>${t('consent.heading', { app: d.clientName })}</h1>
${d.clientHost ? html`<p class="app__from">${tHtml('consent.from', { host: d.clientHost })}</p>` : ''}
${d.clientDescription ? html`<p class="app__desc" dir="auto">${d.clientDescription}</p>` : ''}
${appLinks(d.app)}</div>
</div>
<p class="muted small">${t('consent.intro')}</p>
<ul class="scopes" aria-label="${t('consent.permissions')}">
${d.scopes.map((s) => html`<li><span>${s.description}</span><code>${s.name}</code></li>`)}
</ul>
<p class="who">${tHtml('consent.who', { user: d.username })}</p>
<div class="actions">
<button type="submit" name="decision" value="deny">${t('consent.deny')}</button>
<button class="primary" type="submit" name="decision" value="allow">${t('consent.allow')}</button>
</div>
${operatorPolicyLinks()}
</form>`,
  });
}

/** The app's homepage, privacy policy and terms (https, checked when saved), opened in a new tab without a referrer. */
function appLinks(app: ConsentPageData['app']): SafeHtml | '' {
  const links = [
    [app?.homepage, t('consent.homepage')],
    [app?.policyUrl, t('consent.policy')],
    [app?.tosUrl, t('consent.tos')],
  ].filter((l): l is [string, string] => Boolean(l[0]));
  if (!links.length) return '';
  return html`<p class="app__links small">${links.map(([href, label]) => html`<a href="${href}" rel="noopener noreferrer" target="_blank">${label}</a>`)}</p>`;
}

export interface LogoutPageData {
  csrf: string;
  clientName: string | undefined;
  clientId: string | undefined;
  postLogoutRedirectUri: string | undefined;
  state: string | undefined;
  signedIn: boolean;
}

export function logoutPage(d: LogoutPageData): string {
  return layout({
    title: t('logout.title'),
    compact: true,
    body: html`<h1>${t('logout.heading')}</h1>
<p class="muted">${d.clientName ? tHtml('logout.clientAsks', { app: d.clientName, product: productName() }) : t('logout.thisBrowser', { product: productName() })}</p>
<form method="post" action="/logout">
<input type="hidden" name="csrf" value="${d.csrf}">
${d.clientId ? html`<input type="hidden" name="client_id" value="${d.clientId}">` : ''}
${d.postLogoutRedirectUri ? html`<input type="hidden" name="post_logout_redirect_uri" value="${d.postLogoutRedirectUri}">` : ''}
${d.state ? html`<input type="hidden" name="state" value="${d.state}">` : ''}
<div class="actions"><button class="primary" type="submit">${t('logout.submit')}</button></div>
</form>`,
  });
}

export function messagePage(title: string, message: string, detail?: string): string {
  return layout({
    title,
    compact: true,
    body: html`<h1>${title}</h1><p>${message}</p>${detail ? html`<p class="muted small">${detail}</p>` : ''}`,
  });
}
