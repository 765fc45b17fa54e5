import { html, type SafeHtml } from './html.ts';
import { t, tHtml } from './i18n-html.ts';
import { layout } from './layout.ts';

/** The device flow's pages (RFC 8628 §3.3): enter the code, approve, done. Text in src/i18n/messages. */

export function deviceCodePage(d: { csrf: string; userCode?: string; error?: string }): string {
  return layout({
    title: t('device.title'),
    compact: true,
    body: html`<h1>${t('device.heading')}</h1>
<p class="muted">${t('device.intro')}</p>
${d.error ? html`<p class="error" role="alert">${d.error}</p>` : ''}
<form method="post" action="/device">
<input type="hidden" name="csrf" value="${d.csrf}">
<label for="user_code">${t('device.codeLabel')}</label>
<input id="user_code" name="user_code" value="${d.userCode ?? ''}" autocomplete="off" autocapitalize="characters" spellcheck="false" required autofocus>
<div class="actions"><button class="primary" type="submit">${t('device.continue')}</button></div>
</form>`,
  });
}

export function deviceConsentPage(d: {
  csrf: string;
  userCode: string;
  clientName: string;
  username: string;
  scopes: Array<{ name: string; description: string }>;
}): string {
  const scopes: SafeHtml[] = d.scopes.map((s) => html`<li><span>${s.description}</span><code>${s.name}</code></li>`);
  return layout({
    title: t('consent.title', { app: d.clientName }),
    body: html`<form method="post" action="/device/decision" class="consent-body">
<input type="hidden" name="csrf" value="${d.csrf}">
<input type="hidden" name="user_code" value="${d.userCode}">
<div class="app">
<div class="app__icon" aria-hidden="true">${d.clientName.slice(0, 1).toUpperCase()}</div>
<div><h1>${t('consent.heading', { app: d.clientName })}</h1></div>
</div>
<p>${tHtml('device.checkCode', { userCode: d.userCode })}</p>
<p class="muted small">${t('consent.intro')}</p>
<ul class="scopes" aria-label="${t('consent.permissions')}">
${scopes}
</ul>
<p class="who">${tHtml('consent.who', { user: d.username })}</p>
<div class="actions">
<button type="submit" name="decision" value="deny">${t('consent.deny')}</button>
<button class="primary" type="submit" name="decision" value="allow">${t('consent.allow')}</button>
</div>
</form>`,
  });
}
