import { lookup } from 'node:dns/promises';
import { isIP } from 'node:net';

export type RedirectUriPolicyMode = 'strict' | 'development';

/** Returns the IP address strings (v4 and/or v6) a name resolves to; may reject when it does not resolve. */
export type HostResolver = (hostname: string) => Promise<string[]>;

export interface RedirectUriCheckOptions {
  mode: RedirectUriPolicyMode;
  resolve: HostResolver;
}

export type RedirectUriRule =
  | 'malformed'
  | 'scheme'
  | 'fragment'
  | 'userinfo'
  | 'reserved_name'
  | 'private_address'
  | 'unresolvable'
  | 'not_public'
  | 'too_long';

export type RedirectUriCheck = { ok: true; uri: string } | { ok: false; rule: RedirectUriRule; reason: string };

const MAX_LENGTH = 2048;
const RESOLVE_TIMEOUT_MS = 3000;

/**
 * Names that never denote a public host: RFC 6761 §6.3 (localhost), RFC 6762 (mDNS .local) and the
 * ICANN-reserved private-use TLD .internal. Matched as the whole name or as a suffix.
 */
const RESERVED_NAMES = ['localhost', 'local', 'internal'];

/** RFC 8252 §7.3: loopback redirect URIs for native apps; only accepted in development mode. */
const LOOPBACK_HOSTS = new Set(['127.0.0.1', '[::1]', 'localhost']);

/**
 * Checks a redirect URI against the registration policy (RFC 9700 §4.1, RFC 6749 §3.1.2).
 *
 * On success `uri` is the input unchanged, not the WHATWG-normalised href: RFC 9700 §4.1.3 requires
 * redirect URIs to be compared by exact string match, so the registered string must be what the
 * client will send. Inputs the WHATWG parser would silently rewrite in security-relevant ways
 * (whitespace, backslashes, a missing `//`) are refused as malformed for the same reason.
 */
export async function checkRedirectUri(uri: string, options: RedirectUriCheckOptions): Promise<RedirectUriCheck> {
  if (uri.length > MAX_LENGTH) {
    return fail('too_long', `redirect URI must be at most ${MAX_LENGTH} characters (got ${uri.length})`);
  }

  const url = parse(uri);
  if (url === undefined) {
    return fail('malformed', 'redirect URI must be an absolute URI');
  }
  // WHATWG strips leading/trailing controls and spaces, drops tabs/newlines and treats `\` as `/` in
  // http(s) URLs; none of these are legal in RFC 3986, and accepting them lets the registered string
  // differ from what a browser will navigate to.
  if (/[\u0000-\u0020\u007f\\]/.test(uri)) {
    return fail('malformed', 'redirect URI must not contain whitespace, control characters or backslashes');
  }
  const isHttp = url.protocol === 'http:' || url.protocol === 'https:';
  // RFC 9110 §4.2: http(s) URIs have an authority. WHATWG would read `https:host` or `https:///host`
  // as `https://host/`, a parser differential we refuse to register.
  if (isHttp && !/^https?:\/\/[^/?#]/i.test(uri)) {
    return fail('malformed', 'redirect URI must have the form scheme://host/...');
  }

  // RFC 6749 §3.1.2: the endpoint URI MUST NOT include a fragment component. Checked on the raw
  // string because WHATWG reports an empty fragment (`...#`) as an empty `hash`.
  if (uri.includes('#')) {
    return fail('fragment', 'redirect URI must not contain a fragment');
  }
  // RFC 9700 §4.1.1 / RFC 3986 §3.2.1: userinfo invites host confusion (`https://good@evil/`).
  // The raw authority is checked too, since WHATWG drops an empty userinfo such as `https://@host/`.
  if (url.username !== '' || url.password !== '' || (isHttp && rawAuthority(uri).includes('@'))) {
    return fail('userinfo', 'redirect URI must not contain user information (user:password@)');
  }

  const host = url.hostname;
  const bareName = host.replace(/\.+$/, '');
  if (isHttp && bareName === '') {
    return fail('malformed', 'redirect URI must have a host');
  }

  if (options.mode === 'development' && isHttp && LOOPBACK_HOSTS.has(host)) {
    // RFC 8252 §7.3: loopback redirects may use http and any port; they never leave the machine,
    // so there is nothing to resolve.
    return { ok: true, uri };
  }
  if (url.protocol !== 'https:') {
    const hint =
      options.mode === 'development' && url.protocol === 'http:'
        ? '; http is only allowed for the loopback hosts 127.0.0.1, [::1] and localhost in development mode'
        : '';
    return fail('scheme', `redirect URI must use https (got "${url.protocol}")${hint}`);
  }

  // WHATWG has already normalised every IPv4 spelling (2130706433, 0x7f.1, 127.1) to dotted-quad
  // and IPv6 literals to their bracketed compressed form, so these two tests see every IP literal.
  const literal = host.startsWith('[') ? host.slice(1, -1) : isIP(host) === 4 ? host : undefined;
  if (literal !== undefined) {
    if (!isPublicAddress(literal)) {
      return fail('private_address', `redirect URI host "${host}" is a private address`);
    }
    return { ok: true, uri };
  }

  const lowerName = bareName.toLowerCase();
  if (RESERVED_NAMES.some((name) => lowerName === name || lowerName.endsWith(`.${name}`))) {
    return fail('reserved_name', `redirect URI host "${host}" is a reserved name`);
  }

  // RFC 9700 §4.1 / §4.16: a name that resolves into the server's own network would let a client
  // aim redirects (and the codes in them) at internal hosts. Every address must be public because
  // the user agent may pick any of them.
  let addresses: string[];
  try {
    addresses = await options.resolve(host);
  } catch {
    return fail('unresolvable', `redirect URI host "${host}" does not resolve in DNS`);
  }
  if (addresses.length === 0) {
    return fail('unresolvable', `redirect URI host "${host}" does not resolve in DNS`);
  }
  const nonPublic = addresses.filter((address) => !isPublicAddress(address));
  if (nonPublic.length > 0) {
    return fail('not_public', `redirect URI host "${host}" resolves to a non-public address (${nonPublic.join(', ')})`);
  }
  return { ok: true, uri };
}

/** Resolves with the system resolver (getaddrinfo, so /etc/hosts applies), giving up after ~3 s. */
export const systemResolver: HostResolver = async (hostname) => {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`DNS lookup of ${hostname} timed out`)), RESOLVE_TIMEOUT_MS);
    timer.unref();
  });
  try {
    const results = await Promise.race([lookup(hostname, { all: true, verbatim: true }), timeout]);
    return results.map((result) => result.address);
  } finally {
    clearTimeout(timer);
  }
};

