import type { ProtectedResource, ResourceDirectory } from '../oauth/resource-indicators.ts';
import type { ApiDefinition } from './api-store.ts';
import { DPOP_SIGNING_ALGS } from '../oauth/dpop.ts';

/** Where RFC 9728 §3 puts a resource's metadata: the well-known prefix before the resource's path. */
export const PRM_PREFIX = '/.well-known/oauth-protected-resource';

/**
 * An API behind the gateway as a protected resource (RFC 9728, RFC 8707). Its identifier is
 * the API's `audience` when that is a URI, else its public URL: the issuer's URL with the base
 * path. An audience that is not a URI (an app's client_id, which makes that app the API's
 * resource server for introspection) stays in the `aud` of tokens bound to the API.
 */
export interface GatewayResource extends ProtectedResource {
  readonly api: ApiDefinition;
  /** The URL of its RFC 9728 metadata document. */
  readonly metadataUrl: string;
}

export function resourceOf(api: ApiDefinition, issuer: string): GatewayResource {
  const uriAudience = api.audience !== null && isAbsoluteUri(api.audience);
  const id = uriAudience ? api.audience! : `${issuer}${api.basePath}`;
  return {
    api,
    id,
    audience: api.audience === null || uriAudience ? id : [id, api.audience],
    scopes: api.scopes.map((s) => s.name),
    metadataUrl: `${issuer}${PRM_PREFIX}${api.basePath}`,
  };
}

function isAbsoluteUri(value: string): boolean {
  // A scheme, then something: https://…, urn:…; a bare UUID or name has no scheme.
  return /^[A-Za-z][A-Za-z0-9+.-]*:[^\s]+$/.test(value) && URL.canParse(value);
}

/** The RFC 9728 §2 metadata document of one API. */
export function protectedResourceMetadata(r: GatewayResource, issuer: string): Record<string, unknown> {
  return {
    resource: r.id,
    authorization_servers: [issuer],
    scopes_supported: r.scopes,
    // RFC 6750 §2.1 only: the gateway reads the Authorization header, never a form or query token.
    bearer_methods_supported: ['header'],
    // RFC 9728 §2: the gateway also takes DPoP-bound tokens (RFC 9449), proved with these algorithms.
    dpop_signing_alg_values_supported: [...DPOP_SIGNING_ALGS],
    resource_name: r.api.name,
  };
}

/** A trailing slash does not make another resource (`https://h/mcp` and `https://h/mcp/`). */
function key(resource: string): string {
  return resource.endsWith('/') ? resource.slice(0, -1) : resource;
}

/** The gateway's resources, looked up by identifier, by scope and by base path. */
export class ResourceIndex implements ResourceDirectory {
  readonly #byId = new Map<string, GatewayResource>();
  readonly #byScope = new Map<string, string>();
  readonly #byBasePath = new Map<string, GatewayResource>();
  /** An API's audience that is not its identifier (a resource server's client_id). */
  readonly #byOwnAudience = new Map<string, GatewayResource>();
  readonly all: readonly GatewayResource[];

  constructor(apis: readonly ApiDefinition[], issuer: string) {
    this.all = apis.map((a) => resourceOf(a, issuer));
    for (const r of this.all) {
      if (!this.#byId.has(key(r.id))) this.#byId.set(key(r.id), r);
      for (const s of r.scopes) this.#byScope.set(s, r.id);
      this.#byBasePath.set(r.api.basePath, r);
      if (r.api.audience !== null && !this.#byOwnAudience.has(r.api.audience)) this.#byOwnAudience.set(r.api.audience, r);
    }
  }

  find(resource: string): GatewayResource | undefined {
    return this.#byId.get(key(resource));
  }

  ownerOf(scope: string): string | undefined {
    return this.#byScope.get(scope);
  }

  byAudience(audience: string): GatewayResource | undefined {
    return this.find(audience) ?? this.#byOwnAudience.get(audience);
  }

  byBasePath(basePath: string): GatewayResource | undefined {
    return this.#byBasePath.get(basePath);
  }
}
