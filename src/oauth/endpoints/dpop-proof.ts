import { DpopError, type DpopVerifier } from '../dpop.ts';
import { OAuthError } from '../errors.ts';

/** A request's `DPoP` headers and the endpoint's public URL (the proof's `htu`). */
export interface PresentedProof {
  headers: readonly string[];
  url: string;
}

/**
 * RFC 9449 at the authorization server's own endpoints (token, PAR): the JWK thumbprint of a
 * valid proof's key. A proof that fails is a 400 `invalid_dpop_proof`; one without the
 * server's current nonce is `use_dpop_nonce` carrying the nonce to use (§8). Without a
 * verifier every proof is refused.
 */
export async function proofKey(verifier: DpopVerifier | undefined, proof: PresentedProof, now: number): Promise<string> {
  if (!verifier) throw new OAuthError('invalid_dpop_proof', 'DPoP is not supported here');
  try {
    return (await verifier.verify({ headers: proof.headers, method: 'POST', url: proof.url, now })).jkt;
  } catch (error) {
    if (!(error instanceof DpopError)) throw error;
    throw new OAuthError(error.code, error.message, { headers: error.code === 'use_dpop_nonce' ? verifier.nonceHeader(now) : {} });
  }
}
