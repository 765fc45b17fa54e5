import { useState, type FormEvent } from 'react';
import { api, type IdentityProvider, type List, type ProviderCreate } from '../api.ts';
import { ConfirmDialog, CopyValue, Field, FormError, ListView, PageHeader, fieldError, useAction, useApi } from '../ui.tsx';

const FIELDS = ['slug', 'name', 'issuer', 'client_id', 'client_secret', 'trust_email'];

/**
 * Identity providers people sign in through (issue #11): register an OpenID provider (its
 * discovery document is checked), see the redirect URI to register there, test the
 * configuration again, enable or disable, delete. Plain OAuth 2.0 providers are registered
 * with `tessera providers create --kind oauth2` or the admin API.
 */
export function ProvidersPage() {
  const providers = useApi<List<IdentityProvider>>('/providers');
  const [created, setCreated] = useState<IdentityProvider | undefined>();
  const [deleting, setDeleting] = useState<IdentityProvider | undefined>();
  const [notice, setNotice] = useState<string | undefined>();
  const action = useAction();

  const toggle = (p: IdentityProvider) =>
    action.run(async () => {
      await api<IdentityProvider>('PATCH', `/providers/${encodeURIComponent(p.slug)}`, { enabled: !p.enabled });
      providers.reload();
      setNotice(`${p.name} is ${p.enabled ? 'disabled: it is no longer offered on the login page' : 'enabled: the login page offers it'}.`);
    });
  const test = (p: IdentityProvider) =>
    action.run(async () => {
      const r = await api<{ ok: boolean; reason?: string }>('POST', `/providers/${encodeURIComponent(p.slug)}/test`);
      setNotice(r.ok ? `${p.name}: the configuration checks out.` : `${p.name}: ${r.reason ?? 'the check failed'}`);
    });
  const remove = (p: IdentityProvider) =>
    action.run(async () => {
      await api<undefined>('DELETE', `/providers/${encodeURIComponent(p.slug)}`);
      setDeleting(undefined);
      providers.reload();
      setNotice(`${p.name} was deleted; its users stay, without their link to it.`);
    });

  return (
    <>
      <PageHeader title="Identity providers" />
      <p className="lead">People can sign in through these providers: the login page shows “Continue with …” for each enabled one.</p>
      {notice ? (
        <p className="note" role="status">
          {notice}
        </p>
      ) : null}
      <ListView state={providers} what="Loading identity providers" empty="No identity providers yet.">
        {(items) => (
          <ul className="rows" aria-label="Identity providers">
            {items.map((p) => (
              <li key={p.slug} className="row">
                <div className="row__main">
                  <span className="row__title">{p.name}</span>
                  <p className="row__meta">
                    <code>{p.slug}</code> · {p.kind === 'oidc' ? 'OpenID Connect' : 'OAuth 2.0'} · <code className="wrap">{p.issuer ?? p.authorization_endpoint}</code>
                  </p>
                  <p className="row__meta small">
                    Redirect URI: <code className="wrap">{p.redirect_uri}</code>
                  </p>
                </div>
                <span className="row__side">
                  <span className={`badge ${p.enabled ? 'badge--ok' : 'badge--soft'}`}>{p.enabled ? 'enabled' : 'disabled'}</span>{' '}
                  <button type="button" onClick={() => void test(p)} disabled={action.busy} aria-label={`Test ${p.name}`}>
                    Test
                  </button>{' '}
                  <button type="button" onClick={() => void toggle(p)} disabled={action.busy} aria-label={`${p.enabled ? 'Disable' : 'Enable'} ${p.name}`}>
                    {p.enabled ? 'Disable' : 'Enable'}
                  </button>{' '}
                  <button type="button" className="danger" onClick={() => setDeleting(p)} aria-label={`Delete ${p.name}`}>
                    Delete
                  </button>
                </span>
              </li>
            ))}
          </ul>
        )}
      </ListView>
      {created ? (
        <section className="card" aria-label="New identity provider">
          <h2>{created.name} is registered</h2>
          <p>Register this redirect URI at the provider:</p>
          <CopyValue label="Redirect URI" value={created.redirect_uri} testId="provider-redirect-uri" />
        </section>
      ) : null}
      <ProviderForm
        onCreated={(p) => {
          setCreated(p);
          providers.reload();
        }}
      />
      {deleting ? (
        <ConfirmDialog title={`Delete ${deleting.name}?`} confirmLabel="Delete" danger busy={action.busy} error={action.error} onConfirm={() => void remove(deleting)} onCancel={() => setDeleting(undefined)}>
          <p>Its users stay, but can no longer sign in through it (unless they have a password).</p>
        </ConfirmDialog>
      ) : null}
    </>
  );
}

