import { validationError } from '../errors.ts';
import { text } from '../lib/text.ts';
import { checkOAuth2Endpoints, discoverProvider } from './discovery.ts';
import { checkIssuer, type EndpointPolicy } from './endpoint-policy.ts';
import type { OutboundHttp } from './outbound.ts';
import { OIDC_CLAIMS } from './profile.ts';
import type { ClaimMapping, ProviderEndpoints, ProviderKind, UpstreamClientAuth } from './provider.ts';

/**
 * What an operator gives to register (or change) a provider, before validation: the CLI
 * and the admin API parse into this; the provider service validates it here, in one place.
 */
export interface ProviderSettings {
  slug: string;
  name: string;
  kind: ProviderKind;
  issuer: string | null;
  /** Plain OAuth 2.0 only; an OIDC provider's come from discovery. */
  authorizationUrl: string | null;
  tokenUrl: string | null;
  userinfoUrl: string | null;
  tokenEndpointAuthMethod: UpstreamClientAuth;
  claimMapping: ClaimMapping | null;
  clientId: string;
  scopes: string[];
  trustEmail: boolean;
  enabled: boolean;
}

/** Lower-case letters, digits and inner hyphens: it is a URL path segment and a CLI argument. */
const SLUG = /^[a-z0-9](?:[a-z0-9-]{0,38}[a-z0-9])?$/;
/** RFC 6749 §3.3: scope-token = 1*( %x21 / %x23-5B / %x5D-7E ). */
const SCOPE_TOKEN = /^[\x21\x23-\x5b\x5d-\x7e]+$/;
const CLAIM_PATH = /^[A-Za-z0-9_$:-]{1,100}(?:\.[A-Za-z0-9_$:-]{1,100}){0,4}$/;
const MAX_SCOPES = 30;

export const DEFAULT_OIDC_SCOPES = ['openid', 'email', 'profile'];

export function checkSlug(slug: string): string {
  if (!SLUG.test(slug)) {
    throw validationError('slug must be 1–40 lower-case letters, digits and inner hyphens (e.g. "acme-sso")', 'slug');
  }
  return slug;
}

/** Validates everything that needs no network; throws a ServiceError (validation_failed). */
export function checkSettings(s: ProviderSettings): ProviderSettings {
  const scopes = [...new Set(s.scopes)];
  if (scopes.length > MAX_SCOPES) throw validationError(`at most ${MAX_SCOPES} scopes`, 'scopes');
  for (const scope of scopes) if (!SCOPE_TOKEN.test(scope)) throw validationError(`"${scope.slice(0, 50)}" is not a valid scope`, 'scopes');
  if (s.kind === 'oidc') {
    if (!scopes.includes('openid')) throw validationError('an OpenID Connect provider needs the "openid" scope', 'scopes');
    if (s.issuer === null) throw validationError('an OpenID Connect provider needs an issuer', 'issuer');
  } else {
    for (const [field, value] of [['authorization_url', s.authorizationUrl], ['token_url', s.tokenUrl], ['userinfo_url', s.userinfoUrl]] as const) {
      if (value === null) throw validationError(`a plain OAuth 2.0 provider needs ${field}`, field);
    }
  }
  const mapping = s.kind === 'oauth2' ? (s.claimMapping ?? OIDC_CLAIMS) : null;
  if (mapping) {
    for (const [field, path] of Object.entries(mapping)) {
      if (path !== undefined && (typeof path !== 'string' || !CLAIM_PATH.test(path))) {
        throw validationError(`claim mapping ${field}: "${String(path).slice(0, 50)}" is not a member name or dotted path`, 'claim_mapping');
      }
    }
  }
  return {
    ...s,
    slug: checkSlug(s.slug),
    name: text(s.name, 'name', 1, 100),
    issuer: s.issuer === null ? null : s.issuer.trim(),
    clientId: text(s.clientId, 'client_id', 1, 255),
    scopes,
    claimMapping: mapping,
  };
}

export function checkClientSecret(secret: string): string {
  if (secret.length === 0 || secret.length > 1024) throw validationError('client secret must be 1–1024 characters', 'client_secret');
  return secret;
}

/**
 * The provider's endpoints: for OIDC from its discovery document (fetched and validated now),
 * for plain OAuth 2.0 the given URLs, checked against the same policy.
 */
export async function resolveEndpoints(s: ProviderSettings, http: OutboundHttp, policy: EndpointPolicy): Promise<ProviderEndpoints> {
  if (s.kind === 'oidc') {
    const discovered = await discoverProvider(s.issuer!, http, policy);
    if (!discovered.ok) throw validationError(discovered.reason, 'issuer');
    return discovered.endpoints;
  }
  if (s.issuer !== null) {
    const issuer = await checkIssuer(s.issuer, policy);
    if (!issuer.ok) throw validationError(issuer.reason, 'issuer');
  }
  const endpoints = { authorizationEndpoint: s.authorizationUrl!, tokenEndpoint: s.tokenUrl!, userinfoEndpoint: s.userinfoUrl };
  const check = await checkOAuth2Endpoints(endpoints, policy);
  if (!check.ok) throw validationError(check.reason);
  return { ...endpoints, jwksUri: null, tokenEndpointAuthMethod: s.tokenEndpointAuthMethod, idTokenSigningAlgs: [], issParameterSupported: false };
}
