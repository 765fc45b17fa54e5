import { productName } from './brand-parts.ts';
import { html, type SafeHtml } from './html.ts';
import { t, tHtml } from './i18n-html.ts';
import { layout } from './layout.ts';
import { passkeyErrorBox } from './passkey-pages.ts';

/** The pages reached from the login page and from links sent by email (docs/email.md). */

export function forgotPage(d: { csrf: string; identifier?: string; error?: string }): string {
  return layout({
    title: t('email.forgot.title'),
    compact: true,
    body: html`<h1>${t('email.forgot.heading')}</h1>
<p class="muted">${t('email.forgot.intro')}</p>
${d.error ? html`<div class="alert" role="alert">${d.error}</div>` : ''}
<form method="post" action="/login/forgot" novalidate>
<input type="hidden" name="csrf" value="${d.csrf}">
<label for="identifier">${t('email.forgot.identifier')}</label>
<input id="identifier" name="identifier" type="text" autocomplete="username" autocapitalize="none" spellcheck="false" required maxlength="320" value="${d.identifier ?? ''}" autofocus>
<div class="actions"><button class="primary" type="submit">${t('email.forgot.send')}</button></div>
</form>
<p class="small"><a href="/login">${t('email.backToSignIn')}</a></p>`,
  });
}

/** The one answer to a reset request, whether or not the account exists. */
export function forgotSentPage(): string {
  return layout({
    title: t('email.sent.title'),
    compact: true,
    body: html`<h1>${t('email.sent.title')}</h1>
<p>${t('email.sent.body')}</p>
<p class="small"><a href="/login">${t('email.backToSignIn')}</a></p>`,
  });
}

export function resetPage(d: { csrf: string; token: string; username: string; minLength: number; error?: string }): string {
  return layout({
    title: t('email.reset.title'),
    compact: true,
    body: html`<h1>${t('email.reset.title')}</h1>
<p class="muted">${tHtml('email.reset.for', { user: d.username })}</p>
${d.error ? html`<div class="alert" role="alert">${d.error}</div>` : ''}
<form method="post" action="/reset" novalidate>
<input type="hidden" name="csrf" value="${d.csrf}">
<input type="hidden" name="token" value="${d.token}">
<input type="text" name="username" value="${d.username}" autocomplete="username" hidden readonly>
<label for="password">${t('email.reset.password')}</label>
<input id="password" name="password" type="password" autocomplete="new-password" required minlength="${d.minLength}" maxlength="1024" autofocus>
<label for="confirm">${t('email.repeat')}</label>
<input id="confirm" name="confirm" type="password" autocomplete="new-password" required minlength="${d.minLength}" maxlength="1024">
<div class="actions"><button class="primary" type="submit">${t('email.reset.submit')}</button></div>
</form>`,
  });
}

/** A link that does not work (any more): never says which of unknown, used or expired. */
export function linkInvalidPage(kind: 'reset' | 'verify' | 'invite', again: { href: string; label: string } | undefined): string {
  return layout({
    title: t('email.link.title'),
    compact: true,
    body: html`<h1>${t('email.link.title')}</h1>
<p>${t('email.link.body', { kind })}</p>
${again ? html`<p><a class="button" href="${again.href}">${again.label}</a></p>` : ''}`,
  });
}

/** /verify-email: confirm with a button (a mail scanner fetching the link must not use it up). */
export function verifyPage(d: { csrf: string; token: string; email: string }): string {
  return layout({
    title: t('email.verify.title'),
    compact: true,
    body: html`<h1>${t('email.verify.title')}</h1>
<p>${tHtml('email.verify.body', { email: d.email })}</p>
<form method="post" action="/verify-email">
<input type="hidden" name="csrf" value="${d.csrf}">
<input type="hidden" name="token" value="${d.token}">
<div class="actions"><button class="primary" type="submit">${t('email.verify.confirm')}</button></div>
</form>`,
  });
}

/**
 * /connect/authorize when the policy requires a verified address and the user's is not: what
 * to do, "resend the link", and a way to continue once it is done.
 */
