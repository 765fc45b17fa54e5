import { useEffect, useState, type FormEvent } from 'react';
import { api, type EmailStatus, type Invitation, type InvitationCreate, type List, type Role, type User, type UserCreate } from '../api.ts';
import { Link, navigate } from '../router.tsx';
import { ErrorBox, Field, fieldError, FormError, ListView, Loading, PageHeader, useAction, useApi } from '../ui.tsx';
import { LanguageSelect } from './translations.tsx';

/** Users: search, create. */
export function UsersPage() {
  const [search, setSearch] = useState('');
  const [query, setQuery] = useState('');
  const [creating, setCreating] = useState(false);
  const [inviting, setInviting] = useState(false);
  useEffect(() => {
    const t = setTimeout(() => setQuery(search.trim()), 250);
    return () => clearTimeout(t);
  }, [search]);
  const users = useApi<List<User>>(`/users${query ? `?search=${encodeURIComponent(query)}` : ''}`);
  return (
    <>
      <PageHeader title="Users">
        <button type="button" onClick={() => setInviting(true)} disabled={inviting}>
          Invite by email
        </button>
        <button type="button" className="primary" onClick={() => setCreating(true)} disabled={creating}>
          New user
        </button>
      </PageHeader>
      {inviting ? <InviteUser onDone={() => setInviting(false)} /> : null}
      {creating ? <NewUser onDone={() => setCreating(false)} /> : null}
      <div className="toolbar">
        <label className="visually-hidden" htmlFor="user-search">
          Search users
        </label>
        <input id="user-search" type="search" placeholder="Search by username, name, email or ID" value={search} onChange={(e) => setSearch(e.target.value)} />
      </div>
      <ListView state={users} what="Loading users" empty={query ? `No user matches “${query}”.` : 'No users yet.'}>
        {(items) => (
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
              {items.map((u) => (
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
        )}
      </ListView>
    </>
  );
}

export function RolePicker({ value, onChange, error }: { value: string[]; onChange: (v: string[]) => void; error?: string }) {
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
  const [f, setF] = useState({ username: '', password: '', email: '', name: '', locale: '' });
  const [roles, setRoles] = useState<string[]>(['developer']);
  const create = useAction();
  const { busy, error } = create;
  const submit = (e: FormEvent) => {
    e.preventDefault();
    void create.run(async () => {
      const input: UserCreate = { username: f.username.trim(), password: f.password, email: f.email.trim() || null, name: f.name.trim() || null, roles, locale: f.locale || null };
      const user = await api<User>('POST', '/users', input);
      navigate(`/admin/users/${encodeURIComponent(user.username)}`);
    });
  };
  return (
    <form className="panel form" onSubmit={submit} noValidate>
      <h2>New user</h2>
      <FormError error={error} fields={['username', 'password', 'email', 'name', 'roles', 'locale']} />
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
        <Field label="Language" error={fieldError(error, 'locale')} hint="Mail to the user is written in it; signing in on pages in another language changes it.">
          {(id, d) => <LanguageSelect id={id} describedBy={d} value={f.locale} onChange={(locale) => setF({ ...f, locale })} unknownLabel="Not known (the server's default)" />}
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

/**
 * Invite by email: the invitee gets a single-use link (7 days) to choose a username and a
 * password. Without email configured on the server, the form says so instead of offering to send.
 */
function InviteUser({ onDone }: { onDone: () => void }) {
  const status = useApi<EmailStatus>('/email');
  const [email, setEmail] = useState('');
  const [locale, setLocale] = useState('');
  const [roles, setRoles] = useState<string[]>(['developer']);
  const [sent, setSent] = useState<Invitation | undefined>();
  const invite = useAction();
  const { busy, error } = invite;
  const submit = (e: FormEvent) => {
    e.preventDefault();
    setSent(undefined);
    void invite.run(async () => {
      const input: InvitationCreate = { email: email.trim(), roles, locale: locale || null };
      setSent(await api<Invitation>('POST', '/users/invitations', input));
      setEmail('');
    });
  };
  if (status.data && !status.data.configured) {
    return (
      <div className="panel form" role="status">
        <h2>Invite by email</h2>
        <p>Email is not configured: set TESSERA_SMTP_URL and TESSERA_SMTP_FROM on the server to invite people by email (docs/email.md). Until then, create the user with a password.</p>
        <div className="actions actions--end">
          <button type="button" onClick={onDone}>
            Close
          </button>
        </div>
      </div>
    );
  }
  return (
    <form className="panel form" onSubmit={submit} noValidate>
      <h2>Invite by email</h2>
      {status.error ? <ErrorBox error={status.error} onRetry={status.reload} /> : null}
      <FormError error={error} fields={['email', 'roles', 'locale']} />
      {sent ? (
        <p className="saved" role="status">
          Invitation sent to {sent.email}; the link works until {new Date(sent.expires_at).toLocaleString()}.
        </p>
      ) : null}
      <Field label="Email" error={fieldError(error, 'email')} hint="They choose their username and password through the link.">
        {(id, d) => <input id={id} type="email" aria-describedby={d} value={email} onChange={(e) => setEmail(e.target.value)} />}
      </Field>
      <Field label="Language" error={fieldError(error, 'locale')} hint="Of the mail and of the page the link opens.">
        {(id, d) => <LanguageSelect id={id} describedBy={d} value={locale} onChange={setLocale} unknownLabel="The server's default" />}
      </Field>
      <RolePicker value={roles} onChange={setRoles} error={fieldError(error, 'roles')} />
      <div className="actions actions--end">
        <button type="button" onClick={onDone}>
          Close
        </button>
        <button type="submit" className="primary" disabled={busy || !status.data}>
          {busy ? 'Sending…' : 'Send invitation'}
        </button>
      </div>
    </form>
  );
}
