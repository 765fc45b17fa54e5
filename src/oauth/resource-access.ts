import { errorDescriptionText } from './errors.ts';
import { DPOP_SIGNING_ALGS, DpopError, type DpopVerifier } from './dpop.ts';
import type { TokenCheck, TokenService } from './token-service.ts';

/**
 * An access token presented at a resource — userinfo or a gateway API — with the `Bearer`
 * scheme (RFC 6750) or the `DPoP` scheme and a proof (RFC 9449 §7). One decision for both,
 * and one challenge format (§7.1): a `Bearer` and a `DPoP` challenge side by side, the error in
 * the one of the scheme the client used.
 *
 * A bearer request costs what it did before DPoP: the header parse and the token check; a
 * DPoP-bound token presented as a bearer token is refused from its claims alone (§7.2).
 */

export type ResourceScheme = 'Bearer' | 'DPoP';
export type ResourceErrorCode = 'invalid_request' | 'invalid_token' | 'insufficient_scope' | 'invalid_dpop_proof' | 'use_dpop_nonce';

const REALM = 'realm="tessera"';
/** A bearer request's extra answer headers: none (shared, never written to). */
const NO_HEADERS: Record<string, string> = Object.freeze({}) as Record<string, string>;
const ALGS = `algs="${DPOP_SIGNING_ALGS.join(' ')}"`;

/** undefined: no Authorization header; null: one that is neither `Bearer <token>` nor `DPoP <token>`. */
export function parseAuthorization(header: string | undefined): { scheme: ResourceScheme; token: string } | undefined | null {
  if (header === undefined) return undefined;
  const m = /^(Bearer|DPoP) +([A-Za-z0-9\-._~+/]+=*) *$/i.exec(header);
  if (!m) return null;
  return { scheme: m[1]!.toLowerCase() === 'dpop' ? 'DPoP' : 'Bearer', token: m[2]! };
}

export interface ChallengeOptions {
  /** The scheme the request used (where the error goes); none: the request had no credentials. */
  scheme?: ResourceScheme | undefined;
  error?: ResourceErrorCode | undefined;
  description?: string | undefined;
  scope?: string | undefined;
  /** RFC 9728 §5.1: where the resource's metadata is. */
  resourceMetadata?: string | undefined;
}

/** The `WWW-Authenticate` value: `Bearer …, DPoP …, algs="…"` (RFC 6750 §3, RFC 9449 §7.1). */
export function resourceChallenge(o: ChallengeOptions): string {
  const errorParts = (): string[] => {
    const parts: string[] = [];
    if (o.error) parts.push(`error="${o.error}"`, `error_description="${errorDescriptionText(o.description ?? '').replace(/["\\]/g, '')}"`);
    if (o.scope) parts.push(`scope="${o.scope}"`);
    return parts;
  };
  const bearer = [REALM, ...(o.scheme === 'DPoP' ? [] : errorParts())];
  if (o.resourceMetadata) bearer.push(`resource_metadata="${o.resourceMetadata.replace(/["\\]/g, '')}"`);
  const dpop = [...(o.scheme === 'DPoP' ? errorParts() : []), ALGS];
  return `Bearer ${bearer.join(', ')}, DPoP ${dpop.join(', ')}`;
}

export interface ResourceRefusal {
  status: number;
  error: ResourceErrorCode;
  description: string;
  headers: Record<string, string>;
}

export type ResourceAccess =
  | { ok: true; check: Extract<TokenCheck, { active: true }>; scheme: ResourceScheme; headers: Record<string, string> }
  | { ok: false; refusal: ResourceRefusal };

export interface ResourceRequest {
  authorization: string | undefined;
  /** The request's `DPoP` headers, as received; undefined when there are none. */
  dpop: readonly string[] | undefined;
  method: string;
  /** The resource's public URL for this request (the issuer's origin and path), for `htu`; built only for a DPoP request. */
  url: () => string;
  now: number;
  /** For the challenge of a refusal: the scopes the resource needs, its metadata URL. */
  scope?: string | undefined;
  resourceMetadata?: string | undefined;
}

