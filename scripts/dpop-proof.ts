/**
 * Prints a DPoP proof (RFC 9449 §4.2) for one request: what a DPoP client library does for
 * each call, for trying DPoP with curl (docs/dpop.md). The key is an ES256 key pair kept as
 * a private JWK in `--key FILE` (created, mode 0600, when it does not exist).
 *
 *   npm run -s dpop-proof -- --key FILE --htu URL [--htm POST] [--token ACCESS_TOKEN] [--nonce NONCE] [--thumbprint]
 */
import { randomUUID } from 'node:crypto';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { calculateJwkThumbprint, exportJWK, generateKeyPair, importJWK, SignJWT, type JWK } from 'jose';
import { accessTokenHash } from '../src/oauth/dpop.ts';

const { values } = parseArgs({
  options: {
    key: { type: 'string' },
    htu: { type: 'string' },
    htm: { type: 'string', default: 'POST' },
    token: { type: 'string' },
    nonce: { type: 'string' },
    thumbprint: { type: 'boolean', default: false },
  },
});
if (!values.key || (!values.htu && !values.thumbprint)) {
  process.stderr.write('usage: dpop-proof --key FILE --htu URL [--htm POST] [--token ACCESS_TOKEN] [--nonce NONCE] | --key FILE --thumbprint\n');
  process.exit(2);
}

let privateJwk: JWK;
if (existsSync(values.key)) {
  privateJwk = JSON.parse(readFileSync(values.key, 'utf8')) as JWK;
} else {
  const { privateKey } = await generateKeyPair('ES256', { extractable: true });
  privateJwk = await exportJWK(privateKey);
  writeFileSync(values.key, JSON.stringify(privateJwk), { mode: 0o600 });
}
// The public half only: x and y, never d.
const publicJwk: JWK = { kty: privateJwk.kty!, crv: privateJwk.crv!, x: privateJwk.x!, y: privateJwk.y! };

if (values.thumbprint) {
  process.stdout.write(`${await calculateJwkThumbprint(publicJwk, 'sha256')}\n`);
} else {
  const claims: Record<string, unknown> = { jti: randomUUID(), htm: values.htm, htu: values.htu, iat: Math.floor(Date.now() / 1000) };
  if (values.token) claims.ath = accessTokenHash(values.token);
  if (values.nonce) claims.nonce = values.nonce;
  const proof = await new SignJWT(claims).setProtectedHeader({ alg: 'ES256', typ: 'dpop+jwt', jwk: publicJwk }).sign(await importJWK(privateJwk, 'ES256'));
  process.stdout.write(`${proof}\n`);
}
