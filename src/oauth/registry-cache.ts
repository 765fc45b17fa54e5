import type { Client } from '../clients/client.ts';
import type { ClientStore } from '../clients/client-store.ts';
import type { Principal } from '../identity/user.ts';
import type { UserStore } from '../identity/user-store.ts';
import type { ChangeFeed } from '../storage/change-feed.ts';
import { CacheStats } from '../lib/metrics.ts';
import type { RevocationStore } from './revocation-store.ts';

const MAX_ENTRIES = 10_000;

/**
 * What the token hot path and token validation read on every request — apps, the
 * principals they act for, revoked token ids — kept in memory. Entries are dropped when
 * the change feed reports a change, so staleness is bounded by the feed's poll interval
 * (and is zero on the node that made the change).
 */
export class RegistryCache {
  readonly #clients: ClientStore;
  readonly #users: UserStore;
  readonly #revocations: RevocationStore;
  readonly #clientCache = new Map<string, Client>();
  readonly #principalCache = new Map<string, Principal>();
  /** jti → exp of revoked tokens not yet expired. */
  readonly #revoked = new Map<string, number>();
  #feed: ChangeFeed | undefined;
  /** Hits and misses, read by the metrics (`tessera_cache_requests_total`). */
  readonly stats = { clients: new CacheStats(), principals: new CacheStats() };

  constructor(clients: ClientStore, users: UserStore, revocations: RevocationStore) {
    this.#clients = clients;
    this.#users = users;
    this.#revocations = revocations;
  }

  async load(now: number, feed: ChangeFeed, nowSeconds: () => number = () => Math.floor(Date.now() / 1000)): Promise<void> {
    await this.#loadRevocations(now);
    this.#feed = feed;
    // After a gap long enough to have missed events: forget every app and user held (read
    // again on their next use) and read the revoked token ids again.
    feed.onResync(async () => {
      this.#clientCache.clear();
      this.#principalCache.clear();
      await this.#loadRevocations(nowSeconds());
    });
    feed.subscribe((kind, key) => {
      switch (kind) {
        case 'client':
          this.#clientCache.delete(key);
          break;
        case 'user':
          this.#principalCache.delete(key);
          break;
        case 'role':
          this.#principalCache.clear();
          break;
        case 'revoked_jti': {
          const [jti, exp] = key.split(' ');
          if (jti) this.#revoked.set(jti, Number(exp));
          break;
        }
        default:
      }
    });
  }

  /** The revoked token ids not expired at `now`, from the database. */
  async #loadRevocations(now: number): Promise<void> {
    for (const { jti, expiresAt } of await this.#revocations.listUnexpired(now)) this.#revoked.set(jti, expiresAt);
  }

  /** The cached app, or a promise of it on a miss (the hot path avoids an await on a hit). */
  client(id: string): Client | Promise<Client | undefined> {
    const hit = this.#clientCache.get(id);
    if (hit) {
      this.stats.clients.hits++;
      return hit;
    }
    this.stats.clients.misses++;
    return this.#clients.findById(id).then((client) => {
      if (client) remember(this.#clientCache, id, client);
      return client;
    });
  }

  /**
   * A secret did not match `seen`, an app this cache returned: has the app changed since,
   * through another node or the CLI, in a change not picked up yet? Catches up with the
   * change feed (one read of the events after the cursor, shared by every request asking at
   * the same time, so wrong secrets cannot multiply the load on the database), and reads the
   * app again only if the feed says it changed. The app as stored now; `null` if it was
   * deleted; `undefined` if unchanged (or the database is unreachable, or no feed runs).
   */
  async changedClient(id: string, seen: Client): Promise<Client | null | undefined> {
    if (this.#clientCache.get(id) === seen) {
      if (!this.#feed || this.#feed.failing) return undefined;
      await this.#feed.refresh();
      if (this.#clientCache.get(id) === seen) return undefined;
    }
    return (await this.client(id)) ?? null;
  }

  /** The user when cached, without reading anything (undefined: not cached, or no such user). */
  cachedPrincipal(userId: string): Principal | undefined {
    const hit = this.#principalCache.get(userId);
    if (hit) this.stats.principals.hits++;
    return hit;
  }

  principal(userId: string): Principal | Promise<Principal | undefined> {
    const hit = this.cachedPrincipal(userId);
    if (hit) return hit;
    this.stats.principals.misses++;
    return this.#users.principal(userId).then((p) => {
      if (p) remember(this.#principalCache, userId, p);
      return p;
    });
  }

  isRevoked(jti: string): boolean {
    return this.#revoked.has(jti);
  }

  markRevoked(jti: string, exp: number): void {
    this.#revoked.set(jti, exp);
  }

  purgeExpired(now: number): void {
    for (const [jti, exp] of this.#revoked) if (exp <= now) this.#revoked.delete(jti);
  }
}

function remember<V>(map: Map<string, V>, key: string, value: V): void {
  // Maps iterate in insertion order: dropping the first key evicts the oldest entry.
  if (map.size >= MAX_ENTRIES) map.delete(map.keys().next().value as string);
  map.set(key, value);
}
