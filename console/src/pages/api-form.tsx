import { useState, type FormEvent } from 'react';
import { api, type ApiCreate, type ApiScope, type GatewayApi, type HttpMethod } from '../api.ts';
import { limits } from '../generated/admin-api-limits.ts';
import { Link, navigate } from '../router.tsx';
import { ErrorBox, Field, FormError, Loading, PageHeader, fieldError, useAction, useApi } from '../ui.tsx';
import { isMethod, METHODS } from './apis.tsx';
import { filled, TranslationsTable } from './translations.tsx';

/** Register an API (no id) or change one: base path, upstream, scopes, routes. */
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
  methods: HttpMethod[];
  path: string;
  scopes: string;
}

/** The upstream timeout's range, from the admin API's OpenAPI document. */
const TIMEOUT = limits.ApiCreate.timeout_ms;
/** The per-API body limit's range, from the same document. */
const MAX_BODY = limits.ApiCreate.max_body_bytes;

/** A scope description's longest text, in any language. */
const DESCRIPTION_MAX = 300;

const FIELDS = ['name', 'base_path', 'upstream', 'audience', 'timeout_ms', 'max_body_bytes', 'upstream_token', 'upstream_audience', 'forward_authorization', 'scopes', 'routes'];

type UpstreamToken = NonNullable<ApiCreate['upstream_token']>;
const UPSTREAM_TOKEN: Array<{ value: UpstreamToken; title: string; line: string }> = [
  { value: 'forward', title: 'Forward the caller’s token', line: 'The upstream receives the caller’s bearer token and may verify it itself.' },
  { value: 'exchange', title: 'Exchange it for an upstream token', line: 'The gateway sends a short-lived token minted for the upstream’s audience (same user, the calling app in act, this API’s scopes): the caller’s token never reaches the upstream.' },
  { value: 'none', title: 'Send no token', line: 'The upstream sees only the X-Tessera-* identity headers.' },
];

