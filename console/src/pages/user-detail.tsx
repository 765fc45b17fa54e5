import { useState, type FormEvent, type ReactNode } from 'react';
import { api, type PasswordReset, type User, type UserUpdate } from '../api.ts';
import { Link, navigate } from '../router.tsx';
import { ConfirmDialog, ErrorBox, Field, FormError, Loading, PageHeader, fieldError, formatDate, useAction, useApi } from '../ui.tsx';
import { Sessions, SignInThrottling, UserGrants, UserLinks } from './user-access.tsx';
import { LanguageSelect } from './translations.tsx';
import { SecondFactors } from './user-factors.tsx';
import { RolePicker } from './users.tsx';

/** One user: profile and roles, disable, delete, password reset, sessions, sign-in throttling, grants and identity-provider links. */
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

function UserDetail({ user, onChange, back }: { user: User; onChange: (u: User) => void; back: ReactNode }) {
  const [f, setF] = useState({ name: user.name ?? '', given_name: user.given_name ?? '', family_name: user.family_name ?? '', email: user.email ?? '', locale: user.locale ?? '' });
  const [roles, setRoles] = useState<string[]>(user.roles);
  const profile = useAction();
  const { error } = profile;
  const [saved, setSaved] = useState(false);
  const [dialog, setDialog] = useState<'disable' | 'delete' | 'password' | undefined>();
  const [password, setPassword] = useState('');
  const confirmed = useAction();
  const dialogError = confirmed.error;
  const busy = profile.busy || confirmed.busy;
  const [notice, setNotice] = useState<string | undefined>();
  const path = `/users/${encodeURIComponent(user.id)}`;

  const save = (e: FormEvent) => {
    e.preventDefault();
    setSaved(false);
    void profile.run(async () => {
      const blank = (v: string) => (v.trim() ? v.trim() : null);
      const change: UserUpdate = { name: blank(f.name), given_name: blank(f.given_name), family_name: blank(f.family_name), email: blank(f.email), roles };
      // Sent only when changed here: the user may have changed it by signing in since the page loaded.
      if (f.locale !== (user.locale ?? '')) change.locale = f.locale || null;
      onChange(await api<User>('PATCH', path, change));
      setSaved(true);
    });
  };
  const openDialog = (which: 'disable' | 'delete' | 'password') => {
    confirmed.reset();
    setDialog(which);
  };
  const dialogRun = (action: () => Promise<void>) =>
    confirmed.run(async () => {
      await action();
      setDialog(undefined);
    });
  const toggleDisabled = () =>
    dialogRun(async () => {
      const change: UserUpdate = { disabled: !user.disabled };
      onChange(await api<User>('PATCH', path, change));
      setNotice(user.disabled ? 'The user can sign in again.' : 'The user is disabled: their sessions ended and their tokens stopped working.');
    });
  const deleteUser = () =>
    dialogRun(async () => {
      await api('DELETE', path);
      navigate('/admin/users');
    });
  const resetPassword = () =>
    dialogRun(async () => {
      const reset: PasswordReset = { password };
      await api('POST', `${path}/password`, reset);
      setPassword('');
      setNotice('The password was changed and the user’s sessions ended.');
    });

  return (
    <>
      <PageHeader title={user.username} back={back}>
        <button type="button" onClick={() => openDialog('password')}>
          Reset password
        </button>
        <button type="button" className={user.disabled ? 'primary' : 'danger'} onClick={() => openDialog('disable')}>
          {user.disabled ? 'Enable' : 'Disable'}
        </button>
        <button type="button" className="danger" onClick={() => openDialog('delete')}>
          Delete
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
        <FormError error={error} fields={['name', 'given_name', 'family_name', 'email', 'roles', 'locale']} />
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
          <Field label="Language" error={fieldError(error, 'locale')} hint="Mail to the user is written in it; signing in on pages in another language changes it.">
            {(id, d) => <LanguageSelect id={id} describedBy={d} value={f.locale} onChange={(locale) => setF({ ...f, locale })} unknownLabel="Not known (the server's default)" />}
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
      <SignInThrottling userPath={path} />
      <SecondFactors userPath={path} username={user.username} />
      <UserGrants userPath={path} />
      <UserLinks userPath={path} />
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
      {dialog === 'delete' ? (
        <ConfirmDialog
          title={`Delete ${user.username}?`}
          confirmLabel="Delete user"
          danger
          busy={busy}
          error={dialogError}
          onConfirm={() => void deleteUser()}
          onCancel={() => setDialog(undefined)}
        >
          <p>Their sessions, approvals, refresh tokens and identity-provider links are deleted with them, and every token issued for them stops working. This cannot be undone.</p>
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
