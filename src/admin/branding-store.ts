import type { Kysely } from 'kysely';
import { publishChange } from '../storage/change-feed.ts';
import type { Database } from '../storage/schema.ts';

export interface BrandAsset {
  /** SHA-256 of the bytes, hex. */
  hash: string;
  contentType: string;
  data: Buffer;
}

/** The saved brand (one JSON document) and the uploaded logos. */
export interface BrandingStore {
  document(): Promise<string | undefined>;
  asset(hash: string): Promise<BrandAsset | undefined>;
  /**
   * Saves the document (and a new asset, if any) and announces the change to other nodes, in
   * one transaction. Assets no longer referenced by the document or by an app are removed.
   */
  save(document: string, now: number, asset?: BrandAsset): Promise<void>;
  /** Stores an asset on its own (an app's logo: the app's row names it). */
  putAsset(asset: BrandAsset, now: number): Promise<void>;
}

const ID = 'default';

export class KyselyBrandingStore implements BrandingStore {
  readonly #db: Kysely<Database>;
  constructor(db: Kysely<Database>) {
    this.#db = db;
  }

  async document(): Promise<string | undefined> {
    const row = await this.#db.selectFrom('branding').select('document').where('id', '=', ID).executeTakeFirst();
    return row?.document;
  }

  async asset(hash: string): Promise<BrandAsset | undefined> {
    const row = await this.#db.selectFrom('brand_assets').select(['hash', 'content_type', 'data']).where('hash', '=', hash).executeTakeFirst();
    return row && { hash: row.hash, contentType: row.content_type, data: Buffer.from(row.data, 'base64') };
  }

  async putAsset(asset: BrandAsset, now: number): Promise<void> {
    await this.#db
      .insertInto('brand_assets')
      .values({ hash: asset.hash, content_type: asset.contentType, data: asset.data.toString('base64'), size: asset.data.byteLength, created_at: now })
      .onConflict((oc) => oc.column('hash').doNothing())
      .execute();
  }

  async save(document: string, now: number, asset?: BrandAsset): Promise<void> {
    await this.#db.transaction().execute(async (trx) => {
      if (asset) {
        await trx
          .insertInto('brand_assets')
          .values({ hash: asset.hash, content_type: asset.contentType, data: asset.data.toString('base64'), size: asset.data.byteLength, created_at: now })
          .onConflict((oc) => oc.column('hash').doNothing())
          .execute();
      }
      await trx
        .insertInto('branding')
        .values({ id: ID, document, updated_at: now })
        .onConflict((oc) => oc.column('id').doUpdateSet({ document, updated_at: now }))
        .execute();
      // A replaced logo goes (an hour's grace: pages rendered just before may still ask for it).
      const current = (JSON.parse(document) as { logo?: { hash?: string } | null }).logo?.hash ?? '';
      await trx
        .deleteFrom('brand_assets')
        .where('hash', '!=', current)
        .where('created_at', '<', now - 3600)
        .where('hash', 'not in', trx.selectFrom('clients').select('logo_hash').where('logo_hash', 'is not', null).$narrowType<{ logo_hash: string }>())
        .execute();
      await publishChange(trx, 'branding', ID, now);
    });
  }
}