function ProviderForm({ onCreated }: { onCreated: (p: IdentityProvider) => void }) {
  const [f, setF] = useState({ name: '', slug: '', issuer: '', client_id: '', client_secret: '', trust_email: false });
  const save = useAction();
  const { busy, error } = save;
  const submit = (e: FormEvent) => {
    e.preventDefault();
    const body: ProviderCreate = { name: f.name.trim(), slug: f.slug.trim(), issuer: f.issuer.trim(), client_id: f.client_id.trim(), trust_email: f.trust_email };
    if (f.client_secret) body.client_secret = f.client_secret;
    void save.run(async () => {
      onCreated(await api<IdentityProvider>('POST', '/providers', body));
      setF({ name: '', slug: '', issuer: '', client_id: '', client_secret: '', trust_email: false });
    });
  };
  const preview = f.slug.trim() ? `${location.origin}/login/providers/${f.slug.trim()}/callback` : undefined;
  return (
    <form className="card" onSubmit={submit} aria-label="Register an OpenID provider" noValidate>
      <h2>Register an OpenID provider</h2>
      <FormError error={error} fields={FIELDS} />
      <Field label="Name" hint="Shown on the login page as “Continue with {name}”." error={fieldError(error, 'name')}>
        {(id, d) => <input id={id} aria-describedby={d} type="text" value={f.name} onChange={(e) => setF({ ...f, name: e.target.value })} required maxLength={100} />}
      </Field>
      <Field label="Slug" hint={preview ? <>Redirect URI to register at the provider: <code className="wrap">{preview}</code></> : 'Lower-case letters, digits and hyphens, e.g. acme.'} error={fieldError(error, 'slug')}>
        {(id, d) => <input id={id} aria-describedby={d} type="text" value={f.slug} onChange={(e) => setF({ ...f, slug: e.target.value })} required maxLength={40} />}
      </Field>
      <Field label="Issuer" hint="Its discovery document is fetched from {issuer}/.well-known/openid-configuration and checked." error={fieldError(error, 'issuer')}>
        {(id, d) => <input id={id} aria-describedby={d} type="url" value={f.issuer} onChange={(e) => setF({ ...f, issuer: e.target.value })} required />}
      </Field>
      <Field label="Client ID" error={fieldError(error, 'client_id')}>
        {(id, d) => <input id={id} aria-describedby={d} type="text" value={f.client_id} onChange={(e) => setF({ ...f, client_id: e.target.value })} required maxLength={255} />}
      </Field>
      <Field label="Client secret" hint="Stored encrypted; never shown again." error={fieldError(error, 'client_secret')}>
        {(id, d) => <input id={id} aria-describedby={d} type="password" autoComplete="off" value={f.client_secret} onChange={(e) => setF({ ...f, client_secret: e.target.value })} maxLength={1024} />}
      </Field>
      <label className="check">
        <input type="checkbox" checked={f.trust_email} onChange={(e) => setF({ ...f, trust_email: e.target.checked })} /> Link a first sign-in to the local user with the same verified email
      </label>
      <div className="actions">
        <button className="primary" type="submit" disabled={busy}>
          {busy ? 'Checking the provider…' : 'Register provider'}
        </button>
      </div>
    </form>
  );
}
