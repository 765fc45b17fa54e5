import { html, type SafeHtml } from './html.ts';
import { layout } from './layout.ts';

/** Second factors: the second step of a sign-in, TOTP enrolment, recovery codes (docs/mfa.md). */

export interface SecondFactorPageData {
  csrf: string;
  error: string | undefined;
  /** Other ways to pass the step (a passkey button, added by the passkeys module). */
  extraMethods: SafeHtml[];
  /** Whether the code form is shown (false for a user whose only factors are passkeys). */
  codes?: boolean;
}

export function secondFactorPage(d: SecondFactorPageData): string {
  return layout({
    title: 'Two-step verification',
    compact: true,
    body: html`<h1>Two-step verification</h1>
${d.codes === false ? html`<p class="muted">Use your passkey to finish signing in.</p>` : html`<p class="muted">Enter the 6-digit code from your authenticator app.</p>`}
${d.error ? html`<div class="alert" role="alert">${d.error}</div>` : ''}
${d.codes === false ? '' : html`<form method="post" action="/login/second-factor" novalidate>
<input type="hidden" name="csrf" value="${d.csrf}">
<label for="code">Code</label>
<input id="code" name="code" type="text" inputmode="numeric" autocomplete="one-time-code" autocapitalize="none" spellcheck="false" required maxlength="64" autofocus>
<p class="muted small">Lost your phone? Enter one of your recovery codes instead.</p>
<div class="actions"><button class="primary" type="submit">Verify</button></div>
</form>`}
${d.extraMethods.length ? (d.codes === false ? d.extraMethods : html`<div class="providers">${d.extraMethods}</div>`) : ''}
<p class="muted small"><a href="/login">Start over</a></p>`,
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
  return layout({ title: 'Set up an authenticator app', compact: true, body: totpEnrolBody(d) });
}

/** The enrolment itself: in the sign-in card (/login/enrol) or in the account layout (/account/totp). */
export function totpEnrolBody(d: TotpEnrolPageData): SafeHtml {
  return html`<h1>Set up an authenticator app</h1>
<p class="muted">${d.intro}</p>
${d.error ? html`<div class="alert" role="alert">${d.error}</div>` : ''}
<ol class="steps">
<li>Scan this QR code with an authenticator app (for example Google Authenticator, Microsoft Authenticator, 1Password or Aegis).
<div class="qr"><img src="${d.qrDataUrl}" alt="QR code for your authenticator app" width="200" height="200"></div></li>
<li>Or enter this key by hand (time-based, 6 digits, every 30 seconds):
<p><code class="secret" id="totp-secret">${d.groupedSecret}</code></p></li>
<li>Enter the 6-digit code the app shows to finish.</li>
</ol>
<form method="post" action="${d.action}" novalidate>
<input type="hidden" name="csrf" value="${d.csrf}">
<label for="code">Code from the app</label>
<input id="code" name="code" type="text" inputmode="numeric" autocomplete="one-time-code" autocapitalize="none" spellcheck="false" required maxlength="10" autofocus>
<div class="actions">${d.cancelHref ? html`<a class="button" href="${d.cancelHref}">Cancel</a>` : ''}<button class="primary" type="submit">Turn on</button></div>
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
  return layout({ title: 'Your recovery codes', compact: true, body: recoveryCodesBody(d) });
}

export function recoveryCodesBody(d: RecoveryCodesPageData): SafeHtml {
  return html`<h1>${d.heading}</h1>
<p>Save these recovery codes somewhere safe (a password manager, or printed). Each works once, in place of a code from your app, if you lose your phone.</p>
<p class="muted small">They are shown only now: Tessera keeps only a hash of each.</p>
<ul class="recovery-codes" aria-label="Recovery codes">
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
  return html`<h1>Authenticator app</h1>
${d.error ? html`<div class="alert" role="alert">${d.error}</div>` : ''}
<p><strong>${d.factor.name}</strong> is on: signing in asks for a code from it after your password.</p>
<p class="muted small">Set up ${d.factor.since}${d.factor.lastUsed ? html`; last used ${d.factor.lastUsed}` : ''}.</p>
<p>Recovery codes left: <strong>${String(d.recoveryCodesRemaining)}</strong>. <a href="/account/recovery-codes">Manage recovery codes</a></p>
<h2>Remove</h2>
<form method="post" action="/account/totp/remove" novalidate>
<input type="hidden" name="csrf" value="${d.csrf}">
<input type="hidden" name="factor_id" value="${d.factor.id}">
<label for="code">A current code (or a recovery code) to confirm</label>
<input id="code" name="code" type="text" inputmode="numeric" autocomplete="one-time-code" autocapitalize="none" spellcheck="false" required maxlength="64">
<div class="actions"><button type="submit">Remove authenticator app</button></div>
</form>
<p class="muted small"><a href="/account/security">Back to Security</a></p>`;
}

export interface RecoveryCodesManagePageData {
  csrf: string;
  remaining: number;
  error: string | undefined;
}

export function recoveryCodesManageBody(d: RecoveryCodesManagePageData): SafeHtml {
  return html`<h1>Recovery codes</h1>
${d.error ? html`<div class="alert" role="alert">${d.error}</div>` : ''}
<p>You have <strong>${String(d.remaining)}</strong> unused recovery code${d.remaining === 1 ? '' : 's'}.</p>
<p class="muted small">New codes replace every old one, used or not.</p>
<form method="post" action="/account/recovery-codes" novalidate>
<input type="hidden" name="csrf" value="${d.csrf}">
<div class="actions"><a class="button" href="/account/security">Back</a><button class="primary" type="submit">Make new codes</button></div>
</form>`;
}

/** After a sign-in with a recovery code: how many are left, and on to where the sign-in was going. */
export function recoveryCodeUsedPage(remaining: number, continueHref: string): string {
  const left = remaining === 1 ? '1 recovery code is left' : `${remaining} recovery codes are left`;
  return layout({
    title: 'Signed in with a recovery code',
    compact: true,
    body: html`<h1>Signed in with a recovery code</h1>
<p>That code is now used up; ${left}.</p>
<p class="muted small">Running low? Make new ones under <a href="/account/recovery-codes">Recovery codes</a>.</p>
<div class="actions"><a class="button primary" href="${continueHref}">Continue</a></div>`,
  });
}
