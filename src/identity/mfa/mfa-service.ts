import { randomBytes, randomUUID } from 'node:crypto';
import { visitor, type Actor } from '../../audit/actor.ts';
import type { AuditLog } from '../../audit/audit-log.ts';
import { epochSeconds, type Clock } from '../../clock.ts';
import { conflict, notFound, validationError } from '../../errors.ts';
import { KeyEncryptionError, type KeyEncrypter } from '../../keys/encryption.ts';
import { randomToken, sha256 } from '../../lib/crypto.ts';
import type { Logger } from '../../lib/logger.ts';
import { iso } from '../../lib/time.ts';
import { acrValuesAskMfa } from '../authentication-methods.ts';
import type { DeviceCookies } from '../device-cookie.ts';
import { reserveGuess, settleRightGuess } from '../guess-gate.ts';
import { countersFor } from '../guess-throttle.ts';
import type { GuessThrottleStore } from '../guess-throttle-store.ts';
import type { Principal, User } from '../user.ts';
import { usernameKey } from '../user.ts';
import type { FactorStore, TotpFactor } from './factor-store.ts';
import { afterPassword, mfaNeed, type AfterPassword, type MfaNeed, type MfaPolicy } from './mfa-policy.ts';
import type { PendingSecondStep, SecondStepStore } from './second-step-store.ts';
import { matchTotp, newTotpSecret, otpauthUri } from './totp.ts';

/** How long the second step of a sign-in (or a forced enrolment) may take. */
export const SECOND_STEP_TTL = 10 * 60;
/** An enrolment not confirmed within this time starts again with a new secret. */
const ENROLMENT_TTL = 30 * 60;
export const RECOVERY_CODE_COUNT = 10;
const TOTP_NAME = 'Authenticator app';

/** One factor as the account page, the admin API and the CLI show it. */
export interface FactorView {
  id: string;
  /** 'totp', or a kind registered by another module ('passkey'). */
  type: string;
  name: string;
  createdAt: number;
  lastUsedAt: number | null;
}

/**
 * A kind of factor kept by another module (passkeys): listed with the others, counted as a
 * second factor, and removed by an admin's reset. See /work/coord/INTERFACES-mfa.md.
 */
export interface FactorKind {
  type: string;
  list(userId: string): Promise<FactorView[]>;
  /** Removes them all; how many there were. The reset audits once (`user.factors_reset`). */
  removeAll(userId: string): Promise<number>;
}

export type CodeResult =
  | { ok: true; method: 'totp' }
  | { ok: true; method: 'recovery_code'; remaining: number }
  | { ok: false; reason: 'invalid_code' }
  | { ok: false; reason: 'throttled'; retryAfter: number };

export interface MfaServiceDeps {
  factors: FactorStore;
  steps: SecondStepStore;
  /** Opens and seals TOTP secrets (the key-encryption key, as for signing keys). */
  secrets: KeyEncrypter;
  throttle: GuessThrottleStore;
  devices: DeviceCookies;
  clock: Clock;
  audit: AuditLog;
  log: Logger;
  /** The saved global policy, read per use. */
  policy: () => MfaPolicy;
  /** The issuer shown in authenticator apps (the host of Tessera's issuer URL). */
  issuerLabel: () => string;
  /** A user by id or username, or a not_found error (the admin surfaces name users either way). */
  findUser: (ref: string) => Promise<User>;
}

/** A user's factors as the admin API, the CLI and the console show them. */
export interface UserFactorsView {
  user_id: string;
  username: string;
  factors: Array<{ id: string; type: string; name: string; created_at: string; last_used_at: string | null }>;
  recovery_codes_remaining: number;
}

/**
 * Second factors: TOTP (RFC 6238) with recovery codes, the second step of a sign-in, and
 * the MFA policy. Codes are throttled exactly as passwords are (src/identity/guess-throttle.ts,
 * counters of their own: `totp:…`).
 */
export class MfaService {
  readonly #d: MfaServiceDeps;
  readonly #kinds: FactorKind[] = [];

  constructor(deps: MfaServiceDeps) {
    this.#d = deps;
  }