/**
 * True only for globally routable unicast addresses. Anything that is not a plain IPv4 dotted-quad
 * or IPv6 address (including scoped `fe80::1%eth0` forms) is treated as not public.
 */
export function isPublicAddress(ip: string): boolean {
  const address = ip.startsWith('[') && ip.endsWith(']') ? ip.slice(1, -1) : ip;
  if (address.includes('%')) {
    // A zone index only exists for scoped (link-local) addresses, RFC 6874.
    return false;
  }
  const version = isIP(address);
  if (version === 4) {
    return isPublicV4(parseV4(address));
  }
  if (version === 6) {
    return isPublicV6(parseV6(address));
  }
  return false;
}

interface Cidr {
  base: bigint;
  bits: number;
}

/** IANA IPv4 Special-Purpose Address Registry (RFC 6890) entries that are not globally reachable. */
const NON_PUBLIC_V4: readonly Cidr[] = [
  v4Cidr('0.0.0.0', 8), // "this network", RFC 791 / RFC 1122 §3.2.1.3 (includes unspecified)
  v4Cidr('10.0.0.0', 8), // private, RFC 1918
  v4Cidr('100.64.0.0', 10), // shared address space (CGNAT), RFC 6598
  v4Cidr('127.0.0.0', 8), // loopback, RFC 1122 §3.2.1.3
  v4Cidr('169.254.0.0', 16), // link-local, RFC 3927
  v4Cidr('172.16.0.0', 12), // private, RFC 1918
  v4Cidr('192.0.0.0', 24), // IETF protocol assignments, RFC 6890 §2.1
  v4Cidr('192.0.2.0', 24), // TEST-NET-1, RFC 5737
  v4Cidr('192.88.99.0', 24), // deprecated 6to4 relay anycast, RFC 7526
  v4Cidr('192.168.0.0', 16), // private, RFC 1918
  v4Cidr('198.18.0.0', 15), // benchmarking, RFC 2544
  v4Cidr('198.51.100.0', 24), // TEST-NET-2, RFC 5737
  v4Cidr('203.0.113.0', 24), // TEST-NET-3, RFC 5737
  v4Cidr('224.0.0.0', 4), // multicast, RFC 5771
  v4Cidr('240.0.0.0', 4), // reserved, RFC 1112 §4; includes limited broadcast 255.255.255.255 (RFC 919)
];

