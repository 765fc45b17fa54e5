import type {
  AuthenticationResponseJSON,
  PublicKeyCredentialCreationOptionsJSON,
  PublicKeyCredentialRequestOptionsJSON,
  RegistrationResponseJSON,
} from '@simplewebauthn/server';
import type { Actor } from '../audit/actor.ts';
import type { AuditLog } from '../audit/audit-log.ts';
import { epochSeconds, type Clock } from '../clock.ts';
import { validationError } from '../errors.ts';
import { sha256 } from '../lib/crypto.ts';
import { passkeyAmr } from './passkey-amr.ts';
import type { CeremonyPurpose, Passkey, PasskeyStore } from './passkey-store.ts';

/** How long a ceremony's challenge may be answered, seconds (the browser's own timeout is the same). */
export const CHALLENGE_TTL = 300;
/**
 * Adding or removing a passkey needs a sign-in at most this long ago, seconds: whoever holds a
 * stolen session cookie cannot plant a passkey of their own nor remove the owner's.
 */
export const RECENT_SIGN_IN_SECONDS = 600;
/** A passkey's name, characters. */
export const PASSKEY_NAME_MAX = 100;
/** Passkeys one user may hold (each is a row and an entry in every allowCredentials list). */
export const PASSKEYS_PER_USER_MAX = 20;

/**
 * COSE algorithms accepted for new passkeys: ES256, EdDSA, RS256 (what authenticators ship).
 * Not the post-quantum ML-DSA ones the library also offers: Node's support for them is still
 * experimental, and a Node upgrade must not strand a user's passkey.
 */
const ALGORITHMS = [-7, -8, -257];

/**
 * @simplewebauthn/server and its ASN.1 libraries are ~300 modules: loaded at the first
 * ceremony, not by every process that opens Tessera (each CLI command does).
 */
let webauthnModule: Promise<typeof import('@simplewebauthn/server')> | undefined;
function webauthn(): Promise<typeof import('@simplewebauthn/server')> {
  return (webauthnModule ??= import('@simplewebauthn/server'));
}

/** Why a ceremony was refused; the pages show one message for all of them (no oracle). */
export type PasskeyRefusal =
  | 'no_challenge' // none for this browser, already used, or expired
  | 'malformed' // not a WebAuthn response at all
  | 'unknown_credential' // no such passkey (or not this user's)
  | 'not_verified'; // signature, origin, rpID, challenge, counter or user verification failed

export class PasskeyRefused extends Error {
  readonly reason: PasskeyRefusal;
  constructor(reason: PasskeyRefusal, detail: string) {
    super(detail);
    this.name = 'PasskeyRefused';
    this.reason = reason;
  }
}

export interface PasskeyServiceDeps {
  store: PasskeyStore;
  clock: Clock;
  audit: AuditLog;
  /** Tessera's issuer, read per use: the public origin and the rpID come from it. */
  issuer: () => string;
}

/** A verified assertion: whose passkey it was, and the RFC 8176 methods it proves. */
export interface PasskeyAssertion {
  userId: string;
  passkey: Passkey;
  userVerified: boolean;
  amr: string[];
}

/**
 * WebAuthn passkeys (issue #14): registration and authentication ceremonies with
 * @simplewebauthn/server, and the user's own management of them. The relying party is the
 * issuer: its origin is the only origin accepted and its host the rpID, so behind a TLS proxy
 * (issuer https://id.example.com) an assertion made for any other origin or rpID is refused.
 * Every challenge is bound to the browser that asked for it (the hash of its ceremony cookie)
 * and is taken from the store when answered, so it is used at most once.
 */
export class PasskeyService {
  readonly #d: PasskeyServiceDeps;
  constructor(deps: PasskeyServiceDeps) {
    this.#d = deps;
  }

