import { useCallback, useEffect, useId, useRef, useState, type ReactNode } from 'react';
import { ApiError, get, type List } from './api.ts';

/** Loads from the admin API; `reload` fetches again. Stale answers are dropped. */
export function useApi<T>(path: string | undefined): { data: T | undefined; error: unknown; loading: boolean; reload: () => void; setData: (d: T) => void } {
  const [state, setState] = useState<{ data: T | undefined; error: unknown; loading: boolean }>({ data: undefined, error: undefined, loading: path !== undefined });
  const [tick, setTick] = useState(0);
  useEffect(() => {
    if (path === undefined) return;
    let live = true;
    setState((s) => ({ ...s, loading: true, error: undefined }));
    get<T>(path).then(
      (data) => live && setState({ data, error: undefined, loading: false }),
      (error: unknown) => live && setState({ data: undefined, error, loading: false }),
    );
    return () => {
      live = false;
    };
  }, [path, tick]);
  const reload = useCallback(() => setTick((t) => t + 1), []);
  const setData = useCallback((data: T) => setState({ data, error: undefined, loading: false }), []);
  return { ...state, reload, setData };
}

export interface Action {
  busy: boolean;
  /** The last run's error (an ApiError for refusals of the admin API), until the next run or `reset`. */
  error: unknown;
  /** Runs `action` unless one is under way; answers whether it succeeded. */
  run: (action: () => Promise<unknown>) => Promise<boolean>;
  /** Forgets the last error (say, when a dialog opens again). */
  reset: () => void;
}

/**
 * The busy and error state of one thing a user starts: a form's submit, a dialog's confirm,
 * a row's button. `run` clears the previous error, marks the action busy, awaits it and
 * keeps its error for the form to show (beside the field it names, see `fieldError`). A
 * second `run` while one is under way is ignored, so a double click submits once.
 */
export function useAction(): Action {
  const [state, setState] = useState<{ busy: boolean; error: unknown }>({ busy: false, error: undefined });
  const running = useRef(false);
  const run = useCallback(async (action: () => Promise<unknown>) => {
    if (running.current) return false;
    running.current = true;
    setState({ busy: true, error: undefined });
    try {
      await action();
      setState({ busy: false, error: undefined });
      return true;
    } catch (error) {
      setState({ busy: false, error });
      return false;
    } finally {
      running.current = false;
    }
  }, []);
  const reset = useCallback(() => setState((s) => (s.error === undefined ? s : { ...s, error: undefined })), []);
  return { ...state, run, reset };
}

export function describeError(error: unknown): string {
  if (error instanceof ApiError) return error.message;
  if (error instanceof Error) return error.message;
  return String(error);
}

export function fieldError(error: unknown, field: string): string | undefined {
  return error instanceof ApiError && error.field === field ? error.message : undefined;
}

export function Loading({ what = 'Loading' }: { what?: string }) {
  return (
    <div className="loading" role="status">
      <span className="spinner" aria-hidden="true" />
      {what}…
    </div>
  );
}

export function ErrorBox({ error, onRetry }: { error: unknown; onRetry?: () => void }) {
  if (!error) return null;
  return (
    <div className="alert" role="alert">
      <span>{describeError(error)}</span>
      {onRetry ? (
        <button type="button" className="link" onClick={onRetry}>
          Try again
        </button>
      ) : null}
    </div>
  );
}

/** A form error that is not about one field (field errors are shown beside their field). */
export function FormError({ error, fields }: { error: unknown; fields: string[] }) {
  if (!error) return null;
  if (error instanceof ApiError && error.field && fields.includes(error.field)) {
    return (
      <div className="alert" role="alert">
        Please correct the field marked below.
      </div>
    );
  }
  return <ErrorBox error={error} />;
}

export function Field({ label, hint, error, children, id }: { label: string; hint?: ReactNode; error?: string; children: (id: string, describedBy: string | undefined) => ReactNode; id?: string }) {
  const auto = useId();
  const fid = id ?? auto;
  const hintId = hint ? `${fid}-hint` : undefined;
  const errId = error ? `${fid}-error` : undefined;
  const describedBy = [hintId, errId].filter(Boolean).join(' ') || undefined;
  return (
    <div className={`field${error ? ' field--invalid' : ''}`}>
      <label htmlFor={fid}>{label}</label>
      {children(fid, describedBy)}
      {hint ? (
        <p className="hint" id={hintId}>
          {hint}
        </p>
      ) : null}
      {error ? (
        <p className="field-error" id={errId} role="alert">
          {error}
        </p>
      ) : null}
    </div>
  );
}

