import type { Actor } from '../audit/actor.ts';
import type { AuditLog } from '../audit/audit-log.ts';
import { epochSeconds, type Clock } from '../clock.ts';
import { iso } from '../lib/time.ts';
import type { ChangeFeed } from '../storage/change-feed.ts';
import type { KeyRing } from './key-ring.ts';
import type { KeyStore, StoredKey } from './key-store.ts';

export interface KeyView {
  kid: string;
  alg: string;
  status: 'active' | 'published' | 'retired';
  created_at: string;
  activated_at: string | null;
  deactivated_at: string | null;
}

/** `tessera keys list|rotate` and the admin API's keys resource. */
function view(k: StoredKey): KeyView {
  return {
    kid: k.kid,
    alg: k.alg,
    status: k.status,
    created_at: iso(k.created_at),
    activated_at: k.activated_at === null ? null : iso(k.activated_at),
    deactivated_at: k.deactivated_at === null ? null : iso(k.deactivated_at),
  };
}

export class KeyService {
  readonly #ring: KeyRing;
  readonly #store: KeyStore;
  readonly #clock: Clock;
  readonly #maxLifetime: () => number;
  readonly #feed: ChangeFeed;
  readonly #audit: AuditLog;

  constructor(deps: { ring: KeyRing; store: KeyStore; clock: Clock; maxLifetime: () => number; feed: ChangeFeed; audit: AuditLog }) {
    this.#ring = deps.ring;
    this.#store = deps.store;
    this.#clock = deps.clock;
    this.#maxLifetime = deps.maxLifetime;
    this.#feed = deps.feed;
    this.#audit = deps.audit;
  }

  async list(): Promise<KeyView[]> {
    return (await this.#store.listAll()).map(view);
  }

  /** Unretired keys whose private part the current key-encryption key cannot decrypt. */
  async undecryptable(): Promise<KeyView[]> {
    return (await this.#store.listUnretired()).filter((k) => !this.#ring.canDecrypt(k)).map(view);
  }

  /**
   * After a lost or replaced key-encryption key: retires every key it cannot decrypt and
   * makes new active keys where needed. Tokens signed by the retired keys stop verifying at
   * once (their public keys leave the JWKS). Nothing changes, and nothing is audited, when
   * every key decrypts.
   */
  async recover(actor: Actor): Promise<{ retired: KeyView[]; created: KeyView[] }> {
    const { retired, created } = await this.#ring.recover(epochSeconds(this.#clock));
    if (!retired.length && !created.length) return { retired: [], created: [] };
    this.#feed.notifyLocal('keys', 'recovered');
    const all = new Map((await this.list()).map((k) => [k.kid, k]));
    const result = { retired: retired.map((k) => all.get(k.kid)!), created: created.map((k) => all.get(k.kid)!) };
    await this.#audit.record(
      { action: 'keys.recover', targetId: null, details: { retired: retired.map((k) => k.kid), created: created.map((k) => k.kid) } },
      actor,
    );
    return result;
  }

  /**
   * New active keys for every algorithm. The previous keys stay published (tokens they
   * signed still verify) until no token they signed can be alive, then are retired.
   */
  async rotate(actor: Actor): Promise<KeyView[]> {
    const now = epochSeconds(this.#clock);
    const created = await this.#ring.rotate(now, this.#maxLifetime());
    this.#feed.notifyLocal('keys', 'rotated');
    const views = (await this.list()).filter((k) => created.some((c) => c.kid === k.kid));
    await this.#audit.record({ action: 'keys.rotate', targetId: null, details: { kids: views.map((k) => k.kid) } }, actor);
    return views;
  }
}
