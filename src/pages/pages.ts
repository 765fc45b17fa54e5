import { html, type SafeHtml } from './html.ts';
import { operatorPolicyLinks, productName } from './brand-parts.ts';
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
    title: 'Sign in',
    compact: true,
    body: html`<h1>Sign in</h1>
<p class="muted">${d.clientName ? html`to continue to <strong>${d.clientName}</strong>` : html`with your ${productName()} account`}</p>
${d.error ? html`<div class="alert" role="alert">${d.error}</div>` : ''}
<form method="post" action="/login" novalidate>
<input type="hidden" name="csrf" value="${d.csrf}">
${d.returnTo ? html`<input type="hidden" name="return_to" value="${d.returnTo}">` : ''}
<label for="username">Username</label>
<input id="username" name="username" type="text" autocomplete="username" autocapitalize="none" spellcheck="false" required maxlength="200" value="${d.username ?? ''}" ${d.username ? '' : html`autofocus`}>
<label for="password">Password</label>
<input id="password" name="password" type="password" autocomplete="current-password" required maxlength="1024" ${d.username ? html`autofocus` : ''}>
<div class="actions"><button class="primary" type="submit">Sign in</button></div>
</form>
${d.forgotPassword ? html`<p class="small"><a href="/login/forgot">Forgot password?</a></p>` : ''}
${d.providers.length ? html`<div class="providers">${d.providers.map((p) => html`<a class="button" href="${p.href}">Continue with ${p.name}</a>`)}</div>` : ''}
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

/** The consent page's own words (one place, for the message catalogues to come). */
const CONSENT_TEXT = {
  homepage: 'Website',
  policy: 'Privacy policy',
  tos: 'Terms of service',
};

export function consentPage(d: ConsentPageData): string {
  const hidden: SafeHtml[] = [...d.params].map(([k, v]) => html`<input type="hidden" name="${k}" value="${v}">`);
  return layout({
    title: `Allow ${d.clientName}?`,
    body: html`<form method="post" action="/consent" class="consent-body">
<input type="hidden" name="csrf" value="${d.csrf}">
${hidden}
<div class="app">
${d.app?.logoSrc ? html`<img class="app__logo" src="${d.app.logoSrc}" alt="" width="40" height="40" referrerpolicy="no-referrer">` : html`<div class="app__icon" aria-hidden="true">${d.clientName.slice(0, 1).toUpperCase()}</div>`}
<div><h1>${d.clientName} wants to access your account</h1>
${d.clientHost ? html`<p class="app__from">from <strong>${d.clientHost}</strong> · described by its own website, not registered by an administrator</p>` : ''}
${d.clientDescription ? html`<p class="app__desc">${d.clientDescription}</p>` : ''}
${appLinks(d.app)}</div>
</div>
<p class="muted small">If you allow, it will be able to:</p>
<ul class="scopes" aria-label="Requested permissions">
${d.scopes.map((s) => html`<li><span>${s.description}</span><code>${s.name}</code></li>`)}
</ul>
<p class="who">Signed in as <strong>${d.username}</strong>. You can withdraw this access later.</p>
<div class="actions">
<button type="submit" name="decision" value="deny">Deny</button>
<button class="primary" type="submit" name="decision" value="allow">Yes, Allow</button>
</div>
${operatorPolicyLinks()}
</form>`,
  });
}

/** The app's homepage, privacy policy and terms (https, checked when saved), opened in a new tab without a referrer. */
function appLinks(app: ConsentPageData['app']): SafeHtml | '' {
  const links = [
    [app?.homepage, CONSENT_TEXT.homepage],
    [app?.policyUrl, CONSENT_TEXT.policy],
    [app?.tosUrl, CONSENT_TEXT.tos],
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
    title: 'Sign out',
    compact: true,
    body: html`<h1>Sign out?</h1>
<p class="muted">${d.clientName ? html`<strong>${d.clientName}</strong> asks to end your ${productName()} session.` : html`This ends your ${productName()} session in this browser.`}</p>
<form method="post" action="/logout">
<input type="hidden" name="csrf" value="${d.csrf}">
${d.clientId ? html`<input type="hidden" name="client_id" value="${d.clientId}">` : ''}
${d.postLogoutRedirectUri ? html`<input type="hidden" name="post_logout_redirect_uri" value="${d.postLogoutRedirectUri}">` : ''}
${d.state ? html`<input type="hidden" name="state" value="${d.state}">` : ''}
<div class="actions"><button class="primary" type="submit">Sign out</button></div>
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
