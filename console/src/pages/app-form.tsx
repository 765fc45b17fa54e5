import { useState, type FormEvent } from 'react';
import { api, ApiError, BUILTIN_SCOPES, type App, type AppCreate, type AppUpdate, type GatewayApi, type List, type Permission, type RedirectUriCheck, type Settings, type User } from '../api.ts';
import { limits } from '../generated/admin-api-limits.ts';
import { Link, navigate } from '../router.tsx';
import { ErrorBox, Field, FormError, Loading, PageHeader, fieldError, formatSeconds, useAction, useApi } from '../ui.tsx';
import { SecretReveal } from './secret.tsx';
import { filled, TranslationsTable, type Translations } from './translations.tsx';
import { UriList } from './uri-list.tsx';

type Grant = AppCreate['grant_types'][number];

/** RFC 8628 (docs/device-flow.md). */
const DEVICE_GRANT = 'urn:ietf:params:oauth:grant-type:device_code' satisfies Grant;

const GRANTS: Array<{ value: Grant; title: string; line: string }> = [
  { value: 'authorization_code', title: 'Authorization code', line: 'People sign in through Tessera and approve the app; for web, mobile and single-page apps.' },
  { value: 'client_credentials', title: 'Client credentials', line: 'A program calls APIs with its own ID and secret, no one signs in; it may act on behalf of one user.' },
  { value: DEVICE_GRANT, title: 'Device', line: 'People approve on their phone or computer with a short code the device shows; for TVs, consoles and command-line tools.' },
];

/** What the admin API accepts for an app's fields (from its OpenAPI document). */
const LIMITS = limits.AppCreate;
const rangeOf = (field: 'access_token_ttl' | 'refresh_token_ttl') => `${LIMITS[field].minimum} – ${LIMITS[field].maximum} seconds`;

/** Scopes about a signed-in person: meaningless (and refused) for client credentials. */
const USER_ONLY = new Set(['openid', 'profile', 'email', 'offline_access']);

const FIELDS = ['name', 'name_translations', 'description', 'grant_types', 'redirect_uris', 'post_logout_redirect_uris', 'scopes', 'on_behalf_of', 'require_permission', 'access_token_ttl', 'refresh_token_ttl', 'id_token_signed_response_alg', 'require_mfa', 'public', 'token_endpoint_auth_method', 'jwks', 'jwks_uri', 'require_pushed_authorization_requests', 'logo_uri', 'client_uri', 'policy_uri', 'tos_uri', 'token_exchange'];

/** Words separated by spaces, commas or new lines. */
const words = (s: string) => s.split(/[\s,]+/).filter(Boolean);

interface Draft {
  grant: Grant;
  isPublic: boolean;
  name: string;
  /** The name on pages in other languages (docs/languages.md); empty: the name as entered. */
  nameTranslations: Translations;
  description: string;
  redirectUris: string[];
  postLogoutUris: string[];
  scopes: string[];
  onBehalfOf: string;
  requirePermission: string;
  accessTtl: string;
  refreshTtl: string;
  /** How ID tokens are signed: RS256 (the OIDC default every relying party supports) or ES256 (cheaper to sign). */
  idTokenAlg: 'RS256' | 'ES256';
  /** OIDC client metadata for the consent page (docs/branding.md): https URLs, empty for none. */
  links: Record<LinkField, string>;
  requireMfa: boolean;
  /** RFC 9449 §5.2: refuse token requests without a DPoP proof. */
  dpopBound: boolean;
  /** How a confidential app authenticates: its secret, or a JWT signed with its key (docs/client-authentication.md). */
  authMethod: 'secret' | 'private_key_jwt';
  /** The app's public keys: a JWK set as JSON text, or the URL serving one. */
  jwks: string;
  jwksUri: string;
  /** The code flow only through /connect/par (RFC 9126). */
  requirePar: boolean;
  /** RFC 8693 (docs/token-exchange.md): off, or its audiences, scopes and subject apps as typed. */
  exchange: { on: boolean; audiences: string; scopes: string; subjectClients: string };
}

