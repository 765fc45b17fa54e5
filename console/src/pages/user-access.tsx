import { useState } from 'react';
import { api, type Grant, type IdentityLink, type List, type Session, type SignInThrottle, type UnlockResult } from '../api.ts';
import { Link } from '../router.tsx';
import { ErrorBox, formatDate, ListView, Loading, useAction, useApi } from '../ui.tsx';

/** A user's sign-in sessions: end one or all. */
export function Sessions({ userPath }: { userPath: string }) {
  const sessions = useApi<List<Session>>(`${userPath}/sessions`);
  const ending = useAction();
  const end = (path: string) =>
    ending.run(async () => {
      await api('DELETE', path);
      sessions.reload();
    });
  return (
    <section className="panel">
      <div className="panel__head">
        <h2>Sessions</h2>
        {sessions.data?.items.length ? (
          <button type="button" className="small-button" disabled={ending.busy} onClick={() => void end(`${userPath}/sessions`)}>
            End all sessions
          </button>
        ) : null}
      </div>
      <ErrorBox error={ending.error} />
      <ListView state={sessions} what="Loading sessions" empty="No active sessions.">
        {(items) => (
          <table className="table">
            <thead>
              <tr>
                <th>Signed in</th>
                <th>Last seen</th>
                <th>Expires</th>
                <th>From</th>
                <th><span className="visually-hidden">Actions</span></th>
              </tr>
            </thead>
            <tbody>
              {items.map((s) => (
                <tr key={s.sid}>
                  <td data-label="Signed in">{formatDate(s.auth_time)}</td>
                  <td data-label="Last seen">{formatDate(s.last_seen_at)}</td>
                  <td data-label="Expires">{formatDate(s.expires_at)}</td>
                  <td data-label="From">
                    <div>
                      {s.ip ?? '—'}
                      {s.user_agent ? <span className="small muted ua">{s.user_agent}</span> : null}
                    </div>
                  </td>
                  <td className="cell-actions">
                    <button type="button" className="small-button" disabled={ending.busy} onClick={() => void end(`${userPath}/sessions/${encodeURIComponent(s.sid)}`)}>
                      End
                    </button>
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        )}
      </ListView>
    </section>
  );
}

const COUNTER_LABELS: Record<string, string> = {
  device: 'A browser that signed in as this user before',
  client: 'Sign-ins from one address',
  account: 'Sign-ins from every other browser',
};

/** "12 s", "4 min": a wait as people read it. */
function waitLabel(seconds: number): string {
  return seconds < 60 ? `${seconds} s` : `${Math.ceil(seconds / 60)} min`;
}

/**
 * Failed sign-ins being counted against the user (sign-in throttling slows, it never locks):
 * which browsers and addresses must wait, and a button that clears them all (`POST …/unlock`).
 */
export function SignInThrottling({ userPath }: { userPath: string }) {
  const state = useApi<SignInThrottle>(`${userPath}/sign-in-throttle`);
  const unlocking = useAction();
  const [notice, setNotice] = useState<string | undefined>();
  const unlock = () =>
    unlocking.run(async () => {
      const result = await api<UnlockResult>('POST', `${userPath}/unlock`);
      setNotice(result.cleared ? `Cleared ${result.cleared} counter${result.cleared === 1 ? '' : 's'}: every browser can try again at once.` : 'There was nothing to clear.');
      state.reload();
    });
  const counters = state.data?.counters ?? [];
  return (
    <section className="panel">
      <div className="panel__head">
        <h2>Sign-in throttling</h2>
        {counters.length ? (
          <button type="button" className="small-button" disabled={unlocking.busy} onClick={() => void unlock()}>
            Unlock sign-in
          </button>
        ) : null}
      </div>
      {notice ? (
        <p className="note" role="status">
          {notice}
        </p>
      ) : null}
      <ErrorBox error={unlocking.error ?? state.error} onRetry={state.error ? state.reload : undefined} />
      {!state.data && !state.error ? <Loading what="Loading sign-in throttling" /> : null}
      {state.data && !counters.length ? <p className="muted">No failed sign-ins are being counted.</p> : null}
      {counters.length ? (
        <table className="table">
          <thead>
            <tr>
              <th>Counted</th>
              <th>Failures</th>
              <th>Next attempt waits</th>
              <th>Forgotten</th>
            </tr>
          </thead>
          <tbody>
            {counters.map((c, i) => (
              <tr key={`${c.counter}-${c.ip ?? ''}-${i}`}>
                <td data-label="Counted">
                  {COUNTER_LABELS[c.counter] ?? c.counter}
                  {c.ip ? <span className="small muted"> ({c.ip})</span> : null}
                </td>
                <td data-label="Failures">{c.failures}</td>
                <td data-label="Next attempt waits">{c.wait_seconds ? waitLabel(c.wait_seconds) : '—'}</td>
                <td data-label="Forgotten">{formatDate(c.forgotten_at)}</td>
              </tr>
            ))}
          </tbody>
        </table>
      ) : null}
    </section>
  );
}

/** The apps a user approved: revoke a grant (consent and refresh tokens). */
export function UserGrants({ userPath }: { userPath: string }) {
  const grants = useApi<List<Grant>>(`${userPath}/grants`);
  const revoking = useAction();
  const revoke = (g: Grant) =>
    revoking.run(async () => {
      await api('DELETE', `${userPath}/grants/${encodeURIComponent(g.client_id)}`);
      grants.reload();
    });
  return (
    <section className="panel">
      <h2>Apps approved</h2>
      <ErrorBox error={revoking.error} />
      <ListView state={grants} what="Loading grants" empty="This user has not approved any app.">
        {(items) => (
          <table className="table">
            <thead>
              <tr>
                <th>App</th>
                <th>Scopes</th>
                <th>Approved</th>
                <th><span className="visually-hidden">Actions</span></th>
              </tr>
            </thead>
            <tbody>
              {items.map((g) => (
                <tr key={g.client_id}>
                  <td data-label="App">
                    <Link to={`/admin/apps/${g.client_id}`}>{g.client_name}</Link>
                  </td>
                  <td data-label="Scopes">{g.scopes.join(' ')}</td>
                  <td data-label="Approved">{formatDate(g.granted_at)}</td>
                  <td className="cell-actions">
                    <button type="button" className="small-button" disabled={revoking.busy} onClick={() => void revoke(g)}>
                      Revoke
                    </button>
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        )}
      </ListView>
    </section>
  );
}

/** The user's accounts at upstream identity providers: remove a link (the account no longer signs in as this user). */
export function UserLinks({ userPath }: { userPath: string }) {
  const links = useApi<List<IdentityLink>>(`${userPath}/links`);
  const removing = useAction();
  const remove = (l: IdentityLink) =>
    removing.run(async () => {
      await api('DELETE', `${userPath}/links/${encodeURIComponent(l.provider)}/${encodeURIComponent(l.subject)}`);
      links.reload();
    });
  return (
    <section className="panel">
      <h2>Identity providers</h2>
      <ErrorBox error={removing.error} />
      <ListView state={links} what="Loading identity provider links" empty="This user does not sign in through an identity provider.">
        {(items) => (
          <table className="table">
            <thead>
              <tr>
                <th>Provider</th>
                <th>Account</th>
                <th>Last sign-in</th>
                <th><span className="visually-hidden">Actions</span></th>
              </tr>
            </thead>
            <tbody>
              {items.map((l) => (
                <tr key={`${l.provider}/${l.subject}`}>
                  <td data-label="Provider">{l.provider_name || l.provider}</td>
                  <td data-label="Account">
                    <code className="wrap">{l.email ?? l.subject}</code>
                  </td>
                  <td data-label="Last sign-in">{formatDate(l.last_sign_in_at)}</td>
                  <td className="cell-actions">
                    <button type="button" className="small-button" disabled={removing.busy} onClick={() => void remove(l)} aria-label={`Remove the link to ${l.provider_name || l.provider}`}>
                      Remove
                    </button>
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        )}
      </ListView>
    </section>
  );
}
