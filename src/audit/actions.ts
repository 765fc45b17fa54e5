/**
 * Every action the audit log records: its name, the type of its target and the shape of its
 * details, defined once. Services record them; adapters (CLI, admin API) never name them,
 * so the same change is recorded the same way whichever adapter made it.
 */
export const AUDIT_TARGETS = {
  'app.create': 'app',
  'app.update': 'app',
  'app.delete': 'app',
  'app.secret_regenerate': 'app',
  'user.create': 'user',
  'user.update': 'user',
  'user.password_reset': 'user',
  'user.password_change': 'user',
  'user.disable': 'user',
  'user.enable': 'user',
  'user.delete': 'user',
  'user.sign_in': 'user',
  'user.sign_in_failed': 'user',
  'user.sign_in_throttled': 'user',
  'user.unlock': 'user',
  'user.sign_out': 'user',
  'user.factor_add': 'user',
  'user.factor_remove': 'user',
  'user.factors_reset': 'user',
  'user.recovery_codes_regenerate': 'user',
  'user.recovery_code_use': 'user',
  'user.second_factor_failed': 'user',
  'user.second_factor_throttled': 'user',
  'consent.grant': 'user',
  'consent.deny': 'user',
  'grant.revoke': 'user',
  'session.revoke': 'user',
  'session.revoke_all': 'user',
  'token.revoke': 'token',
  'token.replay': 'token',
  'role.create': 'role',
  'role.update': 'role',
  'role.grant': 'role',
  'role.delete': 'role',
  'permission.create': 'permission',
  'permission.delete': 'permission',
  'api.create': 'api',
  'api.update': 'api',
  'api.delete': 'api',
  'settings.update': 'settings',
  'branding.update': 'settings',
  'keys.rotate': 'keys',
  'keys.recover': 'keys',
  'keys.reencrypt': 'keys',
  'user.link': 'user',
  'user.unlink': 'user',
  'provider.sign_in': 'provider',
  'provider.sign_in_failed': 'provider',
  'provider.create': 'provider',
  'provider.update': 'provider',
  'provider.delete': 'provider',
  'user.email_verify': 'user',
  'user.invite': 'user',
  'user.invite_accept': 'user',
  'user.passkey_rename': 'user',
  'user.locale_change': 'user',
  'registration.token_create': 'registration_token',
  'registration.token_revoke': 'registration_token',
} as const;

export type AuditAction = keyof typeof AUDIT_TARGETS;
export type AuditTargetType = (typeof AUDIT_TARGETS)[AuditAction];

export const AUDIT_ACTIONS = Object.keys(AUDIT_TARGETS) as AuditAction[];

/** `fields`: the snake_case names of what the change set (as the admin API spells them), sorted. */
type Fields = { fields: string[] };
type None = Record<string, never>;