  /** The relying party as the issuer defines it. */
  relyingParty(): { rpID: string; origin: string } {
    const url = new URL(this.#d.issuer());
    return { rpID: url.hostname, origin: url.origin };
  }

  list(userId: string): Promise<Passkey[]> {
    return this.#d.store.listForUser(userId);
  }

  /** Options for navigator.credentials.create(): a discoverable credential, user verification preferred. */
  async startRegistration(user: { id: string; username: string; name: string | null }, browserHandle: string): Promise<PublicKeyCredentialCreationOptionsJSON> {
    const existing = await this.#d.store.listForUser(user.id);
    if (existing.length >= PASSKEYS_PER_USER_MAX) throw validationError(`an account holds at most ${PASSKEYS_PER_USER_MAX} passkeys; remove one first`, undefined, { key: 'validation.passkey.tooMany', values: { max: PASSKEYS_PER_USER_MAX } });
    const options = await this.#registrationOptions(user, existing);
    await this.#putChallenge(browserHandle, options.challenge, 'register', user.id);
    return options;
  }

  /** Verifies the browser's answer to startRegistration and stores the new passkey. */
  async finishRegistration(userId: string, browserHandle: string, body: unknown, name: string, actor: Actor): Promise<Passkey> {
    const cleanName = checkName(name);
    const challenge = await this.#takeChallenge(browserHandle, 'register', userId);
    const { passkey } = await this.#verifyRegistration(challenge, body, userId, cleanName);
    await this.addVerified(passkey, actor);
    return passkey;
  }

  /**
   * Options for the first passkey of an account that does not exist yet (an invitation
   * accepted with a passkey instead of a password): `user.id` is the id the account will be
   * created with, so the credential's user handle names it (passwordless sign-in checks that).
   * The challenge remembers the id; nothing else is stored until the answer verifies.
   */
  async startNewAccountRegistration(user: { id: string; username: string }, browserHandle: string): Promise<PublicKeyCredentialCreationOptionsJSON> {
    const options = await this.#registrationOptions({ ...user, name: null }, []);
    await this.#putChallenge(browserHandle, options.challenge, 'register_new_account', user.id);
    return options;
  }

  /**
   * Verifies the answer to startNewAccountRegistration. The passkey is returned, not stored:
   * its account is created next (`passkey.userId`, the id the options named), then
   * `addVerified` stores it.
   */
  async verifyNewAccountRegistration(browserHandle: string, body: unknown, name: string): Promise<{ passkey: Passkey; amr: string[] }> {
    const cleanName = checkName(name);
    const taken = await this.#d.store.takeChallenge(sha256(browserHandle));
    if (!taken || taken.expiresAt <= epochSeconds(this.#d.clock) || taken.purpose !== 'register_new_account' || taken.userId === null) {
      throw new PasskeyRefused('no_challenge', 'no ceremony in progress for this browser (or it expired)');
    }
    return this.#verifyRegistration(taken.challenge, body, taken.userId, cleanName);
  }

  /** Stores a verified passkey of an existing user; audited `user.factor_add`. */
  async addVerified(passkey: Passkey, actor: Actor): Promise<void> {
    try {
      await this.#d.store.insert(passkey);
    } catch (error) {
      // The same credential stored between the check in #verifyRegistration and this insert
      // (the primary key refused it): a refusal, not a server error. Anything else is a real failure.
      if (await this.#d.store.find(passkey.id)) throw new PasskeyRefused('not_verified', 'this credential is already registered');
      throw error;
    }
    await this.#d.audit.record({ action: 'user.factor_add', targetId: passkey.userId, details: { type: 'passkey', name: passkey.name } }, actor);
  }

  async #registrationOptions(user: { id: string; username: string; name: string | null }, existing: Passkey[]): Promise<PublicKeyCredentialCreationOptionsJSON> {
    const { rpID } = this.relyingParty();
    return (await webauthn()).generateRegistrationOptions({
      rpName: 'Tessera',
      rpID,
      userName: user.username,
      userDisplayName: user.name ?? user.username,
      // The user handle: the user's id, so a discoverable credential names its user (checked at sign-in).
      userID: new TextEncoder().encode(user.id),
      timeout: CHALLENGE_TTL * 1000,
      attestationType: 'none',
      supportedAlgorithmIDs: ALGORITHMS,
      // The same authenticator twice would be one factor listed twice.
      excludeCredentials: existing.map((p) => ({ id: p.id, transports: p.transports })),
      // Resident key required: the passkey must work for passwordless sign-in (no username typed).
      authenticatorSelection: { residentKey: 'required', requireResidentKey: true, userVerification: 'preferred' },
    });
  }

  /** The attestation checked against the challenge, origin and rpID; the passkey it makes (not stored) and what it proves. */
  async #verifyRegistration(challenge: string, body: unknown, userId: string, cleanName: string): Promise<{ passkey: Passkey; amr: string[] }> {
    const response = asRegistrationResponse(body);
    const { rpID, origin } = this.relyingParty();
    let verified;
    try {
      verified = await (await webauthn()).verifyRegistrationResponse({ response, expectedChallenge: challenge, expectedOrigin: origin, expectedRPID: rpID, requireUserVerification: false, supportedAlgorithmIDs: ALGORITHMS });
    } catch (error) {
      throw new PasskeyRefused('not_verified', (error as Error).message);
    }
    if (!verified.verified) throw new PasskeyRefused('not_verified', 'the registration did not verify');
    const info = verified.registrationInfo;
    if (await this.#d.store.find(info.credential.id)) throw new PasskeyRefused('not_verified', 'this credential is already registered');
    const passkey: Passkey = {
      id: info.credential.id,
      userId,
      publicKey: Buffer.from(info.credential.publicKey).toString('base64url'),
      counter: info.credential.counter,
      transports: (info.credential.transports ?? []).filter((t) => typeof t === 'string').slice(0, 10),
      deviceType: info.credentialDeviceType,
      backedUp: info.credentialBackedUp,
      name: cleanName,
      createdAt: epochSeconds(this.#d.clock),
      lastUsedAt: null,
    };
    return { passkey, amr: passkeyAmr({ deviceType: info.credentialDeviceType, backedUp: info.credentialBackedUp, userVerified: info.userVerified }) };
  }

  /**
   * Options for navigator.credentials.get(). Passwordless: no allowCredentials (the
   * authenticator offers its discoverable credentials) and user verification required, since
   * the passkey is the whole sign-in. Second factor: the user's own passkeys, verification
   * preferred (the password was the first factor).
   */
  async startAuthentication(browserHandle: string, purpose: 'passwordless' | 'second_factor', userId?: string): Promise<PublicKeyCredentialRequestOptionsJSON> {
    const { rpID } = this.relyingParty();
    const allow = purpose === 'second_factor' && userId ? (await this.#d.store.listForUser(userId)).map((p) => ({ id: p.id, transports: p.transports })) : [];
    const options = await (await webauthn()).generateAuthenticationOptions({
      rpID,
      allowCredentials: allow,
      timeout: CHALLENGE_TTL * 1000,
      userVerification: purpose === 'passwordless' ? 'required' : 'preferred',
    });
    await this.#putChallenge(browserHandle, options.challenge, purpose, userId ?? null);
    return options;
  }

  /** Verifies an assertion; for a second factor, it must be a passkey of `userId`. */
  async finishAuthentication(browserHandle: string, body: unknown, purpose: 'passwordless' | 'second_factor', userId?: string): Promise<PasskeyAssertion> {
    const challenge = await this.#takeChallenge(browserHandle, purpose, userId ?? null);
    const response = asAuthenticationResponse(body);
    const passkey = await this.#d.store.find(response.id);
    if (!passkey || (userId !== undefined && passkey.userId !== userId)) throw new PasskeyRefused('unknown_credential', 'no such passkey');
    // The user handle, when the authenticator returns one, must name the passkey's owner.
    const handle = response.response.userHandle;
    if (handle !== undefined && handle !== Buffer.from(passkey.userId, 'utf8').toString('base64url')) throw new PasskeyRefused('unknown_credential', 'the user handle does not match');
    const { rpID, origin } = this.relyingParty();
    let result;
    try {
      result = await (await webauthn()).verifyAuthenticationResponse({
        response,
        expectedChallenge: challenge,
        expectedOrigin: origin,
        expectedRPID: rpID,
        credential: { id: passkey.id, publicKey: new Uint8Array(Buffer.from(passkey.publicKey, 'base64url')), counter: passkey.counter, transports: passkey.transports },
        requireUserVerification: purpose === 'passwordless',
      });
    } catch (error) {
      // Includes a counter that did not grow (a cloned authenticator, WebAuthn §6.1.1).
      throw new PasskeyRefused('not_verified', (error as Error).message);
    }
    if (!result.verified) throw new PasskeyRefused('not_verified', 'the assertion did not verify');
    const info = result.authenticationInfo;
    const now = epochSeconds(this.#d.clock);
    if (!(await this.#d.store.recordUse(passkey.id, passkey.counter, info.newCounter, now))) {
      throw new PasskeyRefused('not_verified', 'the passkey was used by another sign-in at the same time');
    }
    const used = { ...passkey, counter: info.newCounter, backedUp: info.credentialBackedUp, lastUsedAt: now };
    return {
      userId: passkey.userId,
      passkey: used,
      userVerified: info.userVerified,
      amr: passkeyAmr({ deviceType: info.credentialDeviceType, backedUp: info.credentialBackedUp, userVerified: info.userVerified }),
    };
  }

  async rename(userId: string, id: string, name: string, actor: Actor): Promise<void> {
    const cleanName = checkName(name);
    const before = (await this.#d.store.listForUser(userId)).find((p) => p.id === id);
    if (!before || !(await this.#d.store.rename(userId, id, cleanName))) throw validationError('no such passkey', 'id', { key: 'validation.passkey.notFound' });
    await this.#d.audit.record({ action: 'user.passkey_rename', targetId: userId, details: { name: cleanName, previous_name: before.name } }, actor);
  }

  async remove(userId: string, id: string, actor: Actor): Promise<void> {
    const removed = await this.#d.store.delete(userId, id);
    if (!removed) throw validationError('no such passkey', 'id', { key: 'validation.passkey.notFound' });
    await this.#d.audit.record({ action: 'user.factor_remove', targetId: userId, details: { type: 'passkey', name: removed.name } }, actor);
  }

  /** Removes every passkey of a user (an admin's factor reset, which records its own audit entry); how many. */
  removeAll(userId: string): Promise<number> {
    return this.#d.store.deleteAllForUser(userId);
  }

  async #putChallenge(browserHandle: string, challenge: string, purpose: CeremonyPurpose, userId: string | null): Promise<void> {
    const expiresAt = epochSeconds(this.#d.clock) + CHALLENGE_TTL;
    await this.#d.store.putChallenge({ idHash: sha256(browserHandle), challenge, purpose, userId, expiresAt });
  }

  /** The browser's challenge for this ceremony, taken (so never answered twice). */
  async #takeChallenge(browserHandle: string, purpose: CeremonyPurpose, userId: string | null): Promise<string> {
    const taken = await this.#d.store.takeChallenge(sha256(browserHandle));
    const now = epochSeconds(this.#d.clock);
    if (!taken || taken.expiresAt <= now || taken.purpose !== purpose || taken.userId !== userId) {
      throw new PasskeyRefused('no_challenge', 'no ceremony in progress for this browser (or it expired)');
    }
    return taken.challenge;
  }
}

function checkName(name: string): string {
  const clean = name.replace(/[\u0000-\u001f\u007f]/g, '').trim();
  if (!clean) throw validationError('give the passkey a name', 'name', { key: 'validation.passkey.nameEmpty' });
  if (clean.length > PASSKEY_NAME_MAX) throw validationError(`a passkey's name is at most ${PASSKEY_NAME_MAX} characters`, 'name', { key: 'validation.passkey.nameTooLong', values: { max: PASSKEY_NAME_MAX } });
  return clean;
}

const B64URL = /^[A-Za-z0-9_-]+={0,2}$/;
const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
const isB64 = (v: unknown, max: number): v is string => typeof v === 'string' && v.length > 0 && v.length <= max && B64URL.test(v);

/** The shape @simplewebauthn expects, checked before it is handed anything (a bad body is a refusal, never a 500). */
function asRegistrationResponse(body: unknown): RegistrationResponseJSON {
  if (!isObject(body) || !isB64(body.id, 1400) || body.rawId !== body.id || body.type !== 'public-key' || !isObject(body.response)) {
    throw new PasskeyRefused('malformed', 'not a WebAuthn registration response');
  }
  const r = body.response;
  if (!isB64(r.clientDataJSON, 10_000) || !isB64(r.attestationObject, 100_000)) throw new PasskeyRefused('malformed', 'not a WebAuthn registration response');
  const transports = Array.isArray(r.transports) ? r.transports.filter((t): t is string => typeof t === 'string' && t.length <= 20) : undefined;
  return {
    id: body.id,
    rawId: body.id,
    type: 'public-key',
    response: { clientDataJSON: r.clientDataJSON, attestationObject: r.attestationObject, ...(transports ? { transports: transports as never } : {}) },
    clientExtensionResults: {},
    ...(body.authenticatorAttachment === 'platform' || body.authenticatorAttachment === 'cross-platform' ? { authenticatorAttachment: body.authenticatorAttachment } : {}),
  };
}

function asAuthenticationResponse(body: unknown): AuthenticationResponseJSON {
  if (!isObject(body) || !isB64(body.id, 1400) || body.rawId !== body.id || body.type !== 'public-key' || !isObject(body.response)) {
    throw new PasskeyRefused('malformed', 'not a WebAuthn authentication response');
  }
  const r = body.response;
  if (!isB64(r.clientDataJSON, 10_000) || !isB64(r.authenticatorData, 10_000) || !isB64(r.signature, 20_000)) {
    throw new PasskeyRefused('malformed', 'not a WebAuthn authentication response');
  }
  if (r.userHandle !== undefined && r.userHandle !== null && !isB64(r.userHandle, 200)) throw new PasskeyRefused('malformed', 'not a WebAuthn authentication response');
  return {
    id: body.id,
    rawId: body.id,
    type: 'public-key',
    response: {
      clientDataJSON: r.clientDataJSON,
      authenticatorData: r.authenticatorData,
      signature: r.signature,
      ...(typeof r.userHandle === 'string' ? { userHandle: r.userHandle } : {}),
    },
    clientExtensionResults: {},
  };
}
