import type { ApiDefinition } from './api-service.ts';
import { ResourceGuard, type ResourceAccess, type ResourceErrorCode, type ResourceRefusal } from '../oauth/resource-access.ts';
import { compileTemplate, matchSegments, pathSegments, type CompiledTemplate } from './route-template.ts';
import type { TokenService } from '../oauth/token-service.ts';
import type { ProtectedResource, ResourceDirectory } from '../oauth/resource-indicators.ts';
import { ResourceIndex, type GatewayResource } from './protected-resources.ts';
import { UpstreamTokens } from './upstream-tokens.ts';

interface CompiledRoute {
  methods: ReadonlySet<string>;
  template: CompiledTemplate;
  scopes: string[];
  /** The scopes joined once, for the challenge of a refusal. */
  scope: string;
}

interface CompiledApi {
  def: ApiDefinition;
  /** The upstream split once: origin, and the path prefix requests go under. */
  origin: string;
  pathPrefix: string;
  routes: CompiledRoute[];
}

/** A request URL under some API's base path, split once for `decide`. */
export interface GatewayMatch {
  readonly api: CompiledApi;
  /** The path below the base path ('' or starting with '/'). */
  readonly rest: string;
  /** The query string with its '?', or ''. */
  readonly query: string;
}

/** What the gateway does with a request. */
export type GatewayDecision =
  | { kind: 'error'; status: number; body: { error: string; error_description: string }; headers: Record<string, string> }
  | {
      kind: 'forward';
      api: ApiDefinition;
      origin: string;
      path: string;
      identity: { subject: string; clientId: string; scope: string };
      /** Headers for the client's answer beside the upstream's: a fresh DPoP nonce when nonces are required. */
      responseHeaders: Record<string, string>;
      /** `exchange`: the Authorization header the upstream gets instead of the client's. */
      upstreamAuthorization?: string;
    };

/** What the client presented: its Authorization header and its DPoP proofs (RFC 9449). */
export interface GatewayCredentials {
  authorization: string | undefined;
  dpop: readonly string[] | undefined;
}

const NONE: readonly string[] = [];

/**
 * The gateway's decisions, free of HTTP plumbing: which API a path belongs to, which route
 * admits it (deny by default), and whether the bearer token may pass. Definitions live in
 * memory and are replaced whole when the change feed says an API changed.
 */
export class Gateway implements ResourceDirectory {
  readonly #tokens: TokenService;
  readonly #guard: ResourceGuard;
  #apis: CompiledApi[] = [];
  #defs: ApiDefinition[] = [];
  /** Resource identifiers depend on the issuer, which may be set after load (--port 0). */
  #resources: ResourceIndex | undefined;
  /** scope → audience of the API declaring it (only APIs that have an audience). */
  #audienceOf = new Map<string, string>();

  /** Tokens minted for upstreams of APIs with `upstream_token` exchange (RFC 8693). */
  readonly upstreamTokens: UpstreamTokens;

  constructor(tokens: TokenService, guard: ResourceGuard) {
    this.#tokens = tokens;
    this.#guard = guard;
    this.upstreamTokens = new UpstreamTokens(tokens);
  }

  load(defs: ApiDefinition[]): void {
    this.#defs = defs;
    this.#resources = undefined;
    this.upstreamTokens.clear();
    // Longest base path first (base paths never nest, but keep lookups unambiguous anyway).
    this.#apis = defs
      .map((def) => ({
        def,
        ...splitUpstream(def.upstream),
        routes: def.routes.map((r) => ({ methods: new Set(r.methods), template: compileTemplate(r.path), scopes: r.scopes, scope: r.scopes.join(' ') })),
      }))
      .sort((a, b) => b.def.basePath.length - a.def.basePath.length);
    this.#audienceOf = new Map(defs.filter((d) => d.audience !== null).flatMap((d) => d.scopes.map((s) => [s.name, d.audience!] as const)));
  }

