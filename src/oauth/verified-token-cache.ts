import { sha256 } from '../lib/crypto.ts';
import { CacheStats } from '../lib/metrics.ts';

interface Entry<T> {
  claims: T;
  kid: string;
  exp: number;
}

/**
 * Access tokens whose signature has been verified, keyed by the SHA-256 of the token.
 *
 * An ES256 verify costs ~100 µs, a SHA-256 of a token ~1 µs: a gateway or introspection
 * endpoint that sees the same token many times verifies it once (DESIGN.md, performance
 * facts). Only the signature and the token's own shape are cached; everything that can
 * change after issue — revocation by jti, app and user "valid after" epochs, disabled users,
 * the signing key being retired, the issuer, expiry — is checked on every use by the caller.
 * Keying by hash of the whole token means a token that differs in any byte never hits.
 *
 * Bounded: at most `maxEntries`; when full, expired entries go first, then the oldest.
 */
export class VerifiedTokenCache<T> {
  readonly #entries = new Map<string, Entry<T>>();
  readonly #maxEntries: number;
  /** Hits and misses, read by the metrics (`tessera_cache_requests_total{cache="verified_tokens"}`). */
  readonly stats = new CacheStats();

  constructor(maxEntries = 10_000) {
    this.#maxEntries = maxEntries;
  }

  static keyOf(token: string): string {
    return sha256(token);
  }

  get(key: string, now: number): Entry<T> | undefined {
    const entry = this.#entries.get(key);
    if (entry === undefined) {
      this.stats.misses++;
      return undefined;
    }
    if (entry.exp <= now) {
      this.#entries.delete(key);
      this.stats.misses++;
      return undefined;
    }
    this.stats.hits++;
    return entry;
  }

  set(key: string, claims: T, kid: string, exp: number, now: number): void {
    if (this.#entries.size >= this.#maxEntries) this.#evict(now);
    this.#entries.set(key, { claims, kid, exp });
  }

  get size(): number {
    return this.#entries.size;
  }

  clear(): void {
    this.#entries.clear();
  }

  #evict(now: number): void {
    for (const [key, entry] of this.#entries) if (entry.exp <= now) this.#entries.delete(key);
    // Still full: drop the oldest tenth (Map keeps insertion order), so eviction is amortised.
    if (this.#entries.size >= this.#maxEntries) {
      let drop = Math.max(1, Math.floor(this.#maxEntries / 10));
      for (const key of this.#entries.keys()) {
        if (drop-- <= 0) break;
        this.#entries.delete(key);
      }
    }
  }
}
