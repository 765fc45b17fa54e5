import { randomUUID } from 'node:crypto';
import { calculateJwkThumbprint, exportJWK, generateKeyPair, SignJWT, type CryptoKey, type JWK } from 'jose';
import { accessTokenHash } from '../../src/oauth/dpop.ts';

/** A client's DPoP key pair (RFC 9449), with its public JWK and thumbprint. */
export interface DpopKey {
  alg: string;
  privateKey: CryptoKey;
  publicJwk: JWK;
  jkt: string;
}

export async function dpopKey(alg = 'ES256'): Promise<DpopKey> {
  const { publicKey, privateKey } = await generateKeyPair(alg, { extractable: true });
  const publicJwk = await exportJWK(publicKey);
  return { alg, privateKey, publicJwk, jkt: await calculateJwkThumbprint(publicJwk, 'sha256') };
}

export interface ProofOptions {
  htm?: string;
  htu: string;
  /** Epoch seconds; default now. */
  iat?: number;
  jti?: string;
  nonce?: string;
  /** The access token the proof goes with (its hash becomes `ath`). */
  accessToken?: string;
  /** Replaces or removes (undefined) payload claims after the defaults. */
  claims?: Record<string, unknown>;
  /** Replaces or adds protected header members. */
  header?: Record<string, unknown>;
}

/** A DPoP proof JWT, made by hand so that tests can get every field wrong on purpose. */
export async function dpopProof(key: DpopKey, o: ProofOptions): Promise<string> {
  const payload: Record<string, unknown> = {
    jti: o.jti ?? randomUUID(),
    htm: o.htm ?? 'POST',
    htu: o.htu,
    iat: o.iat ?? Math.floor(Date.now() / 1000),
  };
  if (o.nonce !== undefined) payload.nonce = o.nonce;
  if (o.accessToken !== undefined) payload.ath = accessTokenHash(o.accessToken);
  for (const [k, v] of Object.entries(o.claims ?? {})) {
    if (v === undefined) delete payload[k];
    else payload[k] = v;
  }
  return new SignJWT(payload).setProtectedHeader({ alg: key.alg, typ: 'dpop+jwt', jwk: key.publicJwk, ...o.header } as never).sign(key.privateKey);
}

/** A JWS with any header and payload, signed with HMAC or not at all (alg none): what a proof must never be. */
export function unsignedJws(header: Record<string, unknown>, payload: Record<string, unknown>, signature = ''): string {
  const b64 = (v: unknown) => Buffer.from(JSON.stringify(v)).toString('base64url');
  return `${b64(header)}.${b64(payload)}.${signature}`;
}
