import { TOKEN_EXCHANGE_GRANT } from '../../clients/client.ts';
import { decideGrant, decideTokenExchange, type TokenExchangeDenial } from '../../clients/grant-policy.ts';
import { ADMIN_SCOPE, USER_ONLY_SCOPES } from '../../lib/scope-names.ts';
import { invalidRequest, invalidScope, invalidTarget, type OAuthError, unauthorizedClient } from '../errors.ts';
import { resolveResource, type ProtectedResource, type ResourceDirectory } from '../resource-indicators.ts';
import { parseScope } from '../scopes.ts';
import { exchangeLineage, type AccessTokenClaims, type ActClaim } from '../token-service.ts';
import type { GrantDeps, GrantHandler, GrantRequest, TokenResponse } from './grant-handler.ts';

/** RFC 8693 §3: the token type identifiers. */
export const TOKEN_TYPES = {
  accessToken: 'urn:ietf:params:oauth:token-type:access_token',
  refreshToken: 'urn:ietf:params:oauth:token-type:refresh_token',
  idToken: 'urn:ietf:params:oauth:token-type:id_token',
  jwt: 'urn:ietf:params:oauth:token-type:jwt',
} as const;

/**
 * The subject and actor tokens Tessera accepts: its own access tokens, named as access tokens
 * or as JWTs (they are both). An ID token says who signed in to an app, not what may be done
 * on the user's behalf, and a refresh token belongs to its app alone: neither is exchanged.
 */
const ACCEPTED_TYPES: ReadonlySet<string> = new Set([TOKEN_TYPES.accessToken, TOKEN_TYPES.jwt]);

/**
 * Scopes an exchanged token never carries: it is an access token for one API, so no ID token
 * or refresh token comes with it, and the admin API is not a target one app can pass to another.
 */
const NOT_EXCHANGED: ReadonlySet<string> = new Set([...USER_ONLY_SCOPES, ADMIN_SCOPE]);

/**
 * RFC 8693: an app presents a user's access token (the subject token) and gets a token for
 * another API (audience or resource) acting for the same user, with at most the subject
 * token's scopes. With an actor token (one of the app's own tokens) the new token records
 * the delegation in `act`, nesting any actor the subject token already named (§4.1). Off
 * unless the app's token-exchange policy allows the target (`decideTokenExchange`).
 *
 * Errors follow §2.2.2: a subject or actor token that is invalid, of an unaccepted type or
 * unacceptable by policy → invalid_request; a target that cannot be served → invalid_target.
 */
export const tokenExchangeGrant = {
  grantType: TOKEN_EXCHANGE_GRANT,
  allowPublicClients: false,

  async handle(req: GrantRequest, deps: GrantDeps): Promise<TokenResponse> {
    const { params, client } = req;
    // Before any token is looked at: an app the policy does not name learns nothing about them.
    if (!client.tokenExchange) throw refused({ allowed: false, reason: 'exchange_not_allowed' });

    const subjectToken = required(params, 'subject_token');
    const subjectType = required(params, 'subject_token_type');
    if (!ACCEPTED_TYPES.has(subjectType)) throw unsupportedType('subject_token_type', subjectType);
    const actorToken = params.get('actor_token');
    const actorType = params.get('actor_token_type');
    // §2.1: actor_token_type is REQUIRED with an actor_token and MUST NOT be sent without one.
    if (actorToken !== undefined && actorType === undefined) throw invalidRequest('actor_token_type is required with actor_token');
    if (actorToken === undefined && actorType !== undefined) throw invalidRequest('actor_token_type must not be sent without actor_token');
    if (actorType !== undefined && !ACCEPTED_TYPES.has(actorType)) throw unsupportedType('actor_token_type', actorType);
    const requestedType = params.get('requested_token_type');
    if (requestedType !== undefined && requestedType !== TOKEN_TYPES.accessToken) {
      throw invalidRequest(`requested_token_type "${requestedType.slice(0, 100)}" cannot be issued; this server issues ${TOKEN_TYPES.accessToken}`);
    }

    const target = targetOf(params.get('resource'), params.get('audience'), deps.resources);

    const subject = await deps.tokens.checkAccessToken(subjectToken, req.now);
    if (!subject.active) throw invalidRequest(`the subject_token is not valid (${subject.reason})`);
    if (!subject.principal) throw invalidRequest('the subject_token has no user: an app acting as itself gets tokens with client_credentials');

    let act = subject.claims.act as ActClaim | undefined;
    if (actorToken !== undefined) {
      const actor = await deps.tokens.checkAccessToken(actorToken, req.now);
      if (!actor.active) throw invalidRequest(`the actor_token is not valid (${actor.reason})`);
      // The actor is the app asking, or a party it holds a token of: a token another app got cannot name it.
      if (actor.claims.client_id !== client.id) throw invalidRequest('the actor_token was issued to another app');
      act = actorClaim(actor.claims, act);
    }

    const scopes = exchangedScopes(params.get('scope'), subject.claims, target, deps.resources, client.tokenExchange.scopes);
    const targetAudiences = typeof target.audience === 'string' ? [target.id, target.audience] : [target.id, ...target.audience];
    const decision = decideTokenExchange(client, { subjectClientId: subject.claims.client_id, targetAudiences, scopes });
    if (!decision.allowed) throw refused(decision);
    // The user must still be one who may have tokens for the app asking (its required permission).
    const user = decideGrant(client, subject.principal, scopes);
    if (!user.allowed) throw invalidRequest('the user of the subject_token may not have tokens for this app');

    const issued = deps.tokens.issueAccessToken({
      client,
      principal: subject.principal,
      scopes,
      resource: target.audience,
      act,
      notAfter: subject.claims.exp,
      // Revoking the subject token (or one it was exchanged from) ends this one too.
      exchangedFrom: exchangeLineage(subject.claims),
      // RFC 9449: a proof sent with the exchange binds the new token to the caller's key.
      jkt: req.dpopJkt,
      now: req.now,
    });
    const response: TokenResponse = {
      access_token: issued.token,
      issued_token_type: TOKEN_TYPES.accessToken,
      token_type: req.dpopJkt === undefined ? 'Bearer' : 'DPoP',
      expires_in: issued.expiresIn,
    };
    if (scopes.length) response.scope = scopes.join(' ');
    return response;
  },
} satisfies GrantHandler;

