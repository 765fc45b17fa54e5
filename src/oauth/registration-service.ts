import { randomUUID } from 'node:crypto';
import { actorIp, type Actor } from '../audit/actor.ts';
import type { AuditLog } from '../audit/audit-log.ts';
import type { Clock } from '../clock.ts';
import { epochSeconds } from '../clock.ts';
import { inRange, type Range } from '../config/limits.ts';
import { notFound, ServiceError, validationError } from '../errors.ts';
import { hashesEqual, randomToken, sha256 } from '../lib/crypto.ts';
import { isScopeToken } from '../lib/scope-names.ts';
import { iso } from '../lib/time.ts';
import { isUuid, text } from '../lib/text.ts';
import { OAuthError } from './errors.ts';
import type { BackoffPolicy, Counter } from '../identity/guess-throttle.ts';
import type { GuessThrottleStore } from '../identity/guess-throttle-store.ts';
import type { Client } from '../clients/client.ts';
import type { ClientInput, ClientService } from '../clients/client-service.ts';
import type { ClientStore } from '../clients/client-store.ts';
import type { InitialAccessToken, InitialAccessTokenStore } from '../clients/initial-access-token-store.ts';
import {
  offeredScopes,
  SELF_REGISTRATION_AUTH_METHODS,
  type RegistrationPolicy,
  type SelfRegistrableGrant,
  type SelfRegistrationAuthMethod,
} from '../clients/registration-policy.ts';

/**
 * Dynamic Client Registration (RFC 7591) and its management protocol (RFC 7592), free of
 * HTTP. Off by default; `open` lets anyone register, `token` only a holder of an initial
 * access token an administrator issued. What a self-registered app may ask for is the
 * operator's registration policy (src/clients/registration-policy.ts, docs/registration.md):
 * by default the authorization-code grant only (with refresh tokens), the built-in user
 * scopes and the scopes APIs declare — never `tessera.admin` — and any of the four token
 * endpoint auth methods (a secret two ways, `private_key_jwt` with the app's `jwks` or
 * `jwks_uri`, or none); redirect URIs and a jwks_uri follow the redirect-URI policy. A
 * request beyond the policy is `invalid_client_metadata`. Everything else goes through
 * ClientService, so a self-registered app is validated, stored (secret hashed), audited and
 * deleted like any other; only its registration access token's hash is extra.
 */
export type RegistrationMode = 'off' | 'open' | 'token';

export const TOKEN_AUTH_METHODS = SELF_REGISTRATION_AUTH_METHODS;
type AuthMethod = SelfRegistrationAuthMethod;

/** How long an initial access token may live: one minute to a year; default one day. */
export const INITIAL_TOKEN_TTL: Range = { min: 60, max: 365 * 86400 };
export const INITIAL_TOKEN_MAX_USES: Range = { min: 1, max: 1_000_000 };

export interface RegistrationServiceDeps {
  clients: ClientService;
  clientStore: ClientStore;
  tokens: InitialAccessTokenStore;
  clock: Clock;
  audit: AuditLog;
  mode: () => RegistrationMode;
  /** What a self-registered app may ask for (settings registration_*). */
  policy: () => RegistrationPolicy;
  /** Scopes APIs declare (gateway). */
  declaredScopes: () => Promise<ReadonlyMap<string, string>>;
  /** Counts open-mode registrations per IP address (the sign-in throttle's counters, shared by every node). */
  throttle: GuessThrottleStore;
  /** TESSERA_REGISTRATIONS_PER_IP: registrations an address makes before each further one waits. */
  perIp: () => number;
  /** `{issuer}/connect/register`: registration_client_uri is this plus `/{client_id}`. */
  endpoint: () => string;
}

/**
 * Open mode: per IP address, `perIp` registrations, then each further one waits a minute,
 * doubling to an hour; an address that registered nothing for an hour starts again. (The
 * counter's wait starts after its `free + 1`-th count, so the `perIp`-th sets the first wait.)
 */
export function registrationPolicy(perIp: number): BackoffPolicy {
  return { free: perIp - 1, baseDelay: 60, maxDelay: 3600, forgetAfter: 3600 };
}

/** The RFC 7591 §3.2.1 answer (and RFC 7592 §3 read/update answer). */
export type RegistrationResponse = Record<string, unknown>;

