import type { Actor } from '../audit/actor.ts';
import type { AuditLog } from '../audit/audit-log.ts';
import { epochSeconds, type Clock } from '../clock.ts';
import { inRange, LIMITS, type Range } from '../config/limits.ts';
import { validationError } from '../errors.ts';
import type { ChangeFeed } from '../storage/change-feed.ts';
import { MFA_POLICIES, type MfaPolicy } from '../identity/mfa/mfa-policy.ts';
import type { SettingsStore } from './settings-store.ts';
import {
  policyAuthMethods,
  policyGrantTypes,
  policyScopes,
  type RegistrationPolicy,
  type SelfRegistrableGrant,
  type SelfRegistrationAuthMethod,
} from '../clients/registration-policy.ts';

/**
 * Settings an operator may change while Tessera runs (CLI `tessera settings`, admin API,
 * console). The environment gives the defaults; a value saved here wins over it, on every
 * node (the change feed carries the change). Consumers hold the one `RuntimeSettings` object
 * and read it per use, so a change applies to the next request without a restart.
 *
 * The redirect-URI policy is different: it has no environment default. It is the saved
 * value (else `strict`) in every process — server nodes and CLI commands alike — and
 * TESSERA_REDIRECT_URI_POLICY, when set, is saved over it by `tessera serve` at start
 * (`applyEnvironment`), so the environment of the server is what the CLI sees too.
 */
export interface RuntimeSettings {
  accessTokenTtl: number;
  refreshTokenTtl: number;
  codeTtl: number;
  idTokenTtl: number;
  sessionTtl: number;
  redirectUriPolicy: 'strict' | 'development';
  /** Second factors: off, optional (the default) or required for everyone (docs/mfa.md). */
  mfaPolicy: MfaPolicy;
  /** No app may be authorized by a user whose email address is not verified (docs/email.md). */
  requireVerifiedEmail: boolean;
  /**
   * Dynamic Client Registration (RFC 7591, docs/registration.md): `off` (the default), `open`
   * to anyone, or `token`: only with an initial access token an administrator issued.
   */
  clientRegistration: ClientRegistrationMode;
  /** Every app must push its authorization requests to /connect/par (RFC 9126 §6; docs/client-authentication.md). */
  requirePushedAuthorizationRequests: boolean;
  /** What a self-registered app (RFC 7591, or a Client ID Metadata Document) may ask for. */
  registrationPolicy: RegistrationPolicy;
}

export const CLIENT_REGISTRATION_MODES = ['off', 'open', 'token'] as const;
export type ClientRegistrationMode = (typeof CLIENT_REGISTRATION_MODES)[number];

export interface SettingsView {
  access_token_ttl: number;
  refresh_token_ttl: number;
  code_ttl: number;
  id_token_ttl: number;
  session_ttl: number;
  redirect_uri_policy: 'strict' | 'development';
  mfa_policy: MfaPolicy;
  require_verified_email: boolean;
  client_registration: ClientRegistrationMode;
  require_pushed_authorization_requests: boolean;
  /** Grant types a self-registered app may list (docs/registration.md). */
  registration_grant_types: SelfRegistrableGrant[];
  /** Scopes a self-registered app may be given; null: every scope on offer. */
  registration_scopes: string[] | null;
  /** token_endpoint_auth_method values a self-registered app may declare. */
  registration_auth_methods: SelfRegistrationAuthMethod[];
}

type Field = keyof SettingsView;

/** Allowed ranges: the environment variables' (config/limits.ts). */
const RANGES: Record<
  Exclude<
    Field,
    'redirect_uri_policy' | 'mfa_policy' | 'require_verified_email' | 'client_registration' | 'require_pushed_authorization_requests' | 'registration_grant_types' | 'registration_scopes' | 'registration_auth_methods'
  >,
  { key: keyof RuntimeSettings; range: Range }
> = {
  access_token_ttl: { key: 'accessTokenTtl', range: LIMITS.accessTokenTtl },
  refresh_token_ttl: { key: 'refreshTokenTtl', range: LIMITS.refreshTokenTtl },
  code_ttl: { key: 'codeTtl', range: LIMITS.codeTtl },
  id_token_ttl: { key: 'idTokenTtl', range: LIMITS.idTokenTtl },
  session_ttl: { key: 'sessionTtl', range: LIMITS.sessionTtl },
};

export interface SettingsServiceDeps {
  store: SettingsStore;
  clock: Clock;
  defaults: RuntimeSettings;
  feed: ChangeFeed;
  audit: AuditLog;
  /** Whether mail can be sent: `require_verified_email` cannot be turned on otherwise. */
  emailConfigured?: () => boolean;
}

export class SettingsService {
  readonly #d: SettingsServiceDeps;
  readonly #defaults: Readonly<RuntimeSettings>;
  /** The live object every consumer reads. */
  readonly live: RuntimeSettings;

  constructor(deps: SettingsServiceDeps) {
    this.#d = deps;
    this.#defaults = { ...deps.defaults };
    this.live = { ...deps.defaults };
  }

