/**
 * Who makes a change: an admin API caller (a user, or an app acting for one), an operator at
 * the CLI, a person at Tessera's pages, an app at a protocol endpoint, or Tessera itself
 * (first-start bootstrap). Every service change method takes one
 * as its last parameter; the audit entry's `actor` is its label and `ip` its address.
 */
export type Actor =
  | { kind: 'user'; userId: string; username: string; clientId: string; label: string; ip: string | null }
  | { kind: 'operator'; label: string } // the CLI: `cli:<os user>`
  // Someone at Tessera's own pages (sign-in, consent, sign-out): `user:<username>` once known, else `anonymous`.
  | { kind: 'visitor'; label: string; ip: string | null }
  // An app calling a protocol endpoint with its own credentials (RFC 7009 revocation): `app:<client_id>`.
  | { kind: 'app'; clientId: string; label: string; ip: string | null }
  | { kind: 'system'; label: 'system' };

export const SYSTEM: Actor = { kind: 'system', label: 'system' };

/** The CLI's actor: the operating-system user running `tessera`. */
export function operator(osUser: string): Actor {
  return { kind: 'operator', label: `cli:${osUser}` };
}

/** The person at Tessera's pages: `user:<username>` when known, `anonymous` otherwise. */
export function visitor(username: string | null, ip: string | null): Actor {
  return { kind: 'visitor', label: username === null ? 'anonymous' : `user:${username}`, ip };
}

/** An app authenticated at a protocol endpoint, acting for itself: `app:<client_id>`. */
export function appActor(clientId: string, ip: string | null): Actor {
  return { kind: 'app', clientId, label: `app:${clientId}`, ip };
}

/**
 * Dynamic Client Registration (RFC 7591/7592): `self-registration` for a new app, or
 * `self-registration:<client_id>` for an app managing its own registration.
 */
export function selfRegistration(clientId: string | null, ip: string | null): Actor {
  return clientId === null ? { kind: 'visitor', label: 'self-registration', ip } : { kind: 'app', clientId, label: `self-registration:${clientId}`, ip };
}

export function actorIp(actor: Actor): string | null {
  return actor.kind === 'user' || actor.kind === 'visitor' || actor.kind === 'app' ? actor.ip : null;
}
