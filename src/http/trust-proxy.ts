import type { TrustProxy } from '../config/config.ts';

/** Which peers are trusted proxies: the hop (0 = the connection's peer) and the address. */
export type TrustFn = (address: string, hop: number) => boolean;

/**
 * TESSERA_TRUST_PROXY in Fastify's terms (its `trustProxy`), shared by Fastify and the
 * gateway edge (gateway-edge.ts) so both see the same client. A hop count becomes a
 * function: Fastify 5.12 turned a numeric `trustProxy` into "trust nobody" (it cannot check
 * the nearest peer's address), which would silently record every client as the proxy.
 * Counting hops is Express's and proxy-addr's meaning, and is sound as long as Tessera is
 * reachable only through those proxies (docs/production.md says so); addresses are checked
 * by proxy-addr.
 */
export function fastifyTrustProxy(trust: TrustProxy): false | TrustFn | string[] {
  if (trust === false) return false;
  if ('hops' in trust) {
    const { hops } = trust;
    return (_address: string, hop: number) => hop < hops;
  }
  return trust.addresses;
}