/** What each action records besides who, what and when. Never secrets (AuditLog redacts anyway). */
export interface AuditDetails {
  'app.create': { name: string; grant_types: string[] };
  'app.update': Fields;
  'app.delete': None;
  /** 0: immediate (every earlier token invalid); else how long the old secret still works. */
  'app.secret_regenerate': { grace_seconds: number };
  /** `locale`: the language an admin gave the new user, when one. */
  'user.create': { username: string; roles: string[]; locale?: string };
  'user.update': Fields;
  /** A new password set by an admin (no details), or by the user through a reset link sent by email (`by: 'email_link'`). */
  'user.password_reset': { by?: 'email_link' };
  /**
   * The user changed their own password at /account (current password given): how many of
   * their other sessions ended and how many refresh tokens (families, any app) were revoked.
   */
  'user.password_change': { other_sessions_ended: number; refresh_tokens_revoked: number };
  'user.disable': None;
  'user.enable': None;
  /** The user is gone; the entry keeps their id (the target) and their username. */
  'user.delete': { username: string };
  /** A password sign-in at /login started a session; `new_device`: the browser held no device cookie for the user (a security notice is mailed). */
  'user.sign_in': { sid: string; new_device?: boolean };
  /** A password sign-in was refused: the username as typed (the target when it names a user) and why. */
  'user.sign_in_failed': { username: string; reason: 'invalid_credentials' | 'disabled' };
  /**
   * A refused sign-in made one of its throttle counters wait (src/identity/guess-throttle.ts):
   * which counter (`device`, `client`, `ip`, `account`), its failures, and the wait it set.
   * Attempts refused during the wait are not recorded one by one.
   */
  'user.sign_in_throttled': { username: string; counter: 'device' | 'client' | 'ip' | 'account'; failures: number; wait_seconds: number };
  /** An admin cleared the user's sign-in throttling: how many counters were cleared. */
  'user.unlock': { cleared: number };
  /** A session was ended by its user (sign-out, or a new sign-in replacing it in the same browser). */
  'user.sign_out': { sid: string };
  /** A second factor became active (TOTP: after its first code; a passkey: when registered). */
  'user.factor_add': { type: 'totp' | 'passkey'; name: string };
  /** The user removed one of their factors. */
  'user.factor_remove': { type: 'totp' | 'passkey'; name: string };
  /** An admin removed every factor of the user (and the recovery codes): which kinds there were. */
  'user.factors_reset': { types: string[] };
  /**
   * New recovery codes replaced the old ones (shown once to the user). `with_factor`: made
   * together with the user's first factor, not asked for on their own (no separate notice).
   */
  'user.recovery_codes_regenerate': { count: number; with_factor?: true };
  /** A recovery code stood in for the second factor at sign-in: how many unused ones are left. */
  'user.recovery_code_use': { remaining: number };
  /** A wrong code at the second step of a sign-in (the password was right). */
  'user.second_factor_failed': { reason: 'invalid_code' };
  /** A wrong code made a throttle counter of the second step wait (as `user.sign_in_throttled` for passwords). */
  'user.second_factor_throttled': { counter: 'device' | 'client' | 'ip' | 'account'; failures: number; wait_seconds: number };
  /** The user approved an app at the consent page (revoking it is `grant.revoke`). */
  'consent.grant': { client_id: string; scopes: string[] };
  /** The user answered Deny on the consent page or at /device: the scopes the app asked for. */
  'consent.deny': { client_id: string; scopes: string[] };
  'grant.revoke': { client_id: string };
  'session.revoke': { sid: string };
  'session.revoke_all': { ended: number };
  /**
   * An app revoked one of its tokens at /connect/revocation (RFC 7009); the actor is the app.
   * The target is the token's id, never the token: an access token's `jti`, or the id of the
   * refresh token's family (all of which the revocation ends). `sub`: the user the token was
   * for, or the app's own id for a token it holds as itself.
   */
  'token.revoke': { client_id: string; token_type: 'access_token' | 'refresh_token'; sub: string | null };
  /**
   * A refresh token or an authorization code presented again after it was used (RFC 9700
   * §4.14.2, RFC 6749 §4.1.2): Tessera revoked what it gave. The actor is the app that presented
   * it; the target the id of what was revoked — the refresh token's family, else the access
   * token's `jti` — or none when the first exchange had not recorded its tokens yet (it revokes
   * them itself as it does, and records its own entry). `client_id` and `sub`: whose grant it was.
   */
  'token.replay': {
    client_id: string;
    token_type: 'refresh_token' | 'authorization_code';
    sub: string;
    revoked: { refresh_family: string | null; access_token_jti: string | null };
  };
  'role.create': { permissions: string[] | '*' };
  'role.update': Fields & { permissions: string[] | '*' };
  'role.grant': { permission: string };
  'role.delete': None;
  'permission.create': None;
  'permission.delete': None;
  'api.create': { name: string; base_path: string; upstream: string };
  'api.update': Fields;
  'api.delete': { name: string };
  'settings.update': { changed: Record<string, unknown> };
  /** The brand of the pages changed (docs/branding.md): which fields ('logo' for an upload or removal), and how many contrast warnings it now has. */
  'branding.update': { fields: string[]; warnings: number };
  'keys.rotate': { kids: string[] };
  /** Keys the key-encryption key could not decrypt were retired (tokens they signed died) and new ones made. */
  'keys.recover': { retired: string[]; created: string[] };
  /** Values sealed under the previous key-encryption key, sealed again under the current one (per table; never a value). */
  'keys.reencrypt': { reencrypted: Record<string, number>; current: number };
  /** A user's account at an upstream provider was linked: at a first sign-in, or to an existing user by a verified email. */
  'user.link': { provider: string; by: 'first_sign_in' | 'verified_email' };
  /** Someone signed in through the provider: which user, and whether the user was just created or linked. */
  'provider.sign_in': { user_id: string; username: string; how: 'linked' | 'created' | 'linked_by_email' };
  /** A sign-in through the provider failed: the failure's kind and the reason, for the operator. */
  'provider.sign_in_failed': { failure: string; reason: string };
  'user.unlink': { provider: string; subject: string };
  'provider.create': { name: string; kind: string; issuer: string | null };
  'provider.update': Fields;
  'provider.delete': { name: string };
  /** The user followed a verification link: the address is now theirs and verified. */
  'user.email_verify': { email: string };
  /** An admin invited someone by email (target: none yet; the invitation's roles). */
  /** `locale`: the language the invitation is written in, when the admin chose one. */
  'user.invite': { email: string; roles: string[]; locale?: string };
  /** The invitee accepted: the target is the user just created; `with: 'passkey'` when they chose a passkey instead of a password. */
  'user.invite_accept': { email: string; username: string; with?: 'passkey' };
  /** The language mail to the user is written in changed (docs/languages.md): the page's language where they signed in, chose one or accepted their invitation, or an admin's choice (admin API, CLI). */
  /** `locale` null: an admin cleared it (mail falls back to the operator's default). */
  'user.locale_change': { locale: string | null; previous: string | null };
  /** The user renamed one of their passkeys. */
  'user.passkey_rename': { name: string; previous_name: string };
  /** An initial access token for Dynamic Client Registration (never the token itself). */
  'registration.token_create': { label: string; expires_in: number; max_uses: number | null };
  'registration.token_revoke': None;
}

/** The snake_case names of the fields an input object sets (camelCase keys with a value), sorted. */
export function changedFields(input: object): string[] {
  return Object.entries(input)
    .filter(([, v]) => v !== undefined)
    .map(([k]) => k.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`))
    .sort();
}