  /** The audiences a token with these scopes is meant for (RFC 9068 `aud`). */
  audiencesFor(scopes: readonly string[]): readonly string[] {
    if (this.#audienceOf.size === 0) return NONE;
    const out: string[] = [];
    for (const s of scopes) {
      const aud = this.#audienceOf.get(s);
      if (aud !== undefined && !out.includes(aud)) out.push(aud);
    }
    return out;
  }

  /** Every API as an RFC 8707 / RFC 9728 resource, for the current issuer. */
  get resources(): ResourceIndex {
    const issuer = this.#tokens.settings.issuer;
    if (!this.#resources || this.#resourcesIssuer !== issuer) {
      this.#resources = new ResourceIndex(this.#defs, issuer);
      this.#resourcesIssuer = issuer;
    }
    return this.#resources;
  }
  #resourcesIssuer = '';

  find(resource: string): ProtectedResource | undefined {
    return this.resources.find(resource);
  }

  ownerOf(scope: string): string | undefined {
    return this.resources.ownerOf(scope);
  }

  byAudience(audience: string): ProtectedResource | undefined {
    return this.resources.byAudience(audience);
  }

  #meantFor(aud: string | string[], resource: GatewayResource): boolean {
    return meantFor(aud, resource, this.#tokens.settings.issuer);
  }

  get size(): number {
    return this.#apis.length;
  }

  /** The API whose base path `path` is on or under, with the rest of the path. */
  #find(path: string): { api: CompiledApi; rest: string } | undefined {
    for (const api of this.#apis) {
      const base = api.def.basePath;
      if (path === base || (path.startsWith(base) && path.charCodeAt(base.length) === 47 /* / */)) return { api, rest: path.slice(base.length) };
    }
    return undefined;
  }

  /** The API a request URL belongs to, or undefined (cheap: asked of every request). */
  match(url: string): GatewayMatch | undefined {
    if (!this.#apis.length) return undefined;
    const q = url.indexOf('?');
    const found = this.#find(q < 0 ? url : url.slice(0, q));
    return found && { api: found.api, rest: found.rest, query: q < 0 ? '' : url.slice(q) };
  }

  /**
   * Synchronous when the token's check needs no read (a bearer token whose app and user are
   * cached): the answer's work starts in the same turn. A promise on a cache miss or a DPoP proof.
   */
  decide(method: string, match: GatewayMatch, credentials: GatewayCredentials, now: number): GatewayDecision | Promise<GatewayDecision> {
    const { api, rest } = match;

    // Dot segments would let the upstream resolve the path outside what the route admitted.
    if (unsafePath(rest)) return jsonError(400, 'invalid_request', 'the path contains dot segments or encoded slashes');
    const parts = pathSegments(rest);
    let route: CompiledRoute | undefined;
    let pathKnown = false;
    for (const r of api.routes) {
      if (!matchSegments(r.template, parts)) continue;
      // The first route (in their order) that admits the path and the method decides.
      if (r.methods.has(method)) {
        route = r;
        break;
      }
      pathKnown = true;
    }
    if (!route) {
      if (!pathKnown) return jsonError(404, 'not_found', 'no such resource');
      const matching = api.routes.filter((r) => matchSegments(r.template, parts));
      const allow = [...new Set(matching.flatMap((r) => [...r.methods]))].sort().join(', ');
      return { ...jsonError(405, 'method_not_allowed', `${method} is not allowed here`), headers: { allow } };
    }

    const resource = this.resources.byBasePath(api.def.basePath)!;
    // Bearer (RFC 6750) or DPoP (RFC 9449): the proof's htu is the API's public URL for this
    // path, under the issuer, as a client addressed it. The challenge names the scopes the route
    // needs and the resource's metadata (RFC 9728 §5.1).
    const access = this.#guard.check({
      authorization: credentials.authorization,
      dpop: credentials.dpop,
      method,
      url: () => `${this.#tokens.settings.issuer}${api.def.basePath}${rest}`,
      now,
      scope: route.scope,
      resourceMetadata: resource.metadataUrl,
    });
    return access instanceof Promise ? access.then((a) => this.#admit(a, match, route, resource, now)) : this.#admit(access, match, route, resource, now);
  }

