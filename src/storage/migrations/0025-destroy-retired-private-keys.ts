import type { Kysely } from 'kysely';

/**
 * Retired signing keys keep their row (kid, public key, dates) but no longer their private
 * part: a retired key signs nothing and verifies nothing, so the encrypted private key is
 * destroyed when a key retires (src/keys/key-store.ts) — and here for the keys retired before.
 */
export async function up(db: Kysely<any>): Promise<void> {
  await db.updateTable('signing_keys').set({ private_key: '' }).where('status', '=', 'retired').execute();
}
