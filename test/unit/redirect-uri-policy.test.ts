import { describe, expect, test, vi } from 'vitest';
import {
  checkRedirectUri,
  isPublicAddress,
  systemResolver,
  type HostResolver,
  type RedirectUriPolicyMode,
  type RedirectUriRule,
} from '../../src/clients/redirect-uri-policy.ts';

/** Stands in for DNS: names missing from the table reject like NXDOMAIN. */
const DNS: Record<string, string[]> = {
  'app.example': ['93.184.216.34'],
  'dot.example.': ['93.184.216.34'],
  'dual.example': ['93.184.216.34', '2606:2800:220:1:248:1893:25c8:1946'],
  'xn--bcher-kva.example': ['198.41.0.4'],
  'empty.example': [],
  'internal-only.example': ['10.1.2.3'],
  'mixed.example': ['93.184.216.34', '10.1.2.3'],
  'mixed6.example': ['2606:4700:4700::1111', 'fd00::1'],
  'rebind.example': ['127.0.0.1'],
  'mapped.example': ['::ffff:192.168.0.1'],
  'metadata.example': ['169.254.169.254'],
  'scoped.example': ['fe80::1%eth0'],
  'garbage.example': ['not-an-ip'],
};

const fakeResolver: HostResolver = async (hostname) => {
  const addresses = DNS[hostname];
  if (addresses === undefined) {
    throw Object.assign(new Error(`getaddrinfo ENOTFOUND ${hostname}`), { code: 'ENOTFOUND' });
  }
  return addresses;
};

type Expected = 'ok' | RedirectUriRule;
interface Case {
  mode: RedirectUriPolicyMode;
  uri: string;
  expected: Expected;
  /** Substring the reason must contain, when the exact wording matters. */
  reason?: string;
}

const strict = (uri: string, expected: Expected, reason?: string): Case => ({ mode: 'strict', uri, expected, reason });
const dev = (uri: string, expected: Expected, reason?: string): Case => ({ mode: 'development', uri, expected, reason });

const longUri = (length: number): string => {
  const prefix = 'https://app.example/cb?pad=';
  return prefix + 'a'.repeat(length - prefix.length);
};

