import { useState, type FormEvent } from 'react';
import { api, type EmailStatus, type Settings, type SettingsUpdate } from '../api.ts';
import { limits } from '../generated/admin-api-limits.ts';
import { ErrorBox, Field, FormError, Loading, PageHeader, fieldError, formatSeconds, useAction, useApi } from '../ui.tsx';

type Lifetime = keyof Omit<
  Settings,
  | 'redirect_uri_policy'
  | 'mfa_policy'
  | 'require_verified_email'
  | 'client_registration'
  | 'require_pushed_authorization_requests'
  | 'registration_grant_types'
  | 'registration_scopes'
  | 'registration_auth_methods'
>;

const REGISTRATION_CHOICES: Array<{ value: Settings['client_registration']; label: string; line: string }> = [
  { value: 'off', label: 'Off', line: 'Only administrators register apps.' },
  { value: 'open', label: 'Open', line: 'Anyone may register an app at /connect/register (RFC 7591), within the self-registration policy.' },
  { value: 'token', label: 'With an initial access token', line: 'Registering needs a token an administrator issues (tessera registration tokens create, or the admin API).' },
];

/** What a self-registered app may ask for (docs/registration.md): the grant types and auth methods it may declare. */
const POLICY_GRANTS: Array<{ value: Settings['registration_grant_types'][number]; label: string; line: string }> = [
  { value: 'authorization_code', label: 'Authorization code', line: 'Apps that sign people in through the browser (with refresh tokens). Client ID metadata documents need it.' },
  { value: 'urn:ietf:params:oauth:grant-type:device_code', label: 'Device', line: 'Apps on devices without a browser: the user approves at /device.' },
];
const POLICY_METHODS: Array<{ value: Settings['registration_auth_methods'][number]; label: string; line: string }> = [
  { value: 'client_secret_basic', label: 'client_secret_basic', line: 'A secret, sent with HTTP Basic.' },
  { value: 'client_secret_post', label: 'client_secret_post', line: 'A secret, sent in the form.' },
  { value: 'private_key_jwt', label: 'private_key_jwt', line: 'No secret: the app registers its public keys (jwks or jwks_uri) and signs its assertions.' },
  { value: 'none', label: 'none (public app)', line: 'No secret; PKCE instead. Client ID metadata documents need it.' },
];
const toggle = <T,>(list: T[], value: T, on: boolean): T[] => (on ? [...list.filter((v) => v !== value), value] : list.filter((v) => v !== value));

const MFA_CHOICES: Array<{ value: Settings['mfa_policy']; label: string; line: string }> = [
  { value: 'off', label: 'Off', line: 'No second factors: users cannot enrol and are never asked for one.' },
  { value: 'optional', label: 'Optional', line: 'Users may set up an authenticator app; roles and apps may still require it.' },
  { value: 'required', label: 'Required', line: 'Every user needs a second factor; one without is taken through enrolment after the password.' },
];

const LIFETIMES: Array<{ key: Lifetime; label: string; note?: string }> = [
  { key: 'access_token_ttl', label: 'Access token lifetime' },
  { key: 'refresh_token_ttl', label: 'Refresh token lifetime', note: 'from the first issue; rotation does not extend it' },
  { key: 'code_ttl', label: 'Authorization code lifetime' },
  { key: 'id_token_ttl', label: 'ID token lifetime' },
  { key: 'session_ttl', label: 'Sign-in session lifetime' },
];
/** The ranges the admin API accepts, from its OpenAPI document: never copied here. */
const RANGES = limits.SettingsUpdate;
const rangeOf = (l: (typeof LIFETIMES)[number]) => `${l.note ? `${l.note}; ` : ''}${RANGES[l.key].minimum} – ${RANGES[l.key].maximum} seconds`;

