import { html } from './html.ts';
import { layout } from './layout.ts';

/** The pages reached from the login page and from links sent by email (docs/email.md). */

export function forgotPage(d: { csrf: string; identifier?: string; error?: string }): string {
  return layout({
    title: 'Forgot password',
    compact: true,
    body: html`<h1>Forgot your password?</h1>
<p class="muted">Enter your username or email address. If it belongs to an account with an email address, we send it a link to choose a new password.</p>
${d.error ? html`<div class="alert" role="alert">${d.error}</div>` : ''}
<form method="post" action="/login/forgot" novalidate>
<input type="hidden" name="csrf" value="${d.csrf}">
<label for="identifier">Username or email</label>
<input id="identifier" name="identifier" type="text" autocomplete="username" autocapitalize="none" spellcheck="false" required maxlength="320" value="${d.identifier ?? ''}" autofocus>
<div class="actions"><button class="primary" type="submit">Send the link</button></div>
</form>
<p class="small"><a href="/login">Back to sign-in</a></p>`,
  });
}

/** The one answer to a reset request, whether or not the account exists. */
export function forgotSentPage(): string {
  return layout({
    title: 'Check your email',
    compact: true,
    body: html`<h1>Check your email</h1>
<p>If the username or address you entered belongs to an account with an email address, a link to choose a new password is on its way. It works once, for 30 minutes.</p>
<p class="small"><a href="/login">Back to sign-in</a></p>`,
  });
}

export function resetPage(d: { csrf: string; token: string; username: string; minLength: number; error?: string }): string {
  return layout({
    title: 'Choose a new password',
    compact: true,
    body: html`<h1>Choose a new password</h1>
<p class="muted">for <strong>${d.username}</strong>. Every session of the account is signed out.</p>
${d.error ? html`<div class="alert" role="alert">${d.error}</div>` : ''}
<form method="post" action="/reset" novalidate>
<input type="hidden" name="csrf" value="${d.csrf}">
<input type="hidden" name="token" value="${d.token}">
<input type="text" name="username" value="${d.username}" autocomplete="username" hidden readonly>
<label for="password">New password</label>
<input id="password" name="password" type="password" autocomplete="new-password" required minlength="${d.minLength}" maxlength="1024" autofocus>
<label for="confirm">Repeat it</label>
<input id="confirm" name="confirm" type="password" autocomplete="new-password" required minlength="${d.minLength}" maxlength="1024">
<div class="actions"><button class="primary" type="submit">Set the password</button></div>
</form>`,
  });
}

/** A link that does not work (any more): never says which of unknown, used or expired. */
export function linkInvalidPage(what: string, again: { href: string; label: string } | undefined): string {
  return layout({
    title: 'This link does not work',
    compact: true,
    body: html`<h1>This link does not work</h1>
<p>${what} links work once and expire. This one was already used, has expired, or was not copied whole.</p>
${again ? html`<p><a class="button" href="${again.href}">${again.label}</a></p>` : ''}`,
  });
}

/** /verify-email: confirm with a button (a mail scanner fetching the link must not use it up). */
export function verifyPage(d: { csrf: string; token: string; email: string }): string {
  return layout({
    title: 'Confirm your email address',
    compact: true,
    body: html`<h1>Confirm your email address</h1>
<p>Confirm that <strong>${d.email}</strong> is your address.</p>
<form method="post" action="/verify-email">
<input type="hidden" name="csrf" value="${d.csrf}">
<input type="hidden" name="token" value="${d.token}">
<div class="actions"><button class="primary" type="submit">Confirm</button></div>
</form>`,
  });
}

/**
 * /connect/authorize when the policy requires a verified address and the user's is not: what
 * to do, "resend the link", and a way to continue once it is done.
 */
export function verifyNeededPage(d: { csrf: string; email: string | null; clientName: string; returnTo: string; canSend: boolean; notice?: string; error?: string }): string {
  return layout({
    title: 'Verify your email address',
    compact: true,
    body: html`<h1>Verify your email address</h1>
<p>Before you continue to <strong>${d.clientName}</strong>, confirm your email address${d.email ? html` (<strong>${d.email}</strong>)` : ''} with the link we sent to it.</p>
${d.notice ? html`<div class="notice" role="status">${d.notice}</div>` : ''}
${d.error ? html`<div class="alert" role="alert">${d.error}</div>` : ''}
${
  !d.email
    ? html`<p>Your account has no email address yet. <a href="/account">Add one on your account page</a>, then come back.</p>`
    : d.canSend
      ? html`<form method="post" action="/verify-email/resend">
<input type="hidden" name="csrf" value="${d.csrf}">
<input type="hidden" name="return_to" value="${d.returnTo}">
<div class="actions"><button type="submit">Resend the link</button></div>
</form>`
      : html`<p class="muted">Email is not configured here: ask your administrator.</p>`
}
<p><a class="button primary" href="${d.returnTo}">I have confirmed it: continue</a></p>`,
  });
}

/** /invite: the invitee chooses a username and a password (the address is the invitation's). */
export function invitePage(d: { csrf: string; token: string; email: string; username: string; minLength: number; error?: string }): string {
  return layout({
    title: 'Accept your invitation',
    compact: true,
    body: html`<h1>Welcome to Tessera</h1>
<p class="muted">You were invited as <strong>${d.email}</strong>. Choose how you sign in.</p>
${d.error ? html`<div class="alert" role="alert">${d.error}</div>` : ''}
<form method="post" action="/invite" novalidate>
<input type="hidden" name="csrf" value="${d.csrf}">
<input type="hidden" name="token" value="${d.token}">
<label for="username">Username</label>
<input id="username" name="username" type="text" autocomplete="username" autocapitalize="none" spellcheck="false" required maxlength="100" value="${d.username}" autofocus>
<label for="password">Password</label>
<input id="password" name="password" type="password" autocomplete="new-password" required minlength="${d.minLength}" maxlength="1024">
<label for="confirm">Repeat it</label>
<input id="confirm" name="confirm" type="password" autocomplete="new-password" required minlength="${d.minLength}" maxlength="1024">
<div class="actions"><button class="primary" type="submit">Create my account</button></div>
</form>`,
  });
}
