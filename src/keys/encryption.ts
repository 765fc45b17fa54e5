import { createCipheriv, createDecipheriv, hkdfSync, randomBytes } from 'node:crypto';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { createPrivateDirectory, PRIVATE_FILE_MODE, tightenPrivateFiles } from '../storage/private-files.ts';

export class KeyEncryptionError extends Error {}

/**
 * Signing keys' private parts are stored encrypted with AES-256-GCM under a key-encryption
 * key (KEK) that never enters the database: from TESSERA_KEY_ENCRYPTION_KEY, or a file
 * created on first use (mode 0600) for the embedded setup.
 */
export class KeyEncrypter {
  readonly #kek: Buffer;

  constructor(kek: Buffer) {
    if (kek.length !== 32) throw new KeyEncryptionError('the key-encryption key must be 32 bytes (base64 of 32 random bytes)');
    this.#kek = kek;
  }

  /** A secret for another purpose (e.g. CSRF tokens), derived so that every node agrees on it. */
  deriveSecret(label: string): Buffer {
    return Buffer.from(hkdfSync('sha256', this.#kek, Buffer.alloc(0), `tessera ${label}`, 32));
  }

  encrypt(plaintext: string): string {
    const iv = randomBytes(12);
    const cipher = createCipheriv('aes-256-gcm', this.#kek, iv);
    const body = Buffer.concat([cipher.update(plaintext, 'utf8'), cipher.final()]);
    return ['v1', iv.toString('base64url'), cipher.getAuthTag().toString('base64url'), body.toString('base64url')].join('.');
  }

  decrypt(sealed: string): string {
    const [version, iv, tag, body] = sealed.split('.');
    if (version !== 'v1' || !iv || !tag || body === undefined) throw new KeyEncryptionError('unrecognised encrypted key format');
    try {
      const decipher = createDecipheriv('aes-256-gcm', this.#kek, Buffer.from(iv, 'base64url'));
      decipher.setAuthTag(Buffer.from(tag, 'base64url'));
      return Buffer.concat([decipher.update(Buffer.from(body, 'base64url')), decipher.final()]).toString('utf8');
    } catch {
      throw new KeyEncryptionError(
        'cannot decrypt a signing key: the key-encryption key differs from the one the keys were stored with',
      );
    }
  }
}

/**
 * The key-encryption key from the environment, else from its file (created owner-only, in a
 * 0700 directory when Tessera creates that too). `warnings` are for the operator: an existing
 * file that others could read is made 0600 (or reported when it cannot be).
 */
export function loadKeyEncrypter(options: { encryptionKey: string | undefined; encryptionKeyFile: string }): {
  encrypter: KeyEncrypter;
  createdFile: string | undefined;
  warnings: string[];
} {
  if (options.encryptionKey) {
    return { encrypter: new KeyEncrypter(Buffer.from(options.encryptionKey, 'base64')), createdFile: undefined, warnings: [] };
  }
  const file = options.encryptionKeyFile;
  if (existsSync(file)) {
    const warnings = tightenPrivateFiles([file]);
    return { encrypter: new KeyEncrypter(Buffer.from(readFileSync(file, 'utf8').trim(), 'base64')), createdFile: undefined, warnings };
  }
  createPrivateDirectory(dirname(file));
  const kek = randomBytes(32);
  writeFileSync(file, kek.toString('base64') + '\n', { mode: PRIVATE_FILE_MODE, flag: 'wx' });
  return { encrypter: new KeyEncrypter(kek), createdFile: file, warnings: [] };
}
