import { html, type SafeHtml } from './html.ts';

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
  return html`<h1>Passkeys</h1>
<p class="muted">Sign in with your fingerprint, face, screen lock or a security key instead of a password. A passkey also works as the second step after your password.</p>
${d.error ? html`<div class="alert" role="alert">${d.error}</div>` : ''}
${d.recent ? '' : html`<div class="panel"><p>To add or remove a passkey, confirm it is you first.</p><p><a class="button" href="${d.reauthHref}">Sign in again</a></p></div>`}
<section class="panel" aria-labelledby="passkeys-list">
<h2 id="passkeys-list">Your passkeys</h2>
${
  d.passkeys.length
    ? html`<ul class="rows">${d.passkeys.map(
        (p) => html`<li>
<div class="rows__main"><strong>${p.name}</strong><span class="hint">${p.synced ? 'Synced passkey' : 'On this device or key'} · added ${p.createdAt} · ${p.lastUsedAt ? `last used ${p.lastUsedAt}` : 'not used yet'}</span></div>
<form method="post" action="/account/passkeys/rename" class="inline-form passkey-form">
<input type="hidden" name="csrf" value="${d.csrf}"><input type="hidden" name="id" value="${p.id}">
<label class="visually-hidden" for="rename-${p.id}">New name for ${p.name}</label>
<input id="rename-${p.id}" name="name" type="text" maxlength="100" required value="${p.name}">
<button type="submit">Rename</button>
</form>
${
  d.recent
    ? html`<form method="post" action="/account/passkeys/remove" class="inline-form passkey-form">
<input type="hidden" name="csrf" value="${d.csrf}"><input type="hidden" name="id" value="${p.id}">
<button type="submit" class="danger" aria-label="Remove ${p.name}">Remove</button>
</form>`
    : ''
}
</li>`,
      )}</ul>`
    : html`<p class="muted">You have no passkeys yet.</p>`
}
</section>
${
  d.recent
    ? html`<section class="panel" aria-labelledby="passkey-add">
<h2 id="passkey-add">Add a passkey</h2>
<form class="account-form" data-passkey="register" data-passkey-error="passkey-error" hidden>
<input type="hidden" name="csrf" value="${d.csrf}">
<label for="passkey-name">Name</label>
<p class="hint" id="passkey-name-hint">So you can tell your passkeys apart, e.g. "Work laptop".</p>
<input id="passkey-name" name="name" type="text" maxlength="100" required value="Passkey ${d.passkeys.length + 1}" aria-describedby="passkey-name-hint">
<div class="actions actions--start"><button class="primary" type="submit">Add a passkey</button></div>
</form>
<div id="passkey-error" class="alert" hidden></div>
<p class="hint" data-passkey-unsupported hidden>This browser cannot create passkeys.</p>
<noscript><p class="hint">Adding a passkey needs JavaScript.</p></noscript>
</section>`
    : ''
}
${d.scripts}`;
}

/** "Sign in with a passkey" under the password form of /login; shown once the script knows WebAuthn works here. */
export function passkeySignInControl(d: { csrf: string; returnTo: string | undefined; scripts: SafeHtml }): SafeHtml {
  return html`<div class="providers passkey-sign-in">
<button type="button" data-passkey="authenticate" data-passkey-endpoint="/webauthn/authentication" data-csrf="${d.csrf}"${d.returnTo ? html` data-return-to="${d.returnTo}"` : ''} data-passkey-error="passkey-error" hidden>Sign in with a passkey</button>
<div id="passkey-error" class="alert" hidden></div>
</div>
${d.scripts}`;
}

/** "Use a passkey" on the second step after the password (/login/second-factor). */
export function passkeySecondStepControl(d: { csrf: string; scripts: SafeHtml }): SafeHtml {
  return html`<div class="passkey-sign-in">
<button type="button" data-passkey="authenticate" data-passkey-endpoint="/login/second-factor/passkey" data-csrf="${d.csrf}" data-passkey-error="passkey-error" hidden>Use a passkey</button>
<div id="passkey-error" class="alert" hidden></div>
<p class="hint" data-passkey-unsupported hidden>This browser cannot use passkeys.</p>
<noscript><p class="hint">Using a passkey needs JavaScript.</p></noscript>
</div>
${d.scripts}`;
}
