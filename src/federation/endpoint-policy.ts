import { checkRedirectUri, type RedirectUriCheckOptions } from '../clients/redirect-uri-policy.ts';

/**
 * Issuer and endpoint URLs of upstream providers follow the redirect-URI policy (issue #11):
 * https to a public host in strict mode; `http://127.0.0.1…` (loopback) also in development
 * mode. The same rules keep Tessera from being pointed at hosts inside its own network.
 */
export type EndpointPolicy = RedirectUriCheckOptions;

export type EndpointCheck = { ok: true } | { ok: false; reason: string };

export async function checkEndpoint(label: string, url: string, policy: EndpointPolicy): Promise<EndpointCheck> {
  const result = await checkRedirectUri(url, policy);
  if (result.ok) return { ok: true };
  return { ok: false, reason: result.reason.replace(/^redirect URI/, label) };
}

/** RFC 8414 §2 / OIDC Discovery §3: an issuer is an https URL without query or fragment. */
export async function checkIssuer(issuer: string, policy: EndpointPolicy): Promise<EndpointCheck> {
  if (/[?#]/.test(issuer)) return { ok: false, reason: 'issuer must not have a query or fragment' };
  return checkEndpoint('issuer', issuer, policy);
}
