import { MIN_PASSWORD_LENGTH } from '../identity/passwords.ts';
import { productName } from './brand-parts.ts';
import { html, type SafeHtml } from './html.ts';
import { t } from './i18n-html.ts';

/** A text field with its label and, when the last submit was refused, its error (linked by aria-describedby). */
export function field(o: {
  id: string;
  label: string;
  value?: string;
  type?: 'text' | 'email' | 'password';
  autocomplete: string;
  error?: string | undefined;
  hint?: string;
  maxlength: number;
  required?: boolean;
  /** Focus on load: the first field a refused form got wrong (no script needed). */
  autofocus?: boolean;
}): SafeHtml {
  const describedBy = [o.hint ? `${o.id}-hint` : '', o.error ? `${o.id}-error` : ''].filter(Boolean).join(' ');
  return html`<label for="${o.id}">${o.label}</label>
${o.hint ? html`<p class="hint" id="${o.id}-hint">${o.hint}</p>` : ''}
<input id="${o.id}" name="${o.id}" type="${o.type ?? 'text'}" autocomplete="${o.autocomplete}" maxlength="${o.maxlength}"${o.value !== undefined ? html` value="${o.value}"` : ''}${o.required ? html` required` : ''}${o.autofocus ? html` autofocus` : ''}${o.error ? html` aria-invalid="true"` : ''}${describedBy ? html` aria-describedby="${describedBy}"` : ''}${o.type === 'email' || o.type === 'password' ? html` autocapitalize="none" spellcheck="false"` : ''}>
${o.error ? html`<p class="field-error" id="${o.id}-error">${o.error}</p>` : ''}`;
}

export interface ProfilePageData {
  csrf: string;
  username: string;
  name: string;
  email: string;
  emailVerified: boolean;
  /** The stored email (the form may hold a refused new value). */
  storedEmail: string | null;
  errors: Partial<Record<string, string>>;
}

export function profileBody(d: ProfilePageData): SafeHtml {
  const emailHint = d.storedEmail
    ? d.emailVerified
      ? t('account.profile.verified', { email: d.storedEmail })
      : t('account.profile.unverified', { email: d.storedEmail })
    : t('account.profile.emailHint', { product: productName() });
  return html`<h1>${t('account.profile.title')}</h1>
<p class="muted">${t('account.profile.intro')}</p>
${d.errors.form ? html`<div class="alert" role="alert">${d.errors.form}</div>` : ''}
<form method="post" action="/account/profile" class="account-form" novalidate>
<input type="hidden" name="csrf" value="${d.csrf}">
<label for="username">${t('account.profile.username')}</label>
<input id="username" type="text" value="${d.username}" readonly aria-describedby="username-hint">
<p class="hint" id="username-hint">${t('account.profile.usernameFixed')}</p>
${field({ id: 'name', label: t('account.profile.name'), value: d.name, autocomplete: 'name', maxlength: 200, error: d.errors.name, autofocus: d.errors.name !== undefined })}
${field({ id: 'email', label: t('account.profile.email'), type: 'email', value: d.email, autocomplete: 'email', maxlength: 320, error: d.errors.email, hint: emailHint, autofocus: d.errors.name === undefined && d.errors.email !== undefined })}
<div class="actions actions--start"><button class="primary" type="submit">${t('account.profile.save')}</button></div>
</form>`;
}

export interface SecurityPageData {
  entries: Array<{
    title: string;
    status: string;
    active: boolean;
    items?: Array<{ name: string; detail?: string }>;
    actions: Array<{ label: string; href: string }>;
  }>;
}

/** The Security page: one panel per way of signing in, each with links to the page that manages it. */
export function securityBody(d: SecurityPageData): SafeHtml {
  return html`<h1>${t('account.security.title')}</h1>
<p class="muted">${t('account.security.intro', { product: productName() })}</p>
${d.entries.map(
  (e) => html`<section class="panel" aria-label="${e.title}">
<h2>${e.title} <span class="${e.active ? 'badge' : 'badge badge--off'}">${e.active ? t('account.security.on') : t('account.security.off')}</span></h2>
<p class="muted small">${e.status}</p>
${e.items?.length ? html`<ul class="rows">${e.items.map((i) => html`<li><span class="rows__main"><strong>${i.name}</strong>${i.detail ? html`<span class="muted small">${i.detail}</span>` : ''}</span></li>`)}</ul>` : ''}
${e.actions.length ? html`<ul class="links">${e.actions.map((a) => html`<li><a href="${a.href}">${a.label}</a></li>`)}</ul>` : ''}
</section>`,
)}`;
}

export interface PasswordPageData {
  csrf: string;
  username: string;
  errors: Partial<Record<string, string>>;
  /** False for a user who signs in only through an identity provider. */
  hasPassword: boolean;
}

