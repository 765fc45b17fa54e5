import { MIN_PASSWORD_LENGTH } from '../identity/passwords.ts';
import { html, type SafeHtml } from './html.ts';

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
      ? `${d.storedEmail} is verified. A new address must be verified again.`
      : `${d.storedEmail} is not verified yet.`
    : 'Where Tessera writes to you about your account. A new address must be verified.';
  return html`<h1>Profile</h1>
<p class="muted">Your name and email as apps you sign in to see them.</p>
${d.errors.form ? html`<div class="alert" role="alert">${d.errors.form}</div>` : ''}
<form method="post" action="/account/profile" class="account-form" novalidate>
<input type="hidden" name="csrf" value="${d.csrf}">
<label for="username">Username</label>
<input id="username" type="text" value="${d.username}" readonly aria-describedby="username-hint">
<p class="hint" id="username-hint">Your username cannot be changed here.</p>
${field({ id: 'name', label: 'Name', value: d.name, autocomplete: 'name', maxlength: 200, error: d.errors.name, autofocus: d.errors.name !== undefined })}
${field({ id: 'email', label: 'Email', type: 'email', value: d.email, autocomplete: 'email', maxlength: 320, error: d.errors.email, hint: emailHint, autofocus: d.errors.name === undefined && d.errors.email !== undefined })}
<div class="actions actions--start"><button class="primary" type="submit">Save profile</button></div>
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
  return html`<h1>Security</h1>
<p class="muted">How you sign in to Tessera.</p>
${d.entries.map(
  (e) => html`<section class="panel" aria-label="${e.title}">
<h2>${e.title} <span class="${e.active ? 'badge' : 'badge badge--off'}">${e.active ? 'On' : 'Off'}</span></h2>
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
    return html`<h1>Password</h1><p>Your account has no password: you sign in through an identity provider.</p><p><a href="/account/security">Back to Security</a></p>`;
  }
  return html`<h1>Change password</h1>
<p class="muted">Changing it signs you out everywhere else, and apps must sign you in again. You stay signed in here.</p>
${d.errors.form ? html`<div class="alert" role="alert">${d.errors.form}</div>` : ''}
<form method="post" action="/account/password" class="account-form" novalidate>
<input type="hidden" name="csrf" value="${d.csrf}">
<input type="text" name="username" value="${d.username}" autocomplete="username" hidden>
${field({ id: 'current', label: 'Current password', type: 'password', autocomplete: 'current-password', maxlength: 1024, error: d.errors.current, autofocus: first === 'current', required: true })}
${field({ id: 'next', label: 'New password', type: 'password', autocomplete: 'new-password', maxlength: 1024, error: d.errors.next, autofocus: first === 'next', hint: `At least ${MIN_PASSWORD_LENGTH} characters.`, required: true })}
${field({ id: 'confirm', label: 'Confirm new password', type: 'password', autocomplete: 'new-password', maxlength: 1024, error: d.errors.confirm, autofocus: first === 'confirm', required: true })}
<div class="actions actions--start"><button class="primary" type="submit">Change password</button><a class="button-link" href="/account/security">Cancel</a></div>
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
  return html`<h1>Sessions</h1>
<p class="muted">Where you are signed in to Tessera. Sign out of any device you do not recognise, then change your password.</p>
<ul class="rows panel" aria-label="Your sessions">
${d.sessions.map(
  (s) => html`<li>
<span class="rows__main"><strong>${s.device}${s.current ? html` <span class="badge">This device</span>` : ''}</strong>
<span class="muted small">${s.ip ?? 'Unknown address'} · signed in ${s.signedIn} · last seen ${s.lastSeen}</span></span>
${s.current
  ? ''
  : html`<form method="post" action="/account/sessions/revoke" class="inline-form">
<input type="hidden" name="csrf" value="${d.csrf}">
<input type="hidden" name="sid" value="${s.sid}">
<button type="submit">Sign out<span class="visually-hidden"> ${s.device}, ${s.ip ?? 'unknown address'}</span></button>
</form>`}
</li>`,
)}
</ul>
${others
  ? html`<form method="post" action="/account/sessions/revoke-others" class="inline-form">
<input type="hidden" name="csrf" value="${d.csrf}">
<div class="actions actions--start"><button type="submit" class="danger">Sign out everywhere else</button></div>
</form>`
  : html`<p class="muted small">You are not signed in anywhere else.</p>`}`;
}

export interface AppsPageData {
  csrf: string;
  apps: Array<{ clientId: string; name: string; granted: string; scopes: Array<{ name: string; description: string }> }>;
}

/** The apps the user consented to, what each may do (in the consent page's words), and "Remove access". */
export function appsBody(d: AppsPageData): SafeHtml {
  return html`<h1>Connected apps</h1>
<p class="muted">Apps you allowed to use your account. Removing access signs the app out: it must ask you again.</p>
${d.apps.length
  ? html`<ul class="rows panel" aria-label="Connected apps">
${d.apps.map(
  (a) => html`<li>
<span class="rows__main"><strong>${a.name}</strong>
<span class="muted small">Allowed ${a.granted}. It can:</span>
<ul class="scope-list">${a.scopes.map((s) => html`<li>${s.description}</li>`)}</ul></span>
<form method="post" action="/account/apps/revoke" class="inline-form">
<input type="hidden" name="csrf" value="${d.csrf}">
<input type="hidden" name="client_id" value="${a.clientId}">
<button type="submit" class="danger">Remove access<span class="visually-hidden"> of ${a.name}</span></button>
</form>
</li>`,
)}
</ul>`
  : html`<p class="panel">No app has access to your account.</p>`}`;
}
