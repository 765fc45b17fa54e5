import { createHmac, randomBytes } from 'node:crypto';
import { exportJWK, generateKeyPair } from 'jose';
import { beforeAll, describe, expect, test } from 'vitest';
import { DPOP_NONCE_BUCKET_SECONDS, DpopError, DpopNonces, DpopVerifier, normalizeHtu, type DpopProofInput } from '../../src/oauth/dpop.ts';
import type { DpopReplayStore } from '../../src/oauth/dpop-replay-store.ts';
import { dpopKey, dpopProof, unsignedJws, type DpopKey } from '../support/dpop.ts';

/**
 * RFC 9449 §4.3, check by check, against the framework-free verifier: each MUST has a proof
 * that breaks exactly it. The replay store is in memory here; test/storage/dpop-stores.test.ts
 * runs the database one on both dialects.
 */

class MemoryReplay implements DpopReplayStore {
  readonly seen = new Map<string, number>();
  async remember(key: string, expiresAt: number): Promise<boolean> {
    if (this.seen.has(key)) return false;
    this.seen.set(key, expiresAt);
    return true;
  }
  async purgeExpired(): Promise<number> {
    return 0;
  }
}

const URL_ = 'https://id.example.com/connect/token';
const NOW = Math.floor(Date.now() / 1000);

function verifier(options: { requireNonce?: boolean; proofMaxAge?: number } = {}) {
  const replay = new MemoryReplay();
  const nonces = new DpopNonces([randomBytes(32)]);
  const v = new DpopVerifier(replay, nonces, { proofMaxAge: options.proofMaxAge ?? 60, requireNonce: options.requireNonce ?? false });
  return { v, replay, nonces };
}

function input(proof: string | string[], extra: Partial<DpopProofInput> = {}): DpopProofInput {
  return { headers: Array.isArray(proof) ? proof : [proof], method: 'POST', url: URL_, now: NOW, ...extra };
}

async function refused(promise: Promise<unknown>, code = 'invalid_dpop_proof'): Promise<string> {
  const error = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(DpopError);
  expect((error as DpopError).code).toBe(code);
  return (error as DpopError).message;
}

