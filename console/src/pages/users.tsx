import { useEffect, useState, type FormEvent } from 'react';
import { api, type Grant, type List, type Role, type Session, type User } from '../api.ts';
import { Link, navigate } from '../router.tsx';
import { ConfirmDialog, Empty, ErrorBox, Field, FormError, Loading, PageHeader, fieldError, formatDate, useApi } from '../ui.tsx';

/** Users: search, create. */
export function UsersPage() {
  const [search, setSearch] = useState('');
  const [query, setQuery] = useState('');
  const [creating, setCreating] = useState(false);
  useEffect(() => {
    const t = setTimeout(() => setQuery(search.trim()), 250);
    return () => clearTimeout(t);
  }, [search]);
  const users = useApi<List<User>>(`/users${query ? `?search=${encodeURIComponent(query)}` : ''}`);
  return (
    <>
      <PageHeader title="Users">
        <button type="button" className="primary" onClick={() => setCreating(true)} disabled={creating}>
          New user
        </button>
      </PageHeader>
      {creating ? <NewUser onDone={() => setCreating(false)} /> : null}
      <div className="toolbar">
        <label className="visually-hidden" htmlFor="user-search">
          Search users
        </label>
        <input id="user-search" type="search" placeholder="Search by username, name, email or ID" value={search} onChange={(e) => setSearch(e.target.value)} />
      </div>
      {users.error ? <ErrorBox error={users.error} onRetry={users.reload} /> : null}
      {users.loading && !users.data ? <Loading what="Loading users" /> : null}
      {users.data ? (
        users.data.items.length === 0 ? (
          <Empty>{query ? `No user matches “${query}”.` : 'No users yet.'}</Empty>
        ) : (
          <table className="table">
            <thead>
              <tr>
                <th>Username</th>
                <th>Name</th>
                <th>Email</th>
                <th>Roles</th>
                <th>Status</th>
              </tr>
            </thead>
            <tbody>
              {users.data.items.map((u) => (
                <tr key={u.id}>
                  <td data-label="Username">
                    <Link to={`/admin/users/${encodeURIComponent(u.username)}`}>{u.username}</Link>
                  </td>
                  <td data-label="Name">{u.name || '—'}</td>
                  <td data-label="Email">{u.email || '—'}</td>
                  <td data-label="Roles">{u.roles.length ? u.roles.join(', ') : '—'}</td>
                  <td data-label="Status">{u.disabled ? <span className="badge badge--danger">disabled</span> : <span className="badge badge--ok">active</span>}</td>
                </tr>
              ))}
            </tbody>
          </table>
        )
      ) : null}
    </>
  );
}

function RolePicker({ value, onChange, error }: { value: string[]; onChange: (v: string[]) => void; error?: string }) {
  const roles = useApi<List<Role>>('/roles');
  return (
    <fieldset className={`field${error ? ' field--invalid' : ''}`}>
      <legend>Roles</legend>
      {roles.error ? <ErrorBox error={roles.error} onRetry={roles.reload} /> : null}
      {roles.loading ? <Loading what="Loading roles" /> : null}
      <ul className="checks">
        {(roles.data?.items ?? []).map((r) => (
          <li key={r.name}>
            <label className="check">
              <input type="checkbox" checked={value.includes(r.name)} onChange={(e) => onChange(e.target.checked ? [...value, r.name] : value.filter((x) => x !== r.name))} />
              <span>
                <strong>{r.name}</strong> <span className="muted">{r.description}</span>
              </span>
            </label>
          </li>
        ))}
      </ul>
      {error ? <p className="field-error">{error}</p> : null}
    </fieldset>
  );
}

function NewUser({ onDone }: { onDone: () => void }) {
  const [f, setF] = useState({ username: '', password: '', email: '', name: '' });
  const [roles, setRoles] = useState<string[]>(['developer']);
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<unknown>();
  const submit = async (e: FormEvent) => {
    e.preventDefault();
    setBusy(true);
    setError(undefined);
    try {
      const user = await api<User>('POST', '/users', { username: f.username.trim(), password: f.password, email: f.email.trim() || null, name: f.name.trim() || null, roles });
      navigate(`/admin/users/${encodeURIComponent(user.username)}`);
    } catch (err) {
      setError(err);
      setBusy(false);
    }
  };
  return (
    <form className="panel form" onSubmit={submit} noValidate>
      <h2>New user</h2>
      <FormError error={error} fields={['username', 'password', 'email', 'name', 'roles']} />
      <div className="grid-2">
        <Field label="Username" error={fieldError(error, 'username')}>
          {(id) => <input id={id} type="text" autoComplete="off" value={f.username} onChange={(e) => setF({ ...f, username: e.target.value })} />}
        </Field>
        <Field label="Password" error={fieldError(error, 'password')} hint="Tell it to the user over a safe channel.">
          {(id, d) => <input id={id} type="password" autoComplete="new-password" aria-describedby={d} value={f.password} onChange={(e) => setF({ ...f, password: e.target.value })} />}
        </Field>
        <Field label="Name" error={fieldError(error, 'name')}>
          {(id) => <input id={id} type="text" value={f.name} onChange={(e) => setF({ ...f, name: e.target.value })} />}
        </Field>
        <Field label="Email" error={fieldError(error, 'email')}>
          {(id) => <input id={id} type="email" value={f.email} onChange={(e) => setF({ ...f, email: e.target.value })} />}
        </Field>
      </div>
      <RolePicker value={roles} onChange={setRoles} error={fieldError(error, 'roles')} />
      <div className="actions actions--end">
        <button type="button" onClick={onDone}>
          Cancel
        </button>
        <button type="submit" className="primary" disabled={busy}>
          {busy ? 'Creating…' : 'Create user'}
        </button>
      </div>
    </form>
  );
}

