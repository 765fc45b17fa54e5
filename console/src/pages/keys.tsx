import { useState } from 'react';
import { api, type List, type SigningKey } from '../api.ts';
import { ConfirmDialog, formatDate, ListView, PageHeader, useAction, useApi } from '../ui.tsx';

/** The keys that sign tokens; rotation publishes new ones and keeps the previous ones verifiable. */
export function KeysPage() {
  const keys = useApi<List<SigningKey>>('/keys');
  const [confirm, setConfirm] = useState(false);
  const rotation = useAction();
  const [notice, setNotice] = useState<string | undefined>();
  const rotate = () =>
    rotation.run(async () => {
      // The answer names only the new keys; the list shows them with the previous ones.
      await api<List<SigningKey>>('POST', '/keys/rotate');
      keys.reload();
      setConfirm(false);
      setNotice('New signing keys are active. The previous ones stay published until the tokens they signed expire.');
    });
  return (
    <>
      <PageHeader title="Signing keys">
        <button type="button" className="primary" onClick={() => setConfirm(true)}>
          Rotate keys
        </button>
      </PageHeader>
      <p className="lead">
        <strong>Active</strong> keys sign new tokens; <strong>published</strong> keys (the previous ones) only verify tokens they signed earlier. All are listed at
        /.well-known/jwks.json.
      </p>
      {notice ? (
        <p className="note" role="status">
          {notice}
        </p>
      ) : null}
      <ListView state={keys} what="Loading keys" empty="No keys.">
        {(items) => (
          <table className="table">
            <thead>
              <tr>
                <th>Key ID</th>
                <th>Algorithm</th>
                <th>Status</th>
                <th>Created</th>
                <th>Active since</th>
                <th>Retired</th>
              </tr>
            </thead>
            <tbody>
              {items.map((k) => (
                <tr key={k.kid}>
                  <td data-label="Key ID">
                    <code className="wrap">{k.kid}</code>
                  </td>
                  <td data-label="Algorithm">{k.alg}</td>
                  <td data-label="Status">
                    <span className={`badge ${k.status === 'active' ? 'badge--ok' : 'badge--soft'}`}>{k.status}</span>
                  </td>
                  <td data-label="Created">{formatDate(k.created_at)}</td>
                  <td data-label="Active since">{formatDate(k.activated_at)}</td>
                  <td data-label="Retired">{formatDate(k.deactivated_at)}</td>
                </tr>
              ))}
            </tbody>
          </table>
        )}
      </ListView>
      {confirm ? (
        <ConfirmDialog title="Rotate the signing keys?" confirmLabel="Rotate keys" busy={rotation.busy} error={rotation.error} onConfirm={() => void rotate()} onCancel={() => setConfirm(false)}>
          <p>New keys sign every token from now on. Tokens already issued stay valid: the previous keys remain published until they expire.</p>
        </ConfirmDialog>
      ) : null}
    </>
  );
}
