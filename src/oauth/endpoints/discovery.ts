import { KEY_ALGS } from '../../keys/key-ring.ts';
import { GRANT_HANDLERS } from '../grants/index.ts';

/**
 * Authorization server metadata (RFC 8414) and OpenID Provider metadata (OIDC Discovery
 * 1.0 §3). Lists only what is implemented: a client reading it must never find an
 * endpoint or method that answers 404.
 */
export function serverMetadata(issuer: string): Record<string, unknown> {
  const authMethods = ['client_secret_basic', 'client_secret_post'];
  return {
    issuer,
    token_endpoint: `${issuer}/connect/token`,
    jwks_uri: `${issuer}/.well-known/jwks.json`,
    introspection_endpoint: `${issuer}/connect/introspect`,
    revocation_endpoint: `${issuer}/connect/revocation`,
    grant_types_supported: [...GRANT_HANDLERS.keys()],
    // No authorization endpoint yet: no response types (RFC 8414 §2 lists what is supported).
    response_types_supported: [],
    token_endpoint_auth_methods_supported: authMethods,
    introspection_endpoint_auth_methods_supported: authMethods,
    revocation_endpoint_auth_methods_supported: authMethods,
    access_token_signing_alg_values_supported: ['ES256'],
    subject_types_supported: ['public'],
    id_token_signing_alg_values_supported: [...KEY_ALGS].reverse(),
  };
}

export function openIdConfiguration(issuer: string): Record<string, unknown> {
  return serverMetadata(issuer);
}
