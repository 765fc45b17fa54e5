import { PAR_EXPIRES_IN } from '../../config/limits.ts';
import { randomToken, sha256 } from '../../lib/crypto.ts';
import { REQUEST_URI_PREFIX, validateAuthorizationRequest } from '../authorization-request.ts';
import type { ClientAssertions } from '../client-assertion.ts';
import { authenticateClient, presentedCredentials, type ClientLookup } from '../client-auth.ts';
import type { DpopVerifier } from '../dpop.ts';
import { invalidRequest } from '../errors.ts';
import { singleValued, type RawParams } from '../params.ts';
import type { PushedRequestStore } from '../pushed-request-store.ts';
import type { ResourceDirectory } from '../resource-indicators.ts';
import { proofKey, type PresentedProof } from './dpop-proof.ts';

/** RFC 9126 §2.2: the pushed authorization response. */
export interface PushedAuthorizationResponse {
  request_uri: string;
  expires_in: number;
}

export interface PushedAuthorizationDeps {
  lookupClient: ClientLookup;
  pushed: PushedRequestStore;
  resources?: ResourceDirectory;
  clientAssertions?: ClientAssertions;
  /** Validates a DPoP proof sent with the push (RFC 9449 §10.1); absent: a DPoP header is refused. */
  dpop?: DpopVerifier;
  /** Seconds a request_uri may wait for the browser (default PAR_EXPIRES_IN, 60). */
  expiresIn?: number;
}

/** Client authentication travels with the pushed request but is no part of the authorization request. */
const CLIENT_AUTH_PARAMS = new Set(['client_secret', 'client_assertion', 'client_assertion_type']);

/**
 * POST /connect/par (RFC 9126 §2). The client authenticates as at the token endpoint (a public
 * client sends client_id alone); the request is checked by the same code as at
 * /connect/authorize, and any problem is answered here as JSON (§2.3), never by redirect.
 * Valid, it is stored under the SHA-256 of a random `request_uri` that lives `expires_in`
 * seconds and is used once.
 *
 * RFC 9449 §10.1: a DPoP proof sent with the push binds the code to the proof's key exactly
 * as `dpop_jkt` would (the token request must then prove that key); sent with `dpop_jkt`
 * too, the two must name the same key.
 */
export function pushedAuthorizationEndpoint(deps: PushedAuthorizationDeps) {
  const assertions = deps.clientAssertions?.forEndpoint('/connect/par');
  const expiresIn = deps.expiresIn ?? PAR_EXPIRES_IN;
  return async function push(req: {
    params: RawParams;
    authorization: string | undefined;
    now: number;
    /** The request's `DPoP` headers and the PAR endpoint's public URL; absent without a DPoP header. */
    dpop?: PresentedProof | undefined;
  }): Promise<PushedAuthorizationResponse> {
    // Repeated parameters are refused after authentication (as the authorize validation does), but
    // the credentials themselves must be single.
    const single = singleValued(new Map([...req.params].filter(([k]) => k === 'client_id' || CLIENT_AUTH_PARAMS.has(k))));
    const { client } = await authenticateClient(presentedCredentials(req.authorization, single), deps.lookupClient, req.now, assertions);
    const raw: RawParams = new Map([...req.params].filter(([k]) => !CLIENT_AUTH_PARAMS.has(k)));
    // §2.1: the client_id is the authenticated client's, whether sent or carried by Basic or the assertion.
    raw.set('client_id', [client.id]);
    if (req.dpop !== undefined) {
      const jkt = await proofKey(deps.dpop, req.dpop, req.now);
      const named = raw.get('dpop_jkt');
      // A repeated dpop_jkt is left for the validation below to refuse.
      if (named?.length === 1 && named[0] !== jkt) throw invalidRequest('dpop_jkt names another key than the DPoP proof');
      if (named === undefined) raw.set('dpop_jkt', [jkt]);
    }
    const validation = await validateAuthorizationRequest(raw, () => client, deps.resources, { fromPar: true });
    if (!validation.ok) throw validation.error;
    const params: Record<string, string> = {};
    for (const [k, v] of validation.request.params) params[k] = v;
    if (Object.keys(params).length > 50) throw invalidRequest('too many parameters');
    const requestUri = `${REQUEST_URI_PREFIX}${randomToken()}`;
    await deps.pushed.insert({ requestUriHash: sha256(requestUri), clientId: client.id, params, createdAt: req.now, expiresAt: req.now + expiresIn });
    return { request_uri: requestUri, expires_in: expiresIn };
  };
}
