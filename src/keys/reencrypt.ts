import type { Kysely } from 'kysely';
import type { Database } from '../storage/schema.ts';
import { KeyEncryptionError, type KeyEncrypter } from './encryption.ts';

/** Every column that holds a value sealed with the key-encryption key, and its table's key. */
const SEALED = [
  { table: 'signing_keys', key: 'kid', column: 'private_key' },
  { table: 'user_factors', key: 'id', column: 'secret' },
  { table: 'identity_providers', key: 'id', column: 'client_secret' },
  { table: 'email_outbox', key: 'id', column: 'sealed' },
] as const;

export type SealedTable = (typeof SEALED)[number]['table'];

export interface ReencryptResult {
  /** Per table: values sealed again under the current key (they were under the previous one). */
  reencrypted: Record<SealedTable, number>;
  /** Values already under the current key (left as they are). */
  current: number;
}

/**
 * The last step of replacing the key-encryption key (docs/operations.md): every value sealed
 * under the previous key (TESSERA_PREVIOUS_KEY_ENCRYPTION_KEY) is sealed again under the
 * current one, in one transaction. A value neither key opens stops it before anything is
 * written (KeyEncryptionError naming where): nothing is half done. Values already under the
 * current key are left alone, so running it again changes nothing.
 */
export async function reencryptAll(db: Kysely<Database>, encrypter: KeyEncrypter): Promise<ReencryptResult> {
  return db.transaction().execute(async (trx) => {
    const reencrypted = Object.fromEntries(SEALED.map((s) => [s.table, 0])) as Record<SealedTable, number>;
    let current = 0;
    const unreadable: string[] = [];
    for await (const { table, key, column, id, sealed } of sealedValues(trx)) {
      let opened: { plaintext: string; underPrevious: boolean };
      try {
        opened = encrypter.open(sealed);
      } catch {
        unreadable.push(`${table} ${id}`);
        continue;
      }
      if (!opened.underPrevious) {
        current++;
        continue;
      }
      await (trx as Kysely<any>).updateTable(table).set({ [column]: encrypter.encrypt(opened.plaintext) }).where(key, '=', id).execute();
      reencrypted[table]++;
    }
    if (unreadable.length) {
      throw new KeyEncryptionError(
        `${unreadable.length} stored secret(s) open with neither the key-encryption key nor TESSERA_PREVIOUS_KEY_ENCRYPTION_KEY (${unreadable.slice(0, 5).join(', ')}${unreadable.length > 5 ? ', …' : ''}); nothing was changed`,
      );
    }
    return { reencrypted, current };
  });
}

/**
 * Stored secrets the current key alone does not open ("table key" each): those sealed under
 * another key, and those only the previous key opens. What a backup taken now would need
 * besides the current key (`tessera backup` warns with it).
 */
export async function needingAnotherKey(db: Kysely<Database>, encrypter: KeyEncrypter): Promise<string[]> {
  const out: string[] = [];
  for await (const { table, id, sealed } of sealedValues(db)) {
    let underPrevious = true;
    try {
      underPrevious = encrypter.open(sealed).underPrevious;
    } catch {
      // Opens with neither key.
    }
    if (underPrevious) out.push(`${table} ${id}`);
  }
  return out;
}

/** Every sealed value stored, with where it is; empty ones (no secret, a retired key's destroyed private part) left out. */
async function* sealedValues(db: Kysely<Database>): AsyncGenerator<{ table: SealedTable; key: string; column: string; id: string; sealed: string }> {
  for (const { table, key, column } of SEALED) {
    // A dynamic table and column: Kysely's types cannot follow them, the names above are fixed.
    const rows = (await (db as Kysely<any>).selectFrom(table).select([key, column]).execute()) as Array<Record<string, string | null>>;
    for (const row of rows) {
      const sealed = row[column];
      if (sealed) yield { table, key, column, id: String(row[key]), sealed };
    }
  }
}
