import { createHash, generateKeyPairSync, randomBytes, sign, type KeyObject } from 'node:crypto';
import { isoCBOR } from '@simplewebauthn/server/helpers';

/**
 * A WebAuthn authenticator in software (ES256, "none" attestation), for tests that must make
 * what no browser makes: a response for another origin or rpID, a replay, a forged id, a
 * counter that goes back. Chromium's virtual authenticator covers the real ceremonies.
 */
export class SoftAuthenticator {
  readonly credentialId = randomBytes(16);
  readonly #key: { privateKey: KeyObject; publicKey: KeyObject } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  counter = 0;
  /** The user handle stored at registration (base64url), returned with assertions. */
  userHandle: string | undefined;
  readonly options: { backupEligible?: boolean; userVerifying?: boolean };
  constructor(options: { backupEligible?: boolean; userVerifying?: boolean } = {}) {
    this.options = options;
  }

  get id(): string {
    return this.credentialId.toString('base64url');
  }

  #flags(attested: boolean): number {
    let f = 0x01; // UP
    if (this.options.userVerifying !== false) f |= 0x04; // UV
    if (this.options.backupEligible) f |= 0x08 | 0x10; // BE, BS
    if (attested) f |= 0x40; // AT
    return f;
  }

  #authData(rpId: string, attested: boolean): Buffer {
    const counter = Buffer.alloc(4);
    counter.writeUInt32BE(this.counter);
    const parts = [createHash('sha256').update(rpId).digest(), Buffer.from([this.#flags(attested)]), counter];
    if (attested) {
      const jwk = this.#key.publicKey.export({ format: 'jwk' });
      const cose = isoCBOR.encode(
        new Map<number, number | Uint8Array>([
          [1, 2],
          [3, -7],
          [-1, 1],
          [-2, Buffer.from(jwk.x!, 'base64url')],
          [-3, Buffer.from(jwk.y!, 'base64url')],
        ]),
      );
      const len = Buffer.alloc(2);
      len.writeUInt16BE(this.credentialId.length);
      parts.push(Buffer.alloc(16), len, this.credentialId, Buffer.from(cose));
    }
    return Buffer.concat(parts);
  }

  /** navigator.credentials.create() as JSON (what @simplewebauthn/browser posts). */
  register(o: { challenge: string; origin: string; rpId: string; userId?: string }) {
    this.userHandle = o.userId;
    const clientDataJSON = Buffer.from(JSON.stringify({ type: 'webauthn.create', challenge: o.challenge, origin: o.origin, crossOrigin: false }));
    const attestationObject = isoCBOR.encode(new Map<string, unknown>([['fmt', 'none'], ['attStmt', new Map()], ['authData', this.#authData(o.rpId, true)]]) as never);
    return {
      id: this.id,
      rawId: this.id,
      type: 'public-key',
      response: { clientDataJSON: clientDataJSON.toString('base64url'), attestationObject: Buffer.from(attestationObject).toString('base64url'), transports: ['internal'] },
      clientExtensionResults: {},
      authenticatorAttachment: 'platform',
    };
  }

  /** navigator.credentials.get() as JSON; the counter goes up by one unless told otherwise. */
  assert(o: { challenge: string; origin: string; rpId: string; id?: string; counter?: number }) {
    this.counter = o.counter ?? this.counter + 1;
    const clientDataJSON = Buffer.from(JSON.stringify({ type: 'webauthn.get', challenge: o.challenge, origin: o.origin, crossOrigin: false }));
    const authenticatorData = this.#authData(o.rpId, false);
    const signed = Buffer.concat([authenticatorData, createHash('sha256').update(clientDataJSON).digest()]);
    const signature = sign('sha256', signed, this.#key.privateKey);
    return {
      id: o.id ?? this.id,
      rawId: o.id ?? this.id,
      type: 'public-key',
      response: {
        clientDataJSON: clientDataJSON.toString('base64url'),
        authenticatorData: authenticatorData.toString('base64url'),
        signature: signature.toString('base64url'),
        ...(this.userHandle ? { userHandle: this.userHandle } : {}),
      },
      clientExtensionResults: {},
    };
  }
}
