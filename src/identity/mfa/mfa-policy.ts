/**
 * When a sign-in needs a second factor (docs/mfa.md). The global policy is a saved setting:
 * `off` (factors are neither offered nor asked), `optional` (the default: a user who enrolled
 * a factor is always asked for it), `required` (everyone). Roles and apps may require MFA on
 * their own, and an app may ask for it per request with `acr_values=urn:tessera:acr:mfa`.
 */
export type MfaPolicy = 'off' | 'optional' | 'required';
export const MFA_POLICIES: readonly MfaPolicy[] = ['off', 'optional', 'required'];

export interface MfaContext {
  policy: MfaPolicy;
  /** One of the user's roles requires MFA. */
  roleRequires: boolean;
  /** The app being signed in to requires MFA (its setting). */
  appRequires: boolean;
  /** The request's acr_values accept only MFA. */
  acrAsks: boolean;
}

export type MfaNeed = 'no' | 'yes' | 'unavailable';

/** Whether MFA is needed; `unavailable` when it is asked for but the operator turned factors off. */
export function mfaNeed(c: MfaContext): MfaNeed {
  const asked = c.policy === 'required' || c.roleRequires || c.appRequires || c.acrAsks;
  if (!asked) return 'no';
  return c.policy === 'off' ? 'unavailable' : 'yes';
}

/** What follows a right password. */
export type AfterPassword = 'done' | 'second_factor' | 'enrol';

export function afterPassword(c: MfaContext & { hasFactor: boolean }): AfterPassword {
  if (c.policy === 'off') return 'done';
  // A user who enrolled a factor is always asked for it: that is what they enrolled it for.
  if (c.hasFactor) return 'second_factor';
  return mfaNeed(c) === 'yes' ? 'enrol' : 'done';
}
