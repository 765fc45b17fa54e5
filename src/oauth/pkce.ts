import { createHash } from 'node:crypto';
import { hashesEqual } from '../lib/crypto.ts';

/** RFC 7636 §4.1: code_verifier = 43*128unreserved; §4.2: the S256 challenge is 43 base64url chars. */
const VERIFIER = /^[A-Za-z0-9\-._~]{43,128}$/;
const CHALLENGE = /^[A-Za-z0-9\-._~]{43,128}$/;

export function isValidChallenge(challenge: string): boolean {
  return CHALLENGE.test(challenge);
}

export function isValidVerifier(verifier: string): boolean {
  return VERIFIER.test(verifier);
}

export function s256(verifier: string): string {
  return createHash('sha256').update(verifier, 'ascii').digest('base64url');
}

/** Only S256 is accepted (RFC 9700 §2.1.1: `plain` must not be used). */
export function verifierMatches(verifier: string, challenge: string): boolean {
  return isValidVerifier(verifier) && hashesEqual(s256(verifier), challenge);
}