/** Token lifetimes and the redirect-URI policy; saved values win over the environment's defaults. */
export function SettingsPage() {
  const settings = useApi<Settings>('/settings');
  return (
    <>
      <PageHeader title="Settings" />
      <p className="lead">Changes apply to the next request on every node. Tokens already issued keep their lifetime.</p>
      {settings.error ? <ErrorBox error={settings.error} onRetry={settings.reload} /> : null}
      {settings.loading && !settings.data ? <Loading what="Loading settings" /> : null}
      {settings.data ? <SettingsForm key={JSON.stringify(settings.data)} settings={settings.data} onSaved={settings.setData} /> : null}
    </>
  );
}

function SettingsForm({ settings, onSaved }: { settings: Settings; onSaved: (s: Settings) => void }) {
  const [values, setValues] = useState<Record<string, string>>(() => Object.fromEntries(LIFETIMES.map((l) => [l.key, String(settings[l.key])])));
  const [policy, setPolicy] = useState(settings.redirect_uri_policy);
  const [mfa, setMfa] = useState(settings.mfa_policy);
  const [verifiedEmail, setVerifiedEmail] = useState(settings.require_verified_email);
  const [registration, setRegistration] = useState(settings.client_registration);
  const [requirePar, setRequirePar] = useState(settings.require_pushed_authorization_requests);
  const [policyGrants, setPolicyGrants] = useState(settings.registration_grant_types);
  const [policyMethods, setPolicyMethods] = useState(settings.registration_auth_methods);
  const [anyScope, setAnyScope] = useState(settings.registration_scopes === null);
  const [policyScopes, setPolicyScopes] = useState((settings.registration_scopes ?? []).join(' '));
  const email = useApi<EmailStatus>('/email');
  const save = useAction();
  const { busy, error } = save;
  const [saved, setSaved] = useState(false);
  const submit = (e: FormEvent) => {
    e.preventDefault();
    const changes: SettingsUpdate = {};
    for (const l of LIFETIMES) if (values[l.key] !== String(settings[l.key])) changes[l.key] = Number(values[l.key]);
    if (policy !== settings.redirect_uri_policy) changes.redirect_uri_policy = policy;
    if (mfa !== settings.mfa_policy) changes.mfa_policy = mfa;
    if (verifiedEmail !== settings.require_verified_email) changes.require_verified_email = verifiedEmail;
    if (registration !== settings.client_registration) changes.client_registration = registration;
    if (requirePar !== settings.require_pushed_authorization_requests) changes.require_pushed_authorization_requests = requirePar;
    const sameSet = (a: readonly string[], b: readonly string[]) => a.length === b.length && a.every((v) => b.includes(v));
    if (!sameSet(policyGrants, settings.registration_grant_types)) changes.registration_grant_types = policyGrants;
    if (!sameSet(policyMethods, settings.registration_auth_methods)) changes.registration_auth_methods = policyMethods;
    const scopes = anyScope ? null : policyScopes.split(/[\s,]+/).filter(Boolean);
    if (scopes === null ? settings.registration_scopes !== null : settings.registration_scopes === null || !sameSet(scopes, settings.registration_scopes)) changes.registration_scopes = scopes;
    setSaved(false);
    if (!Object.keys(changes).length) {
      save.reset();
      setSaved(true);
      return;
    }
    void save.run(async () => onSaved(await api<Settings>('PATCH', '/settings', changes)));
  };
  return (
    <form className="panel form" onSubmit={submit} noValidate>
      <FormError error={error} fields={[...LIFETIMES.map((l) => l.key), 'redirect_uri_policy', 'mfa_policy', 'require_verified_email', 'client_registration', 'require_pushed_authorization_requests', 'registration_grant_types', 'registration_scopes', 'registration_auth_methods']} />
      <h2>Lifetimes</h2>
      <div className="grid-2">
        {LIFETIMES.map((l) => (
          <Field key={l.key} label={`${l.label} (seconds)`} error={fieldError(error, l.key)} hint={`${rangeOf(l)}. Now ${formatSeconds(settings[l.key])}.`}>
            {(id, d) => <input id={id} type="number" inputMode="numeric" min={RANGES[l.key].minimum} max={RANGES[l.key].maximum} aria-describedby={d} value={values[l.key]} onChange={(e) => setValues({ ...values, [l.key]: e.target.value })} />}
          </Field>
        ))}
      </div>
      <fieldset className={`field${fieldError(error, 'redirect_uri_policy') ? ' field--invalid' : ''}`}>
        <legend>Redirect-URI policy</legend>
        <div className="choices">
          <label className={`choice${policy === 'strict' ? ' choice--on' : ''}`}>
            <input type="radio" name="policy" value="strict" checked={policy === 'strict'} onChange={() => setPolicy('strict')} />
            <span>
              <strong>Strict</strong>
              <span className="choice__line">https only, public hosts only; for production.</span>
            </span>
          </label>
          <label className={`choice${policy === 'development' ? ' choice--on' : ''}`}>
            <input type="radio" name="policy" value="development" checked={policy === 'development'} onChange={() => setPolicy('development')} />
            <span>
              <strong>Development</strong>
              <span className="choice__line">Also allows http on loopback addresses (127.0.0.1, [::1]), as RFC 8252 describes for native apps.</span>
            </span>
          </label>
        </div>
        {fieldError(error, 'redirect_uri_policy') ? <p className="field-error">{fieldError(error, 'redirect_uri_policy')}</p> : null}
      </fieldset>
      <fieldset className={`field${fieldError(error, 'mfa_policy') ? ' field--invalid' : ''}`}>
        <legend>Second factors (MFA)</legend>
        <div className="choices">
          {MFA_CHOICES.map((c) => (
            <label key={c.value} className={`choice${mfa === c.value ? ' choice--on' : ''}`}>
              <input type="radio" name="mfa_policy" value={c.value} checked={mfa === c.value} onChange={() => setMfa(c.value)} />
              <span>
                <strong>{c.label}</strong>
                <span className="choice__line">{c.line}</span>
              </span>
            </label>
          ))}
        </div>
        {fieldError(error, 'mfa_policy') ? <p className="field-error">{fieldError(error, 'mfa_policy')}</p> : null}
      </fieldset>
      <fieldset className={`field${fieldError(error, 'require_verified_email') ? ' field--invalid' : ''}`}>
        <legend>Email addresses</legend>
        {email.data ? (
          <p className="hint" role="status">
            {email.data.configured ? `Email is configured: mail is sent from ${email.data.from ?? '—'}.` : 'Email is not configured (TESSERA_SMTP_URL): reset by email, invitations, verification links and security notices are off.'}
          </p>
        ) : null}
        <label className={`choice${verifiedEmail ? ' choice--on' : ''}`}>
          <input type="checkbox" name="require_verified_email" checked={verifiedEmail} onChange={(e) => setVerifiedEmail(e.target.checked)} />
          <span>
            <strong>Require a verified email address</strong>
            <span className="choice__line">No app can be authorized by a user who has not confirmed their address with the link sent to it. Needs email to be configured.</span>
          </span>
        </label>
        {fieldError(error, 'require_verified_email') ? <p className="field-error">{fieldError(error, 'require_verified_email')}</p> : null}
      </fieldset>
      <fieldset className={`field${fieldError(error, 'client_registration') ? ' field--invalid' : ''}`}>
        <legend>Dynamic client registration</legend>
        <div className="choices">
          {REGISTRATION_CHOICES.map((c) => (
            <label key={c.value} className={`choice${registration === c.value ? ' choice--on' : ''}`}>
              <input type="radio" name="client_registration" value={c.value} checked={registration === c.value} onChange={() => setRegistration(c.value)} />
              <span>
                <strong>{c.label}</strong>
                <span className="choice__line">{c.line}</span>
              </span>
            </label>
          ))}
        </div>
        {fieldError(error, 'client_registration') ? <p className="field-error">{fieldError(error, 'client_registration')}</p> : null}
      </fieldset>
      <fieldset className={`field${fieldError(error, 'require_pushed_authorization_requests') ? ' field--invalid' : ''}`}>
        <legend>Pushed authorization requests</legend>
        <label className={`choice${requirePar ? ' choice--on' : ''}`}>
          <input type="checkbox" name="require_pushed_authorization_requests" checked={requirePar} onChange={(e) => setRequirePar(e.target.checked)} />
          <span>
            <strong>Require them for every app</strong>
            <span className="choice__line">Apps must send each sign-in request to /connect/par first (RFC 9126); a plain authorization request is refused. Each app can also require it on its own.</span>
          </span>
        </label>
        {fieldError(error, 'require_pushed_authorization_requests') ? <p className="field-error">{fieldError(error, 'require_pushed_authorization_requests')}</p> : null}
      </fieldset>
      <h2>Self-registration policy</h2>
      <p className="hint">What an app that registers itself — at /connect/register or with a client ID metadata document — may ask for. Checked when it registers or changes its registration.</p>
      <fieldset className={`field${fieldError(error, 'registration_grant_types') ? ' field--invalid' : ''}`}>
        <legend>Grant types</legend>
        <div className="choices">
          {POLICY_GRANTS.map((c) => (
            <label key={c.value} className={`choice${policyGrants.includes(c.value) ? ' choice--on' : ''}`}>
              <input type="checkbox" name="registration_grant_types" value={c.value} checked={policyGrants.includes(c.value)} onChange={(e) => setPolicyGrants(toggle(policyGrants, c.value, e.target.checked))} />
              <span>
                <strong>{c.label}</strong>
                <span className="choice__line">{c.line}</span>
              </span>
            </label>
          ))}
        </div>
        {fieldError(error, 'registration_grant_types') ? <p className="field-error">{fieldError(error, 'registration_grant_types')}</p> : null}
      </fieldset>
      <fieldset className={`field${fieldError(error, 'registration_auth_methods') ? ' field--invalid' : ''}`}>
        <legend>Client authentication</legend>
        <div className="choices">
          {POLICY_METHODS.map((c) => (
            <label key={c.value} className={`choice${policyMethods.includes(c.value) ? ' choice--on' : ''}`}>
              <input type="checkbox" name="registration_auth_methods" value={c.value} checked={policyMethods.includes(c.value)} onChange={(e) => setPolicyMethods(toggle(policyMethods, c.value, e.target.checked))} />
              <span>
                <strong>{c.label}</strong>
                <span className="choice__line">{c.line}</span>
              </span>
            </label>
          ))}
        </div>
        {fieldError(error, 'registration_auth_methods') ? <p className="field-error">{fieldError(error, 'registration_auth_methods')}</p> : null}
      </fieldset>
      <fieldset className={`field${fieldError(error, 'registration_scopes') ? ' field--invalid' : ''}`}>
        <legend>Scopes</legend>
        <label className={`choice${anyScope ? ' choice--on' : ''}`}>
          <input type="checkbox" name="registration_scopes_any" checked={anyScope} onChange={(e) => setAnyScope(e.target.checked)} />
          <span>
            <strong>Every scope on offer</strong>
            <span className="choice__line">The built-in user scopes and every scope an API declares; never tessera.admin.</span>
          </span>
        </label>
        {anyScope ? null : (
          <Field label="Only these scopes" error={fieldError(error, 'registration_scopes')} hint="Separated by spaces, e.g. openid profile notes.read">
            {(id, d) => <input id={id} type="text" aria-describedby={d} value={policyScopes} onChange={(e) => setPolicyScopes(e.target.value)} />}
          </Field>
        )}
        {anyScope && fieldError(error, 'registration_scopes') ? <p className="field-error">{fieldError(error, 'registration_scopes')}</p> : null}
      </fieldset>
      <div className="actions actions--end">
        {saved ? (
          <span className="saved" role="status">
            No changes
          </span>
        ) : null}
        <button type="submit" className="primary" disabled={busy}>
          {busy ? 'Saving…' : 'Save settings'}
        </button>
      </div>
    </form>
  );
}