  /** Reads saved values over the defaults (at start, and when another node changed them). */
  async load(): Promise<void> {
    const rows = await this.#d.store.all();
    const next: RuntimeSettings = { ...this.#defaults };
    for (const row of rows) {
      try {
        applyField(next, row.key as Field, JSON.parse(row.value));
      } catch {
        // A value no longer valid (e.g. a range narrowed in an upgrade) falls back to the default.
      }
    }
    Object.assign(this.live, next);
  }

  view(): SettingsView {
    const s = this.live;
    return {
      access_token_ttl: s.accessTokenTtl,
      refresh_token_ttl: s.refreshTokenTtl,
      code_ttl: s.codeTtl,
      id_token_ttl: s.idTokenTtl,
      session_ttl: s.sessionTtl,
      redirect_uri_policy: s.redirectUriPolicy,
      mfa_policy: s.mfaPolicy,
      require_verified_email: s.requireVerifiedEmail,
      client_registration: s.clientRegistration,
      require_pushed_authorization_requests: s.requirePushedAuthorizationRequests,
      registration_grant_types: [...s.registrationPolicy.grantTypes],
      registration_scopes: s.registrationPolicy.scopes === null ? null : [...s.registrationPolicy.scopes],
      registration_auth_methods: [...s.registrationPolicy.authMethods],
    };
  }

  /**
   * Saves values the server's environment sets explicitly (`tessera serve` at start) where
   * they differ from the current ones, audited as a change by `actor`. Nothing is written
   * (or audited) when they already agree.
   */
  async applyEnvironment(values: Partial<SettingsView>, actor: Actor): Promise<Partial<SettingsView>> {
    const current = this.view();
    const differing = Object.fromEntries(Object.entries(values).filter(([key, value]) => value !== undefined && JSON.stringify(current[key as Field]) !== JSON.stringify(value)));
    if (Object.keys(differing).length) await this.update(differing, actor);
    return differing;
  }

  /** Validates every field first, then saves them all; nothing changes when one is invalid. */
  async update(input: Partial<Record<string, unknown>>, actor: Actor): Promise<SettingsView> {
    const next: RuntimeSettings = { ...this.live };
    const changed: Partial<Record<Field, unknown>> = {};
    for (const [field, value] of Object.entries(input)) {
      if (value === undefined) continue;
      applyField(next, field as Field, value);
      changed[field as Field] = value;
    }
    if (changed.require_verified_email === true && this.#d.emailConfigured?.() === false) {
      throw validationError('require_verified_email cannot be turned on: email is not configured (TESSERA_SMTP_URL), so nobody could verify an address', 'require_verified_email');
    }
    const fields = Object.keys(changed) as Field[];
    if (fields.length) {
      await this.#d.store.save(fields.map((key) => ({ key, value: JSON.stringify(changed[key]) })), epochSeconds(this.#d.clock));
      Object.assign(this.live, next);
      this.#d.feed.notifyLocal('settings', fields.join(','));
    }
    await this.#d.audit.record({ action: 'settings.update', targetId: null, details: { changed } }, actor);
    return this.view();
  }
}

function applyField(target: RuntimeSettings, field: Field, value: unknown): void {
  if (field === 'redirect_uri_policy') {
    if (value !== 'strict' && value !== 'development') throw validationError('redirect_uri_policy must be "strict" or "development"', field);
    target.redirectUriPolicy = value;
    return;
  }
  if (field === 'require_verified_email') {
    if (typeof value !== 'boolean') throw validationError('require_verified_email must be true or false', field);
    target.requireVerifiedEmail = value;
    return;
  }
  if (field === 'require_pushed_authorization_requests') {
    if (typeof value !== 'boolean') throw validationError('require_pushed_authorization_requests must be true or false', field);
    target.requirePushedAuthorizationRequests = value;
    return;
  }
  if (field === 'mfa_policy') {
    if (!MFA_POLICIES.includes(value as MfaPolicy)) throw validationError('mfa_policy must be "off", "optional" or "required"', field);
    target.mfaPolicy = value as MfaPolicy;
    return;
  }
  // The policy is three settings, so each can be set alone (CLI `tessera settings set`); each replaces its part.
  if (field === 'registration_grant_types') {
    target.registrationPolicy = { ...target.registrationPolicy, grantTypes: policyGrantTypes(value) };
    return;
  }
  if (field === 'registration_scopes') {
    target.registrationPolicy = { ...target.registrationPolicy, scopes: policyScopes(value) };
    return;
  }
  if (field === 'registration_auth_methods') {
    target.registrationPolicy = { ...target.registrationPolicy, authMethods: policyAuthMethods(value) };
    return;
  }
  if (field === 'client_registration') {
    if (!CLIENT_REGISTRATION_MODES.includes(value as ClientRegistrationMode)) throw validationError('client_registration must be "off", "open" or "token"', field);
    target.clientRegistration = value as ClientRegistrationMode;
    return;
  }
  const setting = RANGES[field];
  if (!setting) throw validationError(`unknown setting "${String(field).slice(0, 64)}"`, String(field).slice(0, 64));
  const { min, max } = setting.range;
  if (typeof value !== 'number' || !inRange(value, setting.range)) {
    throw validationError(`${field} must be a whole number of seconds from ${min} to ${max}`, field);
  }
  (target[setting.key] as number) = value;
}
