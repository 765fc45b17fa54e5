import type { Client } from '../../clients/client.ts';
import type { SignedIn } from '../../identity/session-service.ts';
import { decodeJwt, verifySignature, type SigningAlg } from '../../keys/jwt.ts';
import type { KeyRing } from '../../keys/key-ring.ts';
import { redirectWith } from '../authorization-request.ts';
import type { ClientLookup } from '../client-auth.ts';
import { invalidRequest, type OAuthError } from '../errors.ts';
import { singleValued, type RawParams } from '../params.ts';

export type EndSessionOutcome =
  | { kind: 'error_page'; error: OAuthError }
  /** The hint proves the app asks for this user's session to end: end it now. */
  | { kind: 'logout'; redirect: string | undefined }
  /** No (valid) hint: ask the user before signing them out (OIDC RP-Initiated Logout §2). */
  | { kind: 'confirm'; clientId: string | undefined; clientName: string | undefined; clientNameTranslations?: Readonly<Record<string, string>> | undefined; postLogoutRedirectUri: string | undefined; state: string | undefined };

export interface EndSessionDeps {
  keys: KeyRing;
  lookupClient: ClientLookup;
  issuer: () => string;
}

/** /connect/endsession (OpenID Connect RP-Initiated Logout 1.0). */
export function endSessionEndpoint(deps: EndSessionDeps) {
  return async function endSession(raw: RawParams, signedIn: SignedIn | undefined): Promise<EndSessionOutcome> {
    let params: Map<string, string>;
    try {
      params = singleValued(raw);
    } catch (error) {
      return { kind: 'error_page', error: error as OAuthError };
    }
    const hint = params.get('id_token_hint');
    const claims = hint === undefined ? undefined : verifyIdTokenHint(deps, hint);
    if (hint !== undefined && !claims) return { kind: 'error_page', error: invalidRequest('id_token_hint is not a valid ID token from this server') };
    const clientIdParam = params.get('client_id');
    const hintAud = claims ? (Array.isArray(claims.aud) ? claims.aud[0] : claims.aud) : undefined;
    if (clientIdParam !== undefined && hintAud !== undefined && clientIdParam !== hintAud) {
      return { kind: 'error_page', error: invalidRequest('client_id does not match the id_token_hint audience') };
    }
    const clientId = typeof hintAud === 'string' ? hintAud : clientIdParam;
    const client: Client | undefined = clientId === undefined ? undefined : await deps.lookupClient(clientId);
    if (clientId !== undefined && !client) return { kind: 'error_page', error: invalidRequest('unknown client_id') };

    const postLogout = params.get('post_logout_redirect_uri');
    const state = params.get('state');
    if (postLogout !== undefined) {
      if (!client) return { kind: 'error_page', error: invalidRequest('post_logout_redirect_uri needs id_token_hint or client_id') };
      // Registered for this app, exact match, or it would be an open redirector.
      if (!client.postLogoutRedirectUris.includes(postLogout)) {
        return { kind: 'error_page', error: invalidRequest('post_logout_redirect_uri is not registered for this app') };
      }
    }
    const redirect = postLogout === undefined ? undefined : redirectWith(postLogout, { state });
    const sameUser = claims !== undefined && (!signedIn || signedIn.principal.user.id === claims.sub);
    if (sameUser) return { kind: 'logout', redirect };
    return { kind: 'confirm', clientId: client?.id, clientName: client?.name, clientNameTranslations: client?.nameTranslations, postLogoutRedirectUri: postLogout, state };
  };
}

/** Verifies an ID token we issued; it may have expired (OIDC RP-Initiated Logout §2). */
function verifyIdTokenHint(deps: EndSessionDeps, token: string): Record<string, unknown> | undefined {
  const decoded = decodeJwt(token);
  if (!decoded) return undefined;
  const { header, payload } = decoded;
  if (typeof header.typ === 'string' && /at\+jwt/i.test(header.typ)) return undefined;
  const key = typeof header.kid === 'string' ? deps.keys.publicKey(header.kid) : undefined;
  if (!key || key.alg !== header.alg || !verifySignature(decoded, key.alg as SigningAlg, key.publicKey)) return undefined;
  if (payload.iss !== deps.issuer() || typeof payload.sub !== 'string') return undefined;
  return payload;
}