export function CopyValue({ label, value, testId }: { label: string; value: string; testId?: string }) {
  const [copied, setCopied] = useState<'yes' | 'no' | undefined>();
  const copy = async () => {
    try {
      await navigator.clipboard.writeText(value);
      setCopied('yes');
    } catch {
      // Clipboard refused (permissions, insecure origin): the value stays selectable.
      setCopied('no');
    }
  };
  return (
    <div className="copy">
      <span className="copy__label">{label}</span>
      <div className="copy__row">
        <code className="copy__value" data-testid={testId}>
          {value}
        </code>
        <button type="button" onClick={copy} aria-label={`Copy ${label}`}>
          {copied === 'yes' ? 'Copied' : 'Copy'}
        </button>
      </div>
      {copied === 'no' ? <p className="hint">Copying was not allowed here; select the value and copy it by hand.</p> : null}
    </div>
  );
}

/** A modal confirmation built on <dialog> (focus trap and Escape for free). */
export function ConfirmDialog({
  title,
  children,
  confirmLabel,
  danger,
  busy,
  error,
  onConfirm,
  onCancel,
}: {
  title: string;
  children: ReactNode;
  confirmLabel: string;
  danger?: boolean;
  busy?: boolean;
  error?: unknown;
  onConfirm: () => void;
  onCancel: () => void;
}) {
  const ref = useRef<HTMLDialogElement>(null);
  useEffect(() => {
    const d = ref.current;
    if (d && !d.open) d.showModal();
  }, []);
  return (
    <dialog ref={ref} className="dialog" aria-labelledby="dialog-title" onCancel={(e) => {
      e.preventDefault();
      onCancel();
    }}>
      <h2 id="dialog-title">{title}</h2>
      <div className="dialog__body">{children}</div>
      <ErrorBox error={error} />
      <div className="actions actions--end">
        <button type="button" onClick={onCancel} disabled={busy}>
          Cancel
        </button>
        <button type="button" className={danger ? 'danger' : 'primary'} onClick={onConfirm} disabled={busy}>
          {busy ? 'Working…' : confirmLabel}
        </button>
      </div>
    </dialog>
  );
}

export function PageHeader({ title, children, back }: { title: string; children?: ReactNode; back?: ReactNode }) {
  return (
    <header className="page-header">
      <div>
        {back}
        <h1>{title}</h1>
      </div>
      {children ? <div className="page-header__actions">{children}</div> : null}
    </header>
  );
}

export function formatDate(value: string | null | undefined): string {
  if (!value) return '—';
  const d = new Date(value);
  return Number.isNaN(d.getTime()) ? value : d.toLocaleString(undefined, { dateStyle: 'medium', timeStyle: 'short' });
}

export function formatSeconds(s: number | null | undefined): string {
  if (s === null || s === undefined) return 'default';
  if (s % 86400 === 0) return `${s / 86400} d`;
  if (s % 3600 === 0) return `${s / 3600} h`;
  if (s % 60 === 0) return `${s / 60} min`;
  return `${s} s`;
}

/** Lines of a textarea → trimmed, non-empty values. */
export const lines = (text: string) =>
  text
    .split('\n')
    .map((l) => l.trim())
    .filter(Boolean);

export function Empty({ children }: { children: ReactNode }) {
  return <p className="empty">{children}</p>;
}

/**
 * A list loaded with `useApi`: its error (with a retry), a loading line on first load, the
 * empty message, or the items rendered by `children`. Keeps every list page's states alike.
 */
export function ListView<T>({
  state,
  what,
  empty,
  children,
}: {
  state: { data: List<T> | undefined; error: unknown; loading: boolean; reload: () => void };
  what: string;
  empty: ReactNode;
  children: (items: T[]) => ReactNode;
}) {
  return (
    <>
      {state.error ? <ErrorBox error={state.error} onRetry={state.reload} /> : null}
      {state.loading && !state.data ? <Loading what={what} /> : null}
      {state.data ? state.data.items.length === 0 ? <Empty>{empty}</Empty> : children(state.data.items) : null}
    </>
  );
}