describe('DPoP proof validation (RFC 9449 §4.3)', () => {
  let key: DpopKey;
  beforeAll(async () => {
    key = await dpopKey('ES256');
  });

  test.each(['ES256', 'ES384', 'PS256', 'RS256', 'EdDSA'])('a valid %s proof gives the key thumbprint', async (alg) => {
    const k = alg === 'ES256' ? key : await dpopKey(alg);
    const { v } = verifier();
    const result = await v.verify(input(await dpopProof(k, { htu: URL_, iat: NOW })));
    expect(result.jkt).toBe(k.jkt);
  });

  test('exactly one DPoP header (step 1)', async () => {
    const { v } = verifier();
    const p = await dpopProof(key, { htu: URL_, iat: NOW });
    await refused(v.verify(input([p, await dpopProof(key, { htu: URL_, iat: NOW })])));
    await refused(v.verify(input([])));
    // Two headers folded into one by a proxy.
    await refused(v.verify(input(`${p}, ${p}`)));
  });

  test('a well-formed JWT (step 2)', async () => {
    const { v } = verifier();
    for (const junk of ['', 'not a jwt', 'a.b.c', 'x'.repeat(9000)]) await refused(v.verify(input(junk)));
  });

  test('typ must be dpop+jwt (step 4)', async () => {
    const { v } = verifier();
    await refused(v.verify(input(await dpopProof(key, { htu: URL_, iat: NOW, header: { typ: 'JWT' } }))));
    await refused(v.verify(input(await dpopProof(key, { htu: URL_, iat: NOW, header: { typ: 'at+jwt' } }))));
  });

  test('alg none and MAC algorithms are refused (step 5)', async () => {
    const { v } = verifier();
    const payload = { jti: 'j1', htm: 'POST', htu: URL_, iat: NOW };
    const none = unsignedJws({ alg: 'none', typ: 'dpop+jwt', jwk: key.publicJwk }, payload);
    expect(await refused(v.verify(input(none)))).toMatch(/alg/);
    // HS256 with the public key's x as the secret: the classic key-confusion attempt.
    const header = Buffer.from(JSON.stringify({ alg: 'HS256', typ: 'dpop+jwt', jwk: { kty: 'oct', k: 'c2VjcmV0' } })).toString('base64url');
    const body = Buffer.from(JSON.stringify(payload)).toString('base64url');
    const mac = createHmac('sha256', 'secret').update(`${header}.${body}`).digest('base64url');
    expect(await refused(v.verify(input(`${header}.${body}.${mac}`)))).toMatch(/alg/);
  });

  test('the signature must verify with the embedded key (step 6)', async () => {
    const { v } = verifier();
    const other = await dpopKey('ES256');
    // Signed by one key, naming another.
    const forged = await dpopProof(other, { htu: URL_, iat: NOW, header: { jwk: key.publicJwk } });
    expect(await refused(v.verify(input(forged)))).toMatch(/signature/);
    const p = await dpopProof(key, { htu: URL_, iat: NOW });
    const [h, b, s] = p.split('.');
    const tampered = `${h}.${Buffer.from(JSON.stringify({ jti: 'x', htm: 'POST', htu: URL_, iat: NOW })).toString('base64url')}.${s}`;
    expect(b).not.toBe(tampered.split('.')[1]);
    await refused(v.verify(input(tampered)));
  });

  test('a jwk with private key material is refused (step 7)', async () => {
    const { v } = verifier();
    const { privateKey } = await generateKeyPair('ES256', { extractable: true });
    const privateJwk = await exportJWK(privateKey);
    const p = await dpopProof(key, { htu: URL_, iat: NOW, header: { jwk: privateJwk } });
    expect(await refused(v.verify(input(p)))).toMatch(/private/);
    const sym = await dpopProof(key, { htu: URL_, iat: NOW, header: { jwk: { kty: 'oct', k: 'c2VjcmV0' } } });
    await refused(v.verify(input(sym)));
  });

  test('required claims: jti, htm, htu, iat (step 3)', async () => {
    const { v } = verifier();
    for (const claim of ['jti', 'htm', 'htu', 'iat']) {
      await refused(v.verify(input(await dpopProof(key, { htu: URL_, iat: NOW, claims: { [claim]: undefined } }))));
    }
    await refused(v.verify(input(await dpopProof(key, { htu: URL_, iat: NOW, claims: { iat: String(NOW) } }))));
  });

  test('htm must match the method (step 8)', async () => {
    const { v } = verifier();
    expect(await refused(v.verify(input(await dpopProof(key, { htu: URL_, iat: NOW, htm: 'GET' }))))).toMatch(/htm/);
    expect(await refused(v.verify(input(await dpopProof(key, { htu: URL_, iat: NOW, htm: 'post' }))))).toMatch(/htm/);
  });

  test('htu must match the URL, ignoring query and fragment, after normalisation (step 9)', async () => {
    const { v } = verifier();
    for (const same of [
      'https://id.example.com/connect/token?x=1',
      'https://id.example.com/connect/token#frag',
      'HTTPS://ID.EXAMPLE.COM/connect/token',
      'https://id.example.com:443/connect/token',
      'https://id.example.com/connect/./token',
      'https://id.example.com/conn%65ct/token',
    ]) {
      expect((await v.verify(input(await dpopProof(key, { htu: same, iat: NOW })))).jkt).toBe(key.jkt);
    }
    for (const other of [
      'https://id.example.com/connect/token/',
      'http://id.example.com/connect/token',
      'https://id.example.com:8443/connect/token',
      'https://evil.example.com/connect/token',
      'https://id.example.com/connect/introspect',
      '/connect/token',
      'urn:x:y',
    ]) {
      expect(await refused(v.verify(input(await dpopProof(key, { htu: other, iat: NOW })))), other).toMatch(/htu/);
    }
  });

  test('normalizeHtu', () => {
    expect(normalizeHtu('https://A.example.com:443/a/%7euser/%2f?q#f')).toBe('https://a.example.com/a/~user/%2F');
    expect(normalizeHtu('http://h')).toBe('http://h/');
    expect(normalizeHtu('ftp://h/x')).toBeUndefined();
    expect(normalizeHtu('not a url')).toBeUndefined();
  });

  test('iat must be within the window (step 11)', async () => {
    const { v } = verifier({ proofMaxAge: 60 });
    expect((await v.verify(input(await dpopProof(key, { htu: URL_, iat: NOW - 59 })))).jkt).toBe(key.jkt);
    expect((await v.verify(input(await dpopProof(key, { htu: URL_, iat: NOW + 9 })))).jkt).toBe(key.jkt);
    expect(await refused(v.verify(input(await dpopProof(key, { htu: URL_, iat: NOW - 61 }))))).toMatch(/iat/);
    expect(await refused(v.verify(input(await dpopProof(key, { htu: URL_, iat: NOW + 60 }))))).toMatch(/iat/);
  });

  test('a proof is accepted once: a replay is refused (§11.1), and the jti is kept until the proof is too old anyway', async () => {
    const { v, replay } = verifier({ proofMaxAge: 60 });
    const p = await dpopProof(key, { htu: URL_, iat: NOW });
    await v.verify(input(p));
    expect(await refused(v.verify(input(p)))).toMatch(/already used/);
    expect([...replay.seen.values()]).toEqual([NOW + 60 + 10]);
    // The same jti from another key is another proof.
    const other = await dpopKey();
    await v.verify(input(await dpopProof(other, { htu: URL_, iat: NOW, jti: JSON.parse(Buffer.from(p.split('.')[1]!, 'base64url').toString()).jti })));
  });

  test('ath must be the hash of the access token presented with the proof (step 12)', async () => {
    const { v } = verifier();
    const token = 'eyJ.access.token';
    expect((await v.verify(input(await dpopProof(key, { htu: URL_, iat: NOW, accessToken: token }), { accessToken: token }))).jkt).toBe(key.jkt);
    expect(await refused(v.verify(input(await dpopProof(key, { htu: URL_, iat: NOW, accessToken: 'another' }), { accessToken: token })))).toMatch(/ath/);
    expect(await refused(v.verify(input(await dpopProof(key, { htu: URL_, iat: NOW }), { accessToken: token })))).toMatch(/ath/);
  });

  test('with nonces required: none or a wrong one is use_dpop_nonce (step 10); the server’s is accepted; the check comes before the jti is spent', async () => {
    const { v, nonces, replay } = verifier({ requireNonce: true });
    await refused(v.verify(input(await dpopProof(key, { htu: URL_, iat: NOW }))), 'use_dpop_nonce');
    await refused(v.verify(input(await dpopProof(key, { htu: URL_, iat: NOW, nonce: 'made-up' }))), 'use_dpop_nonce');
    expect(replay.seen.size).toBe(0);
    const nonce = v.nonceHeader(NOW)['dpop-nonce']!;
    expect(nonce).toBe(nonces.issue(NOW));
    expect((await v.verify(input(await dpopProof(key, { htu: URL_, iat: NOW, nonce })))).jkt).toBe(key.jkt);
  });

  test('nonces: valid in their time bucket and the next, from any node with the same secret; not after, not with another secret', () => {
    const secret = randomBytes(32);
    const a = new DpopNonces([secret]);
    const b = new DpopNonces([Buffer.from(secret)]);
    const nonce = a.issue(NOW);
    expect(nonce).toMatch(/^[A-Za-z0-9_-]+$/);
    expect(b.valid(nonce, NOW)).toBe(true);
    expect(b.valid(nonce, NOW + DPOP_NONCE_BUCKET_SECONDS)).toBe(true);
    expect(b.valid(nonce, NOW + 2 * DPOP_NONCE_BUCKET_SECONDS)).toBe(false);
    expect(new DpopNonces([randomBytes(32)]).valid(nonce, NOW)).toBe(false);
    expect(a.valid('', NOW)).toBe(false);
  });

  test('without nonces required no DPoP-Nonce is offered', () => {
    expect(verifier().v.nonceHeader(NOW)).toEqual({});
  });
});
