import { randomBytes } from 'node:crypto';
import { describe, expect, test } from 'vitest';
import { Csrf } from '../../src/http/csrf.ts';
import { DeviceCookies } from '../../src/identity/device-cookie.ts';
import { KeyEncrypter } from '../../src/keys/encryption.ts';
import { DpopNonces } from '../../src/oauth/dpop.ts';

/**
 * Secrets derived from the key-encryption key while it is replaced (docs/operations.md): values
 * are made under the new key's and accepted under either, so what browsers and apps hold from
 * before the replacement stays good until TESSERA_PREVIOUS_KEY_ENCRYPTION_KEY is removed.
 */
const OLD = randomBytes(32);
const NEW = randomBytes(32);
const before = new KeyEncrypter(OLD);
const during = new KeyEncrypter(NEW, OLD);
const after = new KeyEncrypter(NEW);
const NOW = 1_800_000_000;

describe('KeyEncrypter.deriveSecrets', () => {
  test('the current key\'s secret first, the previous key\'s after it; one per label', () => {
    expect(before.deriveSecrets('csrf')).toHaveLength(1);
    const [current, previous, ...rest] = during.deriveSecrets('csrf');
    expect(current.equals(after.deriveSecrets('csrf')[0])).toBe(true);
    expect(previous!.equals(before.deriveSecrets('csrf')[0])).toBe(true);
    expect(rest).toEqual([]);
    expect(during.deriveSecrets('csrf')[0].equals(during.deriveSecrets('device cookie')[0])).toBe(false);
    // The same key given as previous is no second secret.
    expect(new KeyEncrypter(NEW, NEW).deriveSecrets('csrf')).toHaveLength(1);
  });
});

describe('CSRF tokens', () => {
  const browser = 'browser-value';
  test('a token made under the old key is accepted while the previous key is set, not after', () => {
    const token = new Csrf(before.deriveSecrets('csrf')).token(browser, 'sid');
    expect(new Csrf(during.deriveSecrets('csrf')).verify(browser, 'sid', token)).toBe(true);
    expect(new Csrf(during.deriveSecrets('csrf')).verify(browser, 'other', token)).toBe(false);
    expect(new Csrf(after.deriveSecrets('csrf')).verify(browser, 'sid', token)).toBe(false);
  });
  test('new tokens are made under the new key', () => {
    const token = new Csrf(during.deriveSecrets('csrf')).token(browser);
    expect(new Csrf(after.deriveSecrets('csrf')).verify(browser, '', token)).toBe(true);
    expect(new Csrf(before.deriveSecrets('csrf')).verify(browser, '', token)).toBe(false);
  });
});

describe('device cookies', () => {
  test('an entry signed under the old key is recognised while the previous key is set, and signed again under the new one', () => {
    const old = new DeviceCookies(before.deriveSecrets('device cookie')).issue(undefined, 'user-1', NOW);
    const [entry] = new DeviceCookies(before.deriveSecrets('device cookie')).entries(old, NOW);
    const cookies = new DeviceCookies(during.deriveSecrets('device cookie'));
    expect(cookies.deviceOf(old, 'user-1', NOW)).toEqual(entry);
    expect(new DeviceCookies(after.deriveSecrets('device cookie')).entries(old, NOW)).toEqual([]);
    // Another user's sign-in in the same browser keeps the entry, now signed under the new key.
    const next = cookies.issue(old, 'user-2', NOW + 60);
    expect(new DeviceCookies(after.deriveSecrets('device cookie')).deviceOf(next, 'user-1', NOW + 60)).toEqual(entry);
  });
});

describe('DPoP nonces', () => {
  test('a nonce issued under the old key stays valid in its window while the previous key is set', () => {
    const nonce = new DpopNonces(before.deriveSecrets('dpop nonce')).issue(NOW);
    expect(new DpopNonces(during.deriveSecrets('dpop nonce')).valid(nonce, NOW)).toBe(true);
    expect(new DpopNonces(after.deriveSecrets('dpop nonce')).valid(nonce, NOW)).toBe(false);
    const fresh = new DpopNonces(during.deriveSecrets('dpop nonce')).issue(NOW);
    expect(new DpopNonces(after.deriveSecrets('dpop nonce')).valid(fresh, NOW)).toBe(true);
  });
});