const cases: Case[] = [
  // Accepted in strict mode.
  strict('https://app.example/cb', 'ok'),
  strict('https://app.example:8443/cb?x=1&y=2', 'ok'),
  strict('https://app.example/cb?next=%2Fhome&state=a%20b', 'ok'),
  strict('https://APP.Example/Callback', 'ok'),
  strict('https://dot.example./cb', 'ok'),
  strict('https://dual.example/cb', 'ok'),
  strict('https://bücher.example/cb', 'ok'),
  strict('https://8.8.8.8/cb', 'ok'),
  strict('https://8.8.8.8:444/cb', 'ok'),
  strict('https://[2606:4700:4700::1111]/cb', 'ok'),
  strict('https://[::ffff:8.8.8.8]/cb', 'ok'),
  strict('https://172.15.255.255/cb', 'ok'),
  strict('https://172.32.0.1/cb', 'ok'),
  strict('https://100.63.255.255/cb', 'ok'),
  strict('https://100.128.0.1/cb', 'ok'),
  strict(longUri(2048), 'ok'),

  // too_long (RFC 9700 gives no number; 2048 is the policy limit).
  strict(longUri(2049), 'too_long', '2048'),
  dev(`http://localhost/${'a'.repeat(2040)}`, 'too_long'),

  // malformed
  strict('', 'malformed'),
  strict('not a uri', 'malformed'),
  strict('/relative/cb', 'malformed'),
  strict('//app.example/cb', 'malformed'),
  strict('https://', 'malformed'),
  strict('https:///cb', 'malformed'),
  strict('https:app.example/cb', 'malformed'),
  strict(' https://app.example/cb', 'malformed'),
  strict('https://app.example/c b', 'malformed'),
  strict('https://app.example/cb\n', 'malformed'),
  strict('https:\\\\app.example\\cb', 'malformed'),
  strict('https://app.example:99999/cb', 'malformed'),
  strict('https://1.2.3.4.5/cb', 'malformed'),
  strict('https://./cb', 'malformed'),
  strict('https://[fe80::1%25eth0]/cb', 'malformed'),

  // fragment (RFC 6749 §3.1.2), even when empty
  strict('https://app.example/cb#', 'fragment', 'redirect URI must not contain a fragment'),
  strict('https://app.example/cb#frag', 'fragment'),
  strict('https://app.example/cb?x=1#y', 'fragment'),
  dev('http://localhost:3000/cb#', 'fragment'),

  // userinfo
  strict('https://user:pw@app.example/cb', 'userinfo'),
  strict('https://user@app.example/cb', 'userinfo'),
  strict('https://@app.example/cb', 'userinfo'),
  strict('https://:@app.example/cb', 'userinfo'),
  strict('https://app.example@evil.example/cb', 'userinfo'),
  dev('http://user@localhost/cb', 'userinfo'),

  // scheme
  strict('http://app.example/cb', 'scheme', 'redirect URI must use https (got "http:")'),
  strict('HTTP://app.example/cb', 'scheme'),
  strict('http://localhost/cb', 'scheme'),
  strict('http://127.0.0.1:8080/cb', 'scheme'),
  strict('http://[::1]/cb', 'scheme'),
  strict('ftp://app.example/cb', 'scheme', '"ftp:"'),
  strict('javascript:alert(1)', 'scheme'),
  strict('com.example.app:/oauth2redirect', 'scheme'),

  // reserved_name, case-insensitive and with trailing dots
  strict('https://localhost/cb', 'reserved_name', 'redirect URI host "localhost" is a reserved name'),
  strict('https://LOCALHOST:8443/cb', 'reserved_name'),
  strict('https://localhost./cb', 'reserved_name'),
  strict('https://app.localhost/cb', 'reserved_name'),
  strict('https://printer.local/cb', 'reserved_name'),
  strict('https://PRINTER.LOCAL./cb', 'reserved_name'),
  strict('https://foo.internal/cb', 'reserved_name', 'redirect URI host "foo.internal" is a reserved name'),
  strict('https://internal/cb', 'reserved_name'),
  strict('https://ｌｏｃａｌｈｏｓｔ/cb', 'reserved_name'),
  strict('https://loc%61lhost/cb', 'reserved_name'),

  // private_address: IPv4 ranges
  strict('https://10.0.0.1/cb', 'private_address', 'redirect URI host "10.0.0.1" is a private address'),
  strict('https://10.0.0.1:8443/cb?x=1', 'private_address'),
  strict('https://172.16.5.4/cb', 'private_address'),
  strict('https://172.31.255.255/cb', 'private_address'),
  strict('https://192.168.1.1/cb', 'private_address'),
  strict('https://100.64.0.1/cb', 'private_address'),
  strict('https://127.0.0.1/cb', 'private_address'),
  strict('https://169.254.169.254/latest/meta-data', 'private_address'),
  strict('https://0.0.0.0/cb', 'private_address'),
  strict('https://224.0.0.1/cb', 'private_address'),
  strict('https://255.255.255.255/cb', 'private_address'),
  strict('https://240.0.0.1/cb', 'private_address'),
  strict('https://192.0.2.1/cb', 'private_address'),
  strict('https://198.51.100.7/cb', 'private_address'),
  strict('https://203.0.113.9/cb', 'private_address'),
  // ...and the spellings WHATWG normalises to them
  strict('https://2130706433/cb', 'private_address', '"127.0.0.1"'),
  strict('https://0x7f.1/cb', 'private_address'),
  strict('https://127.1/cb', 'private_address'),
  strict('https://017700000001/cb', 'private_address'),
  strict('https://0xA.0.0.1/cb', 'private_address'),
  strict('https://127.0.0.1./cb', 'private_address'),
  strict('https://0/cb', 'private_address'),
  // IPv6 literals
  strict('https://[::1]/cb', 'private_address', 'redirect URI host "[::1]" is a private address'),
  strict('https://[0:0:0:0:0:0:0:1]/cb', 'private_address'),
  strict('https://[::]/cb', 'private_address'),
  strict('https://[fc00::1]/cb', 'private_address'),
  strict('https://[FD12:3456::1]:8443/cb', 'private_address'),
  strict('https://[fe80::1]/cb', 'private_address'),
  strict('https://[ff02::1]/cb', 'private_address'),
  strict('https://[2001:db8::1]/cb', 'private_address'),
  strict('https://[::ffff:127.0.0.1]/cb', 'private_address'),
  strict('https://[::ffff:7f00:1]/cb', 'private_address'),
  strict('https://[::ffff:10.0.0.1]/cb', 'private_address'),
  strict('https://[::127.0.0.1]/cb', 'private_address'),
  strict('https://[64:ff9b::a00:1]/cb', 'private_address'),
  strict('https://[2002:a00:1::1]/cb', 'private_address'),

  // unresolvable
  strict('https://nope.example/cb', 'unresolvable', 'redirect URI host "nope.example" does not resolve in DNS'),
  strict('https://empty.example/cb', 'unresolvable'),

  // not_public: every resolved address must be public
  strict('https://internal-only.example/cb', 'not_public', 'resolves to a non-public address (10.1.2.3)'),
  strict('https://mixed.example/cb', 'not_public', '"mixed.example" resolves to a non-public address (10.1.2.3)'),
  strict('https://mixed6.example/cb', 'not_public', '(fd00::1)'),
  strict('https://rebind.example/cb', 'not_public'),
  strict('https://mapped.example/cb', 'not_public'),
  strict('https://metadata.example/cb', 'not_public'),
  strict('https://scoped.example/cb', 'not_public'),
  strict('https://garbage.example/cb', 'not_public'),

  // development mode: RFC 8252 §7.3 loopback redirects, any port
  dev('http://127.0.0.1/cb', 'ok'),
  dev('http://127.0.0.1:51004/oauth2redirect', 'ok'),
  dev('http://[::1]:8080/cb', 'ok'),
  dev('http://[0:0:0:0:0:0:0:1]/cb', 'ok'),
  dev('http://localhost/cb', 'ok'),
  dev('http://localhost:3000/cb?x=1', 'ok'),
  dev('http://LOCALHOST:3000/cb', 'ok'),
  dev('http://2130706433:8080/cb', 'ok'),
  dev('https://localhost/cb', 'ok'),
  dev('https://127.0.0.1:8443/cb', 'ok'),
  dev('https://app.example/cb', 'ok'),
  dev('https://8.8.8.8/cb', 'ok'),
  // ...and everything else is still refused
  dev('http://app.example/cb', 'scheme', 'redirect URI must use https (got "http:")'),
  dev('http://10.0.0.1/cb', 'scheme'),
  dev('http://127.0.0.2/cb', 'scheme'),
  dev('http://[::ffff:127.0.0.1]/cb', 'scheme'),
  dev('http://localhost./cb', 'scheme'),
  dev('http://app.localhost/cb', 'scheme'),
  dev('ftp://localhost/cb', 'scheme'),
  dev('https://localhost./cb', 'reserved_name'),
  dev('https://app.localhost/cb', 'reserved_name'),
  dev('https://printer.local/cb', 'reserved_name'),
  dev('https://foo.internal/cb', 'reserved_name'),
  dev('https://127.0.0.2/cb', 'private_address'),
  dev('https://10.0.0.1/cb', 'private_address'),
  dev('https://[::ffff:7f00:1]/cb', 'private_address'),
  dev('https://nope.example/cb', 'unresolvable'),
  dev('https://mixed.example/cb', 'not_public'),
];