type LinkField = 'client_uri' | 'policy_uri' | 'tos_uri' | 'logo_uri';
const LINKS: Array<{ key: LinkField; label: string; hint: string }> = [
  { key: 'client_uri', label: 'Homepage', hint: 'https; linked on the consent page as “Website”.' },
  { key: 'policy_uri', label: 'Privacy policy', hint: 'https; linked on the consent page.' },
  { key: 'tos_uri', label: 'Terms of service', hint: 'https; linked on the consent page.' },
  { key: 'logo_uri', label: 'Logo URL', hint: 'https; shown on the consent page only when Branding allows apps’ own logos.' },
];

function draftOf(app?: App): Draft {
  return {
    grant: app?.grant_types.includes('authorization_code') || !app ? 'authorization_code' : app.grant_types.includes(DEVICE_GRANT) ? DEVICE_GRANT : 'client_credentials',
    isPublic: app?.public ?? false,
    name: app?.name ?? '',
    nameTranslations: app?.name_translations ?? {},
    description: app?.description ?? '',
    redirectUris: app?.redirect_uris ?? [],
    postLogoutUris: app?.post_logout_redirect_uris ?? [],
    scopes: app?.scopes ?? ['openid', 'profile'],
    onBehalfOf: app?.on_behalf_of ?? '',
    requirePermission: app?.require_permission ?? 'developer_api',
    accessTtl: app?.access_token_ttl ? String(app.access_token_ttl) : '',
    refreshTtl: app?.refresh_token_ttl ? String(app.refresh_token_ttl) : '',
    idTokenAlg: app?.id_token_signed_response_alg === 'ES256' ? 'ES256' : 'RS256',
    links: { client_uri: app?.client_uri ?? '', policy_uri: app?.policy_uri ?? '', tos_uri: app?.tos_uri ?? '', logo_uri: app?.logo_uri ?? '' },
    requireMfa: app?.require_mfa ?? false,
    dpopBound: app?.dpop_bound_access_tokens ?? false,
    authMethod: app?.token_endpoint_auth_method === 'private_key_jwt' ? 'private_key_jwt' : 'secret',
    jwks: app?.jwks ? JSON.stringify(app.jwks, null, 2) : '',
    jwksUri: app?.jwks_uri ?? '',
    requirePar: app?.require_pushed_authorization_requests ?? false,
    exchange: {
      on: !!app?.token_exchange,
      audiences: app?.token_exchange?.audiences.join('\n') ?? '',
      scopes: app?.token_exchange?.scopes?.join(' ') ?? '',
      subjectClients: app?.token_exchange?.subject_clients?.join('\n') ?? '',
    },
  };
}

/** Register an app (no id) or change one. */
export function AppFormPage({ id }: { id?: string }) {
  const existing = useApi<App>(id ? `/apps/${encodeURIComponent(id)}` : undefined);
  if (id && !existing.data) {
    return (
      <>
        <PageHeader title="Edit app" back={<BackLink to={`/admin/apps/${encodeURIComponent(id)}`} />} />
        {existing.error ? <ErrorBox error={existing.error} onRetry={existing.reload} /> : <Loading what="Loading the app" />}
      </>
    );
  }
  return <AppForm key={id ?? 'new'} app={existing.data} />;
}

function BackLink({ to, label = 'Apps' }: { to: string; label?: string }) {
  return (
    <Link to={to} className="back">
      ← {label}
    </Link>
  );
}

