import { useState, type FormEvent } from 'react';
import { api, type ApiRoute, type ApiScope, type GatewayApi, type List } from '../api.ts';
import { Link, navigate } from '../router.tsx';
import { ConfirmDialog, Empty, ErrorBox, Field, FormError, Loading, PageHeader, fieldError, useApi } from '../ui.tsx';

const METHODS = ['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS'];

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
      {apis.error ? <ErrorBox error={apis.error} onRetry={apis.reload} /> : null}
      {apis.loading && !apis.data ? <Loading what="Loading APIs" /> : null}
      {apis.data ? (
        apis.data.items.length === 0 ? (
          <Empty>No APIs yet. Register one to give apps scopes to ask for.</Empty>
        ) : (
          <ul className="rows" aria-label="APIs">
            {apis.data.items.map((a) => (
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
        )
      ) : null}
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
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<unknown>();
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
  const remove = async () => {
    setBusy(true);
    setError(undefined);
    try {
      await api('DELETE', `/apis/${encodeURIComponent(a.id)}`);
      navigate('/admin/apis');
    } catch (e) {
      setError(e);
      setBusy(false);
    }
  };
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
        <ConfirmDialog title={`Delete ${a.name}?`} confirmLabel="Delete API" danger busy={busy} error={error} onConfirm={() => void remove()} onCancel={() => setConfirm(false)}>
          <p>The gateway stops answering under <code>{a.base_path}</code>. Apps keep the scopes they were given.</p>
        </ConfirmDialog>
      ) : null}
    </>
  );
}

export function ApiFormPage({ id }: { id?: string }) {
  const found = useApi<GatewayApi>(id ? `/apis/${encodeURIComponent(id)}` : undefined);
  if (id && !found.data) {
    return (
      <>
        <PageHeader title="Edit API" />
        {found.error ? <ErrorBox error={found.error} onRetry={found.reload} /> : <Loading what="Loading the API" />}
      </>
    );
  }
  return <ApiForm existing={found.data} />;
}

interface RouteDraft {
  methods: string[];
  path: string;
  scopes: string;
}

const FIELDS = ['name', 'base_path', 'upstream', 'audience', 'timeout_ms', 'scopes', 'routes'];

