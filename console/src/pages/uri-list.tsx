import { useEffect, useState } from 'react';
import { api } from '../api.ts';

interface Check {
  state: 'checking' | 'ok' | 'rejected' | 'error';
  reason?: string;
}

/**
 * A list of redirect URIs, each checked live against the redirect-URI policy
 * (POST /apps/check-redirect-uri saves nothing) with the reason shown beside it.
 */
export function UriList({ label, hint, values, onChange, error, name }: { label: string; hint: string; values: string[]; onChange: (v: string[]) => void; error?: string; name: string }) {
  const rows = values.length ? values : [''];
  const set = (i: number, v: string) => onChange(rows.map((x, j) => (j === i ? v : x)));
  const remove = (i: number) => onChange(rows.filter((_, j) => j !== i));
  return (
    <fieldset className={`field uri-list${error ? ' field--invalid' : ''}`}>
      <legend>{label}</legend>
      <p className="hint">{hint}</p>
      {rows.map((value, i) => (
        <UriRow key={i} index={i} name={name} label={label} value={value} onChange={(v) => set(i, v)} onRemove={rows.length > 1 || value ? () => remove(i) : undefined} />
      ))}
      <button type="button" className="link" onClick={() => onChange([...rows, ''])}>
        + Add another URI
      </button>
      {error ? (
        <p className="field-error" role="alert">
          {error}
        </p>
      ) : null}
    </fieldset>
  );
}

function UriRow({ index, name, label, value, onChange, onRemove }: { index: number; name: string; label: string; value: string; onChange: (v: string) => void; onRemove?: () => void }) {
  const [check, setCheck] = useState<Check | undefined>();
  useEffect(() => {
    const uri = value.trim();
    if (!uri) {
      setCheck(undefined);
      return;
    }
    let live = true;
    setCheck({ state: 'checking' });
    const t = setTimeout(() => {
      api<{ ok: boolean; reason?: string }>('POST', '/apps/check-redirect-uri', { uri }).then(
        (r) => live && setCheck(r.ok ? { state: 'ok' } : { state: 'rejected', reason: r.reason ?? 'not allowed by the redirect-URI policy' }),
        (e: unknown) => live && setCheck({ state: 'error', reason: e instanceof Error ? e.message : String(e) }),
      );
    }, 350);
    return () => {
      live = false;
      clearTimeout(t);
    };
  }, [value]);
  const id = `${name}-${index}`;
  return (
    <div className="uri-row">
      <div className="uri-row__input">
        <input
          id={id}
          type="url"
          inputMode="url"
          aria-label={`${label} ${index + 1}`}
          placeholder="https://app.example.com/callback"
          value={value}
          aria-invalid={check?.state === 'rejected'}
          aria-describedby={check ? `${id}-check` : undefined}
          onChange={(e) => onChange(e.target.value)}
        />
        {onRemove ? (
          <button type="button" className="icon-button" aria-label={`Remove ${label} ${index + 1}`} onClick={onRemove}>
            ×
          </button>
        ) : null}
      </div>
      {check ? (
        <p id={`${id}-check`} className={`uri-check uri-check--${check.state}`} data-testid="uri-check" aria-live="polite">
          {check.state === 'checking' ? 'Checking…' : check.state === 'ok' ? '✓ Allowed by the redirect-URI policy' : check.state === 'rejected' ? `✗ ${check.reason}` : `Could not check: ${check.reason}`}
        </p>
      ) : null}
    </div>
  );
}