function AppForm({ app }: { app?: App }) {
  const editing = app !== undefined;
  const [d, setD] = useState<Draft>(() => draftOf(app));
  const save = useAction();
  const { busy, error } = save;
  const [created, setCreated] = useState<App | undefined>();
  const apis = useApi<List<GatewayApi>>('/apis');
  const users = useApi<List<User>>('/users');
  const permissions = useApi<List<Permission>>('/permissions');
  const settings = useApi<Settings>('/settings');
  const set = <K extends keyof Draft>(k: K, v: Draft[K]) => setD((x) => ({ ...x, [k]: v }));
  /** A grant where a person signs in (authorization code or device): user scopes, ID tokens, consent, MFA. */
  const code = d.grant !== 'client_credentials';
  /** Only the authorization code grant redirects back to the app. */
  const redirects = d.grant === 'authorization_code';

  /** The same policy check the fields show, before saving: a rejected URI is named beside its list. */
  const checkRedirectUris = async () => {
    if (!redirects) return;
    for (const [field, uris] of [
      ['redirect_uris', d.redirectUris],
      ['post_logout_redirect_uris', d.postLogoutUris],
    ] as const) {
      for (const uri of uris.map((u) => u.trim()).filter(Boolean)) {
        const r = await api<RedirectUriCheck>('POST', '/apps/check-redirect-uri', { uri });
        if (!r.ok) throw new ApiError(400, 'validation_failed', 'Correct the URI marked ✗ above: the redirect-URI policy does not allow it.', field);
      }
    }
  };
  /** The form's fields as the admin API takes them. */
  const fields = () =>
    ({
      name: d.name.trim(),
      name_translations: filled(d.nameTranslations),
      description: d.description.trim(),
      grant_types: [d.grant],
      redirect_uris: redirects ? d.redirectUris.map((u) => u.trim()).filter(Boolean) : [],
      post_logout_redirect_uris: redirects ? d.postLogoutUris.map((u) => u.trim()).filter(Boolean) : [],
      scopes: code ? d.scopes : d.scopes.filter((x) => !USER_ONLY.has(x)),
      on_behalf_of: !code && d.onBehalfOf ? d.onBehalfOf : null,
      require_permission: d.requirePermission,
      access_token_ttl: d.accessTtl.trim() ? Number(d.accessTtl) : null,
      refresh_token_ttl: d.refreshTtl.trim() ? Number(d.refreshTtl) : null,
      // Only authorization-code apps get ID tokens; null keeps the default (RS256).
      id_token_signed_response_alg: code && d.idTokenAlg === 'ES256' ? 'ES256' : null,
      ...Object.fromEntries(LINKS.map((l) => [l.key, d.links[l.key].trim() || null])),
      require_mfa: code && d.requireMfa,
      dpop_bound_access_tokens: d.dpopBound,
      require_pushed_authorization_requests: redirects && d.requirePar,
      ...clientAuth(),
      token_exchange:
        d.exchange.on && !d.isPublic
          ? {
              audiences: words(d.exchange.audiences),
              scopes: words(d.exchange.scopes).length ? words(d.exchange.scopes) : null,
              subject_clients: words(d.exchange.subjectClients).length ? words(d.exchange.subjectClients) : null,
            }
          : null,
    }) satisfies AppUpdate;
  /** The auth method and keys, sent only when the app signs (or stops signing): a secret app's own method is left as it is. */
  const clientAuth = (): Pick<AppUpdate, 'token_endpoint_auth_method' | 'jwks' | 'jwks_uri'> => {
    const signs = !(code && d.isPublic) && d.authMethod === 'private_key_jwt';
    if (!signs) return app?.token_endpoint_auth_method === 'private_key_jwt' ? { token_endpoint_auth_method: null } : {};
    let jwks: AppUpdate['jwks'] = null;
    if (d.jwks.trim()) {
      try {
        jwks = JSON.parse(d.jwks) as AppUpdate['jwks'];
      } catch {
        throw new ApiError(400, 'validation_failed', 'The keys are not valid JSON: paste a JWK set, {"keys": [...]}.', 'jwks');
      }
    }
    return { token_endpoint_auth_method: 'private_key_jwt', jwks, jwks_uri: jwks ? null : d.jwksUri.trim() || null };
  };
  const submit = (e: FormEvent) => {
    e.preventDefault();
    void save.run(async () => {
      await checkRedirectUris();
      if (editing) {
        await api<App>('PATCH', `/apps/${encodeURIComponent(app.client_id)}`, fields());
        navigate(`/admin/apps/${app.client_id}`);
      } else {
        const registration: AppCreate = { ...fields(), public: code && d.isPublic };
        setCreated(await api<App>('POST', '/apps', registration));
        window.scrollTo(0, 0);
      }
    });
  };

  if (created) {
    return (
      <>
        <PageHeader title={`“${created.name}” is registered`} back={<BackLink to="/admin/apps" />} />
        <SecretReveal clientId={created.client_id} secret={created.client_secret} title="Credentials" signs={created.token_endpoint_auth_method === 'private_key_jwt'}>
          <div className="actions">
            <Link className="button primary" to={`/admin/apps/${created.client_id}`}>
              I have stored it — show the app
            </Link>
          </div>
        </SecretReveal>
      </>
    );
  }

  const builtin = code ? BUILTIN_SCOPES : BUILTIN_SCOPES.filter((x) => !USER_ONLY.has(x.name));
  const scopeGroups = [{ title: 'Built-in', scopes: builtin }, ...(apis.data?.items ?? []).filter((a) => a.scopes.length).map((a) => ({ title: a.name, scopes: a.scopes }))];
  const toggleScope = (s: string, on: boolean) => set('scopes', on ? [...d.scopes, s] : d.scopes.filter((x) => x !== s));

  return (
    <>
      <PageHeader title={editing ? `Edit ${app.name}` : 'Register app'} back={<BackLink to={editing ? `/admin/apps/${app.client_id}` : '/admin/apps'} label={editing ? app.name : 'Apps'} />} />
      <form className="form panel" onSubmit={submit} noValidate>
        <FormError error={error} fields={FIELDS} />
        <fieldset className={`field${fieldError(error, 'grant_types') ? ' field--invalid' : ''}`}>
          <legend>Grant type</legend>
          <div className="choices">
            {GRANTS.map((g) => (
              <label key={g.value} className={`choice${d.grant === g.value ? ' choice--on' : ''}`}>
                <input type="radio" name="grant" value={g.value} checked={d.grant === g.value} disabled={editing && app.public} onChange={() => setD((x) => ({ ...x, grant: g.value, scopes: g.value === 'client_credentials' ? x.scopes.filter((s) => !USER_ONLY.has(s)) : x.scopes }))} />
                <span>
                  <strong>{g.title}</strong>
                  <span className="choice__line">{g.line}</span>
                </span>
              </label>
            ))}
          </div>
          {fieldError(error, 'grant_types') ? <p className="field-error">{fieldError(error, 'grant_types')}</p> : null}
        </fieldset>
        {code && !editing ? (
          <label className="check">
            <input type="checkbox" checked={d.isPublic} onChange={(e) => set('isPublic', e.target.checked)} />
            <span>
              Public app <span className="muted">— a single-page or mobile app that cannot keep a secret; it uses PKCE and gets no secret.</span>
            </span>
          </label>
        ) : null}
        {fieldError(error, 'public') ? <p className="field-error">{fieldError(error, 'public')}</p> : null}

        <Field label="Name" error={fieldError(error, 'name')} hint="Shown to people on the sign-in and consent pages.">
          {(id, desc) => <input id={id} type="text" required maxLength={LIMITS.name.maxLength} value={d.name} aria-describedby={desc} onChange={(e) => set('name', e.target.value)} />}
        </Field>
        <details className="field translations-box" open={Object.keys(filled(d.nameTranslations)).length > 0}>
          <summary>Name in other languages</summary>
          <p className="hint">People whose page is in one of these languages see this name instead; empty: the name above.</p>
          <TranslationsTable id="name-translations" caption="The app's name by language" values={d.nameTranslations} maxLength={LIMITS.name.maxLength} placeholder={d.name} onChange={(v) => set('nameTranslations', v)} />
          {fieldError(error, 'name_translations') ? <p className="field-error">{fieldError(error, 'name_translations')}</p> : null}
        </details>
        <Field label="Description" error={fieldError(error, 'description')} hint="Optional; one line about what the app does.">
          {(id, desc) => <textarea id={id} rows={2} maxLength={LIMITS.description.maxLength} value={d.description} aria-describedby={desc} onChange={(e) => set('description', e.target.value)} />}
        </Field>

        {redirects ? (
          <>
            <UriList
              name="redirect"
              label="Redirect URI"
              hint="Where Tessera may send people back after they sign in. Exact match; https, or http on loopback in development."
              values={d.redirectUris}
              onChange={(v) => set('redirectUris', v)}
              error={fieldError(error, 'redirect_uris')}
            />
            <UriList
              name="post-logout"
              label="Post-logout redirect URI"
              hint="Optional: where people may land after signing out from the app."
              values={d.postLogoutUris}
              onChange={(v) => set('postLogoutUris', v)}
              error={fieldError(error, 'post_logout_redirect_uris')}
            />
          </>
        ) : code ? null : (
          <Field
            label="On behalf of user"
            error={fieldError(error, 'on_behalf_of')}
            hint="Optional: tokens carry this user's identity, roles and permissions. Without one, the app acts as itself."
          >
            {(id, desc) => (
              <select id={id} value={d.onBehalfOf} aria-describedby={desc} onChange={(e) => set('onBehalfOf', e.target.value)}>
                <option value="">No user — the app acts as itself</option>
                {(users.data?.items ?? []).map((u) => (
                  <option key={u.id} value={u.username} disabled={u.disabled}>
                    {u.username}
                    {u.name ? ` (${u.name})` : ''}
                    {u.disabled ? ' — disabled' : ''}
                  </option>
                ))}
                {d.onBehalfOf && !users.data?.items.some((u) => u.username === d.onBehalfOf) ? <option value={d.onBehalfOf}>{d.onBehalfOf}</option> : null}
              </select>
            )}
          </Field>
        )}

        <fieldset className={`field${fieldError(error, 'scopes') ? ' field--invalid' : ''}`}>
          <legend>Scopes</legend>
          <p className="hint">What the app may ask for. API scopes come from the registered APIs.</p>
          {apis.error ? <ErrorBox error={apis.error} onRetry={apis.reload} /> : null}
          {apis.loading ? <Loading what="Loading API scopes" /> : null}
          {scopeGroups.map((group) => (
            <div key={group.title} className="scope-group">
              <h3>{group.title}</h3>
              <ul className="checks">
                {group.scopes.map((s) => (
                  <li key={s.name}>
                    <label className="check">
                      <input type="checkbox" checked={d.scopes.includes(s.name)} onChange={(e) => toggleScope(s.name, e.target.checked)} />
                      <span>
                        <code>{s.name}</code> <span className="muted">{s.description}</span>
                      </span>
                    </label>
                  </li>
                ))}
              </ul>
            </div>
          ))}
          {fieldError(error, 'scopes') ? <p className="field-error">{fieldError(error, 'scopes')}</p> : null}
        </fieldset>

        {code ? (
          <Field
            label="ID token signature"
            error={fieldError(error, 'id_token_signed_response_alg')}
            hint="RS256 is the default of OpenID Connect: every relying party accepts it. ES256 costs a tenth of the signing work per token, but the app's OpenID library must support it (most current ones do; check before choosing it)."
          >
            {(id, desc) => (
              <select id={id} value={d.idTokenAlg} aria-describedby={desc} onChange={(e) => set('idTokenAlg', e.target.value === 'ES256' ? 'ES256' : 'RS256')}>
                <option value="RS256">RS256 — works with every OpenID Connect library (default)</option>
                <option value="ES256">ES256 — faster to sign; the app must support it</option>
              </select>
            )}
          </Field>
        ) : null}

        {code ? (
          <fieldset className="field">
            <legend>On the consent page</legend>
            <div className="grid-2">
              {LINKS.map((l) => (
                <Field key={l.key} label={l.label} error={fieldError(error, l.key)} hint={l.hint}>
                  {(id, desc) => <input id={id} type="url" value={d.links[l.key]} aria-describedby={desc} onChange={(e) => set('links', { ...d.links, [l.key]: e.target.value })} />}
                </Field>
              ))}
            </div>
          </fieldset>
        ) : null}

        {code ? (
          <label className="check">
            <input type="checkbox" name="require_mfa" checked={d.requireMfa} onChange={(e) => set('requireMfa', e.target.checked)} />
            <span>
              Require a second factor <span className="muted">— people signing in to this app must pass an authenticator app code (or set one up first).</span>
            </span>
          </label>
        ) : null}
        {fieldError(error, 'require_mfa') ? <p className="field-error">{fieldError(error, 'require_mfa')}</p> : null}

        <label className="check">
          <input type="checkbox" name="dpop_bound_access_tokens" checked={d.dpopBound} onChange={(e) => set('dpopBound', e.target.checked)} />
          <span>
            Require DPoP <span className="muted">— every token request must carry a DPoP proof, so every access token is bound to the app’s key (RFC 9449). The app’s OAuth library must support DPoP.</span>
          </span>
        </label>
        {fieldError(error, 'dpop_bound_access_tokens') ? <p className="field-error">{fieldError(error, 'dpop_bound_access_tokens')}</p> : null}

        {redirects ? (
          <label className="check">
            <input type="checkbox" name="require_pushed_authorization_requests" checked={d.requirePar} onChange={(e) => set('requirePar', e.target.checked)} />
            <span>
              Require pushed authorization requests <span className="muted">— the app must send each sign-in request to /connect/par first (RFC 9126); a plain authorization request is refused.</span>
            </span>
          </label>
        ) : null}
        {fieldError(error, 'require_pushed_authorization_requests') ? <p className="field-error">{fieldError(error, 'require_pushed_authorization_requests')}</p> : null}

        {!(code && d.isPublic) ? (
          <fieldset className="field">
            <legend>Client authentication</legend>
            <Field label="The app proves itself with" error={fieldError(error, 'token_endpoint_auth_method')} hint="A signed JWT (private_key_jwt) keeps no shared secret on either side: Tessera holds only the app's public keys.">
              {(id, desc) => (
                <select id={id} value={d.authMethod} aria-describedby={desc} onChange={(e) => set('authMethod', e.target.value === 'private_key_jwt' ? 'private_key_jwt' : 'secret')}>
                  <option value="secret">Its client secret (default)</option>
                  <option value="private_key_jwt">A JWT signed with its private key (private_key_jwt)</option>
                </select>
              )}
            </Field>
            {d.authMethod === 'private_key_jwt' ? (
              <>
                <Field label="Public keys URL (jwks_uri)" error={fieldError(error, 'jwks_uri')} hint="https; Tessera fetches the keys there, caches them, and fetches again when a JWT names a new key. Or paste the keys below.">
                  {(id, desc) => <input id={id} type="url" value={d.jwksUri} aria-describedby={desc} onChange={(e) => set('jwksUri', e.target.value)} />}
                </Field>
                <Field label="Public keys (JWK set)" error={fieldError(error, 'jwks')} hint='JSON: {"keys": [...]}, public keys only (RSA, EC or OKP). Used instead of the URL when filled in.'>
                  {(id, desc) => <textarea id={id} rows={6} value={d.jwks} aria-describedby={desc} spellCheck={false} onChange={(e) => set('jwks', e.target.value)} />}
                </Field>
              </>
            ) : null}
          </fieldset>
        ) : null}

        {!d.isPublic && !(editing && app.public) ? (
          <fieldset className={`field${fieldError(error, 'token_exchange') ? ' field--invalid' : ''}`}>
            <legend>Token exchange</legend>
            <label className="check">
              <input type="checkbox" name="token_exchange" checked={d.exchange.on} onChange={(e) => set('exchange', { ...d.exchange, on: e.target.checked })} />
              <span>
                Allow token exchange <span className="muted">— the app may trade a user’s access token for one for another API (RFC 8693), acting for the same user with at most that token’s scopes.</span>
              </span>
            </label>
            {d.exchange.on ? (
              <>
                <Field label="Audiences" hint="One per line: an API’s resource identifier (its public URL, e.g. https://id.example.com/orders) or its own audience.">
                  {(id, desc) => <textarea id={id} rows={2} value={d.exchange.audiences} aria-describedby={desc} onChange={(e) => set('exchange', { ...d.exchange, audiences: e.target.value })} />}
                </Field>
                <Field label="Scopes" hint="Optional, space-separated: the most an exchanged token may carry. Empty: any the presented token holds.">
                  {(id, desc) => <input id={id} type="text" value={d.exchange.scopes} aria-describedby={desc} onChange={(e) => set('exchange', { ...d.exchange, scopes: e.target.value })} />}
                </Field>
                <Field label="Tokens of these apps" hint="Optional, one client ID per line: only tokens issued to them may be exchanged. Empty: any app’s.">
                  {(id, desc) => <textarea id={id} rows={2} value={d.exchange.subjectClients} aria-describedby={desc} onChange={(e) => set('exchange', { ...d.exchange, subjectClients: e.target.value })} />}
                </Field>
              </>
            ) : null}
            {fieldError(error, 'token_exchange') ? <p className="field-error">{fieldError(error, 'token_exchange')}</p> : null}
          </fieldset>
        ) : null}

        <Field label="Required permission" error={fieldError(error, 'require_permission')} hint="A user must hold this permission (through a role) to approve the app.">
          {(id, desc) => (
            <select id={id} value={d.requirePermission} aria-describedby={desc} onChange={(e) => set('requirePermission', e.target.value)}>
              {(permissions.data?.items ?? [{ name: d.requirePermission }]).map((p) => (
                <option key={p.name} value={p.name}>
                  {p.name}
                  {p.description ? ` — ${p.description}` : ''}
                </option>
              ))}
            </select>
          )}
        </Field>

        <div className="grid-2">
          <Field label="Access token lifetime (seconds)" error={fieldError(error, 'access_token_ttl')} hint={`${rangeOf('access_token_ttl')}. Empty: the default (${formatSeconds(settings.data?.access_token_ttl)}).`}>
            {(id, desc) => <input id={id} type="number" min={LIMITS.access_token_ttl.minimum} max={LIMITS.access_token_ttl.maximum} inputMode="numeric" value={d.accessTtl} aria-describedby={desc} onChange={(e) => set('accessTtl', e.target.value)} />}
          </Field>
          <Field label="Refresh token lifetime (seconds)" error={fieldError(error, 'refresh_token_ttl')} hint={`${rangeOf('refresh_token_ttl')}. Empty: the default (${formatSeconds(settings.data?.refresh_token_ttl)}).`}>
            {(id, desc) => <input id={id} type="number" min={LIMITS.refresh_token_ttl.minimum} max={LIMITS.refresh_token_ttl.maximum} inputMode="numeric" value={d.refreshTtl} aria-describedby={desc} onChange={(e) => set('refreshTtl', e.target.value)} />}
          </Field>
        </div>

        <div className="actions actions--end">
          <Link className="button" to={editing ? `/admin/apps/${app.client_id}` : '/admin/apps'}>
            Cancel
          </Link>
          <button type="submit" className="primary" disabled={busy}>
            {busy ? 'Saving…' : editing ? 'Save changes' : 'Register app'}
          </button>
        </div>
      </form>
    </>
  );
}
