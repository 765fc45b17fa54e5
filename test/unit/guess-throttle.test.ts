import { randomBytes } from 'node:crypto';
import { describe, expect, test } from 'vitest';
import { DEVICE_COOKIE_ENTRIES, DEVICE_COOKIE_TTL, DeviceCookies } from '../../src/identity/device-cookie.ts';
import { countersFor, GUESS_POLICIES, waitAfter, waitTable, type BackoffPolicy } from '../../src/identity/guess-throttle.ts';

/** The policy of sign-in throttling (no database: the store's SQL is tested in test/storage). */
describe('progressive delay', () => {
  const policy: BackoffPolicy = { free: 3, baseDelay: 2, maxDelay: 30, forgetAfter: 600 };

  test('free failures wait nothing; then the wait doubles from baseDelay, capped at maxDelay', () => {
    expect([1, 2, 3, 4, 5, 6, 7, 8, 9, 50, 10_000].map((n) => waitAfter(policy, n))).toEqual([0, 0, 0, 2, 4, 8, 16, 30, 30, 30, 30]);
    expect(waitAfter(policy, 0)).toBe(0);
  });

  test('waitTable lists each failure’s wait up to the first that reaches the cap', () => {
    expect(waitTable(policy)).toEqual([0, 0, 0, 2, 4, 8, 16, 30]);
    expect(waitTable({ free: 0, baseDelay: 1, maxDelay: 1, forgetAfter: 1 })).toEqual([1]);
  });

  test('the sign-in policies: a client or device waits at most 15 minutes, an IP address a minute, the account five; none ever locks', () => {
    expect(GUESS_POLICIES.client).toEqual({ free: 5, baseDelay: 1, maxDelay: 900, forgetAfter: 86_400 });
    expect(GUESS_POLICIES.device).toEqual(GUESS_POLICIES.client);
    expect(GUESS_POLICIES.ip).toEqual({ free: 100, baseDelay: 1, maxDelay: 60, forgetAfter: 3600 });
    expect(GUESS_POLICIES.account).toEqual({ free: 20, baseDelay: 1, maxDelay: 300, forgetAfter: 3600 });
    for (const p of Object.values(GUESS_POLICIES)) {
      // A counter is never forgotten while it still makes attempts wait.
      expect(p.forgetAfter).toBeGreaterThanOrEqual(p.maxDelay);
      expect(Math.max(...waitTable(p))).toBe(p.maxDelay);
    }
    // The client's waits: 1, 2, 4 … 512 s, then 15 minutes.
    expect(waitTable(GUESS_POLICIES.client).slice(5)).toEqual([1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 900]);
  });
});

describe('counters of one attempt', () => {
  test('without a device cookie: the account from this address, the account from everywhere, and the address', () => {
    expect(countersFor('password', { account: 'admin', ip: '203.0.113.5' }).map(({ key, kind, account }) => ({ key, kind, account }))).toEqual([
      { key: 'password:client:203.0.113.5:admin', kind: 'client', account: 'admin' },
      { key: 'password:account:admin', kind: 'account', account: 'admin' },
      { key: 'password:ip:203.0.113.5', kind: 'ip', account: null },
    ]);
    expect(countersFor('password', { account: 'admin', ip: null }).map((c) => c.key)).toEqual(['password:client:-:admin', 'password:account:admin']);
  });

  test('with a device cookie for the user: only that device’s counter, whatever the address', () => {
    const counters = countersFor('password', { account: 'admin', ip: '203.0.113.5', device: { userId: 'u-1', deviceId: 'd-1' } });
    expect(counters.map(({ key, kind, account, policy }) => ({ key, kind, account, policy }))).toEqual([
      { key: 'password:device:u-1:d-1', kind: 'device', account: 'admin', policy: GUESS_POLICIES.device },
    ]);
  });

  test('what is guessed keeps its counters apart (a TOTP code later)', () => {
    const password = countersFor('password', { account: 'admin', ip: '203.0.113.5' }).map((c) => c.key);
    const totp = countersFor('totp', { account: 'admin', ip: '203.0.113.5' }).map((c) => c.key);
    expect(totp.filter((k) => password.includes(k))).toEqual([]);
    expect(totp[0]).toBe('totp:client:203.0.113.5:admin');
  });

  test('a very long account name is cut to 200 characters', () => {
    const [client] = countersFor('password', { account: 'x'.repeat(5000), ip: '203.0.113.5' });
    expect(client!.account).toHaveLength(200);
  });
});

