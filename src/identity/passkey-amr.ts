/**
 * The authentication methods (RFC 8176 §2) a passkey assertion proves, for the session's and
 * the ID token's `amr`:
 * - `hwk`: proof of possession of a hardware-secured key: a device-bound credential
 *   (WebAuthn "single-device", not backed up): the private key never leaves the authenticator.
 * - `swk`: proof of possession of a software-secured key: a synced passkey (backup eligible
 *   or backed up, "multi-device"), whose private key is copied between devices by a provider.
 * - `mfa` when the authenticator verified the user (PIN or biometric: the UV flag): something
 *   you have plus something you know or are, in one gesture. Which of `pin`/`fpt`/`face` it
 *   was, the authenticator does not say, so none of them is claimed.
 * User presence alone (UP without UV) proves possession only: `hwk`/`swk` without `mfa`.
 */
export function passkeyAmr(a: { deviceType: 'singleDevice' | 'multiDevice'; backedUp: boolean; userVerified: boolean }): string[] {
  const key = a.deviceType === 'singleDevice' && !a.backedUp ? 'hwk' : 'swk';
  return a.userVerified ? [key, 'mfa'] : [key];
}
