import { useEffect, useRef, useState, type ChangeEvent, type FormEvent } from 'react';
import { api, type Branding, type BrandingUpdate } from '../api.ts';
import { limits } from '../generated/admin-api-limits.ts';
import { ErrorBox, Field, FormError, Loading, PageHeader, describeError, fieldError, useAction, useApi } from '../ui.tsx';

type Draft = Required<Pick<BrandingUpdate, 'product_name' | 'primary_color' | 'background_color' | 'allow_remote_app_logos'>> & {
  logo_url: string;
  terms_url: string;
  privacy_url: string;
};
type PreviewPage = 'login' | 'consent';

const FIELDS = ['product_name', 'primary_color', 'background_color', 'logo_url', 'terms_url', 'privacy_url', 'allow_remote_app_logos'] as const;
const NAME_MAX = limits.BrandingUpdate.product_name.maxLength;

const draftOf = (b: Branding): Draft => ({
  product_name: b.product_name,
  primary_color: b.primary_color,
  background_color: b.background_color,
  logo_url: b.logo_url ?? '',
  terms_url: b.terms_url ?? '',
  privacy_url: b.privacy_url ?? '',
  allow_remote_app_logos: b.allow_remote_app_logos,
});

/** What the API takes: empty links are null (cleared). */
const updateOf = (d: Draft): BrandingUpdate => ({
  ...d,
  logo_url: d.logo_url.trim() || null,
  terms_url: d.terms_url.trim() || null,
  privacy_url: d.privacy_url.trim() || null,
});

/**
 * The brand of the sign-in pages (docs/branding.md) with a live preview: the server renders
 * the login or consent page with the draft (POST /branding/preview, nothing saved), shown in a
 * sandboxed frame (no script, no forms) under the console's own CSP.
 */
export function BrandingPage() {
  const branding = useApi<Branding>('/branding');
  return (
    <>
      <PageHeader title="Branding" />
      <p className="lead">The name, logo and colours of the sign-in, consent, sign-out and account pages. Every node shows a change on its next page.</p>
      {branding.error ? <ErrorBox error={branding.error} onRetry={branding.reload} /> : null}
      {branding.loading && !branding.data ? <Loading what="Loading branding" /> : null}
      {/* Not keyed on the data: a logo upload must not throw away a draft being typed. */}
      {branding.data ? <BrandingEditor branding={branding.data} onSaved={branding.setData} /> : null}
    </>
  );
}

function BrandingEditor({ branding, onSaved }: { branding: Branding; onSaved: (b: Branding) => void }) {
  const [draft, setDraft] = useState<Draft>(() => draftOf(branding));
  const save = useAction();
  const logo = useAction();
  const [saved, setSaved] = useState(false);
  const set = <K extends keyof Draft>(key: K, value: Draft[K]) => {
    setSaved(false);
    setDraft((d) => ({ ...d, [key]: value }));
  };
  const submit = (e: FormEvent) => {
    e.preventDefault();
    setSaved(false);
    void save.run(async () => {
      const view = await api<Branding>('PATCH', '/branding', updateOf(draft));
      onSaved(view);
      setDraft(draftOf(view)); // as saved: colours normalised (#abc → #aabbcc), names trimmed
      setSaved(true);
    });
  };
  const upload = (e: ChangeEvent<HTMLInputElement>) => {
    const file = e.target.files?.[0];
    if (!file) return;
    void logo.run(async () => {
      const data = await base64Of(file);
      onSaved(await api<Branding>('PUT', '/branding/logo', { content_type: file.type || 'application/octet-stream', data }));
    });
  };
  const removeLogo = () => void logo.run(async () => onSaved(await api<Branding>('DELETE', '/branding/logo')));

  return (
    <div className="branding">
      <form className="panel form" onSubmit={submit} noValidate>
        <FormError error={save.error} fields={[...FIELDS]} />
        <Field label="Product name" error={fieldError(save.error, 'product_name')} hint={`In every page header and title; up to ${NAME_MAX} characters.`}>
          {(id, d) => <input id={id} type="text" maxLength={NAME_MAX} aria-describedby={d} value={draft.product_name} onChange={(e) => set('product_name', e.target.value)} />}
        </Field>
        <div className="grid-2">
          <ColourField label="Primary colour" hint="Buttons, links, focus." value={draft.primary_color} error={fieldError(save.error, 'primary_color')} onChange={(v) => set('primary_color', v)} />
          <ColourField label="Background colour" hint="The page behind the card." value={draft.background_color} error={fieldError(save.error, 'background_color')} onChange={(v) => set('background_color', v)} />
        </div>
        <div className="field">
          <span className="field-label">Logo</span>
          <div className="logo-row">
            {branding.logo ? <img className="logo-thumb" src={branding.logo.url} alt="Current logo" /> : <span className="muted">No logo uploaded</span>}
            <label className="button">
              {branding.logo ? 'Replace…' : 'Upload…'}
              <input className="visually-hidden" type="file" accept="image/png,image/jpeg,image/webp,image/gif,image/svg+xml" onChange={upload} disabled={logo.busy} />
            </label>
            {branding.logo ? (
              <button type="button" onClick={removeLogo} disabled={logo.busy}>
                Remove
              </button>
            ) : null}
          </div>
          <p className="hint">PNG, JPEG, WebP, GIF or a plain SVG (no scripts, styles or links), up to {Math.floor(branding.logo_max_bytes / 1024)} KB. Saved at once.</p>
          {logo.error ? (
            <p className="field-error" role="alert">
              {describeError(logo.error)}
            </p>
          ) : null}
        </div>
        <Field label="Logo URL (when none is uploaded)" error={fieldError(save.error, 'logo_url')} hint="A path on this server, e.g. /static/logo.svg.">
          {(id, d) => <input id={id} type="text" aria-describedby={d} value={draft.logo_url} onChange={(e) => set('logo_url', e.target.value)} />}
        </Field>
        <div className="grid-2">
          <Field label="Terms URL" error={fieldError(save.error, 'terms_url')} hint="https; linked on the consent page.">
            {(id, d) => <input id={id} type="url" aria-describedby={d} value={draft.terms_url} onChange={(e) => set('terms_url', e.target.value)} />}
          </Field>
          <Field label="Privacy policy URL" error={fieldError(save.error, 'privacy_url')} hint="https; linked on the consent page.">
            {(id, d) => <input id={id} type="url" aria-describedby={d} value={draft.privacy_url} onChange={(e) => set('privacy_url', e.target.value)} />}
          </Field>
        </div>
        <label className="check">
          <input type="checkbox" checked={draft.allow_remote_app_logos} onChange={(e) => set('allow_remote_app_logos', e.target.checked)} />
          <span>
            Show apps’ own logos (their https <code>logo_uri</code>) on the consent page. The app’s server then sees the user’s IP address; off, the app’s initial is shown.
          </span>
        </label>
        <div className="actions actions--end">
          {saved ? (
            <span className="saved" role="status">
              Saved
            </span>
          ) : null}
          <button type="submit" className="primary" disabled={save.busy}>
            {save.busy ? 'Saving…' : 'Save branding'}
          </button>
        </div>
      </form>
      <Preview draft={draft} logoVersion={branding.logo?.url ?? ''} />
    </div>
  );
}

