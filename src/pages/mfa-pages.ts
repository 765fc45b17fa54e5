import { productName } from './brand-parts.ts';
import { html, type SafeHtml } from './html.ts';
import { t, tHtml } from './i18n-html.ts';
import { layout } from './layout.ts';

/** Second factors: the second step of a sign-in, TOTP enrolment, recovery codes (docs/mfa.md). */

export interface SecondFactorPageData {
  csrf: string;
  error: string | undefined;
  /** Other ways to pass the step (a passkey button, added by the passkeys module). */
  extraMethods: SafeHtml[];
  /** Whether the code form is shown (false for a user whose only factors are passkeys). */
  codes?: boolean;
  /** Where the code is posted: /login/second-factor, with the request's ui_locales. */
  action?: string;
}

export function secondFactorPage(d: SecondFactorPageData): string {
  return layout({
    title: t('mfa.second.title'),
    compact: true,
    body: html`<h1>${t('mfa.second.title')}</h1>
<p class="muted">${d.codes === false ? t('mfa.second.usePasskey') : t('mfa.second.enterCode')}</p>
${d.error ? html`<div class="alert" role="alert">${d.error}</div>` : ''}
${d.codes === false ? '' : html`<form method="post" action="${d.action ?? '/login/second-factor'}" novalidate>
<input type="hidden" name="csrf" value="${d.csrf}">
<label for="code">${t('mfa.second.code')}</label>
<input id="code" name="code" type="text" inputmode="numeric" autocomplete="one-time-code" autocapitalize="none" spellcheck="false" required maxlength="64" autofocus>
<p class="muted small">${t('mfa.second.lostPhone')}</p>
<div class="actions"><button class="primary" type="submit">${t('mfa.second.verify')}</button></div>
</form>`}
${d.extraMethods.length ? (d.codes === false ? d.extraMethods : html`<div class="providers">${d.extraMethods}</div>`) : ''}
<p class="muted small"><a href="/login">${t('mfa.second.startOver')}</a></p>`,
  });
}

export interface TotpEnrolPageData {
  csrf: string;
  /** Where the confirmation code is posted (/login/enrol or /account/totp). */
  action: string;
  /** The otpauth:// URI as a QR code (an SVG data: URL: the pages' CSP allows data: images). */
  qrDataUrl: string;
  /** The secret in groups of four, for typing by hand. */
  groupedSecret: string;
  /** Why this page is shown (forced enrolment says so). */
  intro: string;
  error: string | undefined;
  cancelHref: string | undefined;
}

export function totpEnrolPage(d: TotpEnrolPageData): string {
  return layout({ title: t('mfa.enrol.title'), compact: true, body: totpEnrolBody(d) });
}

/** The enrolment itself: in the sign-in card (/login/enrol) or in the account layout (/account/totp). */
export function totpEnrolBody(d: TotpEnrolPageData): SafeHtml {
  return html`<h1>${t('mfa.enrol.title')}</h1>
<p class="muted">${d.intro}</p>
${d.error ? html`<div class="alert" role="alert">${d.error}</div>` : ''}
<ol class="steps">
<li>${t('mfa.enrol.scan')}
<div class="qr"><img src="${d.qrDataUrl}" alt="${t('mfa.enrol.qrAlt')}" width="200" height="200"></div></li>
<li>${t('mfa.enrol.byHand')}
<p><code class="secret" id="totp-secret">${d.groupedSecret}</code></p></li>
<li>${t('mfa.enrol.finish')}</li>
</ol>
<form method="post" action="${d.action}" novalidate>
<input type="hidden" name="csrf" value="${d.csrf}">
<label for="code">${t('mfa.enrol.codeFromApp')}</label>
<input id="code" name="code" type="text" inputmode="numeric" autocomplete="one-time-code" autocapitalize="none" spellcheck="false" required maxlength="10" autofocus>
<div class="actions">${d.cancelHref ? html`<a class="button" href="${d.cancelHref}">${t('mfa.enrol.cancel')}</a>` : ''}<button class="primary" type="submit">${t('mfa.enrol.turnOn')}</button></div>
</form>`;
}