export interface InitialAccessTokenView {
  id: string;
  label: string;
  created_by: string;
  created_at: string;
  expires_at: string;
  max_uses: number | null;
  uses: number;
  revoked_at: string | null;
  /** active, expired, used_up or revoked. */
  state: 'active' | 'expired' | 'used_up' | 'revoked';
}

/** The token endpoint auth method an app is registered with, as RFC 7591 names it. */
function registeredAuthMethod(c: Client): string {
  return c.public ? 'none' : c.tokenEndpointAuthMethod ?? 'client_secret_basic';
}

/** What an app proves itself with; RFC 7592 updates keep it (another kind is another app). */
function credentialKind(method: string): 'none' | 'secret' | 'key' {
  return method === 'none' ? 'none' : method === 'private_key_jwt' ? 'key' : 'secret';
}

/** RFC 6750 §3.1: no credentials at all → a bare challenge; wrong ones → invalid_token. */
function bearerRefusal(description: string, presented: boolean): OAuthError {
  return new OAuthError('invalid_token', description, {
    headers: { 'www-authenticate': presented ? `Bearer error="invalid_token", error_description="${description}"` : 'Bearer' },
  });
}

/** The token of `Authorization: Bearer <token>`, or undefined when there is none. */
export function bearerToken(authorization: string | undefined): string | undefined {
  const match = /^Bearer +([A-Za-z0-9\-._~+/]+=*) *$/i.exec(authorization ?? '');
  return match?.[1];
}

export class RegistrationService {
  readonly #d: RegistrationServiceDeps;
  constructor(deps: RegistrationServiceDeps) {
    this.#d = deps;
  }

  enabled(): boolean {
    return this.#d.mode() !== 'off';
  }

  /**
   * RFC 7591 §3.1: registers an app from its metadata; `authorization` carries the initial
   * access token. In open mode each address may register a few apps before it must wait
   * (429 with Retry-After): counted before the work, so parallel requests cannot all slip
   * through, and given back when the registration is refused.
   */
  async register(body: unknown, authorization: string | undefined, actor: Actor): Promise<RegistrationResponse> {
    const mode = this.#d.mode();
    if (mode === 'off') throw new OAuthError('access_denied', 'client registration is not enabled on this server', { status: 403 });
    const counted = mode === 'open' ? await this.#count(actorIp(actor)) : undefined;
    try {
      return await this.#register(body, authorization, mode, actor);
    } catch (error) {
      if (counted) await this.#d.throttle.refund(counted, epochSeconds(this.#d.clock));
      throw error;
    }
  }

