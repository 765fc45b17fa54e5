import { html, type SafeHtml } from './html.ts';
import { t } from './i18n-html.ts';

export interface PasskeysPageData {
  csrf: string;
  username: string;
  passkeys: Array<{ id: string; name: string; createdAt: string; lastUsedAt: string | null; synced: boolean }>;
  /** Adding or removing needs a sign-in within the last few minutes (docs/passkeys.md). */
  recent: boolean;
  /** Where "Sign in again" goes (back here afterwards). */
  reauthHref: string;
  /** The script elements (with this response's nonce). */
  scripts: SafeHtml;
  error?: string | undefined;
}

/** /account/passkeys: the user's passkeys with rename and remove, and "Add a passkey". */
export function passkeysBody(d: PasskeysPageData): SafeHtml {
  return html`<h1>${t('passkeys.title')}</h1>
<p class="muted">${t('passkeys.intro')}</p>
${d.error ? html`<div class="alert" role="alert">${d.error}</div>` : ''}
${d.recent ? '' : html`<div class="panel"><p>${t('passkeys.confirmFirst')}</p><p><a class="button" href="${d.reauthHref}">${t('passkeys.signInAgain')}</a></p></div>`}
<section class="panel" aria-labelledby="passkeys-list">
<h2 id="passkeys-list">${t('passkeys.yours')}</h2>
${
  d.passkeys.length
    ? html`<ul class="rows">${d.passkeys.map(
        (p) => html`<li>
<div class="rows__main"><strong>${p.name}</strong><span class="hint">${p.synced ? t('passkeys.synced') : t('passkeys.onDevice')} · ${t('passkeys.added', { date: p.createdAt })} · ${p.lastUsedAt ? t('passkeys.lastUsed', { date: p.lastUsedAt }) : t('passkeys.notUsed')}</span></div>
<form method="post" action="/account/passkeys/rename" class="inline-form passkey-form">
<input type="hidden" name="csrf" value="${d.csrf}"><input type="hidden" name="id" value="${p.id}">
<label class="visually-hidden" for="rename-${p.id}">${t('passkeys.newNameFor', { name: p.name })}</label>
<input id="rename-${p.id}" name="name" type="text" maxlength="100" required value="${p.name}">
<button type="submit">${t('passkeys.rename')}</button>
</form>
${
  d.recent
    ? html`<form method="post" action="/account/passkeys/remove" class="inline-form passkey-form">
<input type="hidden" name="csrf" value="${d.csrf}"><input type="hidden" name="id" value="${p.id}">
<button type="submit" class="danger" aria-label="${t('passkeys.removeNamed', { name: p.name })}">${t('passkeys.remove')}</button>
</form>`
    : ''
}
</li>`,
      )}</ul>`
    : html`<p class="muted">${t('passkeys.none')}</p>`
}
</section>
${
  d.recent
    ? html`<section class="panel" aria-labelledby="passkey-add">
<h2 id="passkey-add">${t('passkeys.add')}</h2>
<form class="account-form" data-passkey="register" data-passkey-error="passkey-error" hidden>
<input type="hidden" name="csrf" value="${d.csrf}">
<label for="passkey-name">${t('passkeys.name')}</label>
<p class="hint" id="passkey-name-hint">${t('passkeys.nameHint')}</p>
<input id="passkey-name" name="name" type="text" maxlength="100" required value="${t('passkeys.defaultName', { number: d.passkeys.length + 1 })}" aria-describedby="passkey-name-hint">
<div class="actions actions--start"><button class="primary" type="submit">${t('passkeys.add')}</button></div>
</form>
${passkeyErrorBox()}
<p class="hint" data-passkey-unsupported hidden>${t('passkeys.cannotCreate')}</p>
<noscript><p class="hint">${t('passkeys.addNeedsScript')}</p></noscript>
</section>`
    : ''
}
${d.scripts}`;
}

/** "Sign in with a passkey" under the password form of /login; shown once the script knows WebAuthn works here. */
export function passkeySignInControl(d: { csrf: string; returnTo: string | undefined; scripts: SafeHtml }): SafeHtml {
  return html`<div class="providers passkey-sign-in">
<button type="button" data-passkey="authenticate" data-passkey-endpoint="/webauthn/authentication" data-csrf="${d.csrf}"${d.returnTo ? html` data-return-to="${d.returnTo}"` : ''} data-passkey-error="passkey-error" hidden>${t('passkeys.signIn')}</button>
${passkeyErrorBox()}
</div>
${d.scripts}`;
}

/** "Use a passkey" on the second step after the password (/login/second-factor). */
export function passkeySecondStepControl(d: { csrf: string; scripts: SafeHtml }): SafeHtml {
  return html`<div class="passkey-sign-in">
<button type="button" data-passkey="authenticate" data-passkey-endpoint="/login/second-factor/passkey" data-csrf="${d.csrf}" data-passkey-error="passkey-error" hidden>${t('passkeys.use')}</button>
${passkeyErrorBox()}
<p class="hint" data-passkey-unsupported hidden>${t('passkeys.cannotUse')}</p>
<noscript><p class="hint">${t('passkeys.useNeedsScript')}</p></noscript>
</div>
${d.scripts}`;
}

/**
 * Where the passkey script (src/pages/assets/passkeys.js) says what went wrong. The messages it
 * shows for the browser's own refusals come from here, in the page's language: the script has
 * no catalogue of its own, and the server's JSON errors are already translated.
 */
export function passkeyErrorBox(): SafeHtml {
  return html`<div id="passkey-error" class="alert" data-msg-generic="${t('passkeys.error.generic')}" data-msg-cancelled="${t('passkeys.error.cancelled')}" data-msg-duplicate="${t('passkeys.error.duplicate')}" hidden></div>`;
}