export interface RecoveryCodesPageData {
  codes: string[];
  heading: string;
  continueHref: string;
  continueLabel: string;
}

/** The codes, shown once: only their hashes are kept. */
export function recoveryCodesPage(d: RecoveryCodesPageData): string {
  return layout({ title: t('mfa.codes.title'), compact: true, body: recoveryCodesBody(d) });
}

export function recoveryCodesBody(d: RecoveryCodesPageData): SafeHtml {
  return html`<h1>${d.heading}</h1>
<p>${t('mfa.codes.save')}</p>
<p class="muted small">${t('mfa.codes.onlyNow', { product: productName() })}</p>
<ul class="recovery-codes" aria-label="${t('mfa.codes.list')}">
${d.codes.map((c) => html`<li><code>${c}</code></li>`)}
</ul>
<div class="actions"><a class="button primary" href="${d.continueHref}">${d.continueLabel}</a></div>`;
}

export interface TotpStatusPageData {
  csrf: string;
  factor: { id: string; name: string; since: string; lastUsed: string | undefined };
  recoveryCodesRemaining: number;
  error: string | undefined;
}

/** /account/totp once an app is set up: what there is, and removing it (with a current code). */
export function totpStatusBody(d: TotpStatusPageData): SafeHtml {
  return html`<h1>${t('mfa.totp.title')}</h1>
${d.error ? html`<div class="alert" role="alert">${d.error}</div>` : ''}
<p>${tHtml('mfa.totp.on', { name: d.factor.name })}</p>
<p class="muted small">${d.factor.lastUsed ? t('mfa.totp.sinceUsed', { since: d.factor.since, lastUsed: d.factor.lastUsed }) : t('mfa.totp.since', { since: d.factor.since })}</p>
<p>${tHtml('mfa.totp.codesLeft', { count: d.recoveryCodesRemaining })} <a href="/account/recovery-codes">${t('mfa.totp.manageCodes')}</a></p>
<h2>${t('mfa.totp.remove')}</h2>
<form method="post" action="/account/totp/remove" novalidate>
<input type="hidden" name="csrf" value="${d.csrf}">
<input type="hidden" name="factor_id" value="${d.factor.id}">
<label for="code">${t('mfa.totp.confirmCode')}</label>
<input id="code" name="code" type="text" inputmode="numeric" autocomplete="one-time-code" autocapitalize="none" spellcheck="false" required maxlength="64">
<div class="actions"><button type="submit">${t('mfa.totp.removeApp')}</button></div>
</form>
<p class="muted small"><a href="/account/security">${t('mfa.backToSecurity')}</a></p>`;
}

export interface RecoveryCodesManagePageData {
  csrf: string;
  remaining: number;
  error: string | undefined;
}

export function recoveryCodesManageBody(d: RecoveryCodesManagePageData): SafeHtml {
  return html`<h1>${t('mfa.manage.title')}</h1>
${d.error ? html`<div class="alert" role="alert">${d.error}</div>` : ''}
<p>${tHtml('mfa.manage.unused', { count: d.remaining })}</p>
<p class="muted small">${t('mfa.manage.replace')}</p>
<form method="post" action="/account/recovery-codes" novalidate>
<input type="hidden" name="csrf" value="${d.csrf}">
<div class="actions"><a class="button" href="/account/security">${t('mfa.manage.back')}</a><button class="primary" type="submit">${t('mfa.manage.make')}</button></div>
</form>`;
}

/** After a sign-in with a recovery code: how many are left, and on to where the sign-in was going. */
export function recoveryCodeUsedPage(remaining: number, continueHref: string): string {
  return layout({
    title: t('mfa.used.title'),
    compact: true,
    body: html`<h1>${t('mfa.used.title')}</h1>
<p>${t('mfa.used.left', { count: remaining })}</p>
<p class="muted small">${t('mfa.used.runningLow')} <a href="/account/recovery-codes">${t('mfa.manage.title')}</a></p>
<div class="actions"><a class="button primary" href="${continueHref}">${t('mfa.used.continue')}</a></div>`,
  });
}
