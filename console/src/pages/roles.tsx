import { useState, type FormEvent } from 'react';
import { api, type List, type Permission, type PermissionCreate, type Role, type RoleCreate, type RoleUpdate } from '../api.ts';
import { ConfirmDialog, ErrorBox, Field, fieldError, FormError, ListView, Loading, PageHeader, useAction, useApi } from '../ui.tsx';

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
  // "*": the role holds every permission, including ones created later; there is no list to edit.
  const held = role.permissions === '*' ? undefined : role.permissions;
  const all = held === undefined;
  const [selected, setSelected] = useState<string[]>(held ?? []);
  const [description, setDescription] = useState(role.description ?? '');
  const action = useAction();
  const { busy, error } = action;
  const [confirm, setConfirm] = useState(false);
  const dirty = description !== (role.description ?? '') || (held !== undefined && selected.slice().sort().join() !== held.slice().sort().join());
  const save = () =>
    action.run(async () => {
      const change: RoleUpdate = all ? { description } : { description, permissions: selected };
      await api('PATCH', `/roles/${encodeURIComponent(role.name)}`, change);
      onChange();
    });
  const remove = () =>
    action.run(async () => {
      await api('DELETE', `/roles/${encodeURIComponent(role.name)}`);
      setConfirm(false);
      onChange();
    });
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
  const create = useAction();
  const { busy, error } = create;
  const submit = (e: FormEvent) => {
    e.preventDefault();
    void create.run(async () => {
      const role: RoleCreate = { name: name.trim(), description: description.trim() };
      await api('POST', '/roles', role);
      setName('');
      setDescription('');
      onCreated();
    });
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
  // One action for creating and deleting: the form's error is hidden while a deletion is confirmed.
  const action = useAction();
  const { busy, error } = action;
  const [deleting, setDeleting] = useState<string | undefined>();
  const create = (e: FormEvent) => {
    e.preventDefault();
    void action.run(async () => {
      const permission: PermissionCreate = { name: name.trim(), description: description.trim() };
      await api('POST', '/permissions', permission);
      setName('');
      setDescription('');
      onChange();
    });
  };
  const remove = (permission: string) =>
    action.run(async () => {
      await api('DELETE', `/permissions/${encodeURIComponent(permission)}`);
      setDeleting(undefined);
      onChange();
    });
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
        <ConfirmDialog title={`Delete the permission ${deleting}?`} confirmLabel="Delete permission" danger busy={busy} error={error} onConfirm={() => void remove(deleting)} onCancel={() => setDeleting(undefined)}>
          <p>It is removed from every role that grants it.</p>
        </ConfirmDialog>
      ) : null}
    </>
  );
}