function ApiForm({ existing }: { existing?: GatewayApi }) {
  const [f, setF] = useState({
    name: existing?.name ?? '',
    base_path: existing?.base_path ?? '',
    upstream: existing?.upstream ?? '',
    audience: existing?.audience ?? '',
    timeout_ms: existing?.timeout_ms ? String(existing.timeout_ms) : '',
    max_body_bytes: existing?.max_body_bytes != null ? String(existing.max_body_bytes) : '',
    upstream_token: (existing?.upstream_token ?? 'forward') as UpstreamToken,
    upstream_audience: existing?.upstream_audience ?? '',
  });
  const [scopes, setScopes] = useState<ApiScope[]>(existing?.scopes.length ? existing.scopes : [{ name: '', description: '' }]);
  const [routes, setRoutes] = useState<RouteDraft[]>(existing?.routes.map((r) => ({ methods: r.methods.filter(isMethod), path: r.path, scopes: r.scopes.join(' ') })) ?? []);
  const save = useAction();
  const { busy, error } = save;
  const back = existing ? `/admin/apis/${existing.id}` : '/admin/apis';

  const submit = (e: FormEvent) => {
    e.preventDefault();
    const body: ApiCreate = {
      name: f.name.trim(),
      base_path: f.base_path.trim(),
      upstream: f.upstream.trim(),
      audience: f.audience.trim() || null,
      upstream_token: f.upstream_token,
      upstream_audience: f.upstream_audience.trim() || null,
      max_body_bytes: f.max_body_bytes.trim() ? Number(f.max_body_bytes) : null,
      scopes: scopes.filter((s) => s.name.trim()).map((s) => ({ name: s.name.trim(), description: (s.description ?? '').trim(), description_translations: filled(s.description_translations ?? {}) })),
      routes: routes.filter((r) => r.path.trim()).map((r) => ({ methods: r.methods, path: r.path.trim(), scopes: r.scopes.split(/[\s,]+/).filter(Boolean) })),
    };
    if (f.timeout_ms.trim()) body.timeout_ms = Number(f.timeout_ms);
    void save.run(async () => {
      // A PATCH with every field replaces the API's definition, as the form shows it whole.
      const saved = existing ? await api<GatewayApi>('PATCH', `/apis/${encodeURIComponent(existing.id)}`, body) : await api<GatewayApi>('POST', '/apis', body);
      navigate(`/admin/apis/${saved.id}`);
    });
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
          <Field label="Upstream timeout (ms)" error={fieldError(error, 'timeout_ms')} hint={`${TIMEOUT.minimum} – ${TIMEOUT.maximum}; empty for the default.`}>
            {(id, d) => <input id={id} type="number" inputMode="numeric" min={TIMEOUT.minimum} max={TIMEOUT.maximum} aria-describedby={d} value={f.timeout_ms} onChange={(e) => setF({ ...f, timeout_ms: e.target.value })} />}
          </Field>
          <Field label="Largest request body (bytes)" error={fieldError(error, 'max_body_bytes')} hint={`${MAX_BODY.minimum} – ${MAX_BODY.maximum}; larger bodies get 413. Empty for no limit.`}>
            {(id, d) => <input id={id} type="number" inputMode="numeric" min={MAX_BODY.minimum} max={MAX_BODY.maximum} aria-describedby={d} value={f.max_body_bytes} onChange={(e) => setF({ ...f, max_body_bytes: e.target.value })} />}
          </Field>
        </div>
        <fieldset className={`field${fieldError(error, 'upstream_token') ? ' field--invalid' : ''}`}>
          <legend>Token for the upstream</legend>
          <div className="choices">
            {UPSTREAM_TOKEN.map((o) => (
              <label key={o.value} className={`choice${f.upstream_token === o.value ? ' choice--on' : ''}`}>
                <input type="radio" name="upstream_token" value={o.value} checked={f.upstream_token === o.value} onChange={() => setF({ ...f, upstream_token: o.value })} />
                <span>
                  <strong>{o.title}</strong>
                  <span className="choice__line">{o.line}</span>
                </span>
              </label>
            ))}
          </div>
          {fieldError(error, 'upstream_token') ? <p className="field-error">{fieldError(error, 'upstream_token')}</p> : null}
        </fieldset>
        {f.upstream_token === 'exchange' ? (
          <Field label="Upstream audience" error={fieldError(error, 'upstream_audience')} hint="The aud of the token the upstream receives. Empty: the upstream URL.">
            {(id, d) => <input id={id} type="text" aria-describedby={d} placeholder={f.upstream || 'urn:example:accounts-backend'} value={f.upstream_audience} onChange={(e) => setF({ ...f, upstream_audience: e.target.value })} />}
          </Field>
        ) : null}

        <fieldset className={`field${fieldError(error, 'scopes') ? ' field--invalid' : ''}`}>
          <legend>Scopes</legend>
          <p className="hint">What apps may ask for; the description is shown to people on the consent page.</p>
          {scopes.map((s, i) => (
            <div key={i} className="scope-row">
              <div className="pair">
                <input type="text" aria-label={`Scope ${i + 1} name`} placeholder="accounts.read" value={s.name} onChange={(e) => setScope(i, { name: e.target.value })} />
                <input type="text" aria-label={`Scope ${i + 1} description`} placeholder="Read your accounts" value={s.description ?? ''} onChange={(e) => setScope(i, { description: e.target.value })} />
                <button type="button" className="icon-button" aria-label={`Remove scope ${i + 1}`} onClick={() => setScopes(scopes.filter((_, j) => j !== i))}>
                  ×
                </button>
              </div>
              <details className="translations-box" open={Object.keys(filled(s.description_translations ?? {})).length > 0}>
                <summary>Description in other languages{s.name.trim() ? ` (${s.name.trim()})` : ''}</summary>
                <TranslationsTable
                  id={`scope-${i}-translations`}
                  caption={`Scope ${i + 1} description by language`}
                  values={s.description_translations ?? {}}
                  maxLength={DESCRIPTION_MAX}
                  placeholder={s.description ?? ''}
                  onChange={(v) => setScope(i, { description_translations: v })}
                />
              </details>
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