  /** Adds a kind of factor kept elsewhere (passkeys) to listings, the has-a-factor check and resets. */
  registerFactorKind(kind: FactorKind): void {
    if (this.#kinds.some((k) => k.type === kind.type) || kind.type === 'totp') throw new Error(`factor kind ${kind.type} registered twice`);
    this.#kinds.push(kind);
  }

  policy(): MfaPolicy {
    return this.#d.policy();
  }

  // ── Policy ────────────────────────────────────────────────────────────────────────────

  /** Whether a signed-in user must (still) pass a second factor for this request. */
  async need(principal: Principal, request: { appRequiresMfa: boolean; acrValues: string | undefined }): Promise<MfaNeed> {
    return mfaNeed(await this.#context(principal, request));
  }

  /** What follows a right password for this user and request. */
  async afterPassword(principal: Principal, request: { appRequiresMfa: boolean; acrValues: string | undefined }): Promise<AfterPassword> {
    const context = await this.#context(principal, request);
    return afterPassword({ ...context, hasFactor: context.policy !== 'off' && (await this.hasSecondFactor(principal.user.id)) });
  }

  async #context(principal: Principal, request: { appRequiresMfa: boolean; acrValues: string | undefined }) {
    const policy = this.#d.policy();
    const requiring = policy === 'required' ? [] : await this.#d.factors.rolesRequiringMfa();
    return {
      policy,
      roleRequires: principal.roles.some((r) => requiring.includes(r)),
      appRequires: request.appRequiresMfa,
      acrAsks: acrValuesAskMfa(request.acrValues),
    };
  }

  async hasSecondFactor(userId: string): Promise<boolean> {
    if ((await this.#d.factors.listTotp(userId)).some((f) => f.confirmedAt !== null)) return true;
    for (const kind of this.#kinds) if ((await kind.list(userId)).length) return true;
    return false;
  }

  // ── The second step of a sign-in ──────────────────────────────────────────────────────

  /** Starts the second step after a right password; the value goes in an HttpOnly cookie. */
  async beginSecondStep(input: { userId: string; amr: string[]; browserValue: string; returnTo: string | undefined; enrol: boolean }): Promise<string> {
    const now = epochSeconds(this.#d.clock);
    const cookieValue = randomToken();
    await this.#d.steps.insert({
      idHash: sha256(cookieValue),
      userId: input.userId,
      amr: input.amr,
      browserHash: sha256(input.browserValue),
      returnTo: input.returnTo ?? null,
      enrol: input.enrol,
      createdAt: now,
      expiresAt: now + SECOND_STEP_TTL,
      consumedAt: null,
    });
    return cookieValue;
  }

  /** The pending step this browser holds, if it is still good (unused, unexpired, same browser). */
  async pendingStep(cookieValue: string | undefined, browserValue: string | undefined): Promise<PendingSecondStep | undefined> {
    if (!cookieValue || cookieValue.length > 100 || !browserValue) return undefined;
    const step = await this.#d.steps.find(sha256(cookieValue));
    if (!step || step.consumedAt !== null || step.expiresAt <= epochSeconds(this.#d.clock)) return undefined;
    if (step.browserHash !== sha256(browserValue)) return undefined;
    return step;
  }

  /** Ends the pending step (single use): false when another request finished it first. */
  finishSecondStep(step: PendingSecondStep): Promise<boolean> {
    return this.#d.steps.consume(step.idHash, epochSeconds(this.#d.clock));
  }

  /**
   * A code typed at the second step: the current TOTP code, or one of the recovery codes.
   * Counted before it is checked, on the same kind of counters as passwords (per device, or
   * per account+IP, account and IP), so guessing codes is slowed exactly as guessing passwords.
   */
  async verifyCode(user: User, rawCode: string, meta: { ip: string | null; deviceCookie?: string | undefined }): Promise<CodeResult> {
    const now = epochSeconds(this.#d.clock);
    const device = this.#d.devices.deviceOf(meta.deviceCookie, user.id, now);
    const counters = countersFor('totp', { account: usernameKey(user.username), ip: meta.ip, device: device && { userId: user.id, deviceId: device.deviceId } });
    const reserved = await reserveGuess(this.#d.throttle, counters, now);
    if ('retryAfter' in reserved) return { ok: false, reason: 'throttled', retryAfter: reserved.retryAfter };

    const code = rawCode.replace(/[\s-]/g, '').toLowerCase().slice(0, 64);
    const result = await this.#check(user, code, now);
    const actor = visitor(user.username, meta.ip);
    if (result.ok) {
      await settleRightGuess(this.#d.throttle, reserved.counted, now);
      if (result.method === 'recovery_code') {
        await this.#d.audit.record({ action: 'user.recovery_code_use', targetId: user.id, details: { remaining: result.remaining } }, actor);
      }
      return result;
    }
    this.#d.log.info({ userId: user.id, ip: meta.ip }, 'second factor refused');
    await this.#d.audit.record({ action: 'user.second_factor_failed', targetId: user.id, details: { reason: 'invalid_code' } }, actor);
    for (const [counter, state] of reserved.counted) {
      const wait = state.blockedUntil - now;
      if (wait <= 0) continue;
      this.#d.log.warn({ userId: user.id, ip: meta.ip, counter: counter.kind, failures: state.failures, waitSeconds: wait }, 'second factor throttled');
      await this.#d.audit.record(
        { action: 'user.second_factor_throttled', targetId: user.id, details: { counter: counter.kind, failures: state.failures, wait_seconds: wait } },
        actor,
      );
    }
    return result;
  }

  async #check(user: User, code: string, now: number): Promise<CodeResult> {
    if (/^\d{6}$/.test(code)) {
      for (const factor of await this.#confirmedTotp(user.id)) {
        const secret = this.#open(factor);
        if (secret === undefined) continue;
        const step = matchTotp(secret, code, now, factor.lastUsedStep);
        // useStep is atomic: a code raced by a second request is accepted once.
        if (step !== undefined && (await this.#d.factors.useStep(factor.id, step, now))) return { ok: true, method: 'totp' };
      }
      return { ok: false, reason: 'invalid_code' };
    }
    if (/^[a-z0-9]{10}$/.test(code) && (await this.#d.factors.useRecoveryCode(user.id, sha256(code), now))) {
      return { ok: true, method: 'recovery_code', remaining: await this.#d.factors.remainingRecoveryCodes(user.id) };
    }
    return { ok: false, reason: 'invalid_code' };
  }

  /**
   * The factor's secret, or undefined when the key-encryption key in use cannot open it (it
   * was replaced, e.g. by `tessera keys recover`): that factor then matches no code, and the
   * user signs in with a recovery code (hashed, not encrypted) or an admin resets the factors.
   */
  #open(factor: TotpFactor): string | undefined {
    try {
      return this.#d.secrets.decrypt(factor.sealedSecret);
    } catch (error) {
      if (!(error instanceof KeyEncryptionError)) throw error;
      this.#d.log.error({ userId: factor.userId, factorId: factor.id }, 'a TOTP secret cannot be decrypted with the current key-encryption key; the factor is unusable until it is reset');
      return undefined;
    }
  }

  async #confirmedTotp(userId: string): Promise<TotpFactor[]> {
    return (await this.#d.factors.listTotp(userId)).filter((f) => f.confirmedAt !== null);
  }

  // ── Enrolment and the user's own changes ─────────────────────────────────────────────

  /**
   * The TOTP secret being enrolled (the same one until it is confirmed or grows old, so a
   * reload of the page shows the QR code already scanned). Refused while one is active.
   */
  async totpEnrolment(user: User): Promise<{ secret: string; uri: string }> {
    this.#requireEnabled();
    const now = epochSeconds(this.#d.clock);
    const existing = await this.#d.factors.listTotp(user.id);
    if (existing.some((f) => f.confirmedAt !== null)) throw conflict('an authenticator app is already set up; remove it first');
    const pending = existing.find((f) => f.createdAt > now - ENROLMENT_TTL);
    let secret = pending && this.#open(pending);
    if (secret === undefined) {
      secret = newTotpSecret();
      await this.#d.factors.insertUnconfirmedTotp({
        id: randomUUID(),
        userId: user.id,
        name: TOTP_NAME,
        sealedSecret: this.#d.secrets.encrypt(secret),
        lastUsedStep: null,
        createdAt: now,
        confirmedAt: null,
        lastUsedAt: null,
      });
    }
    return { secret, uri: otpauthUri(secret, this.#d.issuerLabel(), user.username) };
  }

  /**
   * The first code from the app makes the factor active. Recovery codes are made when the user
   * has none left, and returned to be shown once.
   */
  async confirmTotp(user: User, rawCode: string, actor: Actor): Promise<{ ok: true; recoveryCodes: string[] | undefined } | { ok: false }> {
    this.#requireEnabled();
    const now = epochSeconds(this.#d.clock);
    const code = rawCode.replace(/\s/g, '');
    const pending = (await this.#d.factors.listTotp(user.id)).find((f) => f.confirmedAt === null && f.createdAt > now - ENROLMENT_TTL);
    const secret = pending && this.#open(pending);
    if (!pending || secret === undefined) return { ok: false };
    const step = matchTotp(secret, code, now, null);
    if (step === undefined || !(await this.#d.factors.useStep(pending.id, step, now))) return { ok: false };
    await this.#d.audit.record({ action: 'user.factor_add', targetId: user.id, details: { type: 'totp', name: pending.name } }, actor);
    const recoveryCodes = (await this.#d.factors.remainingRecoveryCodes(user.id)) === 0 ? await this.#newRecoveryCodes(user.id, now) : undefined;
    if (recoveryCodes) await this.#d.audit.record({ action: 'user.recovery_codes_regenerate', targetId: user.id, details: { count: recoveryCodes.length, with_factor: true } }, actor);
    return { ok: true, recoveryCodes };
  }

  /** New recovery codes replace every old one; shown once. */
  async regenerateRecoveryCodes(userId: string, actor: Actor): Promise<string[]> {
    this.#requireEnabled();
    if (!(await this.hasSecondFactor(userId))) throw validationError('set up a second factor first: recovery codes stand in for it', undefined, { key: 'validation.mfa.noSecondFactor' });
    const codes = await this.#newRecoveryCodes(userId, epochSeconds(this.#d.clock));
    await this.#d.audit.record({ action: 'user.recovery_codes_regenerate', targetId: userId, details: { count: codes.length } }, actor);
    return codes;
  }

  async #newRecoveryCodes(userId: string, now: number): Promise<string[]> {
    const codes = Array.from({ length: RECOVERY_CODE_COUNT }, () => newRecoveryCode());
    await this.#d.factors.replaceRecoveryCodes(userId, codes.map((c) => sha256(normaliseRecoveryCode(c))), now);
    return codes;
  }

  /** The user removes their authenticator app. The recovery codes go with the last factor. */
  async removeTotp(userId: string, factorId: string, actor: Actor): Promise<void> {
    const factor = (await this.#d.factors.listTotp(userId)).find((f) => f.id === factorId && f.confirmedAt !== null);
    if (!factor || !(await this.#d.factors.deleteTotp(userId, factorId))) throw notFound('factor', factorId.slice(0, 64));
    await this.#d.audit.record({ action: 'user.factor_remove', targetId: userId, details: { type: 'totp', name: factor.name } }, actor);
    if (!(await this.hasSecondFactor(userId))) await this.#d.factors.deleteRecoveryCodes(userId);
  }

  // ── Admin ─────────────────────────────────────────────────────────────────────────────

  /** Every active factor of the user, and how many unused recovery codes remain. */
  async factorsOf(userId: string): Promise<{ factors: FactorView[]; recoveryCodesRemaining: number }> {
    const totp: FactorView[] = (await this.#confirmedTotp(userId)).map((f) => ({ id: f.id, type: 'totp', name: f.name, createdAt: f.confirmedAt ?? f.createdAt, lastUsedAt: f.lastUsedAt }));
    const others: FactorView[] = [];
    for (const kind of this.#kinds) others.push(...(await kind.list(userId)));
    return { factors: [...totp, ...others], recoveryCodesRemaining: await this.#d.factors.remainingRecoveryCodes(userId) };
  }

  /** The admin view of a user's factors (by id or username). */
  async factorsView(ref: string): Promise<UserFactorsView> {
    const user = await this.#d.findUser(ref);
    const { factors, recoveryCodesRemaining } = await this.factorsOf(user.id);
    return {
      user_id: user.id,
      username: user.username,
      factors: factors.map((f) => ({ id: f.id, type: f.type, name: f.name, created_at: iso(f.createdAt), last_used_at: f.lastUsedAt === null ? null : iso(f.lastUsedAt) })),
      recovery_codes_remaining: recoveryCodesRemaining,
    };
  }

  /** An admin's reset of a user named by id or username; what was removed. */
  async resetFactorsOf(ref: string, actor: Actor): Promise<{ user_id: string; username: string; removed: string[] }> {
    const user = await this.#d.findUser(ref);
    const { types } = await this.resetFactors(user.id, actor);
    return { user_id: user.id, username: user.username, removed: types };
  }

  /** An admin's reset: every factor and recovery code of the user goes; the next sign-in is by password (then enrolment, if required). */
  async resetFactors(userId: string, actor: Actor): Promise<{ types: string[] }> {
    const types: string[] = [];
    if ((await this.#d.factors.deleteAllTotp(userId)) > 0) types.push('totp');
    for (const kind of this.#kinds) if ((await kind.removeAll(userId)) > 0) types.push(kind.type);
    if ((await this.#d.factors.deleteRecoveryCodes(userId)) > 0) types.push('recovery_codes');
    await this.#d.audit.record({ action: 'user.factors_reset', targetId: userId, details: { types } }, actor);
    return { types };
  }

  #requireEnabled(): void {
    if (this.#d.policy() === 'off') throw validationError('second factors are turned off (mfa_policy is "off")', undefined, { key: 'validation.mfa.off' });
  }
}

/** Ten characters of base32 (RFC 4648, lowercased: 50 bits), shown as xxxxx-xxxxx. */
function newRecoveryCode(): string {
  const alphabet = 'abcdefghijklmnopqrstuvwxyz234567';
  const chars = [...randomBytes(10)].map((b) => alphabet[b & 31]).join('');
  return `${chars.slice(0, 5)}-${chars.slice(5)}`;
}

export function normaliseRecoveryCode(code: string): string {
  return code.replace(/[\s-]/g, '').toLowerCase();
}