/** Decides whether a presented access token may be used here; the caller then checks audience and scope. */
export class ResourceGuard {
  readonly #tokens: TokenService;
  readonly #dpop: DpopVerifier;

  constructor(tokens: TokenService, dpop: DpopVerifier) {
    this.#tokens = tokens;
    this.#dpop = dpop;
  }

  /** A refusal with its challenge; `use_dpop_nonce` brings the nonce to use (§8). */
  refusal(req: Pick<ResourceRequest, 'now' | 'resourceMetadata'>, status: number, scheme: ResourceScheme | undefined, error: ResourceErrorCode | undefined, description: string, scope?: string): ResourceRefusal {
    const headers: Record<string, string> = { 'www-authenticate': resourceChallenge({ scheme, error, description, scope, resourceMetadata: req.resourceMetadata }) };
    if (error === 'use_dpop_nonce') Object.assign(headers, this.#dpop.nonceHeader(req.now));
    return { status, error: error ?? 'invalid_token', description, headers };
  }

  /**
   * Synchronous for a bearer token whose check needs no read (see `checkAccessToken`): the
   * gateway decides a request without a promise then. A DPoP proof is verified asynchronously.
   */
  check(req: ResourceRequest): ResourceAccess | Promise<ResourceAccess> {
    const presented = parseAuthorization(req.authorization);
    // §7.1: no error code when the request simply had no credentials; the challenge names the scopes.
    if (presented === undefined) return this.#refuse(req, 401, undefined, undefined, 'an access token is required', req.scope);
    if (presented === null) return this.#refuse(req, 400, undefined, 'invalid_request', 'the Authorization header must be "Bearer <token>" or "DPoP <token>"');
    const { scheme, token } = presented;
    if (scheme === 'DPoP' && req.dpop === undefined) return this.#refuse(req, 401, 'DPoP', 'invalid_dpop_proof', 'a DPoP proof (DPoP header) is required with the DPoP scheme');

    const check = this.#tokens.checkAccessToken(token, req.now);
    return check instanceof Promise ? check.then((c) => this.#checked(req, scheme, token, c)) : this.#checked(req, scheme, token, check);
  }

  #checked(req: ResourceRequest, scheme: ResourceScheme, token: string, check: TokenCheck): ResourceAccess | Promise<ResourceAccess> {
    if (!check.active) return this.#refuse(req, 401, scheme, 'invalid_token', 'the access token is invalid, expired or revoked');
    const jkt = check.claims.cnf?.jkt;
    if (scheme === 'Bearer') {
      // §7.2: a DPoP-bound token is worthless without its proof, whatever scheme it claims.
      if (jkt !== undefined) return this.#refuse(req, 401, 'Bearer', 'invalid_token', 'the access token is DPoP-bound: send it with the DPoP scheme and a DPoP proof');
      return { ok: true, check, scheme, headers: NO_HEADERS };
    }
    if (jkt === undefined) return this.#refuse(req, 401, 'DPoP', 'invalid_token', 'the access token is not DPoP-bound: send it with the Bearer scheme');
    return this.#proven(req, token, check, jkt);
  }

  async #proven(req: ResourceRequest, token: string, check: Extract<TokenCheck, { active: true }>, jkt: string): Promise<ResourceAccess> {
    let proofJkt: string;
    try {
      ({ jkt: proofJkt } = await this.#dpop.verify({ headers: req.dpop!, method: req.method, url: req.url(), accessToken: token, now: req.now }));
    } catch (error) {
      if (!(error instanceof DpopError)) throw error;
      return this.#refuse(req, 401, 'DPoP', error.code, error.message);
    }
    if (proofJkt !== jkt) return this.#refuse(req, 401, 'DPoP', 'invalid_dpop_proof', 'the DPoP proof is not signed with the key the access token is bound to');
    return { ok: true, check, scheme: 'DPoP', headers: this.#dpop.nonceHeader(req.now) };
  }

  #refuse(req: ResourceRequest, status: number, scheme: ResourceScheme | undefined, error: ResourceErrorCode | undefined, description: string, scope?: string): ResourceAccess {
    return { ok: false, refusal: this.refusal(req, status, scheme, error, description, scope) };
  }
}
