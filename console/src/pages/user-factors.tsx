import { useState } from 'react';
import { api, type FactorsReset, type UserFactors } from '../api.ts';
import { ConfirmDialog, ErrorBox, formatDate, Loading, useAction, useApi } from '../ui.tsx';

const TYPE_LABELS: Record<string, string> = { totp: 'Authenticator app', passkey: 'Passkey' };

/**
 * A user's second factors (authenticator app, passkeys) and recovery codes left, with "Reset
 * factors" for a lost phone (`DELETE …/factors`): the user then signs in with the password and,
 * where MFA is required, sets up a new factor right after it.
 */
export function SecondFactors({ userPath, username }: { userPath: string; username: string }) {
  const state = useApi<UserFactors>(`${userPath}/factors`);
  const resetting = useAction();
  const [confirm, setConfirm] = useState(false);
  const [notice, setNotice] = useState<string | undefined>();
  const reset = () =>
    resetting.run(async () => {
      const result = await api<FactorsReset>('DELETE', `${userPath}/factors`);
      setConfirm(false);
      setNotice(result.removed.length ? `Removed: ${result.removed.map((t) => TYPE_LABELS[t] ?? t.replace('_', ' ')).join(', ')}.` : 'There was nothing to remove.');
      state.reload();
    });
  const factors = state.data?.factors ?? [];
  const any = factors.length > 0 || (state.data?.recovery_codes_remaining ?? 0) > 0;
  return (
    <section className="panel" aria-labelledby="factors-title">
      <div className="panel__head">
        <h2 id="factors-title">Second factors</h2>
        {any ? (
          <button type="button" className="small-button" disabled={resetting.busy} onClick={() => setConfirm(true)}>
            Reset factors
          </button>
        ) : null}
      </div>
      {notice ? (
        <p className="note" role="status">
          {notice}
        </p>
      ) : null}
      <ErrorBox error={state.error} onRetry={state.error ? state.reload : undefined} />
      {!state.data && !state.error ? <Loading what="Loading second factors" /> : null}
      {state.data && !factors.length ? <p className="muted">No second factor: this user signs in with a password only.</p> : null}
      {factors.length ? (
        <table className="table">
          <thead>
            <tr>
              <th>Factor</th>
              <th>Name</th>
              <th>Since</th>
              <th>Last used</th>
            </tr>
          </thead>
          <tbody>
            {factors.map((f) => (
              <tr key={f.id}>
                <td data-label="Factor">{TYPE_LABELS[f.type] ?? f.type}</td>
                <td data-label="Name">{f.name}</td>
                <td data-label="Since">{formatDate(f.created_at)}</td>
                <td data-label="Last used">{f.last_used_at ? formatDate(f.last_used_at) : '—'}</td>
              </tr>
            ))}
          </tbody>
        </table>
      ) : null}
      {state.data && factors.length ? <p className="small muted">Recovery codes left: {state.data.recovery_codes_remaining}</p> : null}
      {confirm ? (
        <ConfirmDialog
          title={`Reset ${username}’s second factors?`}
          confirmLabel="Reset factors"
          danger
          busy={resetting.busy}
          error={resetting.error}
          onConfirm={() => void reset()}
          onCancel={() => setConfirm(false)}
        >
          <p>Every authenticator app, passkey and recovery code of {username} is removed. They sign in with their password next time and, where a second factor is required, set up a new one right after it. A verified address is told by email.</p>
        </ConfirmDialog>
      ) : null}
    </section>
  );
}
