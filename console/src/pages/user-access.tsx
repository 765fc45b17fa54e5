import { api, type Grant, type IdentityLink, type List, type Session } from '../api.ts';
import { Link } from '../router.tsx';
import { ErrorBox, formatDate, ListView, useAction, useApi } from '../ui.tsx';

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