/** Change password: current, new, confirm. No value is ever sent back into a password field. */
export function passwordBody(d: PasswordPageData): SafeHtml {
  const first = ['current', 'next', 'confirm'].find((id) => d.errors[id] !== undefined);
  if (!d.hasPassword) {
    return html`<h1>${t('account.password.title')}</h1><p>${t('account.password.none')}</p><p><a href="/account/security">${t('mfa.backToSecurity')}</a></p>`;
  }
  return html`<h1>${t('account.password.change')}</h1>
<p class="muted">${t('account.password.intro')}</p>
${d.errors.form ? html`<div class="alert" role="alert">${d.errors.form}</div>` : ''}
<form method="post" action="/account/password" class="account-form" novalidate>
<input type="hidden" name="csrf" value="${d.csrf}">
<input type="text" name="username" value="${d.username}" autocomplete="username" hidden>
${field({ id: 'current', label: t('account.password.current'), type: 'password', autocomplete: 'current-password', maxlength: 1024, error: d.errors.current, autofocus: first === 'current', required: true })}
${field({ id: 'next', label: t('account.password.next'), type: 'password', autocomplete: 'new-password', maxlength: 1024, error: d.errors.next, autofocus: first === 'next', hint: t('account.password.minLength', { count: MIN_PASSWORD_LENGTH }), required: true })}
${field({ id: 'confirm', label: t('account.password.confirm'), type: 'password', autocomplete: 'new-password', maxlength: 1024, error: d.errors.confirm, autofocus: first === 'confirm', required: true })}
<div class="actions actions--start"><button class="primary" type="submit">${t('account.password.change')}</button><a class="button-link" href="/account/security">${t('account.cancel')}</a></div>
</form>`;
}

export interface SessionsPageData {
  /** One CSRF token for every form of the page (bound to the session). */
  csrf: string;
  sessions: Array<{ sid: string; current: boolean; device: string; ip: string | null; signedIn: string; lastSeen: string }>;
}

/** Where the user is signed in: each session with its own "Sign out", and "Sign out everywhere else". */
export function sessionsBody(d: SessionsPageData): SafeHtml {
  const others = d.sessions.filter((s) => !s.current).length;
  return html`<h1>${t('account.sessions.title')}</h1>
<p class="muted">${t('account.sessions.intro', { product: productName() })}</p>
<ul class="rows panel" aria-label="${t('account.sessions.list')}">
${d.sessions.map(
  (s) => html`<li>
<span class="rows__main"><strong>${s.device}${s.current ? html` <span class="badge">${t('account.sessions.thisDevice')}</span>` : ''}</strong>
<span class="muted small">${t('account.sessions.detail', { address: s.ip ?? t('account.sessions.unknownAddress'), signedIn: s.signedIn, lastSeen: s.lastSeen })}</span></span>
${s.current
  ? ''
  : html`<form method="post" action="/account/sessions/revoke" class="inline-form">
<input type="hidden" name="csrf" value="${d.csrf}">
<input type="hidden" name="sid" value="${s.sid}">
<button type="submit">${t('account.sessions.signOut')}<span class="visually-hidden"> ${s.device}, ${s.ip ?? t('account.sessions.unknownAddress')}</span></button>
</form>`}
</li>`,
)}
</ul>
${others
  ? html`<form method="post" action="/account/sessions/revoke-others" class="inline-form">
<input type="hidden" name="csrf" value="${d.csrf}">
<div class="actions actions--start"><button type="submit" class="danger">${t('account.sessions.signOutOthers')}</button></div>
</form>`
  : html`<p class="muted small">${t('account.sessions.noOthers')}</p>`}`;
}

export interface AppsPageData {
  csrf: string;
  apps: Array<{ clientId: string; name: string; granted: string; scopes: Array<{ name: string; description: string }> }>;
}

/** The apps the user consented to, what each may do (in the consent page's words), and "Remove access". */
export function appsBody(d: AppsPageData): SafeHtml {
  return html`<h1>${t('account.apps.title')}</h1>
<p class="muted">${t('account.apps.intro')}</p>
${d.apps.length
  ? html`<ul class="rows panel" aria-label="${t('account.apps.title')}">
${d.apps.map(
  (a) => html`<li>
<span class="rows__main"><strong>${a.name}</strong>
<span class="muted small">${t('account.apps.allowed', { date: a.granted })}</span>
<ul class="scope-list">${a.scopes.map((s) => html`<li>${s.description}</li>`)}</ul></span>
<form method="post" action="/account/apps/revoke" class="inline-form">
<input type="hidden" name="csrf" value="${d.csrf}">
<input type="hidden" name="client_id" value="${a.clientId}">
<button type="submit" class="danger">${t('account.apps.remove')}<span class="visually-hidden"> ${t('account.apps.removeOf', { app: a.name })}</span></button>
</form>
</li>`,
)}
</ul>`
  : html`<p class="panel">${t('account.apps.none')}</p>`}`;
}
