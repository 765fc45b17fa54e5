import { validationError } from '../errors.ts';
import { ADMIN_SCOPE, isScopeToken, OPENID_SCOPES } from '../lib/scope-names.ts';
import { DEVICE_CODE_GRANT } from './client.ts';

/**
 * What an app that registers itself may ask for — at the registration endpoint (RFC 7591)
 * or with a Client ID Metadata Document — as the operator set it (settings
 * `registration_grant_types`, `registration_scopes`, `registration_auth_methods`;
 * docs/registration.md). Pure rules: RegistrationService and ClientService apply them, the
 * settings service validates them.
 */
export interface RegistrationPolicy {
  /** Grant types a self-registered app may list (refresh_token comes with either). */
  readonly grantTypes: readonly SelfRegistrableGrant[];
  /** Scopes it may be given; null: every scope on offer (the built-in user scopes and every API's). */
  readonly scopes: readonly string[] | null;
  /** token_endpoint_auth_method values it may declare; `none` is a public app (metadata documents are always public). */
  readonly authMethods: readonly SelfRegistrationAuthMethod[];
}

/** Never client_credentials: a self-registered app has no user to act for, and no admin chose one. */
export const SELF_REGISTRABLE_GRANTS = ['authorization_code', DEVICE_CODE_GRANT] as const;
export type SelfRegistrableGrant = (typeof SELF_REGISTRABLE_GRANTS)[number];

/** `private_key_jwt` (RFC 7523): the app registers its public keys (`jwks` or `jwks_uri`) and signs assertions; no secret is made. */
export const SELF_REGISTRATION_AUTH_METHODS = ['client_secret_basic', 'client_secret_post', 'private_key_jwt', 'none'] as const;
export type SelfRegistrationAuthMethod = (typeof SELF_REGISTRATION_AUTH_METHODS)[number];

/** The default: the authorization-code grant, any offered scope, any of the four methods. */
export const DEFAULT_REGISTRATION_POLICY: RegistrationPolicy = {
  grantTypes: ['authorization_code'],
  scopes: null,
  authMethods: [...SELF_REGISTRATION_AUTH_METHODS],
};

/**
 * The scopes a self-registered app may be given: the built-in user scopes and those APIs
 * declare, never `tessera.admin`, narrowed by the policy. A policy scope no API declares
 * (any more) is simply not on offer.
 */
export function offeredScopes(declared: Iterable<string>, policy: RegistrationPolicy): string[] {
  const offered = [...Object.keys(OPENID_SCOPES), ...declared].filter((s) => s !== ADMIN_SCOPE);
  return policy.scopes === null ? [...new Set(offered)] : [...new Set(offered.filter((s) => policy.scopes!.includes(s)))];
}

/** A policy's grant types, checked: a non-empty list of self-registrable grants. Throws a validation error. */
export function policyGrantTypes(value: unknown): SelfRegistrableGrant[] {
  const list = stringList(value, 'registration_grant_types');
  const bad = list.filter((g) => !(SELF_REGISTRABLE_GRANTS as readonly string[]).includes(g));
  if (bad.length || !list.length) {
    throw validationError(`registration_grant_types must list one or more of ${SELF_REGISTRABLE_GRANTS.join(', ')}`, 'registration_grant_types');
  }
  return [...new Set(list)] as SelfRegistrableGrant[];
}

/** A policy's auth methods, checked: a non-empty list of the four methods. */
export function policyAuthMethods(value: unknown): SelfRegistrationAuthMethod[] {
  const list = stringList(value, 'registration_auth_methods');
  const bad = list.filter((m) => !(SELF_REGISTRATION_AUTH_METHODS as readonly string[]).includes(m));
  if (bad.length || !list.length) {
    throw validationError(`registration_auth_methods must list one or more of ${SELF_REGISTRATION_AUTH_METHODS.join(', ')}`, 'registration_auth_methods');
  }
  return [...new Set(list)] as SelfRegistrationAuthMethod[];
}

/** A policy's scopes, checked: null (any offered scope) or a list of scope names, never tessera.admin. */
export function policyScopes(value: unknown): string[] | null {
  if (value === null) return null;
  const list = stringList(value, 'registration_scopes');
  if (list.length > 200) throw validationError('registration_scopes may list at most 200 scopes', 'registration_scopes');
  const bad = list.filter((s) => !isScopeToken(s));
  if (bad.length) throw validationError(`registration_scopes: "${bad[0]!.slice(0, 64)}" is not a scope name`, 'registration_scopes');
  if (list.includes(ADMIN_SCOPE)) throw validationError(`registration_scopes cannot include ${ADMIN_SCOPE}: a self-registered app is never an administrator`, 'registration_scopes');
  return [...new Set(list)];
}

function stringList(value: unknown, field: string): string[] {
  if (!Array.isArray(value) || value.some((v) => typeof v !== 'string')) throw validationError(`${field} must be a list of strings`, field);
  return value as string[];
}