/**
 * Only 2000::/3 is allocated as global unicast (RFC 4291 §2.4), so everything outside it (::, ::1,
 * fc00::/7 ULA, fe80::/10 link-local, ff00::/8 multicast, 64:ff9b:1::/48, 100::/64, ...) is refused
 * outright; these are the special-purpose blocks inside it.
 */
const NON_PUBLIC_V6_GLOBAL: readonly Cidr[] = [
  v6Cidr('2001::', 23), // IETF protocol assignments incl. Teredo and benchmarking, RFC 2928 / RFC 6890
  v6Cidr('2001:db8::', 32), // documentation, RFC 3849
  v6Cidr('3fff::', 20), // documentation, RFC 9637
];

const GLOBAL_UNICAST_V6 = v6Cidr('2000::', 3);
const MAPPED_V6 = v6Cidr('::ffff:0:0', 96); // IPv4-mapped, RFC 4291 §2.5.5.2
const NAT64_V6 = v6Cidr('64:ff9b::', 96); // NAT64 well-known prefix, RFC 6052 §2.1
const SIX_TO_FOUR_V6 = v6Cidr('2002::', 16); // 6to4, RFC 3056 §2

function isPublicV4(address: bigint): boolean {
  return !NON_PUBLIC_V4.some((cidr) => inCidr(address, cidr, 32));
}

function isPublicV6(address: bigint): boolean {
  // Prefixes that embed an IPv4 address reach that IPv4 host, so they are as public as it is.
  if (inCidr(address, MAPPED_V6, 128) || inCidr(address, NAT64_V6, 128)) {
    return isPublicV4(address & 0xffff_ffffn);
  }
  if (inCidr(address, SIX_TO_FOUR_V6, 128)) {
    return isPublicV4((address >> 80n) & 0xffff_ffffn);
  }
  return inCidr(address, GLOBAL_UNICAST_V6, 128) && !NON_PUBLIC_V6_GLOBAL.some((cidr) => inCidr(address, cidr, 128));
}

function inCidr(address: bigint, cidr: Cidr, width: number): boolean {
  const shift = BigInt(width - cidr.bits);
  return address >> shift === cidr.base >> shift;
}

function v4Cidr(base: string, bits: number): Cidr {
  return { base: parseV4(base), bits };
}

function v6Cidr(base: string, bits: number): Cidr {
  return { base: parseV6(base), bits };
}

/** Expects a string already validated by `isIP(...) === 4`. */
function parseV4(address: string): bigint {
  return address.split('.').reduce((acc, octet) => (acc << 8n) | BigInt(Number(octet)), 0n);
}

/** Expects a string already validated by `isIP(...) === 6` (no zone index). */
function parseV6(address: string): bigint {
  const groups = (part: string): bigint[] =>
    part === ''
      ? []
      : part.split(':').flatMap((group) => {
          if (!group.includes('.')) {
            return [BigInt(Number.parseInt(group, 16))];
          }
          // RFC 4291 §2.2 form 3: a trailing dotted-quad fills the last 32 bits.
          const v4 = parseV4(group);
          return [v4 >> 16n, v4 & 0xffffn];
        });
  const gap = address.indexOf('::');
  const head = groups(gap === -1 ? address : address.slice(0, gap));
  const tail = gap === -1 ? [] : groups(address.slice(gap + 2));
  const zeros: bigint[] = new Array<bigint>(8 - head.length - tail.length).fill(0n);
  return [...head, ...zeros, ...tail].reduce((acc, group) => (acc << 16n) | group, 0n);
}

function parse(uri: string): URL | undefined {
  try {
    return new URL(uri);
  } catch {
    return undefined;
  }
}

/** The raw authority of an `scheme://authority...` string, before any WHATWG normalisation. */
function rawAuthority(uri: string): string {
  const start = uri.indexOf('//') + 2;
  const rest = uri.slice(start);
  const end = rest.search(/[/?#]/);
  return end === -1 ? rest : rest.slice(0, end);
}

function fail(rule: RedirectUriRule, reason: string): RedirectUriCheck {
  return { ok: false, rule, reason };
}