/** One user: profile and roles, disable, password reset, sessions and grants. */
export function UserDetailPage({ id }: { id: string }) {
  const user = useApi<User>(`/users/${encodeURIComponent(id)}`);
  const back = (
    <Link to="/admin/users" className="back">
      ← Users
    </Link>
  );
  if (!user.data) {
    return (
      <>
        <PageHeader title="User" back={back} />
        {user.error ? <ErrorBox error={user.error} onRetry={user.reload} /> : <Loading what="Loading the user" />}
      </>
    );
  }
  return <UserDetail key={user.data.id} user={user.data} onChange={user.setData} back={back} />;
}

function UserDetail({ user, onChange, back }: { user: User; onChange: (u: User) => void; back: React.ReactNode }) {
  const [f, setF] = useState({ name: user.name ?? '', given_name: user.given_name ?? '', family_name: user.family_name ?? '', email: user.email ?? '' });
  const [roles, setRoles] = useState<string[]>(user.roles);
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<unknown>();
  const [saved, setSaved] = useState(false);
  const [dialog, setDialog] = useState<'disable' | 'password' | undefined>();
  const [password, setPassword] = useState('');
  const [dialogError, setDialogError] = useState<unknown>();
  const [notice, setNotice] = useState<string | undefined>();
  const path = `/users/${encodeURIComponent(user.id)}`;

  const save = async (e: FormEvent) => {
    e.preventDefault();
    setBusy(true);
    setError(undefined);
    setSaved(false);
    try {
      const blank = (v: string) => (v.trim() ? v.trim() : null);
      onChange(await api<User>('PATCH', path, { name: blank(f.name), given_name: blank(f.given_name), family_name: blank(f.family_name), email: blank(f.email), roles }));
      setSaved(true);
    } catch (err) {
      setError(err);
    } finally {
      setBusy(false);
    }
  };
  const dialogRun = async (action: () => Promise<void>) => {
    setBusy(true);
    setDialogError(undefined);
    try {
      await action();
      setDialog(undefined);
    } catch (err) {
      setDialogError(err);
    } finally {
      setBusy(false);
    }
  };
  const toggleDisabled = () =>
    dialogRun(async () => {
      onChange(await api<User>('PATCH', path, { disabled: !user.disabled }));
      setNotice(user.disabled ? 'The user can sign in again.' : 'The user is disabled: their sessions ended and their tokens stopped working.');
    });
  const resetPassword = () =>
    dialogRun(async () => {
      await api('POST', `${path}/password`, { password });
      setPassword('');
      setNotice('The password was changed and the user’s sessions ended.');
    });

  return (
    <>
      <PageHeader title={user.username} back={back}>
        <button type="button" onClick={() => (setDialogError(undefined), setDialog('password'))}>
          Reset password
        </button>
        <button type="button" className={user.disabled ? 'primary' : 'danger'} onClick={() => (setDialogError(undefined), setDialog('disable'))}>
          {user.disabled ? 'Enable' : 'Disable'}
        </button>
      </PageHeader>
      {user.disabled ? <p className="note note--danger">This user is disabled and cannot sign in.</p> : null}
      {notice ? (
        <p className="note" role="status">
          {notice}
        </p>
      ) : null}
      <form className="panel form" onSubmit={save} noValidate>
        <h2>Profile and roles</h2>
        <p className="small muted">
          ID <code>{user.id}</code> · created {formatDate(user.created_at)}
        </p>
        <FormError error={error} fields={['name', 'given_name', 'family_name', 'email', 'roles']} />
        <div className="grid-2">
          <Field label="Name" error={fieldError(error, 'name')}>
            {(id) => <input id={id} type="text" value={f.name} onChange={(e) => setF({ ...f, name: e.target.value })} />}
          </Field>
          <Field label="Email" error={fieldError(error, 'email')}>
            {(id) => <input id={id} type="email" value={f.email} onChange={(e) => setF({ ...f, email: e.target.value })} />}
          </Field>
          <Field label="Given name" error={fieldError(error, 'given_name')}>
            {(id) => <input id={id} type="text" value={f.given_name} onChange={(e) => setF({ ...f, given_name: e.target.value })} />}
          </Field>
          <Field label="Family name" error={fieldError(error, 'family_name')}>
            {(id) => <input id={id} type="text" value={f.family_name} onChange={(e) => setF({ ...f, family_name: e.target.value })} />}
          </Field>
        </div>
        <RolePicker value={roles} onChange={setRoles} error={fieldError(error, 'roles')} />
        {user.permissions?.length ? (
          <p className="small muted">
            Permissions through these roles: {user.permissions.join(', ')}
          </p>
        ) : null}
        <div className="actions actions--end">
          {saved ? (
            <span className="saved" role="status">
              Saved
            </span>
          ) : null}
          <button type="submit" className="primary" disabled={busy}>
            Save changes
          </button>
        </div>
      </form>
      <Sessions userPath={path} />
      <UserGrants userPath={path} />
      {dialog === 'disable' ? (
        <ConfirmDialog
          title={user.disabled ? `Enable ${user.username}?` : `Disable ${user.username}?`}
          confirmLabel={user.disabled ? 'Enable' : 'Disable user'}
          danger={!user.disabled}
          busy={busy}
          error={dialogError}
          onConfirm={() => void toggleDisabled()}
          onCancel={() => setDialog(undefined)}
        >
          <p>{user.disabled ? 'The user will be able to sign in again.' : 'Their sessions end at once and every token issued for them stops working.'}</p>
        </ConfirmDialog>
      ) : null}
      {dialog === 'password' ? (
        <ConfirmDialog title={`New password for ${user.username}`} confirmLabel="Set password" busy={busy} error={dialogError} onConfirm={() => void resetPassword()} onCancel={() => setDialog(undefined)}>
          <p>The user’s sessions end; they sign in again with the new password.</p>
          <Field label="New password" error={fieldError(dialogError, 'password')}>
            {(id) => <input id={id} type="password" autoComplete="new-password" value={password} onChange={(e) => setPassword(e.target.value)} />}
          </Field>
        </ConfirmDialog>
      ) : null}
    </>
  );
}

