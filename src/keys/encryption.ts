import { createCipheriv, createDecipheriv, hkdfSync, randomBytes } from 'node:crypto';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { ConfigError } from '../config/config.ts';
import { createPrivateDirectory, PRIVATE_FILE_MODE, tightenPrivateFiles } from '../storage/private-files.ts';

export class KeyEncryptionError extends Error {}

/** Secrets derived from the key-encryption key(s): make with the first, accept under any. */
export type DerivedSecrets = readonly [Buffer, ...Buffer[]];

/**
 * Signing keys' private parts are stored encrypted with AES-256-GCM under a key-encryption
 * key (KEK) that never enters the database: from TESSERA_KEY_ENCRYPTION_KEY, or a file
 * created on first use (mode 0600) for the embedded setup.
 */
export class KeyEncrypter {
  readonly #kek: Buffer;
  /** TESSERA_PREVIOUS_KEY_ENCRYPTION_KEY while the key is being replaced: decrypts only (docs/operations.md). */
  readonly #previous: Buffer | undefined;

  constructor(kek: Buffer, previous?: Buffer) {
    if (kek.length !== 32 || (previous !== undefined && previous.length !== 32)) throw new KeyEncryptionError('the key-encryption key must be 32 bytes (base64 of 32 random bytes)');
    this.#kek = kek;
    this.#previous = previous !== undefined && !previous.equals(kek) ? previous : undefined;
  }


  /**
   * A secret for another purpose (CSRF tokens, device cookies, DPoP nonces), derived so that
   * every node agrees on it: the current key's first, and while the key is being replaced the
   * previous key's after it. A value is made with the first and accepted under any, so forms,
   * device cookies and nonces made before the replacement stay good until the previous key is
   * removed (docs/operations.md).
   */
  deriveSecrets(label: string): DerivedSecrets {
    const derive = (key: Buffer) => Buffer.from(hkdfSync('sha256', key, Buffer.alloc(0), `tessera ${label}`, 32));
    return this.#previous ? [derive(this.#kek), derive(this.#previous)] : [derive(this.#kek)];
  }

  encrypt(plaintext: string): string {
    const iv = randomBytes(12);
    const cipher = createCipheriv('aes-256-gcm', this.#kek, iv);
    const body = Buffer.concat([cipher.update(plaintext, 'utf8'), cipher.final()]);
    return ['v1', iv.toString('base64url'), cipher.getAuthTag().toString('base64url'), body.toString('base64url')].join('.');
  }

  decrypt(sealed: string): string {
    return this.open(sealed).plaintext;
  }

  /**
   * The value, and whether it was sealed under the previous key (so `tessera keys
   * reencrypt` seals it again under the current one). AES-GCM's tag tells the keys apart.
   */
  open(sealed: string): { plaintext: string; underPrevious: boolean } {
    const [version, iv, tag, body] = sealed.split('.');
    if (version !== 'v1' || !iv || !tag || body === undefined) throw new KeyEncryptionError('unrecognised encrypted key format');
    for (const [key, underPrevious] of [[this.#kek, false], [this.#previous, true]] as const) {
      if (!key) continue;
      try {
        const decipher = createDecipheriv('aes-256-gcm', key, Buffer.from(iv, 'base64url'));
        decipher.setAuthTag(Buffer.from(tag, 'base64url'));
        return { plaintext: Buffer.concat([decipher.update(Buffer.from(body, 'base64url')), decipher.final()]).toString('utf8'), underPrevious };
      } catch {
        // Not this key: the next one, if any.
      }
    }
    throw new KeyEncryptionError(
      this.#previous
        ? 'cannot decrypt a stored secret with the key-encryption key or the previous one: it was stored under another key'
        : 'cannot decrypt a signing key: the key-encryption key differs from the one the keys were stored with',
    );
  }
}

export interface LoadedKeyEncrypter {
  encrypter: KeyEncrypter;
  /** Set when this call created the key file (none existed). */
  createdFile: string | undefined;
  /** For the operator: an existing file that others could read was made 0600 (or could not be). */
  warnings: string[];
  /** Where the key came from, for messages: "TESSERA_KEY_ENCRYPTION_KEY" or "the file …". */
  source: string;
  /** The file the key was read from (undefined when it came from the environment or is missing). */
  file: string | undefined;
}

/**
 * The key-encryption key from TESSERA_KEY_ENCRYPTION_KEY, else from its file, which is
 * created owner-only (in a 0700 directory when Tessera creates that too) when missing, unless
 * `create` is false: read-only commands write nothing, and then get a throwaway key that
 * decrypts nothing, which they never need.
 */
export function loadKeyEncrypter(
  options: { encryptionKey: string | undefined; encryptionKeyFile: string; previousEncryptionKey?: string | undefined },
  { create = true }: { create?: boolean } = {},
): LoadedKeyEncrypter {
  const previous = options.previousEncryptionKey ? keyBytes(options.previousEncryptionKey, 'TESSERA_PREVIOUS_KEY_ENCRYPTION_KEY') : undefined;
  if (options.encryptionKey) {
    return {
      encrypter: new KeyEncrypter(keyBytes(options.encryptionKey, 'TESSERA_KEY_ENCRYPTION_KEY'), previous),
      createdFile: undefined,
      warnings: [],
      source: 'TESSERA_KEY_ENCRYPTION_KEY',
      file: undefined,
    };
  }
  const file = options.encryptionKeyFile;
  const source = `the file ${file}`;
  if (existsSync(file)) {
    const warnings = create ? tightenPrivateFiles([file]) : [];
    let text: string;
    try {
      text = readFileSync(file, 'utf8');
    } catch (error) {
      throw new KeyEncryptionError(`cannot read the key-encryption key file ${file}: ${(error as Error).message}`);
    }
    return { encrypter: new KeyEncrypter(keyBytes(text.trim(), `the key-encryption key file ${file}`), previous), createdFile: undefined, warnings, source, file };
  }
  if (!create) return { encrypter: new KeyEncrypter(randomBytes(32), previous), createdFile: undefined, warnings: [], source: `${source} (missing)`, file: undefined };
  const kek = randomBytes(32);
  try {
    createPrivateDirectory(dirname(file));
    writeFileSync(file, kek.toString('base64') + '\n', { mode: PRIVATE_FILE_MODE, flag: 'wx' });
  } catch (error) {
    throw new KeyFileError(`cannot create the key-encryption key file ${file}: ${(error as Error).message}`, { cause: error });
  }
  return { encrypter: new KeyEncrypter(kek, previous), createdFile: file, warnings: [], source, file };
}

/** The key file could not be written (a read-only data directory, permissions). */
export class KeyFileError extends Error {}

function keyBytes(base64: string, what: string): Buffer {
  const kek = Buffer.from(base64, 'base64');
  if (kek.length !== 32) throw new ConfigError(`${what} must hold base64 of 32 random bytes (e.g. \`openssl rand -base64 32\`)`);
  return kek;
}
