import { invalidTarget } from './errors.ts';
import type { RawParams } from './params.ts';

/**
 * Resource indicators (RFC 8707). A protected resource is one API behind the gateway; its
 * identifier is what `resource` names and what a token bound to it carries as `aud`.
 * The protocol core only knows this interface; the gateway implements it (layering).
 */
export interface ProtectedResource {
  /** The resource identifier (absolute URI, no fragment): the API's public URL unless set. */
  readonly id: string;
  /** The `aud` of a token bound to it: the identifier, plus an audience that is not a URI (an app's client_id). */
  readonly audience: string | readonly string[];
  /** The scopes this API declares. */
  readonly scopes: readonly string[];
}

export interface ResourceDirectory {
  /** The resource a `resource` value names (exact, or differing only by a trailing slash). */
  find(resource: string): ProtectedResource | undefined;
  /** The identifier of the resource declaring `scope`, if an API declares it. */
  ownerOf(scope: string): string | undefined;
  /** The resource an RFC 8693 `audience` names: by identifier, or by its own audience (an app's client_id). */
  byAudience(audience: string): ProtectedResource | undefined;
}

/**
 * RFC 8707 §2 allows several `resource` values; Tessera binds a token to one API, so it
 * answers `invalid_target` for more than one ("the combination cannot be issued"). Checked
 * on the raw parameters, before the one-value-per-name rule would call it invalid_request.
 */
export function rejectSeveralResources(raw: RawParams): void {
  const values = raw.get('resource');
  if (values && values.length > 1) throw invalidTarget('send one resource per request: a token is bound to one API');
}

/**
 * The resource a request names, resolved: undefined when none was sent. RFC 8707 §2: "MUST
 * be an absolute URI … MUST NOT include a fragment component"; unknown → invalid_target.
 */
export function resolveResource(value: string | undefined, directory: ResourceDirectory): ProtectedResource | undefined {
  if (value === undefined) return undefined;
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    throw invalidTarget('resource must be an absolute URI');
  }
  if (value.includes('#') || url.hash) throw invalidTarget('resource must not contain a fragment');
  const found = directory.find(value);
  if (!found) throw invalidTarget('resource is not a protected resource known to this server');
  return found;
}

/**
 * The client may ask for a resource only when it may hold at least one of that API's scopes
 * (its registered or default scopes), so a resource never opens an API the app was not given.
 */
export function checkResourceAllowed(resource: ProtectedResource, allowedScopes: readonly string[]): void {
  if (!resource.scopes.some((s) => allowedScopes.includes(s))) throw invalidTarget('this app may not request tokens for this resource');
}

/**
 * The scopes an access token bound to `resource` carries (RFC 8707 §2.2: the token is
 * "restricted to the resource"): every scope declared by another API is dropped; scopes no
 * API declares (openid, profile, offline_access …) stay, as they do not open any API.
 */
export function narrowScopes(scopes: readonly string[], resource: ProtectedResource | undefined, directory: ResourceDirectory): string[] {
  if (!resource) return [...scopes];
  return scopes.filter((s) => {
    const owner = directory.ownerOf(s);
    return owner === undefined || owner === resource.id;
  });
}

/**
 * A later request on a grant (code exchange, refresh) may keep or narrow the resource, never
 * widen it (RFC 8707 §2.2): with a resource bound at authorization, only that one; without,
 * any resource whose scopes the grant holds.
 */
export function resourceForGrant(
  asked: ProtectedResource | undefined,
  bound: string | null,
  grantScopes: readonly string[],
  directory: ResourceDirectory,
): ProtectedResource | undefined {
  if (bound !== null) {
    const boundResource = directory.find(bound);
    if (!boundResource) throw invalidTarget('the resource this grant was issued for no longer exists');
    if (asked && asked.id !== boundResource.id) throw invalidTarget('resource differs from the one the grant was issued for');
    return boundResource;
  }
  if (asked && !asked.scopes.some((s) => grantScopes.includes(s))) throw invalidTarget('the grant holds no scope of this resource');
  return asked;
}

/** No directory: no resources (tests and tools building the core without a gateway). */
export const NO_RESOURCES: ResourceDirectory = { find: () => undefined, ownerOf: () => undefined, byAudience: () => undefined };