function Sessions({ userPath }: { userPath: string }) {
  const sessions = useApi<List<Session>>(`${userPath}/sessions`);
  const [error, setError] = useState<unknown>();
  const act = async (path: string) => {
    setError(undefined);
    try {
      await api('DELETE', path);
      sessions.reload();
    } catch (e) {
      setError(e);
    }
  };
  return (
    <section className="panel">
      <div className="panel__head">
        <h2>Sessions</h2>
        {sessions.data?.items.length ? (
          <button type="button" className="small-button" onClick={() => void act(`${userPath}/sessions`)}>
            End all sessions
          </button>
        ) : null}
      </div>
      <ErrorBox error={error} />
      {sessions.error ? <ErrorBox error={sessions.error} onRetry={sessions.reload} /> : null}
      {sessions.loading && !sessions.data ? <Loading what="Loading sessions" /> : null}
      {sessions.data ? (
        sessions.data.items.length === 0 ? (
          <Empty>No active sessions.</Empty>
        ) : (
          <table className="table">
            <thead>
              <tr>
                <th>Signed in</th>
                <th>Expires</th>
                <th>From</th>
                <th><span className="visually-hidden">Actions</span></th>
              </tr>
            </thead>
            <tbody>
              {sessions.data.items.map((s) => (
                <tr key={s.sid}>
                  <td data-label="Signed in">{formatDate(s.auth_time)}</td>
                  <td data-label="Expires">{formatDate(s.expires_at)}</td>
                  <td data-label="From">
                    <div>
                      {s.ip ?? '—'}
                      {s.user_agent ? <span className="small muted ua">{s.user_agent}</span> : null}
                    </div>
                  </td>
                  <td className="cell-actions">
                    <button type="button" className="small-button" onClick={() => void act(`${userPath}/sessions/${encodeURIComponent(s.sid)}`)}>
                      End
                    </button>
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        )
      ) : null}
    </section>
  );
}

function UserGrants({ userPath }: { userPath: string }) {
  const grants = useApi<List<Grant>>(`${userPath}/grants`);
  const [error, setError] = useState<unknown>();
  const revoke = async (g: Grant) => {
    setError(undefined);
    try {
      await api('DELETE', `${userPath}/grants/${encodeURIComponent(g.client_id)}`);
      grants.reload();
    } catch (e) {
      setError(e);
    }
  };
  return (
    <section className="panel">
      <h2>Apps approved</h2>
      <ErrorBox error={error} />
      {grants.error ? <ErrorBox error={grants.error} onRetry={grants.reload} /> : null}
      {grants.loading && !grants.data ? <Loading what="Loading grants" /> : null}
      {grants.data ? (
        grants.data.items.length === 0 ? (
          <Empty>This user has not approved any app.</Empty>
        ) : (
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
              {grants.data.items.map((g) => (
                <tr key={g.client_id}>
                  <td data-label="App">
                    <Link to={`/admin/apps/${g.client_id}`}>{g.client_name}</Link>
                  </td>
                  <td data-label="Scopes">{g.scopes.join(' ')}</td>
                  <td data-label="Approved">{formatDate(g.granted_at)}</td>
                  <td className="cell-actions">
                    <button type="button" className="small-button" onClick={() => void revoke(g)}>
                      Revoke
                    </button>
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        )
      ) : null}
    </section>
  );
}
