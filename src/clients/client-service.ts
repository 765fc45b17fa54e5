import { randomUUID } from 'node:crypto';
import { changedFields } from '../audit/actions.ts';
import type { Actor } from '../audit/actor.ts';
import type { AuditLog } from '../audit/audit-log.ts';
import type { Clock } from '../clock.ts';
import { epochSeconds } from '../clock.ts';
import { inRange, LIMITS, type Range } from '../config/limits.ts';
import { conflict, notFound, validationError } from '../errors.ts';
import type { RoleStore, UserStore } from '../identity/user-store.ts';
import type { User } from '../identity/user.ts';
import { randomToken, sha256 } from '../lib/crypto.ts';
import { ADMIN_SCOPE, isScopeToken, OPENID_SCOPES, USER_ONLY_SCOPES } from '../lib/scope-names.ts';
import { isUuid, text } from '../lib/text.ts';
import { checkTranslations } from '../i18n/translations.ts';
import type { ChangeFeed } from '../storage/change-feed.ts';
import { cspSafeOrigin, optionalHttpsUrl } from '../lib/https-url.ts';
import { DEVICE_CODE_GRANT, newClient, REGISTRABLE_GRANTS, type Client, type RegistrableGrant, type TokenExchangePolicy } from './client.ts';
import type { ClientStore } from './client-store.ts';
import { clientView, type ClientView } from './client-view.ts';
import { ANY_SCOPES, decideGrant, type GrantDenial } from './grant-policy.ts';
import { checkRedirectUri, type RedirectUriCheckOptions } from './redirect-uri-policy.ts';
import { looksLikeMetadataDocumentClientId, type ClientMetadata } from './metadata-document.ts';
import { checkJwkSet, CLIENT_AUTH_METHODS } from './client-keys.ts';
import { offeredScopes, type RegistrationPolicy } from './registration-policy.ts';

/** What an operator may set on an app (CLI flags, admin API body). Absent = unchanged on update. */
export interface ClientInput {
  name?: string;
  description?: string;
  grantTypes?: string[];
  redirectUris?: string[];
  postLogoutRedirectUris?: string[];
  scopes?: string[];
  defaultScopes?: string[];
  /** Username or user id; null clears it. */
  onBehalfOf?: string | null;
  public?: boolean;
  accessTokenTtl?: number | null;
  refreshTokenTtl?: number | null;
  requirePermission?: string;
  idTokenSignedResponseAlg?: string | null;
  /** OIDC client metadata shown on the consent page: https URLs; null or "" clears one. */
  logoUri?: string | null;
  clientUri?: string | null;
  policyUri?: string | null;
  tosUri?: string | null;
  /** Users must pass a second factor to sign in to this app (docs/mfa.md). */
  requireMfa?: boolean;
  /** RFC 9449 §5.2: every token request of the app must carry a DPoP proof (docs/dpop.md). */
  dpopBoundAccessTokens?: boolean;
  /**
   * client_secret_basic or client_secret_post (either secret method works), or private_key_jwt:
   * signed client assertions only (docs/client-authentication.md); null: the default (secret).
   */
  tokenEndpointAuthMethod?: string | null;
  /** The app's public keys for private_key_jwt: a JWK set (object or JSON text); null clears it. Setting it clears jwksUri. */
  jwks?: unknown;
  /** Where the app serves its JWK set; null or "" clears it. Setting it clears jwks. */
  jwksUri?: string | null;
  /** The code flow only through /connect/par (RFC 9126 §6). */
  requirePushedAuthorizationRequests?: boolean;
  /** Language → the name on pages in that language; replaces the map, null or {} removes every one (docs/languages.md). */
  nameTranslations?: Readonly<Record<string, string>> | null;
  /** RFC 8693: which tokens the app may exchange for which audiences; null turns the grant off. */
  tokenExchange?: { audiences: string[]; scopes?: string[] | null; subjectClients?: string[] | null } | null;
}

/** How the app list may be narrowed by the way apps were registered. */
export const REGISTRATION_FILTERS = ['admin', 'self', 'dynamic', 'metadata_document'] as const;
export type RegistrationFilter = (typeof REGISTRATION_FILTERS)[number];