  async #count(ip: string | null): Promise<Counter> {
    const counter: Counter = { key: `registration:ip:${ip ?? '-'}`, kind: 'ip', account: null, policy: registrationPolicy(this.#d.perIp()) };
    const now = epochSeconds(this.#d.clock);
    if (!(await this.#d.throttle.reserve(counter, now))) {
      const waiting = await this.#d.throttle.waiting([counter.key], now);
      const wait = Math.max(1, ...waiting.map((w) => w.blockedUntil - now));
      throw new OAuthError('temporarily_unavailable', `too many registrations from this address; try again in ${wait} seconds`, { status: 429, headers: { 'retry-after': String(wait) } });
    }
    return counter;
  }

  async #register(body: unknown, authorization: string | undefined, mode: RegistrationMode, actor: Actor): Promise<RegistrationResponse> {
    const metadata = await this.#parse(body);
    let spent: string | undefined;
    if (mode === 'token') {
      const token = bearerToken(authorization);
      if (token === undefined) throw bearerRefusal('an initial access token is required to register', authorization !== undefined);
      // The hash is the lookup key (no comparison of secrets in application code); one use is spent atomically.
      spent = sha256(token);
      if (!(await this.#d.tokens.consume(spent, epochSeconds(this.#d.clock)))) {
        throw bearerRefusal('the initial access token is unknown, expired, revoked or used up', true);
      }
    }
    const registrationToken = randomToken();
    let created;
    try {
      created = await this.#guard(() =>
        this.#d.clients.create(metadata.input, actor, { registrationTokenHash: sha256(registrationToken), tokenEndpointAuthMethod: metadata.authMethod }),
      );
    } catch (error) {
      // Refused (say, a redirect URI the policy forbids): the registration did not happen, so neither did the use.
      if (spent !== undefined) await this.#d.tokens.refund(spent);
      throw error;
    }
    const client = (await this.#d.clientStore.findById(created.client_id))!;
    return {
      ...this.#response(client),
      ...(created.client_secret ? { client_secret: created.client_secret, client_secret_expires_at: 0 } : {}),
      registration_access_token: registrationToken,
    };
  }

  /** RFC 7592 §2.1. */
  async read(clientId: string, authorization: string | undefined): Promise<RegistrationResponse> {
    return this.#response(await this.#authorized(clientId, authorization));
  }

  /** RFC 7592 §2.2: the body replaces the app's metadata; validated like a registration. */
  async update(clientId: string, body: unknown, authorization: string | undefined, actor: Actor): Promise<RegistrationResponse> {
    const client = await this.#authorized(clientId, authorization);
    const metadata = await this.#parse(body);
    const b = body as Record<string, unknown>;
    if (b.client_id !== client.id) throw new OAuthError('invalid_client_metadata', 'client_id must be the registered client_id');
    if (b.client_secret !== undefined && (typeof b.client_secret !== 'string' || !client.secretHash || !hashesEqual(sha256(b.client_secret), client.secretHash))) {
      throw new OAuthError('invalid_client_metadata', 'client_secret does not match the registered secret');
    }
    if (credentialKind(metadata.authMethod) !== credentialKind(registeredAuthMethod(client))) {
      throw new OAuthError('invalid_client_metadata', 'token_endpoint_auth_method cannot change between none, a secret and private_key_jwt; register a new app');
    }
    // RFC 7592 §2.2: omitted fields are removed, so every field is given.
    const input: ClientInput = { ...metadata.input, public: undefined };
    await this.#guard(() => this.#d.clients.update(client.id, input, actor, metadata.authMethod));
    return this.#response((await this.#d.clientStore.findById(client.id))!);
  }

  /** RFC 7592 §2.3: removes the app as an administrator's delete does. */
  async delete(clientId: string, authorization: string | undefined, actor: Actor): Promise<void> {
    const client = await this.#authorized(clientId, authorization);
    await this.#d.clients.delete(client.id, actor);
  }

  // — initial access tokens (administrators: CLI, admin API) —

  async issueToken(input: { label?: string; expiresIn?: number; maxUses?: number | null }, actor: Actor): Promise<InitialAccessTokenView & { token: string }> {
    const label = text(input.label ?? 'initial access token', 'label', 1, 100);
    const ttl = input.expiresIn ?? 86400;
    if (!inRange(ttl, INITIAL_TOKEN_TTL)) throw validationError(`expires_in must be a whole number of seconds from ${INITIAL_TOKEN_TTL.min} to ${INITIAL_TOKEN_TTL.max}`, 'expires_in');
    const maxUses = input.maxUses ?? null;
    if (maxUses !== null && !inRange(maxUses, INITIAL_TOKEN_MAX_USES)) throw validationError(`max_uses must be a whole number from ${INITIAL_TOKEN_MAX_USES.min} to ${INITIAL_TOKEN_MAX_USES.max}`, 'max_uses');
    const token = randomToken();
    const now = epochSeconds(this.#d.clock);
    const row = { id: randomUUID(), tokenHash: sha256(token), label, createdBy: actor.label, createdAt: now, expiresAt: now + ttl, maxUses };
    await this.#d.tokens.insert(row);
    const view = this.#tokenView({ ...row, uses: 0, revokedAt: null });
    await this.#d.audit.record({ action: 'registration.token_create', targetId: row.id, details: { label, expires_in: ttl, max_uses: maxUses } }, actor);
    return { ...view, token };
  }

  async listTokens(): Promise<InitialAccessTokenView[]> {
    return (await this.#d.tokens.list()).map((t) => this.#tokenView(t));
  }

  async revokeToken(id: string, actor: Actor): Promise<void> {
    if (!isUuid(id) || !(await this.#d.tokens.revoke(id, epochSeconds(this.#d.clock)))) throw notFound('active initial access token', id.slice(0, 64));
    await this.#d.audit.record({ action: 'registration.token_revoke', targetId: id, details: {} }, actor);
  }

  #tokenView(t: InitialAccessToken): InitialAccessTokenView {
    const now = epochSeconds(this.#d.clock);
    const state = t.revokedAt !== null ? 'revoked' : t.expiresAt <= now ? 'expired' : t.maxUses !== null && t.uses >= t.maxUses ? 'used_up' : 'active';
    return {
      id: t.id,
      label: t.label,
      created_by: t.createdBy,
      created_at: iso(t.createdAt),
      expires_at: iso(t.expiresAt),
      max_uses: t.maxUses,
      uses: t.uses,
      revoked_at: t.revokedAt === null ? null : iso(t.revokedAt),
      state,
    };
  }

  /** The app behind a registration_client_uri, if `authorization` holds its registration access token. */
  async #authorized(clientId: string, authorization: string | undefined): Promise<Client> {
    if (!this.enabled()) throw new OAuthError('access_denied', 'client registration is not enabled on this server', { status: 403 });
    const token = bearerToken(authorization);
    if (token === undefined) throw bearerRefusal('the registration access token is required', authorization !== undefined);
    const client = isUuid(clientId) ? await this.#d.clientStore.findById(clientId) : undefined;
    // RFC 7592 §2: an unknown client and a wrong token look the same (401), so ids cannot be probed.
    const expected = client?.registrationTokenHash ?? sha256('no registration');
    if (!hashesEqual(sha256(token), expected) || !client?.registrationTokenHash) throw bearerRefusal('the registration access token is not valid for this client', true);
    return client;
  }

  #response(c: Client): RegistrationResponse {
    return {
      client_id: c.id,
      client_id_issued_at: c.createdAt,
      client_name: c.name,
      redirect_uris: c.redirectUris,
      ...(c.postLogoutRedirectUris.length ? { post_logout_redirect_uris: c.postLogoutRedirectUris } : {}),
      // RFC 7591 §2: refresh_token is listed with the grants that issue refresh tokens.
      grant_types: [...c.grantTypes, 'refresh_token'],
      response_types: c.grantTypes.includes('authorization_code') ? ['code'] : [],
      token_endpoint_auth_method: registeredAuthMethod(c),
      ...(c.jwks ? { jwks: c.jwks } : {}),
      ...(c.jwksUri ? { jwks_uri: c.jwksUri } : {}),
      scope: c.scopes.join(' '),
      ...(c.logoUri ? { logo_uri: c.logoUri } : {}),
      ...(c.clientUri ? { client_uri: c.clientUri } : {}),
      ...(c.policyUri ? { policy_uri: c.policyUri } : {}),
      ...(c.tosUri ? { tos_uri: c.tosUri } : {}),
      ...(c.idTokenSignedResponseAlg ? { id_token_signed_response_alg: c.idTokenSignedResponseAlg } : {}),
      // RFC 9449 §5.2: echoed as registered (false is the default, so only true is stated).
      ...(c.dpopBoundAccessTokens ? { dpop_bound_access_tokens: true } : {}),
      ...(c.secretHash ? { client_secret_expires_at: 0 } : {}),
      registration_client_uri: `${this.#d.endpoint()}/${c.id}`,
    };
  }

  /** ClientService's validation errors in RFC 7591 §3.2.2 terms. */
  async #guard<T>(run: () => Promise<T>): Promise<T> {
    try {
      return await run();
    } catch (error) {
      if (error instanceof ServiceError && error.status < 500 && error.code !== 'not_found') {
        const redirect = error.field === 'redirect_uris' || error.field === 'post_logout_redirect_uris';
        throw new OAuthError(redirect ? 'invalid_redirect_uri' : 'invalid_client_metadata', error.message);
      }
      throw error;
    }
  }

  /** RFC 7591 §2 metadata → what ClientService takes, under the self-registration policy. */
  async #parse(body: unknown): Promise<{ input: ClientInput; authMethod: AuthMethod }> {
    const bad = (message: string) => new OAuthError('invalid_client_metadata', message);
    if (typeof body !== 'object' || body === null || Array.isArray(body)) throw bad('the body must be a JSON object of client metadata');
    const m = body as Record<string, unknown>;
    const strings = (field: string, value: unknown): string[] | undefined => {
      if (value === undefined) return undefined;
      if (!Array.isArray(value) || value.some((v) => typeof v !== 'string')) {
        throw new OAuthError(field.includes('redirect') ? 'invalid_redirect_uri' : 'invalid_client_metadata', `${field} must be an array of strings`);
      }
      return value as string[];
    };
    const optionalString = (field: string): string | null | undefined => {
      const v = m[field];
      if (v === undefined || v === null) return v as undefined | null;
      if (typeof v !== 'string') throw bad(`${field} must be a string`);
      return v;
    };

    const policy = this.#d.policy();
    const grantTypes = strings('grant_types', m.grant_types) ?? ['authorization_code'];
    const allowedGrants: string[] = [...policy.grantTypes, 'refresh_token'];
    const refused = grantTypes.filter((g) => !allowedGrants.includes(g));
    if (refused.length) throw bad(`grant type ${refused.map((g) => g.slice(0, 60)).join(', ')} may not be registered here: self-registered apps may use ${allowedGrants.join(', ')}`);
    const grants = policy.grantTypes.filter((g) => grantTypes.includes(g));
    if (!grants.length) throw bad(`grant_types must include ${policy.grantTypes.join(' or ')}`);
    const code = grants.includes('authorization_code');
    // RFC 7591 §2.1: authorization_code goes with the code response type; the device grant uses none.
    const responseTypes = strings('response_types', m.response_types) ?? (code ? ['code'] : []);
    if (code ? responseTypes.length !== 1 || responseTypes[0] !== 'code' : responseTypes.length !== 0) {
      throw bad(code ? 'response_types must be ["code"], matching the authorization_code grant' : 'response_types must be empty: the device grant uses no authorization response');
    }

    const method = m.token_endpoint_auth_method ?? 'client_secret_basic';
    if (typeof method !== 'string' || !(policy.authMethods as readonly string[]).includes(method)) {
      throw bad(`token_endpoint_auth_method must be one of ${policy.authMethods.join(', ')}`);
    }
    // The app's public keys, for private_key_jwt only (Tessera uses them for nothing else):
    // ClientService checks them (a public JWK set, or an https jwks_uri; one of the two).
    const keyed = method === 'private_key_jwt';
    if (!keyed && (m.jwks !== undefined || m.jwks_uri !== undefined)) throw bad('jwks and jwks_uri are used only with token_endpoint_auth_method private_key_jwt');
    if (keyed && m.jwks === undefined && m.jwks_uri === undefined) throw bad('private_key_jwt needs the app\'s public keys: give jwks or jwks_uri');
    // RFC 7591 §2: a JWK set is a JSON object here (ClientService also takes JSON text, for the CLI).
    if (m.jwks !== undefined && (typeof m.jwks !== 'object' || m.jwks === null || Array.isArray(m.jwks))) throw bad('jwks must be a JWK set: a JSON object with a "keys" array');
    const jwksUri = optionalString('jwks_uri');

    const redirectUris = strings('redirect_uris', m.redirect_uris) ?? [];
    if (code && !redirectUris.length) throw new OAuthError('invalid_redirect_uri', 'redirect_uris must list at least one redirect URI');
    if (!code && redirectUris.length) throw new OAuthError('invalid_redirect_uri', 'redirect_uris are used only with the authorization_code grant');
    const postLogout = strings('post_logout_redirect_uris', m.post_logout_redirect_uris) ?? [];

    const offered = offeredScopes((await this.#d.declaredScopes()).keys(), policy);
    let scopes = offered;
    const scope = optionalString('scope');
    if (typeof scope === 'string') {
      const asked = scope.split(' ').filter(Boolean);
      if (!asked.length || asked.some((s) => !isScopeToken(s))) throw bad('scope must be a space-separated list of scope names');
      const notOffered = asked.filter((s) => !offered.includes(s));
      if (notOffered.length) throw bad(`scope ${notOffered.map((s) => s.slice(0, 64)).join(', ')} may not be registered here`);
      scopes = [...new Set(asked)];
    }

    const name = optionalString('client_name');
    const alg = optionalString('id_token_signed_response_alg');
    const dpopBound = m.dpop_bound_access_tokens;
    if (dpopBound !== undefined && typeof dpopBound !== 'boolean') throw bad('dpop_bound_access_tokens must be true or false');
    return {
      authMethod: method as AuthMethod,
      input: {
        name: name ?? 'Self-registered app',
        description: '',
        grantTypes: grants satisfies SelfRegistrableGrant[],
        public: method === 'none',
        redirectUris,
        postLogoutRedirectUris: postLogout,
        scopes,
        defaultScopes: [],
        logoUri: optionalString('logo_uri') ?? null,
        clientUri: optionalString('client_uri') ?? null,
        policyUri: optionalString('policy_uri') ?? null,
        tosUri: optionalString('tos_uri') ?? null,
        idTokenSignedResponseAlg: alg ?? null,
        dpopBoundAccessTokens: dpopBound ?? false,
        ...(keyed ? { tokenEndpointAuthMethod: method, ...(m.jwks !== undefined ? { jwks: m.jwks } : {}), ...(jwksUri !== undefined ? { jwksUri } : {}) } : {}),
      },
    };
  }
}
