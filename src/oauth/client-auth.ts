import type { Client } from '../clients/client.ts';
import { decodeJwt } from 'jose';
import { hashesEqual, sha256 } from '../lib/crypto.ts';
import { JWT_BEARER_ASSERTION_TYPE, type AssertionCheck } from './client-assertion.ts';
import { invalidClient, invalidRequest } from './errors.ts';

export type ClientAuthMethod = 'client_secret_basic' | 'client_secret_post' | 'private_key_jwt' | 'none';

export interface AuthenticatedClient {
  client: Client;
  method: ClientAuthMethod;
}

/** How the core looks up an app; a cache hit returns synchronously. */
export interface ClientLookup {
  (id: string): Client | undefined | Promise<Client | undefined>;
  /**
   * After a presented secret failed to match `seen` (an app this lookup returned from memory):
   * the app as stored now if it changed since (e.g. the CLI rotated its secret in another
   * process), `null` if it was deleted, `undefined` if it did not change.
   */
  changed?(id: string, seen: Client): Promise<Client | null | undefined>;
}

const MAX_CREDENTIAL_LENGTH = 512;

const MAX_ASSERTION_LENGTH = 8192;

interface PresentedCredentials {
  clientId: string;
  secret: string | undefined;
  method: ClientAuthMethod;
  /** private_key_jwt: the signed client assertion (RFC 7523 §2.2). */
  assertion?: string;
}

/**
 * Reads the client credentials a request presents (RFC 6749 §2.3.1). Exactly one method:
 * HTTP Basic with form-urlencoded id and secret, or client_id + client_secret in the body,
 * or (public clients) client_id alone.
 */
export function presentedCredentials(authorization: string | undefined, params: Map<string, string>): PresentedCredentials {
  const bodyId = params.get('client_id');
  const bodySecret = params.get('client_secret');
  if (params.has('client_assertion') || params.has('client_assertion_type')) {
    return assertionCredentials(authorization, params, bodyId, bodySecret);
  }
  if (authorization !== undefined) {
    const basic = parseBasic(authorization);
    // RFC 6749 §2.3: "The client MUST NOT use more than one authentication method in each request."
    if (bodySecret !== undefined) throw invalidRequest('client authenticated with both HTTP Basic and client_secret in the body; use one');
    if (bodyId !== undefined && bodyId !== basic.clientId) throw invalidRequest('client_id in the body differs from the HTTP Basic user name');
    return { clientId: basic.clientId, secret: basic.secret, method: 'client_secret_basic' };
  }
  if (bodyId === undefined) throw invalidClient('client authentication is required (HTTP Basic or client_id and client_secret)', false);
  if (bodyId.length > MAX_CREDENTIAL_LENGTH || (bodySecret?.length ?? 0) > MAX_CREDENTIAL_LENGTH) {
    throw invalidRequest('client credentials are too long');
  }
  return bodySecret === undefined
    ? { clientId: bodyId, secret: undefined, method: 'none' }
    : { clientId: bodyId, secret: bodySecret, method: 'client_secret_post' };
}

/**
 * RFC 7523 §2.2: client_assertion_type and client_assertion, and no other method. The client
 * id is the assertion's `sub` (read unverified here, to find the app whose keys verify it);
 * a client_id in the body, which RFC 7521 §4.2 allows, must agree.
 */
function assertionCredentials(authorization: string | undefined, params: Map<string, string>, bodyId: string | undefined, bodySecret: string | undefined): PresentedCredentials {
  if (authorization !== undefined || bodySecret !== undefined) {
    throw invalidRequest('client authenticated with a client assertion and another method; use one');
  }
  const type = params.get('client_assertion_type');
  const assertion = params.get('client_assertion');
  if (type === undefined || assertion === undefined) throw invalidRequest('client_assertion and client_assertion_type come together');
  if (type !== JWT_BEARER_ASSERTION_TYPE) throw invalidClient(`client_assertion_type must be ${JWT_BEARER_ASSERTION_TYPE}`, false);
  if (assertion.length > MAX_ASSERTION_LENGTH) throw invalidClient('client_assertion is too long', false);
  let sub: unknown;
  try {
    sub = decodeJwt(assertion).sub;
  } catch {
    throw invalidClient('client_assertion is not a JWT', false);
  }
  if (typeof sub !== 'string' || sub.length === 0 || sub.length > MAX_CREDENTIAL_LENGTH) throw invalidClient('client_assertion has no sub (the client_id)', false);
  if (bodyId !== undefined && bodyId !== sub) throw invalidClient('client_id differs from the client assertion\'s sub', false);
  return { clientId: sub, secret: undefined, method: 'private_key_jwt', assertion };
}