function required(params: Map<string, string>, name: string): string {
  const value = params.get(name);
  if (value === undefined || value === '') throw invalidRequest(`${name} is required`);
  return value;
}

function unsupportedType(param: string, value: string): OAuthError {
  return invalidRequest(`${param} "${value.slice(0, 100)}" is not accepted; send a Tessera access token as ${TOKEN_TYPES.accessToken}`);
}

/**
 * The one API the new token is for. `resource` (RFC 8707: an absolute URI) and `audience`
 * (RFC 8693 §2.1: a logical name — here a resource identifier or an API's own audience) may
 * both be sent, naming the same API; a token is bound to one.
 */
function targetOf(resource: string | undefined, audience: string | undefined, directory: ResourceDirectory): ProtectedResource {
  const byResource = resolveResource(resource, directory);
  const byAudience = audience === undefined ? undefined : directory.byAudience(audience);
  if (audience !== undefined && !byAudience) throw invalidTarget('audience is not an API known to this server');
  if (byResource && byAudience && byResource.id !== byAudience.id) throw invalidTarget('audience and resource name different APIs; a token is for one');
  const target = byResource ?? byAudience;
  if (!target) throw invalidRequest('name the API the token is for with audience or resource');
  return target;
}

/**
 * At most the subject token's scopes (§1: the new token's rights are no wider), narrowed to
 * the target; unasked, the subject token's scopes of the target within the policy's.
 */
function exchangedScopes(
  requested: string | undefined,
  subject: AccessTokenClaims,
  target: ProtectedResource,
  directory: ResourceDirectory,
  policyScopes: readonly string[] | null,
): string[] {
  const held = subject.scope ? subject.scope.split(' ') : [];
  const asked = parseScope(requested);
  let scopes: string[];
  if (asked.length) {
    const notExchanged = asked.filter((s) => NOT_EXCHANGED.has(s));
    if (notExchanged.length) throw invalidScope(`not available through token exchange: ${notExchanged.join(' ')}`);
    const notHeld = asked.filter((s) => !held.includes(s));
    if (notHeld.length) throw invalidScope(`the subject_token does not hold: ${notHeld.join(' ')}`);
    scopes = asked;
  } else {
    scopes = held.filter((s) => !NOT_EXCHANGED.has(s) && (policyScopes === null || policyScopes.includes(s)));
  }
  // Bound to one API (RFC 8707 §2.2): scopes of other APIs, and those no API declares, are dropped.
  scopes = scopes.filter((s) => directory.ownerOf(s) === target.id);
  if (target.scopes.length && !scopes.length) throw invalidScope('the subject_token holds no scope of this API');
  return scopes;
}

/** §4.1: the current actor outermost, the one before it nested. */
function actorClaim(actor: AccessTokenClaims, previous: ActClaim | undefined): ActClaim {
  const claim: ActClaim = { sub: String(actor.sub) };
  if (actor.client_id !== actor.sub) claim.client_id = actor.client_id;
  if (previous) claim.act = previous;
  return claim;
}

function refused(denial: TokenExchangeDenial): OAuthError {
  switch (denial.reason) {
    case 'exchange_not_allowed':
      return unauthorizedClient('this app may not use token exchange (it has no token-exchange policy)');
    case 'subject_client_not_allowed':
      return invalidRequest('this app may not exchange tokens issued to the app the subject_token was issued to');
    case 'audience_not_allowed':
      return invalidTarget('this app may not exchange tokens for this audience');
    case 'scope_not_allowed':
      return invalidScope(`this app may not exchange tokens for: ${denial.scopes.join(' ')}`);
  }
}
