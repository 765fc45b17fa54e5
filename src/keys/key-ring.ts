import { createPrivateKey, createPublicKey, generateKeyPairSync, randomUUID, type JsonWebKey, type KeyObject } from 'node:crypto';
import { KeyEncryptionError, type KeyEncrypter } from './encryption.ts';
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
  /** Active keys whose private part the key-encryption key cannot decrypt (it changed or was lost). */
  #undecryptable: string[] = [];

  constructor(store: KeyStore, encrypter: KeyEncrypter) {
    this.#store = store;
    this.#encrypter = encrypter;
  }

  /**
   * Loads the keys; creates a first key for any algorithm that has none (unless `create` is
   * false: read-only commands write nothing).
   */
  async load(now: number, options: { create?: boolean } = {}): Promise<void> {
    let rows = await this.#store.listUnretired();
    for (const alg of options.create === false ? [] : KEY_ALGS) {
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
    if (!key) {
      if (this.#undecryptable.length) throw new KeyEncryptionError(`the active ${alg} signing key cannot be decrypted with this key-encryption key`);
      throw new Error(`no active ${alg} signing key`);
    }
    return key;
  }

  /** Kids of active keys this ring could not decrypt (see `tessera keys recover`). */
  undecryptableKeys(): string[] {
    return [...this.#undecryptable];
  }

  /** Whether the key-encryption key opens this stored key's private part. */
  canDecrypt(key: StoredKey): boolean {
    try {
      this.#encrypter.decrypt(key.private_key);
      return true;
    } catch (error) {
      if (error instanceof KeyEncryptionError) return false;
      throw error;
    }
  }

  /**
   * Retires every unretired key the key-encryption key cannot decrypt and makes a new active
   * key for each algorithm left without a usable one. Tokens signed by a retired key stop
   * verifying (its public key leaves the JWKS).
   */
  async recover(now: number): Promise<{ retired: StoredKey[]; created: StoredKey[] }> {
    const rows = await this.#store.listUnretired();
    const retired = rows.filter((r) => !this.canDecrypt(r));
    await this.#store.retire(retired.map((r) => r.kid), now);
    const usable = rows.filter((r) => !retired.includes(r));
    const created: StoredKey[] = [];
    for (const alg of KEY_ALGS) {
      if (usable.some((r) => r.alg === alg && r.status === 'active')) continue;
      const key = this.generate(alg, now);
      await this.#store.activate(key, now);
      created.push(key);
    }
    await this.reload();
    return { retired, created };
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
    const undecryptable: string[] = [];
    for (const row of rows) {
      const alg = row.alg as SigningAlg;
      const jwk = JSON.parse(row.public_jwk) as JsonWebKey;
      pub.set(row.kid, { kid: row.kid, alg, publicKey: createPublicKey({ key: jwk, format: 'jwk' }) });
      jwks.push(jwk);
      if (row.status === 'active' && !active.has(alg)) {
        let pem: string;
        try {
          pem = this.#encrypter.decrypt(row.private_key);
        } catch (error) {
          if (!(error instanceof KeyEncryptionError)) throw error;
          undecryptable.push(row.kid);
          continue;
        }
        active.set(alg, { kid: row.kid, alg, privateKey: createPrivateKey(pem) });
      }
    }
    this.#undecryptable = undecryptable;
    this.#active = active;
    this.#public = pub;
    this.#jwks = JSON.stringify({ keys: jwks });
  }
}
