import { createLocalJWKSet, errors, type JSONWebKeySet, type JWTVerifyGetKey } from 'jose';
import type { Clock } from '../clock.ts';
import { CacheStats } from '../lib/metrics.ts';
import { isObject } from './discovery.ts';
import type { OutboundHttp } from './outbound.ts';

/** A provider's keys could not be fetched: the sign-in fails as "provider unreachable". */
export class JwksUnavailableError extends Error {}

export interface JwksCacheOptions {
  /** Keys older than this are fetched again before use (kept if the refetch fails). */
  maxAgeMs: number;
  /** An unknown `kid` refetches the keys at most this often per provider (key rotation). */
  cooldownMs: number;
  /** Providers whose keys are kept in memory at once. */
  maxEntries: number;
}

export const DEFAULT_JWKS_OPTIONS: JwksCacheOptions = { maxAgeMs: 60 * 60_000, cooldownMs: 30_000, maxEntries: 100 };

interface Entry {
  keys: JWTVerifyGetKey;
  fetchedAt: number;
}

/**
 * Upstream providers' signing keys, per jwks_uri. A token whose `kid` is unknown means the
 * provider rotated its keys: the set is fetched again, but not more often than the cooldown,
 * so a stream of forged `kid`s cannot make Tessera hammer the provider.
 */
export class JwksCache {
  readonly #http: OutboundHttp;
  readonly #clock: Clock;
  readonly #options: JwksCacheOptions;
  readonly #entries = new Map<string, Entry>();
  readonly #inflight = new Map<string, Promise<Entry>>();
  readonly #lastAttempt = new Map<string, number>();
  /** Key sets used as cached (hit) or fetched first (miss), read by the metrics. */
  readonly stats = new CacheStats();

  constructor(http: OutboundHttp, clock: Clock, options: Partial<JwksCacheOptions> = {}) {
    this.#http = http;
    this.#clock = clock;
    this.#options = { ...DEFAULT_JWKS_OPTIONS, ...options };
  }

  /** A key resolver for jose's jwtVerify. Throws JwksUnavailableError when there are no keys to try. */
  resolver(jwksUri: string): JWTVerifyGetKey {
    return async (header, token) => {
      let entry = this.#entries.get(jwksUri);
      if (!entry || this.#clock.now() - entry.fetchedAt >= this.#options.maxAgeMs) {
        this.stats.misses++;
        entry = await this.#refresh(jwksUri, entry);
      } else {
        this.stats.hits++;
      }
      try {
        return await entry.keys(header, token);
      } catch (error) {
        if (!(error instanceof errors.JWKSNoMatchingKey)) throw error;
        const last = this.#lastAttempt.get(jwksUri) ?? 0;
        if (this.#clock.now() - last < this.#options.cooldownMs) throw error;
        const fresh = await this.#refresh(jwksUri, entry);
        return fresh.keys(header, token);
      }
    };
  }

  /** Forgets a provider's keys (its configuration changed). */
  forget(jwksUri: string): void {
    this.#entries.delete(jwksUri);
    this.#lastAttempt.delete(jwksUri);
  }

  /** Fetches the set; concurrent callers share one request. Keeps `stale` when the fetch fails. */
  async #refresh(jwksUri: string, stale: Entry | undefined): Promise<Entry> {
    let pending = this.#inflight.get(jwksUri);
    if (!pending) {
      this.#lastAttempt.set(jwksUri, this.#clock.now());
      pending = this.#fetch(jwksUri).finally(() => this.#inflight.delete(jwksUri));
      this.#inflight.set(jwksUri, pending);
    }
    try {
      const entry = await pending;
      if (!this.#entries.has(jwksUri) && this.#entries.size >= this.#options.maxEntries) {
        this.#entries.delete(this.#entries.keys().next().value!);
      }
      this.#entries.set(jwksUri, entry);
      return entry;
    } catch (error) {
      if (stale) return stale;
      throw error;
    }
  }

  async #fetch(jwksUri: string): Promise<Entry> {
    const response = await this.#http(jwksUri);
    if (!response.ok) throw new JwksUnavailableError(`signing keys: ${response.reason}`);
    if (response.status !== 200) throw new JwksUnavailableError(`signing keys: ${jwksUri} answered HTTP ${response.status}`);
    const doc = response.json;
    if (!isObject(doc) || !Array.isArray(doc.keys)) throw new JwksUnavailableError(`signing keys: ${jwksUri} did not answer a JWK set`);
    // Keys that are not for signatures (or malformed) are left out rather than failing the set.
    const keys = doc.keys.filter((k): k is Record<string, unknown> => isObject(k) && typeof k.kty === 'string' && (k.use === undefined || k.use === 'sig'));
    let resolver: JWTVerifyGetKey;
    try {
      resolver = createLocalJWKSet({ keys } as unknown as JSONWebKeySet);
    } catch {
      throw new JwksUnavailableError(`signing keys: ${jwksUri} did not answer a usable JWK set`);
    }
    return { keys: resolver, fetchedAt: this.#clock.now() };
  }
}
