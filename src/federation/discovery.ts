import { checkEndpoint, checkIssuer, type EndpointPolicy } from './endpoint-policy.ts';
import type { OutboundHttp } from './outbound.ts';
import type { ProviderEndpoints, UpstreamClientAuth } from './provider.ts';

/**
 * ID-token algorithms Tessera accepts from a provider: asymmetric only. HS256 with the client
 * secret (OIDC Core §10.1) is refused: the secret would then also be a signing key.
 */
export const ACCEPTED_ID_TOKEN_ALGS: readonly string[] = ['RS256', 'RS384', 'RS512', 'PS256', 'PS384', 'PS512', 'ES256', 'ES384', 'ES512', 'EdDSA', 'Ed25519'];

export type DiscoveryResult = { ok: true; endpoints: ProviderEndpoints } | { ok: false; reason: string };

/**
 * Fetches and validates an OpenID provider's discovery document (OIDC Discovery 1.0 §4):
 * the document's `issuer` must equal the configured issuer exactly (§4.3, the mix-up and
 * impersonation defence), and every endpoint Tessera will call must pass the endpoint policy.
 */
export async function discoverProvider(issuer: string, http: OutboundHttp, policy: EndpointPolicy): Promise<DiscoveryResult> {
  const issuerCheck = await checkIssuer(issuer, policy);
  if (!issuerCheck.ok) return issuerCheck;
  // §4.1: the issuer with any trailing "/" removed, then /.well-known/openid-configuration.
  const url = `${issuer.replace(/\/+$/, '')}/.well-known/openid-configuration`;
  const response = await http(url);
  if (!response.ok) return { ok: false, reason: `discovery document: ${response.reason}` };
  if (response.status !== 200) return { ok: false, reason: `discovery document: ${url} answered HTTP ${response.status}` };
  const doc = response.json;
  if (!isObject(doc)) return { ok: false, reason: `discovery document: ${url} did not answer a JSON object` };
  return validateDiscoveryDocument(issuer, doc, policy);
}

export async function validateDiscoveryDocument(issuer: string, doc: Record<string, unknown>, policy: EndpointPolicy): Promise<DiscoveryResult> {
  if (doc.issuer !== issuer) {
    return { ok: false, reason: `discovery document names the issuer ${JSON.stringify(String(doc.issuer)).slice(0, 200)}, not ${issuer}` };
  }
  const urls: Record<'authorization_endpoint' | 'token_endpoint' | 'jwks_uri', string> = { authorization_endpoint: '', token_endpoint: '', jwks_uri: '' };
  for (const name of ['authorization_endpoint', 'token_endpoint', 'jwks_uri'] as const) {
    const value = doc[name];
    if (typeof value !== 'string') return { ok: false, reason: `discovery document has no ${name}` };
    const check = await checkEndpoint(name, value, policy);
    if (!check.ok) return check;
    urls[name] = value;
  }
  let userinfo: string | null = null;
  if (doc.userinfo_endpoint !== undefined) {
    if (typeof doc.userinfo_endpoint !== 'string') return { ok: false, reason: 'discovery document: userinfo_endpoint is not a string' };
    const check = await checkEndpoint('userinfo_endpoint', doc.userinfo_endpoint, policy);
    if (!check.ok) return check;
    userinfo = doc.userinfo_endpoint;
  }
  const responseTypes = stringList(doc.response_types_supported);
  if (responseTypes !== undefined && !responseTypes.includes('code')) {
    return { ok: false, reason: 'the provider does not support the authorization code flow (response_types_supported lacks "code")' };
  }
  const auth = chooseClientAuth(stringList(doc.token_endpoint_auth_methods_supported));
  if (auth === undefined) {
    return { ok: false, reason: 'the provider supports neither client_secret_basic nor client_secret_post at its token endpoint' };
  }
  // §3: id_token_signing_alg_values_supported is REQUIRED; RS256 is the OIDC default.
  const algs = (stringList(doc.id_token_signing_alg_values_supported) ?? ['RS256']).filter((alg) => ACCEPTED_ID_TOKEN_ALGS.includes(alg));
  if (algs.length === 0) return { ok: false, reason: 'the provider signs ID tokens with no algorithm Tessera accepts (asymmetric JWS only)' };
  return {
    ok: true,
    endpoints: {
      authorizationEndpoint: urls.authorization_endpoint,
      tokenEndpoint: urls.token_endpoint,
      userinfoEndpoint: userinfo,
      jwksUri: urls.jwks_uri,
      tokenEndpointAuthMethod: auth,
      idTokenSigningAlgs: algs,
      issParameterSupported: doc.authorization_response_iss_parameter_supported === true,
    },
  };
}

/** Plain OAuth 2.0 providers: the operator gives the URLs; they pass the same policy. */
export async function checkOAuth2Endpoints(endpoints: Pick<ProviderEndpoints, 'authorizationEndpoint' | 'tokenEndpoint' | 'userinfoEndpoint'>, policy: EndpointPolicy): Promise<{ ok: true } | { ok: false; reason: string }> {
  if (endpoints.userinfoEndpoint === null) return { ok: false, reason: 'a plain OAuth 2.0 provider needs a userinfo URL' };
  for (const [label, url] of [
    ['authorization URL', endpoints.authorizationEndpoint],
    ['token URL', endpoints.tokenEndpoint],
    ['userinfo URL', endpoints.userinfoEndpoint],
  ] as const) {
    const check = await checkEndpoint(label, url, policy);
    if (!check.ok) return check;
  }
  return { ok: true };
}

/** OIDC Discovery §3: when the list is absent, the default is client_secret_basic. */
function chooseClientAuth(supported: string[] | undefined): UpstreamClientAuth | undefined {
  const methods = supported ?? ['client_secret_basic'];
  if (methods.includes('client_secret_basic')) return 'client_secret_basic';
  if (methods.includes('client_secret_post')) return 'client_secret_post';
  return undefined;
}

function stringList(value: unknown): string[] | undefined {
  return Array.isArray(value) ? value.filter((v): v is string => typeof v === 'string') : undefined;
}

export function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
