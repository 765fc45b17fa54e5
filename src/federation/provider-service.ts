import { randomUUID } from 'node:crypto';
import { changedFields } from '../audit/actions.ts';
import type { Actor } from '../audit/actor.ts';
import type { AuditLog } from '../audit/audit-log.ts';
import { iso } from '../lib/time.ts';
import { epochSeconds, type Clock } from '../clock.ts';
import { conflict, notFound, validationError } from '../errors.ts';
import type { RoleStore } from '../identity/user-store.ts';
import type { EndpointPolicy } from './endpoint-policy.ts';
import type { OutboundHttp } from './outbound.ts';
import { checkClientSecret, checkSettings, checkSlug, DEFAULT_OIDC_SCOPES, resolveEndpoints, type ProviderSettings } from './provider-input.ts';
import type { ProviderStore } from './provider-store.ts';
import { providerRedirectUri, type ClaimMapping, type IdentityProvider, type ProviderKind, type UpstreamClientAuth } from './provider.ts';

/** What the CLI and the admin API show of a provider. The client secret never leaves. */
export interface ProviderView {
  slug: string;
  name: string;
  kind: ProviderKind;
  issuer: string | null;
  /** Register this at the provider: `{issuer}/login/providers/{slug}/callback`. */
  redirect_uri: string;
  client_id: string;
  has_client_secret: boolean;
  scopes: string[];
  default_roles: string[];
  trust_email: boolean;
  enabled: boolean;
  authorization_endpoint: string;
  token_endpoint: string;
  userinfo_endpoint: string | null;
  jwks_uri: string | null;
  token_endpoint_auth_method: UpstreamClientAuth;
  /** Plain OAuth 2.0: where userinfo keeps each field. */
  claim_mapping: ClaimMappingView | null;
  created_at: string;
  updated_at: string;
}

/** The claim mapping as the CLI's --json and the admin API spell it. */
export interface ClaimMappingView {
  subject: string;
  email?: string;
  email_verified?: string;
  name?: string;
  given_name?: string;
  family_name?: string;
  preferred_username?: string;
}

/** snake_case (admin API, CLI) ↔ the mapping's fields. */
const CLAIM_FIELDS = {
  subject: 'subject',
  email: 'email',
  email_verified: 'emailVerified',
  name: 'name',
  given_name: 'givenName',
  family_name: 'familyName',
  preferred_username: 'preferredUsername',
} as const satisfies Record<keyof ClaimMappingView, keyof ClaimMapping>;

/** The field names `--claim` and `claim_mapping` accept. */
export const CLAIM_NAMES = Object.keys(CLAIM_FIELDS) as (keyof ClaimMappingView)[];

export function claimMappingFromView(view: ClaimMappingView): ClaimMapping {
  const mapping: ClaimMapping = { subject: view.subject };
  for (const [name, field] of Object.entries(CLAIM_FIELDS)) {
    const path = view[name as keyof ClaimMappingView];
    if (path !== undefined) mapping[field] = path;
  }
  return mapping;
}

function claimMappingView(mapping: ClaimMapping): ClaimMappingView {
  const view: ClaimMappingView = { subject: mapping.subject };
  for (const [name, field] of Object.entries(CLAIM_FIELDS)) {
    const path = mapping[field];
    if (path !== undefined) view[name as keyof ClaimMappingView] = path;
  }
  return view;
}

/** A new provider; `slug`, `name`, `clientId` and (oidc) `issuer` are required. Absent = default. */
export interface ProviderInput {
  slug?: string;
  name?: string;
  kind?: ProviderKind;
  issuer?: string | null;
  authorizationUrl?: string | null;
  tokenUrl?: string | null;
  userinfoUrl?: string | null;
  tokenEndpointAuthMethod?: UpstreamClientAuth;
  claimMapping?: ClaimMapping | null;
  clientId?: string;
  /** null: a public upstream client (PKCE only). */
  clientSecret?: string | null;
  scopes?: string[];
  defaultRoles?: string[];
  trustEmail?: boolean;
  enabled?: boolean;
}

/** A change; the slug and the kind are fixed once created. Absent = unchanged. */
export type ProviderUpdate = Omit<ProviderInput, 'slug' | 'kind'>;

export interface ProviderServiceDeps {
  store: ProviderStore;
  roles: RoleStore;
  /** Seals client secrets (the key-encryption key, as for signing keys). */
  secrets: { encrypt(plaintext: string): string };
  http: OutboundHttp;
  /** The redirect-URI policy, read per use (it may change at run time). */
  policy: EndpointPolicy;
  issuer: () => string;
  clock: Clock;
  audit: AuditLog;
}