export function verifyNeededPage(d: { csrf: string; email: string | null; clientName: string; returnTo: string; canSend: boolean; notice?: string; error?: string }): string {
  return layout({
    title: t('email.needed.title'),
    compact: true,
    body: html`<h1>${t('email.needed.title')}</h1>
<p>${d.email ? tHtml('email.needed.bodyWithEmail', { app: d.clientName, email: d.email }) : tHtml('email.needed.body', { app: d.clientName })}</p>
${d.notice ? html`<div class="notice" role="status">${d.notice}</div>` : ''}
${d.error ? html`<div class="alert" role="alert">${d.error}</div>` : ''}
${
  !d.email
    ? html`<p>${t('email.needed.noAddress')} <a href="/account">${t('email.needed.addOne')}</a></p>`
    : d.canSend
      ? html`<form method="post" action="/verify-email/resend">
<input type="hidden" name="csrf" value="${d.csrf}">
<input type="hidden" name="return_to" value="${d.returnTo}">
<div class="actions"><button type="submit">${t('email.needed.resend')}</button></div>
</form>`
      : html`<p class="muted">${t('email.needed.notConfigured')}</p>`
}
<p><a class="button primary" href="${d.returnTo}">${t('email.needed.continue')}</a></p>`,
  });
}

/** /invite: the invitee chooses a username and a password (the address is the invitation's). */
/**
 * /invite: a username, then a password — or a passkey instead (`passkey`: the page's script
 * elements with this response's nonce; the button shows once the script knows the browser can
 * create one, and reads the username from the form).
 */
export function invitePage(d: {
  csrf: string;
  token: string;
  email: string;
  username: string;
  minLength: number;
  error?: string;
  passkey?: { scripts: SafeHtml };
  /** The link's `ui_locales` (an invitation in a chosen language): kept by the form and the passkey button, so every answer stays in it. */
  uiLocales?: string | undefined;
}): string {
  const uiLocales = d.uiLocales ? d.uiLocales.slice(0, 200) : undefined;
  return layout({
    title: t('email.invite.title'),
    compact: true,
    body: html`<h1>${t('email.invite.welcome', { product: productName() })}</h1>
<p class="muted">${tHtml('email.invite.intro', { email: d.email })}</p>
${d.error ? html`<div class="alert" role="alert">${d.error}</div>` : ''}
<form method="post" action="/invite" novalidate>
<input type="hidden" name="csrf" value="${d.csrf}">
<input type="hidden" name="token" value="${d.token}">
${uiLocales ? html`<input type="hidden" name="ui_locales" value="${uiLocales}">` : ''}
<label for="username">${t('login.username')}</label>
<input id="username" name="username" type="text" autocomplete="username" autocapitalize="none" spellcheck="false" required maxlength="100" value="${d.username}" autofocus>
<label for="password">${t('login.password')}</label>
<input id="password" name="password" type="password" autocomplete="new-password" required minlength="${d.minLength}" maxlength="1024">
<label for="confirm">${t('email.repeat')}</label>
<input id="confirm" name="confirm" type="password" autocomplete="new-password" required minlength="${d.minLength}" maxlength="1024">
<div class="actions"><button class="primary" type="submit">${t('email.invite.create')}</button></div>
</form>
${
  d.passkey
    ? html`<div class="providers passkey-sign-in">
<p class="hint" id="invite-passkey-hint">${t('email.invite.passkeyHint')}</p>
<button type="button" data-passkey="invite" data-csrf="${d.csrf}" data-token="${d.token}"${uiLocales ? html` data-ui-locales="${uiLocales}"` : ''} data-username-field="username" data-passkey-error="passkey-error" aria-describedby="invite-passkey-hint" hidden>${t('email.invite.withPasskey')}</button>
${passkeyErrorBox()}
<p class="hint" data-passkey-unsupported hidden>${t('email.invite.passkeyUnsupported')}</p>
<noscript><p class="hint">${t('email.invite.passkeyNeedsScript')}</p></noscript>
</div>
${d.passkey.scripts}`
    : ''
}`,
  });
}
