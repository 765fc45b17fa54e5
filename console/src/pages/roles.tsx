import { useState, type FormEvent } from 'react';
import { api, type List, type Permission, type Role } from '../api.ts';
import { ConfirmDialog, ErrorBox, Field, fieldError, FormError, ListView, Loading, PageHeader, useApi } from '../ui.tsx';

/** Roles (each a set of permissions) and the permissions themselves. */
export function RolesPage() {
  const roles = useApi<List<Role>>('/roles');
  const permissions = useApi<List<Permission>>('/permissions');
  const reload = () => {
    roles.reload();
    permissions.reload();
  };
  return (
    <>
      <PageHeader title="Roles & permissions" />
      <p className="lead">Users hold roles; roles grant permissions; apps may require a permission of the people who approve them.</p>
      <div className="two-columns">
        <section>
          <h2>Roles</h2>
          {roles.error ? <ErrorBox error={roles.error} onRetry={roles.reload} /> : null}
          {roles.loading && !roles.data ? <Loading what="Loading roles" /> : null}
          {roles.data && permissions.data
            ? roles.data.items.map((r) => <RoleCard key={`${r.name}:${String(r.permissions)}`} role={r} permissions={permissions.data!.items} onChange={reload} />)
            : null}
          <NewRole onCreated={reload} />
        </section>
        <section>
          <h2>Permissions</h2>
          <Permissions permissions={permissions} onChange={reload} />
        </section>
      </div>
    </>
  );
}

function RoleCard({ role, permissions, onChange }: { role: Role; permissions: Permission[]; onChange: () => void }) {
  const all = role.permissions === '*';
  const [selected, setSelected] = useState<string[]>(all ? [] : (role.permissions as string[]));
  const [description, setDescription] = useState(role.description ?? '');
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<unknown>();
  const [confirm, setConfirm] = useState(false);
  const dirty = description !== (role.description ?? '') || (!all && selected.slice().sort().join() !== (role.permissions as string[]).slice().sort().join());
  const save = async () => {
    setBusy(true);
    setError(undefined);
    try {
      await api('PATCH', `/roles/${encodeURIComponent(role.name)}`, all ? { description } : { description, permissions: selected });
      onChange();
    } catch (e) {
      setError(e);
    } finally {
      setBusy(false);
    }
  };
  const remove = async () => {
    setBusy(true);
    setError(undefined);
    try {
      await api('DELETE', `/roles/${encodeURIComponent(role.name)}`);
      setConfirm(false);
      onChange();
    } catch (e) {
      setError(e);
      setBusy(false);
    }
  };
  return (
    <article className="panel role">
      <div className="panel__head">
        <h3>
          {role.name} {role.builtin ? <span className="badge badge--soft">built in</span> : null}
        </h3>
        {!role.builtin ? (
          <button type="button" className="small-button danger" onClick={() => setConfirm(true)}>
            Delete
          </button>
        ) : null}
      </div>
      <ErrorBox error={error} />
      <Field label="Description">{(id) => <input id={id} type="text" value={description} onChange={(e) => setDescription(e.target.value)} />}</Field>
      {all ? (
        <p className="small">Holds every permission, including ones created later.</p>
      ) : (
        <ul className="checks checks--inline" aria-label={`Permissions of ${role.name}`}>
          {permissions.map((p) => (
            <li key={p.name}>
              <label className="check">
                <input type="checkbox" checked={selected.includes(p.name)} onChange={(e) => setSelected(e.target.checked ? [...selected, p.name] : selected.filter((x) => x !== p.name))} />
                <code>{p.name}</code>
              </label>
            </li>
          ))}
        </ul>
      )}
      {dirty ? (
        <div className="actions actions--end">
          <button type="button" className="primary" onClick={() => void save()} disabled={busy}>
            Save {role.name}
          </button>
        </div>
      ) : null}
      {confirm ? (
        <ConfirmDialog title={`Delete the role ${role.name}?`} confirmLabel="Delete role" danger busy={busy} error={error} onConfirm={() => void remove()} onCancel={() => setConfirm(false)}>
          <p>Users holding it lose its permissions at once.</p>
        </ConfirmDialog>
      ) : null}
    </article>
  );
}