export interface ClientWithSecret extends ClientView {
  /** Shown once, on registration and on regeneration; only its hash is stored. */
  client_secret?: string;
}

export interface ClientServiceDeps {
  clients: ClientStore;
  users: UserStore;
  roles: RoleStore;
  clock: Clock;
  redirectPolicy: RedirectUriCheckOptions;
  feed: ChangeFeed;
  audit: AuditLog;
  /** Scopes APIs declare (gateway); with the built-in ones, the only scopes an app may be given. */
  declaredScopes: () => Promise<ReadonlyMap<string, string>>;
  /** What self-registered apps may ask for (settings; docs/registration.md): applied to metadata-document apps here. */
  registrationPolicy: () => RegistrationPolicy;
}

/** Registering and changing apps. The CLI and the admin API both call this; neither validates on its own. */
export class ClientService {
  readonly #d: ClientServiceDeps;
  constructor(deps: ClientServiceDeps) {
    this.#d = deps;
  }

  /**
   * Every app, or those whose name, client_id or description contains `search` (any case);
   * `registration` keeps only apps registered that way (`self`: either way an app registers itself).
   */
  async list(search?: string, registration?: RegistrationFilter): Promise<ClientView[]> {
    const views = await Promise.all((await this.#d.clients.list()).map((c) => this.#view(c)));
    const needle = search?.trim().toLowerCase();
    const kept = registration === undefined ? views : views.filter((c) => (registration === 'self' ? c.registration !== 'admin' : c.registration === registration));
    return needle ? kept.filter((c) => [c.name, c.client_id, c.description].some((v) => v.toLowerCase().includes(needle))) : kept;
  }

  async show(id: string): Promise<ClientView> {
    return this.#view(await this.#get(id));
  }

  /**
   * `selfRegistered`: an app registering itself at /connect/register (RFC 7591): the hash of
   * its registration access token and its declared token endpoint auth method are kept.
   */
  async create(input: ClientInput, actor: Actor, selfRegistered?: { registrationTokenHash: string; tokenEndpointAuthMethod: string }): Promise<ClientWithSecret> {
    const now = epochSeconds(this.#d.clock);
    if (input.name === undefined) throw validationError('name is required', 'name');
    if (!input.grantTypes?.length) throw validationError('at least one grant type is required (client_credentials, authorization_code or the device grant)', 'grant_types');
    const isPublic = input.public ?? false;
    // An app that signs its assertions has no use for a secret: none is made (nor shown).
    const secret = isPublic || input.tokenEndpointAuthMethod === 'private_key_jwt' ? undefined : randomToken();
    const draft = newClient(now, {
      id: randomUUID(),
      name: '',
      secretHash: secret === undefined ? null : sha256(secret),
      secretUpdatedAt: secret === undefined ? null : now,
      public: isPublic,
      registrationTokenHash: selfRegistered?.registrationTokenHash ?? null,
      tokenEndpointAuthMethod: selfRegistered?.tokenEndpointAuthMethod ?? null,
    });
    const client = await this.#apply(draft, input, true);
    await this.#d.clients.insert(client);
    await this.#d.audit.record({ action: 'app.create', targetId: client.id, details: { name: client.name, grant_types: client.grantTypes } }, actor);
    const view: ClientWithSecret = await this.#view(client);
    if (secret !== undefined) view.client_secret = secret;
    return view;
  }

  async update(id: string, input: ClientInput, actor: Actor, tokenEndpointAuthMethod?: string): Promise<ClientView> {
    const current = await this.#get(id);
    if (input.public !== undefined && input.public !== current.public) {
      throw validationError('an app cannot change between public and confidential; register a new app', 'public');
    }
    const next = await this.#apply({ ...current }, input, false);
    if (tokenEndpointAuthMethod !== undefined) next.tokenEndpointAuthMethod = tokenEndpointAuthMethod;
    next.updatedAt = Math.max(epochSeconds(this.#d.clock), current.updatedAt);
    // DESIGN.md: changing the on-behalf user invalidates every token issued to the app.
    if (next.onBehalfOfUserId !== current.onBehalfOfUserId) next.tokensValidAfter = this.#nextEpoch();
    await this.#d.clients.save(next);
    this.#d.feed.notifyLocal('client', id);
    await this.#d.audit.record({ action: 'app.update', targetId: next.id, details: { fields: changedFields(input) } }, actor);
    return this.#view(next);
  }

  /**
   * Sets (a hash of an asset already stored and checked by BrandingService.setAppLogo) or
   * removes (null) the app's uploaded logo. Audited as `app.update` with fields ['logo'].
   */
  async setLogo(id: string, hash: string | null, actor: Actor): Promise<ClientView> {
    const current = await this.#get(id);
    const next = { ...current, logoHash: hash, updatedAt: Math.max(epochSeconds(this.#d.clock), current.updatedAt) };
    await this.#d.clients.save(next);
    this.#d.feed.notifyLocal('client', id);
    await this.#d.audit.record({ action: 'app.update', targetId: next.id, details: { fields: ['logo'] } }, actor);
    return this.#view(next);
  }

  /**
   * An app that registered itself with a Client ID Metadata Document: stored under its URL
   * (so consents, refresh tokens, revocation and the console treat it as any app),
   * authorization code only, and brought in step with the document each time it is fetched
   * again. Public (`none`), or authenticating with private_key_jwt under the keys the document
   * names (`jwks_uri` or `jwks`, checked as an admin-created app's are); a document that
   * changes its method moves the app with it (the document's owner is the client). It may
   * request the built-in user scopes and every scope an API declares — never the admin scope —
   * narrowed by the operator's self-registration policy and the document's own `scope`; a
   * policy without the authorization-code grant or without the document's auth method refuses
   * it. Its redirect URIs follow the redirect-URI policy like any app's.
   */
  async syncMetadataDocumentClient(metadata: ClientMetadata, actor: Actor): Promise<Client> {
    // The operator's self-registration policy: such an app uses the authorization-code grant, and an auth method the policy allows.
    const policy = this.#d.registrationPolicy();
    if (!policy.grantTypes.includes('authorization_code')) throw validationError('self-registered apps may not use the authorization_code grant on this server', 'grant_types');
    const keyed = metadata.authMethod === 'private_key_jwt';
    if (!policy.authMethods.includes(metadata.authMethod)) {
      throw validationError(keyed ? 'self-registered apps may not use private_key_jwt on this server' : 'self-registered public apps (token_endpoint_auth_method none) are not allowed on this server', 'token_endpoint_auth_method');
    }
    const credentials: Pick<Client, 'public' | 'tokenEndpointAuthMethod' | 'jwks' | 'jwksUri'> = { public: !keyed, tokenEndpointAuthMethod: null, jwks: null, jwksUri: null };
    if (keyed) {
      const checked = { ...newClient(0, { id: metadata.clientId, name: '' }), ...credentials };
      await this.#applyClientAuth(checked, { tokenEndpointAuthMethod: 'private_key_jwt', jwks: metadata.jwks, jwksUri: metadata.jwksUri });
      Object.assign(credentials, { tokenEndpointAuthMethod: checked.tokenEndpointAuthMethod, jwks: checked.jwks, jwksUri: checked.jwksUri });
    }
    const redirectUris = await this.#uris(metadata.redirectUris, 'redirect_uris');
    const postLogoutRedirectUris = await this.#uris(metadata.postLogoutRedirectUris, 'post_logout_redirect_uris');
    // Scopes outside the policy are dropped, not refused (RFC 7591 §3.2.1 lets a server replace requested values).
    const offered = offeredScopes((await this.#d.declaredScopes()).keys(), policy);
    const scopes = metadata.scope ? offered.filter((s) => metadata.scope!.includes(s)) : offered;
    const now = epochSeconds(this.#d.clock);
    const existing = await this.#d.clients.findById(metadata.clientId);
    if (!existing) {
      const client = newClient(now, {
        id: metadata.clientId,
        name: metadata.name,
        ...credentials,
        grantTypes: ['authorization_code'],
        redirectUris,
        postLogoutRedirectUris,
        scopes,
      });
      try {
        await this.#d.clients.insert(client);
      } catch (error) {
        // Two nodes (or two requests) fetched the same new document at once: the first insert won.
        const raced = await this.#d.clients.findById(metadata.clientId);
        if (raced) return raced;
        throw error;
      }
      await this.#d.audit.record({ action: 'app.create', targetId: client.id, details: { name: client.name, grant_types: client.grantTypes } }, actor);
      return client;
    }
    const changed = changedFields({
      name: existing.name === metadata.name ? undefined : metadata.name,
      redirectUris: existing.redirectUris.join(' ') === redirectUris.join(' ') ? undefined : redirectUris,
      postLogoutRedirectUris: existing.postLogoutRedirectUris.join(' ') === postLogoutRedirectUris.join(' ') ? undefined : postLogoutRedirectUris,
      scopes: existing.scopes.join(' ') === scopes.join(' ') ? undefined : scopes,
      tokenEndpointAuthMethod: existing.public === credentials.public && existing.tokenEndpointAuthMethod === credentials.tokenEndpointAuthMethod ? undefined : metadata.authMethod,
      jwks: JSON.stringify(existing.jwks ?? null) === JSON.stringify(credentials.jwks) && existing.jwksUri === credentials.jwksUri ? undefined : true,
    });
    if (!changed.length) return existing;
    const next: Client = { ...existing, name: metadata.name, redirectUris, postLogoutRedirectUris, scopes, ...credentials, updatedAt: Math.max(now, existing.updatedAt) };
    await this.#d.clients.save(next);
    this.#d.feed.notifyLocal('client', next.id);
    await this.#d.audit.record({ action: 'app.update', targetId: next.id, details: { fields: changed } }, actor);
    return next;
  }

  /**
   * Registers, or brings in step, an app Tessera defines for itself (the admin console's):
   * its redirect URIs point at Tessera, so they skip the registration policy, which vets
   * third parties' URIs. Of an existing one only the redirect URIs follow `wanted`.
   */
  async ensureBuiltIn(wanted: Client, actor: Actor): Promise<Client> {
    const existing = await this.#d.clients.findById(wanted.id);
    if (!existing) {
      await this.#d.clients.insert(wanted);
      await this.#d.audit.record({ action: 'app.create', targetId: wanted.id, details: { name: wanted.name, grant_types: wanted.grantTypes } }, actor);
      return wanted;
    }
    const changed = {
      redirectUris: existing.redirectUris.join() === wanted.redirectUris.join() ? undefined : wanted.redirectUris,
      postLogoutRedirectUris: existing.postLogoutRedirectUris.join() === wanted.postLogoutRedirectUris.join() ? undefined : wanted.postLogoutRedirectUris,
    };
    const fields = changedFields(changed);
    if (!fields.length) return existing;
    const next: Client = {
      ...existing,
      redirectUris: wanted.redirectUris,
      postLogoutRedirectUris: wanted.postLogoutRedirectUris,
      updatedAt: Math.max(epochSeconds(this.#d.clock), existing.updatedAt),
    };
    await this.#d.clients.save(next);
    this.#d.feed.notifyLocal('client', next.id);
    await this.#d.audit.record({ action: 'app.update', targetId: next.id, details: { fields } }, actor);
    return next;
  }

  /**
   * New secret. By default (`graceSeconds` 0) the old secret and every token issued to the
   * app stop working at once: the response to a leaked secret. With a grace period, the old
   * secret keeps authenticating the app until it ends, for jobs that cannot be redeployed at
   * once, and tokens issued before stay valid until they expire: a planned rollover, not a
   * compromise. Only the old secret's SHA-256 is kept, with its end. A later rotation
   * replaces it (the secret before the newest is the only one kept).
   */
  async rotateSecret(id: string, actor: Actor, options: { graceSeconds?: number } = {}): Promise<ClientView & { client_secret: string }> {
    const current = await this.#get(id);
    if (current.public) throw validationError('public apps have no secret', 'public');
    const grace = options.graceSeconds ?? 0;
    if (!inRange(grace, LIMITS.secretGrace)) {
      throw validationError(`grace must be a whole number of seconds from ${LIMITS.secretGrace.min} to ${LIMITS.secretGrace.max}`, 'grace_seconds');
    }
    const secret = randomToken();
    const now = epochSeconds(this.#d.clock);
    const next: Client = {
      ...current,
      secretHash: sha256(secret),
      secretUpdatedAt: now,
      ...(grace > 0
        ? { previousSecretHash: current.secretHash, previousSecretExpiresAt: now + grace }
        : { previousSecretHash: null, previousSecretExpiresAt: null, tokensValidAfter: this.#nextEpoch() }),
      updatedAt: Math.max(now, current.updatedAt),
    };
    await this.#d.clients.save(next);
    this.#d.feed.notifyLocal('client', id);
    await this.#d.audit.record({ action: 'app.secret_regenerate', targetId: next.id, details: { grace_seconds: grace } }, actor);
    return { ...(await this.#view(next)), client_secret: secret };
  }

  async delete(id: string, actor: Actor): Promise<void> {
    const client = await this.#get(id);
    await this.#d.clients.delete(client.id, epochSeconds(this.#d.clock));
    this.#d.feed.notifyLocal('client', client.id);
    await this.#d.audit.record({ action: 'app.delete', targetId: client.id, details: {} }, actor);
  }

  /**
   * "Valid after" is compared with JWT `iat` (whole seconds). Setting it to the next second
   * invalidates every token issued up to now, including earlier in this second; tokens issued
   * later get `iat` of at least this value (TokenService) and stay valid.
   */
  #nextEpoch(): number {
    return epochSeconds(this.#d.clock) + 1;
  }

  async #get(id: string): Promise<Client> {
    const client = isUuid(id) || looksLikeMetadataDocumentClientId(id) ? await this.#d.clients.findById(id) : undefined;
    if (!client) throw notFound('app', id);
    return client;
  }

  async #view(client: Client): Promise<ClientView> {
    const username = client.onBehalfOfUserId ? (await this.#d.users.findById(client.onBehalfOfUserId))?.username ?? null : null;
    return clientView(client, username);
  }

  async #apply(c: Client, input: ClientInput, creating: boolean): Promise<Client> {
    if (input.name !== undefined) c.name = text(input.name, 'name', LIMITS.appName.min, LIMITS.appName.max);
    if (input.nameTranslations !== undefined) c.nameTranslations = checkTranslations(input.nameTranslations, 'name_translations', LIMITS.appName.max);
    if (input.description !== undefined) c.description = text(input.description, 'description', LIMITS.appDescription.min, LIMITS.appDescription.max);
    if (input.grantTypes !== undefined) c.grantTypes = grants(input.grantTypes);
    if (input.accessTokenTtl !== undefined) c.accessTokenTtl = ttl(input.accessTokenTtl, 'access_token_ttl', LIMITS.appAccessTokenTtl);
    if (input.refreshTokenTtl !== undefined) c.refreshTokenTtl = ttl(input.refreshTokenTtl, 'refresh_token_ttl', LIMITS.appRefreshTokenTtl);
    if (input.idTokenSignedResponseAlg !== undefined) {
      const alg = input.idTokenSignedResponseAlg;
      if (alg !== null && alg !== 'RS256' && alg !== 'ES256') throw validationError('id_token_signed_response_alg must be RS256 or ES256', 'id_token_signed_response_alg');
      c.idTokenSignedResponseAlg = alg;
    }
    if (input.logoUri !== undefined) {
      c.logoUri = optionalHttpsUrl(input.logoUri, 'logo_uri');
      if (c.logoUri !== null && !cspSafeOrigin(c.logoUri)) throw validationError('logo_uri must be on a host of letters, digits, dots and hyphens', 'logo_uri');
    }
    if (input.clientUri !== undefined) c.clientUri = optionalHttpsUrl(input.clientUri, 'client_uri');
    if (input.policyUri !== undefined) c.policyUri = optionalHttpsUrl(input.policyUri, 'policy_uri');
    if (input.tosUri !== undefined) c.tosUri = optionalHttpsUrl(input.tosUri, 'tos_uri');
    if (input.requireMfa !== undefined) {
      if (typeof input.requireMfa !== 'boolean') throw validationError('require_mfa must be true or false', 'require_mfa');
      c.requireMfa = input.requireMfa;
    }
    if (input.dpopBoundAccessTokens !== undefined) {
      if (typeof input.dpopBoundAccessTokens !== 'boolean') throw validationError('dpop_bound_access_tokens must be true or false', 'dpop_bound_access_tokens');
      c.dpopBoundAccessTokens = input.dpopBoundAccessTokens;
    }
    await this.#applyClientAuth(c, input);
    if (input.requirePushedAuthorizationRequests !== undefined) {
      if (typeof input.requirePushedAuthorizationRequests !== 'boolean') {
        throw validationError('require_pushed_authorization_requests must be true or false', 'require_pushed_authorization_requests');
      }
      c.requirePushedAuthorizationRequests = input.requirePushedAuthorizationRequests;
    }
    if (input.tokenExchange !== undefined) c.tokenExchange = await this.#tokenExchange(input.tokenExchange, c);
    if (input.scopes !== undefined) c.scopes = await this.#known(scopeList(input.scopes, 'scopes'), 'scopes');
    if (input.defaultScopes !== undefined) c.defaultScopes = await this.#known(scopeList(input.defaultScopes, 'default_scopes'), 'default_scopes');
    for (const s of c.defaultScopes) if (!c.scopes.includes(s)) c.scopes.push(s);
    if (input.requirePermission !== undefined) {
      const p = input.requirePermission.trim();
      if (!(await this.#d.roles.findPermission(p))) throw validationError(`permission "${p}" does not exist`, 'require_permission');
      c.requirePermission = p;
    }
    if (input.redirectUris !== undefined) c.redirectUris = await this.#uris(input.redirectUris, 'redirect_uris');
    if (input.postLogoutRedirectUris !== undefined) {
      c.postLogoutRedirectUris = await this.#uris(input.postLogoutRedirectUris, 'post_logout_redirect_uris');
    }
    if (input.onBehalfOf !== undefined) {
      c.onBehalfOfUserId = input.onBehalfOf === null || input.onBehalfOf === '' ? null : (await this.#user(input.onBehalfOf)).id;
    }
    await this.#checkConsistency(c, {
      user: creating || input.onBehalfOf !== undefined || input.requirePermission !== undefined,
      // Only when asked for: an app stored before this rule can still be renamed.
      scopes: creating || input.scopes !== undefined || input.defaultScopes !== undefined || input.grantTypes !== undefined,
    });
    return c;
  }

  /**
   * The auth method and the keys private_key_jwt needs (RFC 7523, OIDC Core §9): the keys
   * inline or by URL, never both (OIDC Registration §2), and one of them whenever the app
   * authenticates with private_key_jwt. The jwks_uri follows the redirect-URI policy (https to
   * a public host; loopback in development mode), as every URL Tessera fetches does.
   */
  async #applyClientAuth(c: Client, input: ClientInput): Promise<void> {
    const given = (v: unknown) => v !== undefined && v !== null && v !== '';
    if (given(input.jwks) && given(input.jwksUri)) throw validationError('give jwks or jwks_uri, not both', 'jwks');
    if (input.jwks !== undefined) {
      c.jwks = input.jwks === null || input.jwks === '' ? null : await checkJwkSet(input.jwks);
      if (c.jwks) c.jwksUri = null;
    }
    if (input.jwksUri !== undefined) {
      if (input.jwksUri === null || input.jwksUri === '') c.jwksUri = null;
      else {
        const checked = await checkRedirectUri(input.jwksUri, this.#d.redirectPolicy);
        if (!checked.ok) throw validationError(`invalid jwks_uri: ${checked.reason.replace(/^redirect URI/, 'jwks_uri')}`, 'jwks_uri');
        c.jwksUri = checked.uri;
        c.jwks = null;
      }
    }
    if (input.tokenEndpointAuthMethod !== undefined) {
      const m = input.tokenEndpointAuthMethod;
      if (m !== null && m !== '' && !(CLIENT_AUTH_METHODS as readonly string[]).includes(m)) {
        throw validationError(`token_endpoint_auth_method must be one of ${CLIENT_AUTH_METHODS.join(', ')}`, 'token_endpoint_auth_method');
      }
      c.tokenEndpointAuthMethod = m === '' ? null : m;
    }
    if (c.tokenEndpointAuthMethod === 'private_key_jwt') {
      if (c.public) throw validationError('a public app has no keys: private_key_jwt is for confidential apps', 'token_endpoint_auth_method');
      if (!c.jwks && !c.jwksUri) throw validationError('private_key_jwt needs the app\'s public keys: give jwks or jwks_uri', 'jwks');
    }
  }

  /**
   * A token-exchange policy: audiences as the token request names them (a resource identifier
   * or an API's own audience; an API may be registered later, so they are not looked up),
   * scopes declared by an API, apps that exist. Only confidential apps: the grant needs a secret.
   */
  async #tokenExchange(input: NonNullable<ClientInput['tokenExchange']> | null, c: Client): Promise<TokenExchangePolicy | null> {
    if (input === null) return null;
    const field = 'token_exchange';
    if (c.public) throw validationError('public apps cannot use token exchange: they cannot keep a secret', field);
    const { min, max } = LIMITS.tokenExchangeEntries;
    const list = (values: string[] | undefined, name: string): string[] => {
      const out = [...new Set((values ?? []).map((v) => v.trim()).filter(Boolean))];
      if (out.length < min || out.length > max) throw validationError(`token exchange ${name}: from ${min} to ${max} entries`, field);
      for (const v of out) if (v.length > 500 || /\s/.test(v)) throw validationError(`token exchange ${name}: "${clip(v)}" is not a valid value`, field);
      return out;
    };
    const audiences = list(input.audiences, 'audiences');
    const scopes = input.scopes === undefined || input.scopes === null ? null : await this.#known(scopeList(list(input.scopes, 'scopes'), field), field);
    const builtIn = scopes?.filter((s) => USER_ONLY_SCOPES.has(s) || s === ADMIN_SCOPE) ?? [];
    if (builtIn.length) throw validationError(`token exchange scopes: ${builtIn.join(', ')} cannot be exchanged`, field);
    let subjectClients: string[] | null = null;
    if (input.subjectClients !== undefined && input.subjectClients !== null) {
      subjectClients = list(input.subjectClients, 'subject apps');
      for (const id of subjectClients) {
        if (id !== c.id && !(await this.#d.clients.findById(id))) throw validationError(`token exchange subject apps: no app "${clip(id)}"`, field);
      }
    }
    return { audiences, scopes, subjectClients };
  }

  /** Scopes must exist: built in (OpenID, tessera.admin) or declared by an API. */
  async #known(scopes: string[], field: string): Promise<string[]> {
    const declared = await this.#d.declaredScopes();
    const unknown = scopes.filter((s) => !(s in OPENID_SCOPES) && s !== ADMIN_SCOPE && !declared.has(s));
    if (unknown.length) {
      throw validationError(`unknown scope${unknown.length > 1 ? 's' : ''} ${unknown.map((s) => `"${s}"`).join(', ')}: declare it on an API first (tessera apis create --scope name=Description)`, field);
    }
    return scopes;
  }

  async #checkConsistency(c: Client, check: { user: boolean; scopes: boolean }): Promise<void> {
    const code = c.grantTypes.includes('authorization_code');
    const cc = c.grantTypes.includes('client_credentials');
    if (code && c.redirectUris.length === 0) {
      throw validationError('the authorization_code grant needs at least one redirect URI', 'redirect_uris');
    }
    if (!code && (c.redirectUris.length || c.postLogoutRedirectUris.length)) {
      throw validationError('redirect URIs are only used with the authorization_code grant', 'redirect_uris');
    }
    if (c.public && cc) throw validationError('public apps cannot use client_credentials: they cannot keep a secret', 'grant_types');
    if (c.onBehalfOfUserId !== null && !cc) {
      throw validationError('an on-behalf-of user is only used with the client_credentials grant', 'on_behalf_of');
    }
    if (check.scopes && cc && !code && !c.grantTypes.includes(DEVICE_CODE_GRANT)) {
      // Refuse now what every client-credentials token request would refuse (no user to sign in).
      const userOnly = c.scopes.filter((s) => USER_ONLY_SCOPES.has(s));
      if (userOnly.length) {
        throw validationError(`${userOnly.join(', ')} need${userOnly.length > 1 ? '' : 's'} a signed-in user: a client_credentials app cannot be given ${userOnly.length > 1 ? 'them' : 'it'}`, 'scopes');
      }
    }
    if (check.user && c.onBehalfOfUserId !== null) {
      // Refuse now what the client-credentials grant would refuse at every token request.
      const decision = decideGrant(c, await this.#d.users.principal(c.onBehalfOfUserId), ANY_SCOPES);
      if (!decision.allowed) throw validationError(onBehalfOfRefusal(decision), 'on_behalf_of');
    }
  }

  async #user(ref: string): Promise<User> {
    const user = (isUuid(ref) ? await this.#d.users.findById(ref) : undefined) ?? (await this.#d.users.findByUsername(ref));
    if (!user) throw validationError(`unknown user "${ref}"`, 'on_behalf_of');
    return user;
  }

  async #uris(list: string[], field: string): Promise<string[]> {
    const { max } = LIMITS.appRedirectUris;
    if (list.length > max) throw validationError(`at most ${max} URIs may be registered`, field);
    const out: string[] = [];
    for (const uri of list) {
      const result = await checkRedirectUri(uri, this.#d.redirectPolicy);
      if (!result.ok) throw validationError(`invalid redirect URI "${clip(uri)}": ${result.reason}`, field);
      if (out.includes(result.uri)) throw conflict(`redirect URI "${clip(uri)}" is listed twice`, field);
      out.push(result.uri);
    }
    return out;
  }
}

function grants(list: string[]): RegistrableGrant[] {
  const out: RegistrableGrant[] = [];
  for (const g of list) {
    if (!(REGISTRABLE_GRANTS as readonly string[]).includes(g)) {
      throw validationError(`unknown grant type "${clip(g)}" (expected client_credentials, authorization_code or ${DEVICE_CODE_GRANT})`, 'grant_types');
    }
    if (!out.includes(g as RegistrableGrant)) out.push(g as RegistrableGrant);
  }
  if (!out.length) throw validationError('at least one grant type is required', 'grant_types');
  return out;
}

function scopeList(list: string[], field: string): string[] {
  const out: string[] = [];
  for (const raw of list.flatMap((s) => s.split(' ')).filter(Boolean)) {
    if (!isScopeToken(raw)) throw validationError(`"${clip(raw)}" is not a valid scope name`, field);
    if (!out.includes(raw)) out.push(raw);
  }
  return out;
}

function onBehalfOfRefusal(denial: GrantDenial): string {
  switch (denial.reason) {
    case 'user_missing':
      return 'the on-behalf-of user does not exist';
    case 'user_disabled':
      return `user "${denial.principal.user.username}" is disabled`;
    case 'permission_missing':
      return `user "${denial.principal.user.username}" lacks the "${denial.permission}" permission this app requires`;
    case 'admin_role_required':
      // Not asked: registration checks the user without scopes (ANY_SCOPES).
      return `the on-behalf-of user lacks the admin role ${ADMIN_SCOPE} requires`;
  }
}

function ttl(value: number | null, field: string, range: Range): number | null {
  if (value === null) return null;
  if (!inRange(value, range)) {
    throw validationError(`${field} must be a whole number of seconds from ${range.min} to ${range.max}`, field);
  }
  return value;
}

function clip(s: string): string {
  return s.length > 100 ? `${s.slice(0, 100)}…` : s;
}