describe('device cookies', () => {
  const NOW = 1_760_000_000;
  const cookies = new DeviceCookies([randomBytes(32)]);
  const alice = '5b0c7f5e-8a55-4c51-9d2a-4c6a3f0e9a11';
  const bob = '0f6a5f8b-1c9e-4b7e-8b0e-2d4c3b2a1f00';

  test('an issued entry verifies for its user only, until it expires after DEVICE_COOKIE_TTL', () => {
    const value = cookies.issue(undefined, alice, NOW);
    expect(value).toMatch(/^[0-9a-f-]{36}\.[A-Za-z0-9_-]{22}\.\d+\.[A-Za-z0-9_-]{43}$/);
    const entry = cookies.deviceOf(value, alice, NOW + 10);
    expect(entry).toMatchObject({ userId: alice, issuedAt: NOW });
    expect(cookies.deviceOf(value, bob, NOW)).toBeUndefined();
    expect(cookies.deviceOf(value, alice, NOW + DEVICE_COOKIE_TTL - 1)).toBeDefined();
    expect(cookies.deviceOf(value, alice, NOW + DEVICE_COOKIE_TTL)).toBeUndefined();
    // Issued in the future (a clock far off, or a forgery) is not accepted either.
    expect(cookies.deviceOf(value, alice, NOW - 3600)).toBeUndefined();
  });

  test('a changed user, device, time or MAC, another server’s secret, or junk verifies nothing', () => {
    const value = cookies.issue(undefined, alice, NOW);
    const [u, d, t, mac] = value.split('.');
    const variants = [
      [bob, d, t, mac],
      [u, 'AAAAAAAAAAAAAAAAAAAAAA', t, mac],
      [u, d, String(NOW + 1), mac],
      [u, d, t, mac!.replace(/^./, (c) => (c === 'A' ? 'B' : 'A'))],
      [u, d, t, mac, 'extra'],
      [u, d, t],
    ].map((parts) => parts.join('.'));
    for (const v of [...variants, '', 'garbage', '~~~', 'x'.repeat(5000)]) expect(cookies.entries(v, NOW)).toEqual([]);
    expect(new DeviceCookies([randomBytes(32)]).entries(value, NOW)).toEqual([]);
  });

  test('a browser keeps the latest users first, up to five; signing in again replaces that user’s entry', () => {
    const users = Array.from({ length: 7 }, (_, i) => `00000000-0000-4000-8000-00000000000${i}`);
    let value: string | undefined;
    for (const [i, user] of users.entries()) value = cookies.issue(value, user, NOW + i);
    expect(cookies.entries(value, NOW + 10).map((e) => e.userId)).toEqual(users.slice(2).reverse());
    expect(DEVICE_COOKIE_ENTRIES).toBe(5);
    const before = cookies.deviceOf(value, users[4]!, NOW + 10)!;
    value = cookies.issue(value, users[4]!, NOW + 20);
    const entries = cookies.entries(value, NOW + 20);
    expect(entries.map((e) => e.userId)).toEqual([users[4], users[6], users[5], users[3], users[2]]);
    expect(entries[0]!.deviceId).not.toBe(before.deviceId);
    // Junk in a cookie is dropped on the next issue.
    expect(cookies.entries(cookies.issue(`junk~${value}`, users[0]!, NOW + 21), NOW + 21)).toHaveLength(5);
  });
});
