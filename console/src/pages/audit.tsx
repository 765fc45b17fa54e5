import { useEffect, useState, type FormEvent } from 'react';
import { get, type AuditEvent, type List } from '../api.ts';
import { Empty, ErrorBox, Loading, PageHeader, formatDate } from '../ui.tsx';

const PAGE = 50;
const FILTERS = [
  { key: 'actor', label: 'Actor', placeholder: 'user:admin' },
  { key: 'action', label: 'Action', placeholder: 'app.create' },
  { key: 'target_type', label: 'Target type', placeholder: 'app' },
  { key: 'target_id', label: 'Target ID', placeholder: '' },
] as const;

type Filters = Record<(typeof FILTERS)[number]['key'] | 'since' | 'until', string>;
const EMPTY: Filters = { actor: '', action: '', target_type: '', target_id: '', since: '', until: '' };

/** Who changed what, newest first, filtered; “Older events” follows the `next` cursor. */
export function AuditPage() {
  const [draft, setDraft] = useState<Filters>(EMPTY);
  const [filters, setFilters] = useState<Filters>(EMPTY);
  const [items, setItems] = useState<AuditEvent[]>([]);
  const [next, setNext] = useState<string | null | undefined>();
  const [loading, setLoading] = useState(true);
  const [error, setError] = useState<unknown>();
  const [tick, setTick] = useState(0);

  const query = (before?: string) => {
    const q = new URLSearchParams({ limit: String(PAGE) });
    for (const [k, v] of Object.entries(filters)) {
      if (!v.trim()) continue;
      q.set(k, k === 'since' || k === 'until' ? new Date(v).toISOString() : v.trim());
    }
    if (before) q.set('before', before);
    return `/audit?${q}`;
  };

  const load = async (before?: string) => {
    setLoading(true);
    setError(undefined);
    try {
      const page = await get<List<AuditEvent>>(query(before));
      setItems((prev) => (before ? [...prev, ...page.items] : page.items));
      setNext(page.next);
    } catch (e) {
      setError(e);
    } finally {
      setLoading(false);
    }
  };
  useEffect(() => {
    void load();
  }, [filters, tick]);

  const apply = (e: FormEvent) => {
    e.preventDefault();
    setFilters({ ...draft });
  };
  return (
    <>
      <PageHeader title="Audit log" />
      <p className="lead">Every change made through the console, the API or the CLI: who, what, when and from where.</p>
      <form className="panel filters" onSubmit={apply}>
        {FILTERS.map((f) => (
          <label key={f.key} className="filter">
            <span>{f.label}</span>
            <input type="text" placeholder={f.placeholder} value={draft[f.key]} onChange={(e) => setDraft({ ...draft, [f.key]: e.target.value })} />
          </label>
        ))}
        <label className="filter">
          <span>Since</span>
          <input type="datetime-local" value={draft.since} onChange={(e) => setDraft({ ...draft, since: e.target.value })} />
        </label>
        <label className="filter">
          <span>Until</span>
          <input type="datetime-local" value={draft.until} onChange={(e) => setDraft({ ...draft, until: e.target.value })} />
        </label>
        <div className="filters__actions">
          <button
            type="button"
            onClick={() => {
              setDraft(EMPTY);
              setFilters(EMPTY);
            }}
          >
            Clear
          </button>
          <button type="submit" className="primary">
            Filter
          </button>
        </div>
      </form>
      {error ? <ErrorBox error={error} onRetry={() => setTick((t) => t + 1)} /> : null}
      {!loading && !error && items.length === 0 ? <Empty>No events match.</Empty> : null}
      {items.length ? (
        <table className="table audit">
          <thead>
            <tr>
              <th>When</th>
              <th>Actor</th>
              <th>Action</th>
              <th>Target</th>
              <th>From</th>
              <th>Details</th>
            </tr>
          </thead>
          <tbody>
            {items.map((ev) => (
              <tr key={ev.id}>
                <td data-label="When" className="nowrap">{formatDate(ev.at)}</td>
                <td data-label="Actor" className="wrap">
                  {ev.actor}
                </td>
                <td data-label="Action">
                  <code>{ev.action}</code>
                </td>
                <td data-label="Target" className="wrap">
                  <div>
                    {ev.target_type ? `${ev.target_type} ` : ''}
                    {ev.target_id ? <code>{ev.target_id}</code> : null}
                    {!ev.target_type && !ev.target_id ? '—' : null}
                  </div>
                </td>
                <td data-label="From" className="nowrap">{ev.ip ?? '—'}</td>
                <td data-label="Details" className="wrap small">
                  {ev.details && Object.keys(ev.details).length ? <code className="details">{JSON.stringify(ev.details)}</code> : '—'}
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      ) : null}
      {loading ? <Loading what="Loading events" /> : null}
      {!loading && next ? (
        <div className="actions actions--center">
          <button type="button" onClick={() => void load(next)}>
            Older events
          </button>
        </div>
      ) : null}
    </>
  );
}