function NewRole({ onCreated }: { onCreated: () => void }) {
  const [name, setName] = useState('');
  const [description, setDescription] = useState('');
  const [error, setError] = useState<unknown>();
  const [busy, setBusy] = useState(false);
  const submit = async (e: FormEvent) => {
    e.preventDefault();
    setBusy(true);
    setError(undefined);
    try {
      await api('POST', '/roles', { name: name.trim(), description: description.trim() });
      setName('');
      setDescription('');
      onCreated();
    } catch (err) {
      setError(err);
    } finally {
      setBusy(false);
    }
  };
  return (
    <form className="panel form" onSubmit={submit} noValidate>
      <h3>New role</h3>
      <FormError error={error} fields={['name', 'description']} />
      <Field label="Role name" error={fieldError(error, 'name')}>
        {(id) => <input id={id} type="text" value={name} onChange={(e) => setName(e.target.value)} />}
      </Field>
      <Field label="Role description" error={fieldError(error, 'description')}>
        {(id) => <input id={id} type="text" value={description} onChange={(e) => setDescription(e.target.value)} />}
      </Field>
      <div className="actions actions--end">
        <button type="submit" className="primary" disabled={busy}>
          Create role
        </button>
      </div>
    </form>
  );
}

function Permissions({ permissions, onChange }: { permissions: ReturnType<typeof useApi<List<Permission>>>; onChange: () => void }) {
  const [name, setName] = useState('');
  const [description, setDescription] = useState('');
  const [error, setError] = useState<unknown>();
  const [busy, setBusy] = useState(false);
  const [deleting, setDeleting] = useState<string | undefined>();
  const create = async (e: FormEvent) => {
    e.preventDefault();
    setBusy(true);
    setError(undefined);
    try {
      await api('POST', '/permissions', { name: name.trim(), description: description.trim() });
      setName('');
      setDescription('');
      onChange();
    } catch (err) {
      setError(err);
    } finally {
      setBusy(false);
    }
  };
  const remove = async () => {
    setBusy(true);
    setError(undefined);
    try {
      await api('DELETE', `/permissions/${encodeURIComponent(deleting!)}`);
      setDeleting(undefined);
      onChange();
    } catch (err) {
      setError(err);
    } finally {
      setBusy(false);
    }
  };
  return (
    <>
      <ListView state={permissions} what="Loading permissions" empty="No permissions.">
        {(items) => (
          <ul className="panel list">
            {items.map((p) => (
              <li key={p.name}>
                <div>
                  <code>{p.name}</code> {p.builtin ? <span className="badge badge--soft">built in</span> : null}
                  <p className="small muted">{p.description || 'No description'}</p>
                </div>
                {!p.builtin ? (
                  <button type="button" className="small-button danger" aria-label={`Delete permission ${p.name}`} onClick={() => setDeleting(p.name)}>
                    Delete
                  </button>
                ) : null}
              </li>
            ))}
          </ul>
        )}
      </ListView>
      <form className="panel form" onSubmit={create} noValidate>
        <h3>New permission</h3>
        <FormError error={deleting ? undefined : error} fields={['name', 'description']} />
        <Field label="Permission name" error={deleting ? undefined : fieldError(error, 'name')}>
          {(id) => <input id={id} type="text" value={name} onChange={(e) => setName(e.target.value)} />}
        </Field>
        <Field label="Permission description" error={fieldError(error, 'description')}>
          {(id) => <input id={id} type="text" value={description} onChange={(e) => setDescription(e.target.value)} />}
        </Field>
        <div className="actions actions--end">
          <button type="submit" className="primary" disabled={busy}>
            Create permission
          </button>
        </div>
      </form>
      {deleting ? (
        <ConfirmDialog title={`Delete the permission ${deleting}?`} confirmLabel="Delete permission" danger busy={busy} error={error} onConfirm={() => void remove()} onCancel={() => setDeleting(undefined)}>
          <p>It is removed from every role that grants it.</p>
        </ConfirmDialog>
      ) : null}
    </>
  );
}
