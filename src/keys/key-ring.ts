import { createPrivateKey, createPublicKey, generateKeyPairSync, randomUUID, type JsonWebKey, type KeyObject } from 'node:crypto';
import type { KeyEncrypter } from './encryption.ts';
import type { SigningAlg, SigningKey } from './jwt.ts';
import type { KeyStore, StoredKey } from './key-store.ts';

export interface PublicKeyEntry {
  kid: string;
  alg: SigningAlg;
  publicKey: KeyObject;
}

/** The algorithms Tessera keeps an active key for: ES256 for access tokens (fast), RS256 for ID tokens (OIDC default). */
export const KEY_ALGS: readonly SigningAlg[] = ['ES256', 'RS256'];

/**
 * The signing keys in memory: private keys imported once into KeyObjects (importing per
 * call is ~17× slower), public keys by kid for verification, and the JWKS document
 * serialised once per change.
 */
export class KeyRing {
  readonly #store: KeyStore;
  readonly #encrypter: KeyEncrypter;
  #active = new Map<SigningAlg, SigningKey>();
  #public = new Map<string, PublicKeyEntry>();
  #jwks = '{"keys":[]}';

  constructor(store: KeyStore, encrypter: KeyEncrypter) {
    this.#store = store;
    this.#encrypter = encrypter;
  }

  /** Loads the keys; creates a first key for any algorithm that has none. */
  async load(now: number): Promise<void> {
    let rows = await this.#store.listUnretired();
    for (const alg of KEY_ALGS) {
      if (!rows.some((r) => r.alg === alg && r.status === 'active')) {
        await this.#store.activate(this.generate(alg, now), now);
        rows = await this.#store.listUnretired();
      }
    }
    this.#install(rows);
  }

  /** Reloads after another node or the CLI rotated keys. */
  async reload(): Promise<void> {
    this.#install(await this.#store.listUnretired());
  }

  /** Adds a new active key per algorithm; retires keys unused for longer than any token lives. */
  async rotate(now: number, maxTokenLifetime: number): Promise<StoredKey[]> {
    const created: StoredKey[] = [];
    for (const alg of KEY_ALGS) {
      const key = this.generate(alg, now);
      await this.#store.activate(key, now);
      created.push(key);
    }
    await this.#store.retireDeactivatedBefore(now - maxTokenLifetime, now);
    await this.reload();
    return created;
  }

  async retireExpired(now: number, maxTokenLifetime: number): Promise<number> {
    const n = await this.#store.retireDeactivatedBefore(now - maxTokenLifetime, now);
    if (n > 0) await this.reload();
    return n;
  }

  signingKey(alg: SigningAlg): SigningKey {
    const key = this.#active.get(alg);
    if (!key) throw new Error(`no active ${alg} signing key`);
    return key;
  }

  hasActiveKey(alg: SigningAlg): boolean {
    return this.#active.has(alg);
  }

  publicKey(kid: string): PublicKeyEntry | undefined {
    return this.#public.get(kid);
  }

  jwksJson(): string {
    return this.#jwks;
  }

  generate(alg: SigningAlg, now: number): StoredKey {
    const { privateKey, publicKey } =
      alg === 'ES256'
        ? generateKeyPairSync('ec', { namedCurve: 'P-256' })
        : generateKeyPairSync('rsa', { modulusLength: 2048 });
    const kid = `${alg.toLowerCase()}-${randomUUID()}`;
    const jwk = { ...publicKey.export({ format: 'jwk' }), kid, alg, use: 'sig' };
    return {
      kid,
      alg,
      status: 'active',
      public_jwk: JSON.stringify(jwk),
      private_key: this.#encrypter.encrypt(privateKey.export({ format: 'pem', type: 'pkcs8' }).toString()),
      created_at: now,
      activated_at: now,
      deactivated_at: null,
    };
  }

  #install(rows: StoredKey[]): void {
    const active = new Map<SigningAlg, SigningKey>();
    const pub = new Map<string, PublicKeyEntry>();
    const jwks: JsonWebKey[] = [];
    for (const row of rows) {
      const alg = row.alg as SigningAlg;
      const jwk = JSON.parse(row.public_jwk) as JsonWebKey;
      pub.set(row.kid, { kid: row.kid, alg, publicKey: createPublicKey({ key: jwk, format: 'jwk' }) });
      jwks.push(jwk);
      if (row.status === 'active' && !active.has(alg)) {
        active.set(alg, { kid: row.kid, alg, privateKey: createPrivateKey(this.#encrypter.decrypt(row.private_key)) });
      }
    }
    this.#active = active;
    this.#public = pub;
    this.#jwks = JSON.stringify({ keys: jwks });
  }
}