function ApiForm({ existing }: { existing?: GatewayApi }) {
  const [f, setF] = useState({
    name: existing?.name ?? '',
    base_path: existing?.base_path ?? '',
    upstream: existing?.upstream ?? '',
    audience: existing?.audience ?? '',
    timeout_ms: existing?.timeout_ms ? String(existing.timeout_ms) : '',
  });
  const [scopes, setScopes] = useState<ApiScope[]>(existing?.scopes.length ? existing.scopes : [{ name: '', description: '' }]);
  const [routes, setRoutes] = useState<RouteDraft[]>(existing?.routes.map((r) => ({ methods: r.methods, path: r.path, scopes: r.scopes.join(' ') })) ?? []);
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<unknown>();
  const back = existing ? `/admin/apis/${existing.id}` : '/admin/apis';

  const submit = async (e: FormEvent) => {
    e.preventDefault();
    setBusy(true);
    setError(undefined);
    const body: Record<string, unknown> = {
      name: f.name.trim(),
      base_path: f.base_path.trim(),
      upstream: f.upstream.trim(),
      audience: f.audience.trim() || null,
      scopes: scopes.filter((s) => s.name.trim()).map((s) => ({ name: s.name.trim(), description: (s.description ?? '').trim() })),
      routes: routes.filter((r) => r.path.trim()).map((r) => ({ methods: r.methods, path: r.path.trim(), scopes: r.scopes.split(/[\s,]+/).filter(Boolean) })),
    };
    if (f.timeout_ms.trim()) body.timeout_ms = Number(f.timeout_ms);
    try {
      const saved = existing ? await api<GatewayApi>('PATCH', `/apis/${encodeURIComponent(existing.id)}`, body) : await api<GatewayApi>('POST', '/apis', body);
      navigate(`/admin/apis/${saved.id}`);
    } catch (err) {
      setError(err);
      setBusy(false);
    }
  };
  const setRoute = (i: number, r: Partial<RouteDraft>) => setRoutes(routes.map((x, j) => (j === i ? { ...x, ...r } : x)));
  const setScope = (i: number, s: Partial<ApiScope>) => setScopes(scopes.map((x, j) => (j === i ? { ...x, ...s } : x)));

  return (
    <>
      <PageHeader
        title={existing ? `Edit ${existing.name}` : 'Register API'}
        back={
          <Link to={back} className="back">
            ← {existing ? existing.name : 'APIs'}
          </Link>
        }
      />
      <form className="panel form" onSubmit={submit} noValidate>
        <FormError error={error} fields={FIELDS} />
        <div className="grid-2">
          <Field label="Name" error={fieldError(error, 'name')}>
            {(id) => <input id={id} type="text" value={f.name} onChange={(e) => setF({ ...f, name: e.target.value })} />}
          </Field>
          <Field label="Base path" error={fieldError(error, 'base_path')} hint="Where the API answers on Tessera, e.g. /0/odata.">
            {(id, d) => <input id={id} type="text" aria-describedby={d} placeholder="/0/odata" value={f.base_path} onChange={(e) => setF({ ...f, base_path: e.target.value })} />}
          </Field>
          <Field label="Upstream" error={fieldError(error, 'upstream')} hint="Where the gateway sends admitted requests.">
            {(id, d) => <input id={id} type="url" aria-describedby={d} placeholder="http://accounts.internal:9000/odata" value={f.upstream} onChange={(e) => setF({ ...f, upstream: e.target.value })} />}
          </Field>
          <Field label="Audience" error={fieldError(error, 'audience')} hint="Optional: tokens must carry it in aud.">
            {(id, d) => <input id={id} type="text" aria-describedby={d} value={f.audience} onChange={(e) => setF({ ...f, audience: e.target.value })} />}
          </Field>
          <Field label="Upstream timeout (ms)" error={fieldError(error, 'timeout_ms')} hint="100 – 300000; empty for the default.">
            {(id, d) => <input id={id} type="number" inputMode="numeric" aria-describedby={d} value={f.timeout_ms} onChange={(e) => setF({ ...f, timeout_ms: e.target.value })} />}
          </Field>
        </div>

        <fieldset className={`field${fieldError(error, 'scopes') ? ' field--invalid' : ''}`}>
          <legend>Scopes</legend>
          <p className="hint">What apps may ask for; the description is shown to people on the consent page.</p>
          {scopes.map((s, i) => (
            <div key={i} className="pair">
              <input type="text" aria-label={`Scope ${i + 1} name`} placeholder="accounts.read" value={s.name} onChange={(e) => setScope(i, { name: e.target.value })} />
              <input type="text" aria-label={`Scope ${i + 1} description`} placeholder="Read your accounts" value={s.description ?? ''} onChange={(e) => setScope(i, { description: e.target.value })} />
              <button type="button" className="icon-button" aria-label={`Remove scope ${i + 1}`} onClick={() => setScopes(scopes.filter((_, j) => j !== i))}>
                ×
              </button>
            </div>
          ))}
          <button type="button" className="link" onClick={() => setScopes([...scopes, { name: '', description: '' }])}>
            + Add a scope
          </button>
          {fieldError(error, 'scopes') ? <p className="field-error">{fieldError(error, 'scopes')}</p> : null}
        </fieldset>

        <fieldset className={`field${fieldError(error, 'routes') ? ' field--invalid' : ''}`}>
          <legend>Routes</legend>
          <p className="hint">
            A path template under the base path (<code>/accounts</code>, <code>/accounts/{'{id}'}</code>, <code>/files/**</code>), its methods, and the scopes that admit it
            (space-separated; any one suffices).
          </p>
          {routes.map((r, i) => (
            <div key={i} className="route-row">
              <div className="route-row__top">
                <input type="text" aria-label={`Route ${i + 1} path`} placeholder="/accounts/{id}" value={r.path} onChange={(e) => setRoute(i, { path: e.target.value })} />
                <input type="text" aria-label={`Route ${i + 1} scopes`} placeholder="accounts.read" value={r.scopes} onChange={(e) => setRoute(i, { scopes: e.target.value })} />
                <button type="button" className="icon-button" aria-label={`Remove route ${i + 1}`} onClick={() => setRoutes(routes.filter((_, j) => j !== i))}>
                  ×
                </button>
              </div>
              <div className="methods" role="group" aria-label={`Route ${i + 1} methods`}>
                {METHODS.map((m) => (
                  <label key={m} className="check check--pill">
                    <input type="checkbox" checked={r.methods.includes(m)} onChange={(e) => setRoute(i, { methods: e.target.checked ? [...r.methods, m] : r.methods.filter((x) => x !== m) })} />
                    {m}
                  </label>
                ))}
              </div>
            </div>
          ))}
          <button type="button" className="link" onClick={() => setRoutes([...routes, { methods: ['GET'], path: '', scopes: scopes[0]?.name ?? '' }])}>
            + Add a route
          </button>
          {fieldError(error, 'routes') ? <p className="field-error">{fieldError(error, 'routes')}</p> : null}
        </fieldset>

        <div className="actions actions--end">
          <Link className="button" to={back}>
            Cancel
          </Link>
          <button type="submit" className="primary" disabled={busy}>
            {busy ? 'Saving…' : existing ? 'Save changes' : 'Register API'}
          </button>
        </div>
      </form>
    </>
  );
}
