import { createHmac, randomBytes } from 'node:crypto';
import type { DerivedSecrets } from '../keys/encryption.ts';
import { hashesEqual } from '../lib/crypto.ts';

/** How long a device cookie lasts, seconds (a year; browsers cap cookies at 400 days). */
export const DEVICE_COOKIE_TTL = 365 * 86_400;
/** Accounts remembered per browser: the most recent sign-ins win. */
export const DEVICE_COOKIE_ENTRIES = 5;

export interface DeviceEntry {
  userId: string;
  deviceId: string;
  issuedAt: number;
}

/**
 * Device cookies (OWASP, "slow down online guessing attacks with device cookies"): a browser
 * that signed in as a user holds an entry signed for that user, and its sign-ins as that user
 * are throttled on their own, untouched by failures anybody else causes. An entry is
 * `userId.deviceId.issuedAt.mac`, the mac an HMAC-SHA-256 over the three under a secret
 * derived from the key-encryption key (every node agrees on it; it never enters the
 * database); a browser keeps up to five, joined by `~`. It proves only "this browser signed
 * in as this user before", never who is signing in: the password is still checked.
 */
export class DeviceCookies {
  /** Entries are signed under the first; accepted under any (the previous key's while the key is replaced). */
  readonly #secrets: DerivedSecrets;
  constructor(secrets: DerivedSecrets) {
    if (secrets.some((s) => s.length < 32)) throw new Error('the device cookie secret must be at least 32 bytes');
    this.#secrets = secrets;
  }

  /** The valid entries of a cookie value (signed here, not expired, not from the future). */
  entries(value: string | undefined, now: number): DeviceEntry[] {
    if (!value || value.length > 1024) return [];
    const out: DeviceEntry[] = [];
    for (const part of value.split('~').slice(0, DEVICE_COOKIE_ENTRIES)) {
      const [userId, deviceId, issued, mac, extra] = part.split('.');
      if (!userId || !deviceId || !issued || !mac || extra !== undefined || !/^\d{1,12}$/.test(issued)) continue;
      const issuedAt = Number(issued);
      if (issuedAt > now + 300 || now - issuedAt >= DEVICE_COOKIE_TTL) continue;
      if (!this.#secrets.some((secret) => hashesEqual(this.#mac(userId, deviceId, issuedAt, secret), mac))) continue;
      out.push({ userId, deviceId, issuedAt });
    }
    return out;
  }

  /** This browser's device for `userId`, if its cookie holds a valid entry for them. */
  deviceOf(value: string | undefined, userId: string, now: number): DeviceEntry | undefined {
    return this.entries(value, now).find((e) => e.userId === userId);
  }

  /**
   * The cookie value after a sign-in as `userId`: a fresh entry for them (a new device id)
   * first, then this browser's other valid entries, at most five in all, each signed under
   * the current secret (an entry made under the previous key moves to the new one here).
   */
  issue(value: string | undefined, userId: string, now: number): string {
    const fresh: DeviceEntry = { userId, deviceId: randomBytes(16).toString('base64url'), issuedAt: now };
    const others = this.entries(value, now).filter((e) => e.userId !== userId);
    return [fresh, ...others]
      .slice(0, DEVICE_COOKIE_ENTRIES)
      .map((e) => `${e.userId}.${e.deviceId}.${e.issuedAt}.${this.#mac(e.userId, e.deviceId, e.issuedAt)}`)
      .join('~');
  }

  #mac(userId: string, deviceId: string, issuedAt: number, secret = this.#secrets[0]): string {
    return createHmac('sha256', secret).update(`tessera device\n${userId}\n${deviceId}\n${issuedAt}`).digest('base64url');
  }
}
