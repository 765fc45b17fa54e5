import { useEffect, useState } from 'react';
import type { App, List } from '../api.ts';
import { Link } from '../router.tsx';
import { formatDate, ListView, PageHeader, useApi } from '../ui.tsx';

export const CONSOLE_CLIENT_ID = '7e55e7a0-c0de-4a11-8000-000000000001';

/** The host a self-registered app's metadata document is served from. */
export function selfRegisteredHost(clientId: string): string {
  try {
    return new URL(clientId).host;
  } catch {
    return clientId;
  }
}

export function grantLabel(app: Pick<App, 'grant_types' | 'public'>): string {
  const names = app.grant_types.map((g) => (g === 'authorization_code' ? 'Authorization code' : g === 'client_credentials' ? 'Client credentials' : g === 'urn:ietf:params:oauth:grant-type:device_code' ? 'Device' : g));
  return names.join(' + ') + (app.public ? ' (public)' : '');
}

type Registration = '' | 'admin' | 'self';
const REGISTRATION_FILTERS: Array<{ value: Registration; label: string }> = [
  { value: '', label: 'All apps' },
  { value: 'self', label: 'Self-registered' },
  { value: 'admin', label: 'Registered by an administrator' },
];

/** Registered apps, searchable (the API filters by name, client ID and description) and by how they were registered. */
export function AppsPage() {
  const [search, setSearch] = useState(new URLSearchParams(location.search).get('search') ?? '');
  const [registration, setRegistration] = useState<Registration>(() => {
    const wanted = new URLSearchParams(location.search).get('registration');
    return wanted === 'self' || wanted === 'admin' ? wanted : '';
  });
  const [query, setQuery] = useState(search);
  useEffect(() => {
    const t = setTimeout(() => setQuery(search.trim()), 250);
    return () => clearTimeout(t);
  }, [search]);
  const params = new URLSearchParams({ ...(query ? { search: query } : {}), ...(registration ? { registration } : {}) }).toString();
  const apps = useApi<List<App>>(`/apps${params ? `?${params}` : ''}`);
  return (
    <>
      <PageHeader title="Registered apps">
        <Link className="button primary" to="/admin/apps/new">
          Register app
        </Link>
      </PageHeader>
      <p className="lead">Apps that sign people in through Tessera or call APIs with their own credentials.</p>
      <div className="toolbar">
        <label className="visually-hidden" htmlFor="app-search">
          Search apps
        </label>
        <input id="app-search" type="search" placeholder="Search by name, client ID or description" value={search} onChange={(e) => setSearch(e.target.value)} />
        <label className="visually-hidden" htmlFor="app-registration">
          How the app was registered
        </label>
        <select id="app-registration" value={registration} onChange={(e) => setRegistration(e.target.value as Registration)}>
          {REGISTRATION_FILTERS.map((f) => (
            <option key={f.value} value={f.value}>
              {f.label}
            </option>
          ))}
        </select>
      </div>
      <ListView state={apps} what="Loading apps" empty={query || registration ? `No app matches${query ? ` “${query}”` : ''}${registration === 'self' ? ' among self-registered apps' : registration === 'admin' ? ' among apps an administrator registered' : ''}.` : 'No apps yet. Register the first one.'}>
        {(items) => (
          <ul className="rows" aria-label="Apps">
            {items.map((app) => (
              <li key={app.client_id} className="row">
                <span className="app__icon" aria-hidden="true">
                  {app.name.slice(0, 1).toUpperCase()}
                </span>
                <div className="row__main">
                  <Link to={`/admin/apps/${encodeURIComponent(app.client_id)}`} className="row__title">
                    {app.name}
                  </Link>
                  {app.client_id === CONSOLE_CLIENT_ID ? <span className="badge">this console</span> : null}
                  {app.registration === 'metadata_document' ? <span className="badge">self-registered · {selfRegisteredHost(app.client_id)}</span> : null}
                  {app.registration === 'dynamic' ? <span className="badge">self-registered · RFC 7591</span> : null}
                  <p className="row__sub">{app.description || <span className="muted">No description</span>}</p>
                  <p className="row__meta">
                    <span className="badge badge--soft">{grantLabel(app)}</span>
                    <code>{app.client_id}</code>
                  </p>
                </div>
                <span className="row__side small muted">Registered {formatDate(app.created_at)}</span>
              </li>
            ))}
          </ul>
        )}
      </ListView>
    </>
  );
}
