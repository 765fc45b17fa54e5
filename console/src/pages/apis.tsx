import { useState } from 'react';
import { api, type ApiRoute, type GatewayApi, type HttpMethod, type List } from '../api.ts';
import { Link, navigate } from '../router.tsx';
import { ConfirmDialog, Empty, ErrorBox, ListView, Loading, PageHeader, useAction, useApi } from '../ui.tsx';

export const METHODS: readonly HttpMethod[] = ['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS'];
export const isMethod = (m: string): m is HttpMethod => (METHODS as readonly string[]).includes(m);

/** APIs behind the gateway. */
export function ApisPage() {
  const apis = useApi<List<GatewayApi>>('/apis');
  return (
    <>
      <PageHeader title="APIs">
        <Link className="button primary" to="/admin/apis/new">
          Register API
        </Link>
      </PageHeader>
      <p className="lead">APIs behind Tessera’s gateway: requests under a base path are checked for a token with the right scope, then passed to the upstream.</p>
      <ListView state={apis} what="Loading APIs" empty="No APIs yet. Register one to give apps scopes to ask for.">
        {(items) => (
          <ul className="rows" aria-label="APIs">
            {items.map((a) => (
              <li key={a.id} className="row">
                <div className="row__main">
                  <Link className="row__title" to={`/admin/apis/${a.id}`}>
                    {a.name}
                  </Link>
                  <p className="row__meta">
                    <code>{a.base_path}</code> → <code className="wrap">{a.upstream}</code>
                  </p>
                </div>
                <span className="row__side small muted">
                  {a.scopes.length} scope{a.scopes.length === 1 ? '' : 's'} · {a.routes.length} route{a.routes.length === 1 ? '' : 's'}
                </span>
              </li>
            ))}
          </ul>
        )}
      </ListView>
    </>
  );
}

/** Resources × methods → the scopes that admit a request. */
function RouteMatrix({ routes }: { routes: ApiRoute[] }) {
  if (!routes.length) return <Empty>No routes: every request under the base path is refused.</Empty>;
  const used = METHODS.filter((m) => routes.some((r) => r.methods.includes(m)));
  return (
    <div className="matrix-wrap">
      <table className="matrix">
        <thead>
          <tr>
            <th scope="col">Resource</th>
            {used.map((m) => (
              <th key={m} scope="col">
                <span className={`method method--${m.toLowerCase()}`}>{m}</span>
              </th>
            ))}
          </tr>
        </thead>
        <tbody>
          {routes.map((r, i) => (
            <tr key={i}>
              <th scope="row">
                <code>{r.path}</code>
              </th>
              {used.map((m) => (
                <td key={m} data-label={m}>
                  {r.methods.includes(m) ? r.scopes.map((s) => <code key={s} className="tag">{s}</code>) : <span className="muted">—</span>}
                </td>
              ))}
            </tr>
          ))}
        </tbody>
      </table>
    </div>
  );
}

export function ApiDetailPage({ id }: { id: string }) {
  const found = useApi<GatewayApi>(`/apis/${encodeURIComponent(id)}`);
  const [confirm, setConfirm] = useState(false);
  const removal = useAction();
  const back = (
    <Link to="/admin/apis" className="back">
      ← APIs
    </Link>
  );
  if (!found.data) {
    return (
      <>
        <PageHeader title="API" back={back} />
        {found.error ? <ErrorBox error={found.error} onRetry={found.reload} /> : <Loading what="Loading the API" />}
      </>
    );
  }
  const a = found.data;
  const remove = () =>
    removal.run(async () => {
      await api('DELETE', `/apis/${encodeURIComponent(a.id)}`);
      navigate('/admin/apis');
    });
  return (
    <>
      <PageHeader title={a.name} back={back}>
        <Link className="button" to={`/admin/apis/${a.id}/edit`}>
          Edit
        </Link>
        <button type="button" className="danger" onClick={() => setConfirm(true)}>
          Delete
        </button>
      </PageHeader>
      <section className="panel">
        <dl className="facts">
          <dt>Base path</dt>
          <dd><code>{a.base_path}</code></dd>
          <dt>Upstream</dt>
          <dd><code className="wrap">{a.upstream}</code></dd>
          <dt>Audience</dt>
          <dd>{a.audience ? <code>{a.audience}</code> : 'Not checked'}</dd>
          <dt>Upstream timeout</dt>
          <dd>{a.timeout_ms ?? '—'} ms</dd>
          <dt>Largest request body</dt>
          <dd>{a.max_body_bytes == null ? 'No limit' : `${a.max_body_bytes} bytes`}</dd>
          <dt>Authorization header</dt>
          <dd>
            {a.upstream_token === 'exchange' ? (
              <>
                Exchanged for a token for <code className="wrap">{a.upstream_audience ?? a.upstream}</code>
              </>
            ) : a.upstream_token === 'forward' ? (
              'Forwarded to the upstream'
            ) : (
              'Not forwarded'
            )}
          </dd>
        </dl>
      </section>
      <section className="panel">
        <h2>Scopes</h2>
        {a.scopes.length ? (
          <ul className="list">
            {a.scopes.map((s) => (
              <li key={s.name}>
                <div>
                  <code>{s.name}</code>
                  <p className="small muted">{s.description || 'No description'}</p>
                </div>
              </li>
            ))}
          </ul>
        ) : (
          <Empty>No scopes.</Empty>
        )}
      </section>
      <section className="panel">
        <h2>Routes</h2>
        <p className="hint">Which scopes admit a request, by resource and method. A token holding any listed scope is let through.</p>
        <RouteMatrix routes={a.routes} />
      </section>
      {confirm ? (
        <ConfirmDialog title={`Delete ${a.name}?`} confirmLabel="Delete API" danger busy={removal.busy} error={removal.error} onConfirm={() => void remove()} onCancel={() => setConfirm(false)}>
          <p>The gateway stops answering under <code>{a.base_path}</code>. Apps keep the scopes they were given.</p>
        </ConfirmDialog>
      ) : null}
    </>
  );
}