const title = (c: Case): string => {
  const uri = c.uri.length > 70 ? `${c.uri.slice(0, 40)}…(${c.uri.length} chars)` : c.uri;
  return `${c.mode.padEnd(11)} ${JSON.stringify(uri)} → ${c.expected}`;
};

describe('checkRedirectUri', () => {
  test.each(cases.map((c) => [title(c), c] as const))('%s', async (_title, c) => {
    const result = await checkRedirectUri(c.uri, { mode: c.mode, resolve: fakeResolver });
    if (c.expected === 'ok') {
      expect(result).toEqual({ ok: true, uri: c.uri });
      return;
    }
    expect(result).toMatchObject({ ok: false, rule: c.expected });
    if (!result.ok) {
      expect(result.reason).toMatch(/^redirect URI /);
      if (c.reason !== undefined) {
        expect(result.reason).toContain(c.reason);
      }
    }
  });

  test('returns the URI exactly as given, not the WHATWG-normalised href', async () => {
    const uri = 'https://APP.example';
    expect(await checkRedirectUri(uri, { mode: 'strict', resolve: fakeResolver })).toEqual({ ok: true, uri });
  });

  test('passes the parsed (lower-cased, punycoded) hostname to the resolver', async () => {
    const resolve = vi.fn(fakeResolver);
    await checkRedirectUri('https://BÜCHER.Example:8443/cb', { mode: 'strict', resolve });
    expect(resolve).toHaveBeenCalledExactlyOnceWith('xn--bcher-kva.example');
  });

  test.each([
    ['development', 'http://localhost:3000/cb'],
    ['development', 'https://localhost/cb'],
    ['development', 'http://[::1]/cb'],
    ['strict', 'https://8.8.8.8/cb'],
    ['strict', 'https://[::ffff:7f00:1]/cb'],
    ['strict', 'https://foo.internal/cb'],
  ] as const)('%s %s does not consult DNS', async (mode, uri) => {
    const resolve = vi.fn(fakeResolver);
    await checkRedirectUri(uri, { mode, resolve });
    expect(resolve).not.toHaveBeenCalled();
  });

  test('lists every non-public address in the reason', async () => {
    const resolve: HostResolver = async () => ['93.184.216.34', '10.1.2.3', '::1'];
    const result = await checkRedirectUri('https://x.example/cb', { mode: 'strict', resolve });
    expect(result).toEqual({
      ok: false,
      rule: 'not_public',
      reason: 'redirect URI host "x.example" resolves to a non-public address (10.1.2.3, ::1)',
    });
  });
});