function ColourField({ label, hint, value, error, onChange }: { label: string; hint: string; value: string; error: string | undefined; onChange: (v: string) => void }) {
  return (
    <Field label={label} error={error} hint={hint}>
      {(id, d) => (
        <div className="colour">
          <input type="color" aria-label={`${label} picker`} value={/^#[0-9a-f]{6}$/i.test(value) ? value : '#000000'} onChange={(e) => onChange(e.target.value)} />
          <input id={id} type="text" maxLength={7} aria-describedby={d} value={value} onChange={(e) => onChange(e.target.value)} />
        </div>
      )}
    </Field>
  );
}

/** The draft rendered by the server, refreshed a moment after each change; its contrast warnings above it. */
function Preview({ draft, logoVersion }: { draft: Draft; logoVersion: string }) {
  const [page, setPage] = useState<PreviewPage>('login');
  const [result, setResult] = useState<{ html: string; warnings: string[] } | undefined>();
  const [error, setError] = useState<unknown>();
  const latest = useRef(0);
  const key = JSON.stringify([page, draft, logoVersion]);
  useEffect(() => {
    const ticket = ++latest.current;
    const timer = setTimeout(() => {
      api<{ html: string; warnings: string[] }>('POST', '/branding/preview', { page, draft: updateOf(draft) }).then(
        (r) => {
          if (ticket !== latest.current) return;
          setResult(r);
          setError(undefined);
        },
        (e: unknown) => {
          if (ticket === latest.current) setError(e);
        },
      );
    }, 250);
    return () => clearTimeout(timer);
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [key]);
  return (
    <section className="panel preview" aria-label="Preview">
      <div className="preview__bar">
        <h2>Preview</h2>
        <div className="segmented" role="group" aria-label="Page to preview">
          {(['login', 'consent'] as const).map((p) => (
            <button key={p} type="button" aria-pressed={page === p} onClick={() => setPage(p)}>
              {p === 'login' ? 'Sign-in page' : 'Consent page'}
            </button>
          ))}
        </div>
      </div>
      <div role="status" aria-live="polite">
        {error ? <p className="field-error">{describeError(error)}</p> : null}
        {result?.warnings.length ? (
          <div className="warning" data-testid="contrast-warnings">
            <strong>Contrast below WCAG AA:</strong>
            <ul>
              {result.warnings.map((w) => (
                <li key={w}>{w}</li>
              ))}
            </ul>
          </div>
        ) : result ? (
          <p className="muted small">Contrast passes WCAG AA (4.5:1).</p>
        ) : null}
      </div>
      {result ? <iframe className="preview__frame" title={page === 'login' ? 'Preview of the sign-in page' : 'Preview of the consent page'} sandbox="allow-same-origin" srcDoc={result.html} /> : <Loading what="Rendering the preview" />}
    </section>
  );
}

function base64Of(file: File): Promise<string> {
  return new Promise((resolve, reject) => {
    const reader = new FileReader();
    reader.onload = () => resolve(String(reader.result).replace(/^data:[^,]*,/, ''));
    reader.onerror = () => reject(reader.error ?? new Error('the file could not be read'));
    reader.readAsDataURL(file);
  });
}
