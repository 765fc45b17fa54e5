import { ACR_VALUES_SUPPORTED } from '../../identity/authentication-methods.ts';
import { KEY_ALGS } from '../../keys/key-ring.ts';
import { OPENID_SCOPES } from '../../lib/scope-names.ts';
import { GRANT_HANDLERS } from '../grants/index.ts';
import { DEVICE_CODE_GRANT } from '../../clients/client.ts';
import { DPOP_SIGNING_ALGS } from '../dpop.ts';
import { CLIENT_ASSERTION_ALGS } from '../../clients/client-keys.ts';

/** Claims Tessera can release: in ID tokens, userinfo and access tokens (OIDC Discovery §3). */
export const CLAIMS_SUPPORTED = [
  'sub', 'iss', 'aud', 'exp', 'iat', 'auth_time', 'nonce', 'sid', 'azp', 'at_hash', 'amr', 'acr',
  'preferred_username', 'name', 'given_name', 'family_name', 'updated_at', 'email', 'email_verified',
] as const;

/**
 * Authorization server metadata (RFC 8414) and OpenID Provider metadata (OIDC Discovery
 * 1.0 §3). Lists only what is implemented: a client reading it must never find an
 * endpoint or method that answers 404.
 */
export interface MetadataOptions {
  /** RFC 9728 §4 `protected_resources`: the gateway's resource identifiers (RFC 8707 `resource` values). */
  protectedResources?: readonly string[];
  /** Whether an https `client_id` naming a Client ID Metadata Document is accepted. */
  clientIdMetadataDocuments?: boolean;
  /** Whether Dynamic Client Registration is on: RFC 8414 `registration_endpoint` is then advertised. */
  registrationEndpoint?: boolean;
  /** OIDC Discovery §3 `ui_locales_supported`: the languages of the pages (docs/languages.md). */
  uiLocales?: readonly string[];
  /** Whether every app must use pushed authorization requests (the `require_pushed_authorization_requests` setting). */
  requirePushedAuthorizationRequests?: boolean;
  /** Whether the device authorization grant is on (TESSERA_DEVICE_FLOW; default on). */
  deviceFlow?: boolean;
}

export function serverMetadata(issuer: string, apiScopes: readonly string[] = [], options: MetadataOptions = {}): Record<string, unknown> {
  // private_key_jwt: RFC 7523 §2.2 client assertions, wherever a client authenticates.
  const authMethods = ['client_secret_basic', 'client_secret_post', 'private_key_jwt'];
  const assertionAlgs = [...CLIENT_ASSERTION_ALGS];
  const optional: Record<string, unknown> = {};
  if (options.protectedResources?.length) optional.protected_resources = [...options.protectedResources];
  // draft-ietf-oauth-client-id-metadata-document §6, as the MCP authorization specification reads it.
  if (options.clientIdMetadataDocuments) optional.client_id_metadata_document_supported = true;
  if (options.registrationEndpoint) optional.registration_endpoint = `${issuer}/connect/register`;
  if (options.uiLocales?.length) optional.ui_locales_supported = [...options.uiLocales];
  // RFC 9126 §5: the PAR endpoint, and whether it is the only way in.
  optional.pushed_authorization_request_endpoint = `${issuer}/connect/par`;
  if (options.requirePushedAuthorizationRequests) optional.require_pushed_authorization_requests = true;
  const deviceFlow = options.deviceFlow !== false;
  // RFC 8628 §4.
  if (deviceFlow) optional.device_authorization_endpoint = `${issuer}/connect/deviceauthorization`;
  return {
    issuer,
    authorization_endpoint: `${issuer}/connect/authorize`,
    token_endpoint: `${issuer}/connect/token`,
    jwks_uri: `${issuer}/.well-known/jwks.json`,
    userinfo_endpoint: `${issuer}/connect/userinfo`,
    end_session_endpoint: `${issuer}/connect/endsession`,
    introspection_endpoint: `${issuer}/connect/introspect`,
    revocation_endpoint: `${issuer}/connect/revocation`,
    scopes_supported: [...Object.keys(OPENID_SCOPES), ...apiScopes],
    response_types_supported: ['code'],
    response_modes_supported: ['query'],
    grant_types_supported: [...GRANT_HANDLERS.keys()].filter((g) => deviceFlow || g !== DEVICE_CODE_GRANT),
    // RFC 7636 with RFC 9700 §2.1.1: S256 only, "plain" is refused.
    code_challenge_methods_supported: ['S256'],
    // RFC 9207: every authorization response carries iss (mix-up defence).
    authorization_response_iss_parameter_supported: true,
    // "none" is how public clients (PKCE, no secret) authenticate at the token endpoint.
    token_endpoint_auth_methods_supported: [...authMethods, 'none'],
    token_endpoint_auth_signing_alg_values_supported: assertionAlgs,
    introspection_endpoint_auth_methods_supported: authMethods,
    introspection_endpoint_auth_signing_alg_values_supported: assertionAlgs,
    revocation_endpoint_auth_methods_supported: [...authMethods, 'none'],
    revocation_endpoint_auth_signing_alg_values_supported: assertionAlgs,
    access_token_signing_alg_values_supported: ['ES256'],
    // RFC 9449 §5.1: DPoP-bound tokens at the token endpoint, userinfo and the gateway (docs/dpop.md).
    dpop_signing_alg_values_supported: [...DPOP_SIGNING_ALGS],
    subject_types_supported: ['public'],
    id_token_signing_alg_values_supported: [...KEY_ALGS].reverse(),
    // userinfo_signing_alg_values_supported is left out: userinfo answers plain JSON, never a JWT.
    prompt_values_supported: ['none', 'login', 'consent', 'select_account'],
    claims_supported: [...CLAIMS_SUPPORTED],
    // OIDC Discovery §3; what each value means: docs/mfa.md.
    acr_values_supported: [...ACR_VALUES_SUPPORTED],
    claims_parameter_supported: false,
    request_parameter_supported: false,
    request_uri_parameter_supported: false,
    ...optional,
  };
}

export function openIdConfiguration(issuer: string, apiScopes: readonly string[] = [], options: MetadataOptions = {}): Record<string, unknown> {
  return serverMetadata(issuer, apiScopes, options);
}