describe('isPublicAddress', () => {
  test.each([
    ['8.8.8.8', true],
    ['93.184.216.34', true],
    ['1.1.1.1', true],
    ['2606:4700:4700::1111', true],
    ['[2606:4700:4700::1111]', true],
    ['::ffff:8.8.8.8', true],
    ['64:ff9b::808:808', true],
    ['2002:808:808::1', true],
    ['10.255.255.255', false],
    ['172.16.0.0', false],
    ['192.168.255.255', false],
    ['100.127.255.255', false],
    ['127.0.0.1', false],
    ['169.254.0.1', false],
    ['0.1.2.3', false],
    ['198.18.0.1', false],
    ['192.0.0.9', false],
    ['::', false],
    ['::1', false],
    ['[::1]', false],
    ['fe80::1', false],
    ['fe80::1%eth0', false],
    ['fdff:ffff::1', false],
    ['ff0e::1', false],
    ['2001:db8:ffff::1', false],
    ['2001::1', false],
    ['3fff::1', false],
    ['64:ff9b:1::1', false],
    ['::ffff:192.168.1.1', false],
    ['::ffff:c0a8:101', false],
    ['2130706433', false],
    ['0x7f.1', false],
    ['example.com', false],
    ['', false],
  ] as const)('%s → %s', (ip, expected) => {
    expect(isPublicAddress(ip)).toBe(expected);
  });
});

describe('systemResolver', () => {
  // An IP literal is answered by getaddrinfo itself, so this never touches the network.
  test('returns address strings', async () => {
    expect(await systemResolver('127.0.0.1')).toEqual(['127.0.0.1']);
  });
});