function parseBasic(header: string): { clientId: string; secret: string } {
  const space = header.indexOf(' ');
  const scheme = space > 0 ? header.slice(0, space) : header;
  if (scheme.toLowerCase() !== 'basic') {
    throw invalidRequest('the Authorization header must use the Basic scheme on this endpoint');
  }
  // "Basic" with no credentials: the scheme name itself must not be decoded as base64.
  const encoded = space > 0 ? header.slice(space + 1).trim() : '';
  if (encoded.length === 0 || encoded.length > 2048 || !/^[A-Za-z0-9+/]+={0,2}$/.test(encoded)) {
    throw invalidRequest('the HTTP Basic credentials are not valid base64');
  }
  const decoded = Buffer.from(encoded, 'base64').toString('utf8');
  const colon = decoded.indexOf(':');
  if (colon < 0) throw invalidRequest('the HTTP Basic credentials must be "client_id:client_secret"');
  try {
    // RFC 6749 §2.3.1: id and secret are form-urlencoded before Basic encoding.
    const clientId = formDecoded(decoded.slice(0, colon));
    const secret = formDecoded(decoded.slice(colon + 1));
    if (!clientId) throw invalidRequest('the HTTP Basic user name (client_id) is empty');
    return { clientId, secret };
  } catch (error) {
    if (error instanceof URIError) throw invalidRequest('the HTTP Basic credentials are not valid form-urlencoded text');
    throw error;
  }
}

/** One form-urlencoded value; most ids and secrets have nothing encoded, and are returned as they are. */
function formDecoded(value: string): string {
  if (value.indexOf('%') < 0 && value.indexOf('+') < 0) return value;
  return decodeURIComponent(value.replace(/\+/g, ' '));
}

/**
 * Authenticates the client. Unknown client and wrong secret give the same answer, so the
 * endpoint does not reveal which client ids exist. Secrets are high-entropy, so SHA-256
 * plus a constant-time compare is enough (a slow hash would only cap throughput).
 */
export function authenticateClient(
  creds: PresentedCredentials,
  lookup: ClientLookup,
  now: number,
  assertions?: AssertionCheck,
): AuthenticatedClient | Promise<AuthenticatedClient> {
  if (creds.method === 'private_key_jwt') return authenticateAssertion(creds, lookup, now, assertions);
  const found = lookup(creds.clientId);
  if (found instanceof Promise) return found.then((c) => verify(creds, c, now));
  const changed = lookup.changed;
  if (!found || !changed) return verify(creds, found, now);
  // From memory: a secret that does not match may be one rotated since (by another node or
  // the CLI in another process), so ask once whether the app changed before refusing. Only
  // the failure path pays for it; a match still returns synchronously.
  return verify(creds, found, now, () =>
    changed.call(lookup, creds.clientId, found).then((fresh) => {
      if (fresh === undefined) throw invalidClient('client authentication failed', creds.method === 'client_secret_basic');
      return verify(creds, fresh ?? undefined, now);
    }),
  );
}

/** private_key_jwt: only an app registered for it, only with a valid, unused assertion. */
async function authenticateAssertion(creds: PresentedCredentials, lookup: ClientLookup, now: number, assertions: AssertionCheck | undefined): Promise<AuthenticatedClient> {
  if (!assertions) throw invalidClient('client assertions are not accepted at this endpoint', false);
  const client = await lookup(creds.clientId);
  if (!client) throw invalidClient('client authentication failed', false);
  if (client.tokenEndpointAuthMethod !== 'private_key_jwt') {
    throw invalidClient('client authentication failed: this app is not registered for private_key_jwt', false);
  }
  await assertions(client, creds.assertion!, now);
  return { client, method: 'private_key_jwt' };
}

/** Compared against when there is no previous secret, so both comparisons always run. */
const NO_PREVIOUS_SECRET = sha256('');

/**
 * The current secret, or during a grace period after `rotate-secret --grace` the previous
 * one (epoch s `now` before its end). Both are compared in constant time, always both.
 */
export function secretMatches(client: Client, secret: string, now: number): boolean {
  if (client.secretHash === null) return false;
  const presented = sha256(secret);
  const inGrace = client.previousSecretHash !== null && client.previousSecretExpiresAt !== null && now < client.previousSecretExpiresAt;
  const current = hashesEqual(presented, client.secretHash);
  const previous = hashesEqual(presented, inGrace ? client.previousSecretHash! : NO_PREVIOUS_SECRET);
  return current || (inGrace && previous);
}

/** `onWrongSecret`: what to do instead of refusing when the secret does not match. */
function verify(
  creds: PresentedCredentials,
  client: Client | undefined,
  now: number,
  onWrongSecret?: () => Promise<AuthenticatedClient>,
): AuthenticatedClient | Promise<AuthenticatedClient> {
  const usedBasic = creds.method === 'client_secret_basic';
  if (!client) throw invalidClient('client authentication failed', usedBasic);
  if (client.tokenEndpointAuthMethod === 'private_key_jwt') {
    // OIDC Registration §2: the registered method is the one the app must use.
    throw invalidClient('client authentication failed: this app authenticates with private_key_jwt (a signed client assertion)', usedBasic);
  }
  if (creds.method === 'none') {
    if (!client.public) throw invalidClient('client authentication failed: this client must authenticate with its secret', false);
    return { client, method: 'none' };
  }
  if (client.public || client.secretHash === null) {
    throw invalidClient('client authentication failed: public clients do not have a secret', usedBasic);
  }
  if (!secretMatches(client, creds.secret ?? '', now)) {
    if (onWrongSecret) return onWrongSecret();
    throw invalidClient('client authentication failed', usedBasic);
  }
  return { client, method: creds.method };
}
