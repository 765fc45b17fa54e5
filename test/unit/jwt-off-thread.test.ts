import { createPublicKey, generateKeyPairSync } from 'node:crypto';
import { importJWK, jwtVerify } from 'jose';
import { expect, test } from 'vitest';
import { signJwt, signJwtOffThread, type SigningKey } from '../../src/keys/jwt.ts';

const rsa = generateKeyPairSync('rsa', { modulusLength: 2048 });
const ec = generateKeyPairSync('ec', { namedCurve: 'P-256' });
const rs256: SigningKey = { kid: 'rs-1', alg: 'RS256', privateKey: rsa.privateKey };
const es256: SigningKey = { kid: 'es-1', alg: 'ES256', privateKey: ec.privateKey };
const claims = { iss: 'https://id.example', sub: 'user-1', aud: 'app-1', iat: 1_700_000_000, exp: 4_000_000_000, nonce: 'n-é' };

test('an RS256 token signed off the event loop is byte for byte the one signed inline, and jose verifies it', async () => {
  const offThread = await signJwtOffThread(claims, rs256, 'JWT');
  expect(offThread).toBe(signJwt(claims, rs256, 'JWT'));
  const key = await importJWK({ ...createPublicKey(rsa.privateKey).export({ format: 'jwk' }), alg: 'RS256' }, 'RS256');
  const { payload, protectedHeader } = await jwtVerify(offThread, key, { issuer: 'https://id.example', audience: 'app-1' });
  expect(protectedHeader).toEqual({ alg: 'RS256', typ: 'JWT', kid: 'rs-1' });
  expect(payload).toEqual(claims);
});

test('ES256 through signJwtOffThread verifies with jose', async () => {
  const token = await signJwtOffThread(claims, es256, 'JWT');
  const key = await importJWK({ ...createPublicKey(ec.privateKey).export({ format: 'jwk' }), alg: 'ES256' }, 'ES256');
  const { payload, protectedHeader } = await jwtVerify(token, key);
  expect(protectedHeader.alg).toBe('ES256');
  expect(payload).toEqual(claims);
});

test('RS256 signatures run on the threadpool: the event loop turns while 40 of them are in flight', async () => {
  let signed = 0;
  const all = Array.from({ length: 40 }, () => signJwtOffThread(claims, rs256, 'JWT').then(() => signed++));
  // Signed inline, every signature (and its .then) would be done before the loop's next turn.
  const atNextTurn = await new Promise<number>((resolve) => setImmediate(() => resolve(signed)));
  await Promise.all(all);
  expect(signed).toBe(40);
  expect(atNextTurn).toBeLessThan(40);
});

test("each token's header names its own key and typ, whatever was signed before (the encoded header is cached per key object and typ)", async () => {
  const es256b: SigningKey = { kid: 'es-2', alg: 'ES256', privateKey: generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey };
  const headerOf = (token: string) => JSON.parse(Buffer.from(token.split('.')[0]!, 'base64url').toString('utf8')) as unknown;
  for (let round = 0; round < 2; round++) {
    expect(headerOf(signJwt(claims, es256, 'at+jwt'))).toEqual({ alg: 'ES256', typ: 'at+jwt', kid: 'es-1' });
    expect(headerOf(signJwt(claims, es256b, 'at+jwt'))).toEqual({ alg: 'ES256', typ: 'at+jwt', kid: 'es-2' });
    expect(headerOf(signJwt(claims, es256, 'JWT'))).toEqual({ alg: 'ES256', typ: 'JWT', kid: 'es-1' });
    expect(headerOf(await signJwtOffThread(claims, rs256, 'JWT'))).toEqual({ alg: 'RS256', typ: 'JWT', kid: 'rs-1' });
  }
  // A rotated key is a new object: its header is its own, even under a kid seen before.
  const rotated: SigningKey = { kid: 'es-1', alg: 'RS256', privateKey: rsa.privateKey };
  expect(headerOf(signJwt(claims, rotated, 'JWT'))).toEqual({ alg: 'RS256', typ: 'JWT', kid: 'es-1' });
  const key = await importJWK({ ...createPublicKey(ec.privateKey).export({ format: 'jwk' }), alg: 'ES256' }, 'ES256');
  expect((await jwtVerify(signJwt(claims, es256, 'at+jwt'), key, { typ: 'at+jwt' })).protectedHeader.kid).toBe('es-1');
});
