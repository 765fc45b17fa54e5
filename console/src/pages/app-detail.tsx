import { useState } from 'react';
import { api, type App, type Grant, type List, type NewSecret } from '../api.ts';
import { Link, navigate } from '../router.tsx';
import { ConfirmDialog, CopyValue, ErrorBox, formatDate, formatSeconds, ListView, Loading, PageHeader, useAction, useApi } from '../ui.tsx';
import { CONSOLE_CLIENT_ID, grantLabel, selfRegisteredHost } from './apps.tsx';
import { SecretReveal } from './secret.tsx';

/** One app: its settings, secret regeneration, deletion and the users who approved it. */
export function AppDetailPage({ id }: { id: string }) {
  const app = useApi<App>(`/apps/${encodeURIComponent(id)}`);
  const grants = useApi<List<Grant>>(`/apps/${encodeURIComponent(id)}/grants`);
  const [dialog, setDialog] = useState<'secret' | 'delete' | undefined>();
  const confirmed = useAction();
  const [secret, setSecret] = useState<string | undefined>();
  const revoking = useAction();

  const back = (
    <Link to="/admin/apps" className="back">
      ← Apps
    </Link>
  );
  if (!app.data) {
    return (
      <>
        <PageHeader title="App" back={back} />
        {app.error ? <ErrorBox error={app.error} onRetry={app.reload} /> : <Loading what="Loading the app" />}
      </>
    );
  }
  const a = app.data;
  const isConsole = a.client_id === CONSOLE_CLIENT_ID;

  const openDialog = (which: 'secret' | 'delete') => {
    confirmed.reset();
    setDialog(which);
  };
  const run = (action: () => Promise<void>) =>
    confirmed.run(async () => {
      await action();
      setDialog(undefined);
    });
  const regenerate = () =>
    run(async () => {
      const r = await api<NewSecret>('POST', `/apps/${encodeURIComponent(a.client_id)}/secret`);
      setSecret(r.client_secret);
      app.reload();
      window.scrollTo(0, 0);
    });
  const remove = () =>
    run(async () => {
      await api('DELETE', `/apps/${encodeURIComponent(a.client_id)}`);
      navigate('/admin/apps');
    });
  const revoke = (g: Grant) =>
    revoking.run(async () => {
      await api('DELETE', `/apps/${encodeURIComponent(a.client_id)}/grants/${encodeURIComponent(g.user_id)}`);
      grants.reload();
    });

  return (
    <>
      <PageHeader title={a.name} back={back}>
        {!isConsole ? (
          <Link className="button" to={`/admin/apps/${encodeURIComponent(a.client_id)}/edit`}>
            Edit
          </Link>
        ) : null}
        {!a.public ? (
          <button type="button" onClick={() => openDialog('secret')}>
            Regenerate secret
          </button>
        ) : null}
        {!isConsole ? (
          <button type="button" className="danger" onClick={() => openDialog('delete')}>
            Delete
          </button>
        ) : null}
      </PageHeader>
      {a.registration === 'dynamic' ? (
        <p className="muted">Self-registered at the registration endpoint (RFC 7591): the app manages its own registration with its registration access token.</p>
      ) : null}
      {a.registration === 'metadata_document' ? (
        <p className="muted">
          Self-registered from <strong>{selfRegisteredHost(a.client_id)}</strong>: the app describes itself in the metadata document at <code>{a.client_id}</code>, and Tessera keeps it in step with that document.
        </p>
      ) : null}
      {isConsole ? <p className="note">This is the console’s own app. Tessera registers it and keeps its redirect URIs in step with the issuer, so it cannot be edited or deleted here.</p> : null}
      {secret ? <SecretReveal clientId={a.client_id} secret={secret} title="New secret" /> : null}

      <section className="panel">
        <p className="lead">{a.description || <span className="muted">No description.</span>}</p>
        <CopyValue label="Client ID" value={a.client_id} />
        <dl className="facts">
          {Object.keys(a.name_translations ?? {}).length ? (
            <>
              <dt>Name in other languages</dt>
              <dd>
                <ul className="plain">
                  {Object.entries(a.name_translations ?? {}).map(([lang, name]) => (
                    <li key={lang} lang={lang}>
                      <span className="muted">{lang}</span> {name}
                    </li>
                  ))}
                </ul>
              </dd>
            </>
          ) : null}
          <dt>Grant type</dt>
          <dd>{grantLabel(a)}</dd>
          {a.grant_types.includes('authorization_code') ? (
            <>
              <dt>Redirect URIs</dt>
              <dd>{a.redirect_uris?.length ? <ul className="plain">{a.redirect_uris.map((u) => <li key={u}><code>{u}</code></li>)}</ul> : '—'}</dd>
              <dt>Post-logout redirect URIs</dt>
              <dd>{a.post_logout_redirect_uris?.length ? <ul className="plain">{a.post_logout_redirect_uris.map((u) => <li key={u}><code>{u}</code></li>)}</ul> : '—'}</dd>
              <dt>ID token signature</dt>
              <dd>{a.id_token_signed_response_alg === 'ES256' ? 'ES256' : 'RS256 (default)'}</dd>
            </>
          ) : (
            <>
              <dt>On behalf of</dt>
              <dd>{a.on_behalf_of ? <Link to={`/admin/users/${encodeURIComponent(a.on_behalf_of)}`}>{a.on_behalf_of}</Link> : 'No user — the app acts as itself'}</dd>
            </>
          )}
          <dt>Scopes</dt>
          <dd>{a.scopes?.length ? <span className="tags">{a.scopes.map((s) => <code key={s} className="tag">{s}</code>)}</span> : '—'}</dd>
          <dt>Required permission</dt>
          <dd><code>{a.require_permission}</code></dd>
          <dt>Token lifetimes</dt>
          <dd>Access {formatSeconds(a.access_token_ttl)} · refresh {formatSeconds(a.refresh_token_ttl)}</dd>
          <dt>Token exchange</dt>
          <dd>
            {a.token_exchange ? (
              <>
                For <span className="tags">{a.token_exchange.audiences.map((x) => <code key={x} className="tag">{x}</code>)}</span>
                {' · '}
                {a.token_exchange.scopes ? <>scopes {a.token_exchange.scopes.join(' ')}</> : 'any scope the presented token holds'}
                {' · '}
                {a.token_exchange.subject_clients ? `tokens of ${a.token_exchange.subject_clients.length} app${a.token_exchange.subject_clients.length > 1 ? 's' : ''}` : 'tokens of any app'}
              </>
            ) : (
              'Off'
            )}
          </dd>
          {!a.public ? (
            <>
              <dt>Authentication</dt>
              <dd>
                {a.token_endpoint_auth_method === 'private_key_jwt'
                  ? a.jwks_uri
                    ? <>Signed JWT (private_key_jwt), keys at <code>{a.jwks_uri}</code></>
                    : `Signed JWT (private_key_jwt), ${a.jwks?.keys.length ?? 0} key(s) registered`
                  : 'Client secret'}
              </dd>
              {a.token_endpoint_auth_method !== 'private_key_jwt' ? (
                <>
                  <dt>Secret last set</dt>
                  <dd>{formatDate(a.secret_updated_at)}</dd>
                </>
              ) : null}
            </>
          ) : null}
          {a.grant_types.includes('authorization_code') ? (
            <>
              <dt>Pushed authorization requests</dt>
              <dd>{a.require_pushed_authorization_requests ? 'Required (/connect/par)' : 'Optional'}</dd>
            </>
          ) : null}
          <dt>Registered</dt>
          <dd>{formatDate(a.created_at)}</dd>
        </dl>
      </section>

      <section className="panel">
        <h2>Active grants</h2>
        <p className="hint">People who approved this app. Revoking forgets their consent and ends the app’s refresh tokens for them.</p>
        <ErrorBox error={revoking.error} />
        <ListView state={grants} what="Loading grants" empty="No one has approved this app yet.">
          {(items) => (
            <table className="table">
              <thead>
                <tr>
                  <th>User</th>
                  <th>Scopes</th>
                  <th>Approved</th>
                  <th>Refresh tokens</th>
                  <th><span className="visually-hidden">Actions</span></th>
                </tr>
              </thead>
              <tbody>
                {items.map((g) => (
                  <tr key={g.user_id}>
                    <td data-label="User"><Link to={`/admin/users/${encodeURIComponent(g.username)}`}>{g.username}</Link></td>
                    <td data-label="Scopes">{g.scopes.join(' ')}</td>
                    <td data-label="Approved">{formatDate(g.granted_at)}</td>
                    <td data-label="Refresh tokens">{g.active_refresh_tokens}</td>
                    <td className="cell-actions">
                      <button type="button" className="small-button" disabled={revoking.busy} onClick={() => void revoke(g)}>Revoke</button>
                    </td>
                  </tr>
                ))}
              </tbody>
            </table>
          )}
        </ListView>
      </section>

      {dialog === 'secret' ? (
        <ConfirmDialog title={`Regenerate the secret of ${a.name}?`} confirmLabel="Regenerate secret" danger busy={confirmed.busy} error={confirmed.error} onConfirm={() => void regenerate()} onCancel={() => setDialog(undefined)}>
          <p>
            The current secret stops working at once, and <strong>every token issued to this app stops working</strong>. Programs using the app need the new
            secret, which is shown once.
          </p>
        </ConfirmDialog>
      ) : null}
      {dialog === 'delete' ? (
        <ConfirmDialog title={`Delete ${a.name}?`} confirmLabel="Delete app" danger busy={confirmed.busy} error={confirmed.error} onConfirm={() => void remove()} onCancel={() => setDialog(undefined)}>
          <p>The app can no longer sign anyone in or get tokens. This cannot be undone.</p>
        </ConfirmDialog>
      ) : null}
    </>
  );
}