  /** The token passed the guard (or not): audience, then the route's scopes. */
  #admit(access: ResourceAccess, match: GatewayMatch, route: CompiledRoute, resource: GatewayResource, now: number): GatewayDecision {
    if (!access.ok) return refusal(access.refusal);
    const { api, rest, query } = match;
    const { claims } = access.check;
    if (!this.#meantFor(claims.aud, resource)) return this.#refuse(access, resource, now, 401, 'invalid_token', 'the access token is not meant for this API');
    // A route admits a token holding any of its scopes.
    if (!holdsAny(claims.scope, route.scopes)) return this.#refuse(access, resource, now, 403, 'insufficient_scope', 'the access token lacks a scope this resource requires', route.scope);
    const path = `${api.pathPrefix}${rest}`;
    const decision: GatewayDecision = {
      kind: 'forward',
      api: api.def,
      origin: api.origin,
      path: path === '' ? `/${query}` : `${path}${query}`,
      identity: { subject: String(claims.sub), clientId: claims.client_id, scope: claims.scope ?? '' },
      responseHeaders: access.headers,
    };
    if (api.def.upstreamToken === 'exchange') {
      decision.upstreamAuthorization = this.upstreamTokens.authorization(access.check, { id: api.def.id, scopes: resource.scopes }, api.def.upstreamAudience ?? api.def.upstream, now);
    }
    return decision;
  }

  #refuse(access: Extract<ResourceAccess, { ok: true }>, resource: GatewayResource, now: number, status: number, error: ResourceErrorCode, description: string, challengeScope?: string) {
    return refusal(this.#guard.refusal({ now, resourceMetadata: resource.metadataUrl }, status, access.scheme, error, description, challengeScope));
  }
}

/**
 * A dot segment (`.`, `..`, or their percent-encoded forms) or an encoded slash or backslash
 * (`%2F`, `%5C`, `\`) anywhere in the path. Each needs a `.`, `%` or `\`; most paths have
 * none, and skip the per-segment checks.
 */
function unsafePath(rest: string): boolean {
  if (!rest.includes('.') && !rest.includes('%') && !rest.includes('\\')) return false;
  return rest.split('/').some((s) => s === '.' || s === '..' || /^(%2e|\.){1,2}$/i.test(s)) || /%2f|%5c|\\/i.test(rest);
}

/** Whether a token's `scope` claim (space-separated) holds any of `wanted`. */
function holdsAny(scope: string | undefined, wanted: readonly string[]): boolean {
  if (!scope) return false;
  const held = scope.split(' ');
  return wanted.some((s) => held.includes(s));
}

/**
 * Whether a token's audience admits it here. A token bound to a resource (RFC 8707) names
 * only that resource, so it opens no other API. A token issued without `resource` names the
 * issuer (and the audiences of APIs that set one, by their scopes): it is accepted by APIs
 * without an audience of their own, as before resource indicators existed.
 */
function meantFor(aud: string | string[], resource: GatewayResource, issuer: string): boolean {
  const list = Array.isArray(aud) ? aud : [aud];
  const id = resource.id.endsWith('/') ? resource.id.slice(0, -1) : resource.id;
  if (list.some((a) => a === id || a === `${id}/`)) return true;
  // An audience of the API's own (a URI or a resource server's client_id), as before RFC 8707.
  if (resource.api.audience !== null) return list.includes(resource.api.audience);
  return list.includes(issuer);
}

function splitUpstream(upstream: string): { origin: string; pathPrefix: string } {
  const url = new URL(upstream);
  // The API service stores upstreams without query or fragment; drop a trailing slash so
  // `{prefix}{rest}` never doubles it.
  return { origin: url.origin, pathPrefix: url.pathname.replace(/\/+$/, '') };
}

function jsonError(status: number, error: string, description: string): Extract<GatewayDecision, { kind: 'error' }> {
  return { kind: 'error', status, body: { error, error_description: description }, headers: {} };
}

/** RFC 6750 §3 / RFC 9449 §7.1: the refusal with its challenge (no error code in it when credentials were simply missing). */
function refusal(r: ResourceRefusal): Extract<GatewayDecision, { kind: 'error' }> {
  return { kind: 'error', status: r.status, body: { error: r.error, error_description: r.description }, headers: r.headers };
}