/**
 * Upstream identity providers: validate → (discover) → store → audit. The CLI, the admin API
 * and the console call this; an OIDC provider's discovery document is fetched and validated
 * on every create and update, so a stored provider always had a working configuration.
 */
export class ProviderService {
  readonly #d: ProviderServiceDeps;
  constructor(deps: ProviderServiceDeps) {
    this.#d = deps;
  }

  async list(): Promise<ProviderView[]> {
    return (await this.#d.store.list()).map((p) => this.view(p));
  }

  async show(slug: string): Promise<ProviderView> {
    return this.view(await this.find(slug));
  }

  async find(slug: string): Promise<IdentityProvider> {
    const provider = slug.length <= 100 ? await this.#d.store.findBySlug(slug) : undefined;
    if (!provider) throw notFound('identity provider', slug.replaceAll('\0', '?').slice(0, 100));
    return provider;
  }

  /** The callback URL for a slug, also before the provider exists (to register it upstream first). */
  redirectUri(slug: string): string {
    return providerRedirectUri(this.#d.issuer(), checkSlug(slug));
  }

  async create(input: ProviderInput, actor: Actor): Promise<ProviderView> {
    if (input.slug === undefined) throw validationError('slug is required', 'slug');
    if (input.name === undefined) throw validationError('name is required', 'name');
    if (input.clientId === undefined) throw validationError('client_id is required', 'client_id');
    const kind = input.kind ?? 'oidc';
    const settings = checkSettings({
      slug: input.slug,
      name: input.name,
      kind,
      issuer: input.issuer ?? null,
      authorizationUrl: input.authorizationUrl ?? null,
      tokenUrl: input.tokenUrl ?? null,
      userinfoUrl: input.userinfoUrl ?? null,
      tokenEndpointAuthMethod: input.tokenEndpointAuthMethod ?? 'client_secret_basic',
      claimMapping: input.claimMapping ?? null,
      clientId: input.clientId,
      scopes: input.scopes ?? (kind === 'oidc' ? DEFAULT_OIDC_SCOPES : []),
      trustEmail: input.trustEmail ?? false,
      enabled: input.enabled ?? true,
    });
    if (await this.#d.store.findBySlug(settings.slug)) throw conflict(`identity provider "${settings.slug}" already exists`, 'slug');
    const defaultRoles = await this.#roles(input.defaultRoles ?? []);
    const secret = input.clientSecret === undefined || input.clientSecret === null ? null : checkClientSecret(input.clientSecret);
    const endpoints = await resolveEndpoints(settings, this.#d.http, this.#d.policy);
    const now = epochSeconds(this.#d.clock);
    const provider: IdentityProvider = {
      ...toStored(settings),
      id: randomUUID(),
      endpoints,
      clientSecretSealed: secret === null ? null : this.#d.secrets.encrypt(secret),
      defaultRoles,
      createdAt: now,
      updatedAt: now,
    };
    if (!(await this.#d.store.insert(provider))) throw conflict(`identity provider "${settings.slug}" already exists`, 'slug');
    await this.#d.audit.record(
      { action: 'provider.create', targetId: provider.slug, details: { name: provider.name, kind: provider.kind, issuer: provider.issuer } },
      actor,
    );
    return this.view(provider);
  }

  async update(slug: string, input: ProviderUpdate, actor: Actor): Promise<ProviderView> {
    const current = await this.find(slug);
    const fields = changedFields(input);
    if (fields.length === 0) return this.view(current);
    const settings = checkSettings({
      slug: current.slug,
      name: input.name ?? current.name,
      kind: current.kind,
      issuer: input.issuer !== undefined ? input.issuer : current.issuer,
      authorizationUrl: input.authorizationUrl !== undefined ? input.authorizationUrl : current.endpoints.authorizationEndpoint,
      tokenUrl: input.tokenUrl !== undefined ? input.tokenUrl : current.endpoints.tokenEndpoint,
      userinfoUrl: input.userinfoUrl !== undefined ? input.userinfoUrl : current.endpoints.userinfoEndpoint,
      tokenEndpointAuthMethod: input.tokenEndpointAuthMethod ?? current.endpoints.tokenEndpointAuthMethod,
      claimMapping: input.claimMapping !== undefined ? input.claimMapping : current.claimMapping,
      clientId: input.clientId ?? current.clientId,
      scopes: input.scopes ?? current.scopes,
      trustEmail: input.trustEmail ?? current.trustEmail,
      enabled: input.enabled ?? current.enabled,
    });
    const defaultRoles = input.defaultRoles === undefined ? current.defaultRoles : await this.#roles(input.defaultRoles);
    let sealed = current.clientSecretSealed;
    if (input.clientSecret !== undefined) sealed = input.clientSecret === null ? null : this.#d.secrets.encrypt(checkClientSecret(input.clientSecret));
    // Only a change of where the provider is or how Tessera talks to it needs the network; an
    // OIDC provider is discovered again then, so a stored provider had a working configuration.
    const endpointFields = ['issuer', 'authorization_url', 'token_url', 'userinfo_url', 'token_endpoint_auth_method'];
    const endpoints = fields.some((f) => endpointFields.includes(f)) ? await resolveEndpoints(settings, this.#d.http, this.#d.policy) : current.endpoints;
    const updated: IdentityProvider = {
      ...current,
      ...toStored(settings),
      endpoints,
      clientSecretSealed: sealed,
      defaultRoles,
      updatedAt: epochSeconds(this.#d.clock),
    };
    await this.#d.store.save(updated);
    await this.#d.audit.record({ action: 'provider.update', targetId: current.slug, details: { fields } }, actor);
    return this.view(updated);
  }

  async delete(slug: string, actor: Actor): Promise<void> {
    const provider = await this.find(slug);
    await this.#d.store.delete(provider.id);
    await this.#d.audit.record({ action: 'provider.delete', targetId: provider.slug, details: { name: provider.name } }, actor);
  }

  /** Fetches and validates the discovery document again, changing nothing: "test the discovery". */
  async testDiscovery(slug: string): Promise<{ ok: true } | { ok: false; reason: string }> {
    const provider = await this.find(slug);
    try {
      await resolveEndpoints({ ...fromStored(provider) }, this.#d.http, this.#d.policy);
      return { ok: true };
    } catch (error) {
      if (error instanceof Error) return { ok: false, reason: error.message };
      throw error;
    }
  }

  view(p: IdentityProvider): ProviderView {
    return {
      slug: p.slug,
      name: p.name,
      kind: p.kind,
      issuer: p.issuer,
      redirect_uri: providerRedirectUri(this.#d.issuer(), p.slug),
      client_id: p.clientId,
      has_client_secret: p.clientSecretSealed !== null,
      scopes: p.scopes,
      default_roles: p.defaultRoles,
      trust_email: p.trustEmail,
      enabled: p.enabled,
      authorization_endpoint: p.endpoints.authorizationEndpoint,
      token_endpoint: p.endpoints.tokenEndpoint,
      userinfo_endpoint: p.endpoints.userinfoEndpoint,
      jwks_uri: p.endpoints.jwksUri,
      token_endpoint_auth_method: p.endpoints.tokenEndpointAuthMethod,
      claim_mapping: p.claimMapping === null ? null : claimMappingView(p.claimMapping),
      created_at: iso(p.createdAt),
      updated_at: iso(p.updatedAt),
    };
  }

  async #roles(names: string[]): Promise<string[]> {
    const out: string[] = [];
    for (const name of names) {
      if (!(await this.#d.roles.findRole(name))) throw validationError(`role "${name}" does not exist`, 'default_roles');
      if (!out.includes(name)) out.push(name);
    }
    return out;
  }
}

function toStored(s: ProviderSettings): Pick<IdentityProvider, 'slug' | 'name' | 'kind' | 'issuer' | 'claimMapping' | 'clientId' | 'scopes' | 'trustEmail' | 'enabled'> {
  return { slug: s.slug, name: s.name, kind: s.kind, issuer: s.issuer, claimMapping: s.claimMapping, clientId: s.clientId, scopes: s.scopes, trustEmail: s.trustEmail, enabled: s.enabled };
}

function fromStored(p: IdentityProvider): ProviderSettings {
  return {
    slug: p.slug,
    name: p.name,
    kind: p.kind,
    issuer: p.issuer,
    authorizationUrl: p.endpoints.authorizationEndpoint,
    tokenUrl: p.endpoints.tokenEndpoint,
    userinfoUrl: p.endpoints.userinfoEndpoint,
    tokenEndpointAuthMethod: p.endpoints.tokenEndpointAuthMethod,
    claimMapping: p.claimMapping,
    clientId: p.clientId,
    scopes: p.scopes,
    trustEmail: p.trustEmail,
    enabled: p.enabled,
  };
}
