import { brandFooter, brandMark, brandStylesheetLink, pageLang, productName } from './brand-parts.ts';
import { html, type SafeHtml } from './html.ts';
import { languageChooser, pageDir, t, tHtml } from './i18n-html.ts';

/** The account area's sections, in nav order; `current` in AccountPageOptions names one. */
export const ACCOUNT_NAV = [
  { id: 'profile', label: 'account.nav.profile', href: '/account' },
  { id: 'security', label: 'account.nav.security', href: '/account/security' },
  { id: 'sessions', label: 'account.nav.sessions', href: '/account/sessions' },
  { id: 'apps', label: 'account.nav.apps', href: '/account/apps' },
] as const;

export type AccountSection = (typeof ACCOUNT_NAV)[number]['id'];

export interface AccountPageOptions {
  /** The page's own title, shown in the tab ("Authenticator app · Account · Tessera"). */
  title: string;
  /** Which nav entry is highlighted: a page under Security (TOTP, passkeys…) says 'security'. */
  current: AccountSection;
  /** Who is signed in: shown in the header. */
  user: { username: string; name: string | null };
  /** A CSRF token for the header's "Sign out" form (kit.csrfToken(request, reply, 'logout')). */
  signOutCsrf: string;
  /** The page's content, under the header and nav; start with an <h1>. */
  body: SafeHtml;
  /** A one-line confirmation shown above the content ("Your password was changed."). */
  notice?: string;
}

/**
 * The shell of every /account page: a header with the signed-in user, the account nav
 * (Profile, Security, Sessions, Connected apps) and "Sign out" (a POST to /logout, so no
 * script), then the page. No script at all; one stylesheet (CSP: style-src 'self').
 * At phone width the nav wraps onto its own rows under the header.
 */
export function accountLayout(o: AccountPageOptions): string {
  const who = o.user.name ?? o.user.username;
  return html`<!doctype html>
<html lang="${pageLang()}" dir="${pageDir()}">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="referrer" content="no-referrer">
<title>${o.title} · ${t('account.titleSuffix')} · ${productName()}</title>
<link rel="icon" href="/assets/favicon.svg" type="image/svg+xml">
<link rel="stylesheet" href="/assets/tessera.css">
${brandStylesheetLink()}
</head>
<body class="account">
<a class="skip" href="#content">${t('account.skip')}</a>
<header class="account__bar">
<span class="brand account__brand">${brandMark()}</span>
<span class="account__who">${tHtml('account.signedInAs', { who })}${o.user.name ? html` <span class="muted">(<bdi>${o.user.username}</bdi>)</span>` : ''}</span>
<form method="post" action="/logout" class="account__signout">
<input type="hidden" name="csrf" value="${o.signOutCsrf}">
<button type="submit">${t('account.signOut')}</button>
</form>
</header>
<nav class="account__nav" aria-label="${t('account.nav.label')}">
<ul>
${ACCOUNT_NAV.map((n) => html`<li><a href="${n.href}"${n.id === o.current ? html` aria-current="page"` : ''}>${t(n.label)}</a></li>`)}
</ul>
</nav>
<main id="content" class="account__main" tabindex="-1">
${o.notice ? html`<div class="notice" role="status">${o.notice}</div>` : ''}
${o.body}
${brandFooter(o.title)}
${languageChooser()}
</main>
</body>
</html>`.value;
}
