import { visitor } from '../audit/actor.ts';
import type { AuditLog } from '../audit/audit-log.ts';
import type { Client } from '../clients/client.ts';
import { decideGrant } from '../clients/grant-policy.ts';
import type { ConsentStore } from '../identity/consent-store.ts';
import { reserveGuess, settleRightGuess } from '../identity/guess-gate.ts';
import type { GuessThrottleStore } from '../identity/guess-throttle-store.ts';
import type { BackoffPolicy, Counter } from '../identity/guess-throttle.ts';
import type { MfaNeed } from '../identity/mfa/mfa-policy.ts';
import type { SignedIn } from '../identity/session-service.ts';
import type { Principal } from '../identity/user.ts';
import type { DeviceAuthorization, DeviceAuthorizationStore } from './device-store.ts';
import { formatUserCode, normalizeUserCode, userCodeHash } from './user-codes.ts';

/**
 * User codes typed at /device (RFC 8628 §5.1, "brute forcing the user code"): each lookup is a
 * guess, counted per IP address before the code is checked; a right one gives the attempt back.
 * 10 free wrong codes, then waits doubling from 2 s up to 15 minutes.
 */
export const USER_CODE_POLICY: BackoffPolicy = { free: 10, baseDelay: 2, maxDelay: 15 * 60, forgetAfter: 86_400 };

export type UserCodeLookup =
  /** Not a code, unknown, expired, or already answered: one answer for all, so nothing is learnt. */
  | { kind: 'invalid' }
  | { kind: 'throttled'; retryAfter: number }
  | { kind: 'found'; auth: DeviceAuthorization; client: Client; userCode: string };

export type DeviceDecision =
  | { kind: 'approved' | 'denied' }
  /** The code is no longer pending (answered in another tab, or expired). */
  | { kind: 'invalid' }
  | { kind: 'throttled'; retryAfter: number }
  /** The access policy refuses this user for this app: the device is told access_denied. */
  | { kind: 'not_allowed' };

export interface DeviceVerificationDeps {
  devices: DeviceAuthorizationStore;
  throttle: GuessThrottleStore;
  lookupClient: (id: string) => Client | undefined | Promise<Client | undefined>;
  consents: ConsentStore;
  audit: AuditLog;
  mfaNeed: (principal: Principal, request: { appRequiresMfa: boolean; acrValues: string | undefined }) => Promise<MfaNeed>;
}

/** The /device page's decisions, free of HTTP: look a user code up (throttled), approve or deny it. */
export class DeviceVerification {
  readonly #d: DeviceVerificationDeps;
  constructor(deps: DeviceVerificationDeps) {
    this.#d = deps;
  }

  async lookUp(typed: string, ip: string | null, now: number): Promise<UserCodeLookup> {
    const counters: Counter[] = [{ key: `user_code:ip:${ip ?? '-'}`, kind: 'ip', account: null, policy: USER_CODE_POLICY }];
    const reservation = await reserveGuess(this.#d.throttle, counters, now);
    if ('retryAfter' in reservation) return { kind: 'throttled', retryAfter: reservation.retryAfter };
    const normalized = normalizeUserCode(typed);
    const auth = normalized === undefined ? undefined : await this.#d.devices.findByUserCode(userCodeHash(normalized));
    const client = auth && auth.status === 'pending' && auth.expiresAt > now ? await this.#d.lookupClient(auth.clientId) : undefined;
    if (!auth || !client) return { kind: 'invalid' };
    await settleRightGuess(this.#d.throttle, reservation.counted, now);
    return { kind: 'found', auth, client, userCode: formatUserCode(normalized!) };
  }

  /**
   * The app of a pending code, unthrottled: only for the sign-in steps, to ask for the second
   * factor the app requires. Reached only after a right password (the sign-in throttle bounds it),
   * and it says no more than the /device page says after that.
   */
  async appOf(typed: string, now: number): Promise<Client | undefined> {
    const normalized = normalizeUserCode(typed);
    const auth = normalized === undefined ? undefined : await this.#d.devices.findByUserCode(userCodeHash(normalized));
    return auth && auth.status === 'pending' && auth.expiresAt > now ? this.#d.lookupClient(auth.clientId) : undefined;
  }

  /** Whether this session must first pass a second factor for the app (as /connect/authorize asks). */
  async mfaNeeded(client: Client, signedIn: SignedIn): Promise<MfaNeed> {
    if (signedIn.session.amr.includes('mfa')) return 'no';
    return this.#d.mfaNeed(signedIn.principal, { appRequiresMfa: client.requireMfa === true, acrValues: undefined });
  }

  /** Whether the access policy admits this user to the app with these scopes. */
  allowed(client: Client, signedIn: SignedIn, auth: DeviceAuthorization): boolean {
    return decideGrant(client, signedIn.principal, auth.scope.split(' ').filter(Boolean)).allowed;
  }

  async decide(typed: string, signedIn: SignedIn, approve: boolean, ip: string | null, now: number): Promise<DeviceDecision> {
    const found = await this.lookUp(typed, ip, now);
    if (found.kind !== 'found') return found;
    const { auth, client } = found;
    const userId = signedIn.principal.user.id;
    if (approve && !this.allowed(client, signedIn, auth)) {
      await this.#d.devices.decide(auth.userCodeHash, { approve: false, userId }, now);
      return { kind: 'not_allowed' };
    }
    const changed = approve
      ? await this.#d.devices.decide(auth.userCodeHash, { approve: true, userId, sessionId: signedIn.session.sid, authTime: signedIn.session.authTime, amr: signedIn.session.amr }, now)
      : await this.#d.devices.decide(auth.userCodeHash, { approve: false, userId }, now);
    if (!changed) return { kind: 'invalid' };
    const scopes = auth.scope.split(' ').filter(Boolean);
    if (approve) await this.#d.consents.grant(userId, client.id, scopes, now);
    await this.#d.audit.record({ action: approve ? 'consent.grant' : 'consent.deny', targetId: userId, details: { client_id: client.id, scopes } }, visitor(signedIn.principal.user.username, ip));
    return { kind: approve ? 'approved' : 'denied' };
  }
}
