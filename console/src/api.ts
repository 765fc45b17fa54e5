import { accessToken, forgetTokens } from './auth.ts';
import type { components, paths } from './generated/admin-api.ts';

/** An answer of the admin API that is not a success: `error`, `error_description`, `field`. */
export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    description: string,
    readonly field?: string,
  ) {
    super(description);
  }
}

type Listener = () => void;
const expiredListeners = new Set<Listener>();
/** Called when the admin API refuses the console's token for good (expired, revoked, role removed). */
export function onSessionExpired(listener: Listener): () => void {
  expiredListeners.add(listener);
  return () => expiredListeners.delete(listener);
}

const BASE = '/admin/api/v1';

/** A call to the admin API (the console uses nothing else). */
export async function api<T>(method: string, path: string, body?: unknown): Promise<T> {
  let token = await accessToken();
  for (let attempt = 0; ; attempt++) {
    const headers: Record<string, string> = { accept: 'application/json' };
    if (token) headers.authorization = `Bearer ${token}`;
    if (body !== undefined) headers['content-type'] = 'application/json';
    let res: Response;
    try {
      res = await fetch(`${BASE}${path}`, { method, headers, body: body === undefined ? undefined : JSON.stringify(body), cache: 'no-store' });
    } catch {
      throw new ApiError(0, 'network_error', 'Tessera could not be reached. Check your connection and try again.');
    }
    if (res.status === 401 && attempt === 0) {
      // One refresh (when a refresh token was issued), then one retry.
      const fresh = await accessToken(true);
      if (fresh) {
        token = fresh;
        continue;
      }
    }
    const text = await res.text();
    let json: Record<string, unknown> | undefined;
    try {
      json = text ? (JSON.parse(text) as Record<string, unknown>) : undefined;
    } catch {
      json = undefined;
    }
    if (res.ok) return json as T;
    if (res.status === 401) {
      forgetTokens();
      for (const l of expiredListeners) l();
    }
    throw new ApiError(
      res.status,
      typeof json?.error === 'string' ? json.error : `http_${res.status}`,
      typeof json?.error_description === 'string' ? json.error_description : `The request failed (HTTP ${res.status}).`,
      typeof json?.field === 'string' ? json.field : undefined,
    );
  }
}

export const get = <T>(path: string) => api<T>('GET', path);

/** A list answer of the admin API (`next`: the cursor of the following page, where there is one). */
export interface List<T> {
  items: T[];
  next?: string | null;
}

/**
 * The admin API's shapes, generated from its OpenAPI document (npm run generate:api-types):
 * never copied by hand, so a change on the server shows up here as a type error.
 */
type Schemas = components['schemas'];
export type App = Schemas['App'];
export type AppCreate = Schemas['AppCreate'];
export type AppUpdate = Schemas['AppUpdate'];
export type User = Schemas['User'];
export type Invitation = Schemas['Invitation'];
export type InvitationCreate = Schemas['InvitationCreate'];
export type EmailStatus = Schemas['EmailStatus'];
export type UserCreate = Schemas['UserCreate'];
export type UserUpdate = Schemas['UserUpdate'];
export type PasswordReset = Schemas['PasswordReset'];
export type Role = Schemas['Role'];
export type RoleCreate = Schemas['RoleCreate'];
export type RoleUpdate = Schemas['RoleUpdate'];
export type Permission = Schemas['Permission'];
export type PermissionCreate = Schemas['PermissionCreate'];
export type GatewayApi = Schemas['Api'];
export type ApiCreate = Schemas['ApiCreate'];
export type ApiUpdate = Schemas['ApiUpdate'];
export type ApiScope = NonNullable<ApiCreate['scopes']>[number];
export type ApiRoute = GatewayApi['routes'][number];
/** The methods a route may name (the request schema's enum; answers carry plain strings). */
export type HttpMethod = NonNullable<ApiCreate['routes']>[number]['methods'][number];
export type Settings = Schemas['Settings'];
export type SettingsUpdate = Schemas['SettingsUpdate'];
export type Branding = Schemas['Branding'];
export type BrandingUpdate = Schemas['BrandingUpdate'];
export type SigningKey = Schemas['SigningKey'];
export type Grant = Schemas['Grant'];
export type Session = Schemas['Session'];
export type AuditEvent = Schemas['AuditEvent'];
export type Me = Schemas['Me'];
export type IdentityProvider = Schemas['Provider'];
export type ProviderCreate = Schemas['ProviderCreate'];
export type IdentityLink = Schemas['IdentityLink'];
export type SignInThrottle = Schemas['SignInThrottle'];
export type UnlockResult = Schemas['UnlockResult'];
export type UserFactors = Schemas['UserFactors'];
export type FactorsReset = Schemas['FactorsReset'];

type Json<R> = R extends { content: { 'application/json': infer B } } ? B : never;
type Responses<P extends keyof paths, M extends keyof paths[P]> = paths[P][M] extends { responses: infer R } ? R : never;
/** The JSON body of an operation's success answer (200, else 201), from the document's paths. */
export type Reply<P extends keyof paths, M extends keyof paths[P]> = Responses<P, M> extends { 200: infer R } ? Json<R> : Responses<P, M> extends { 201: infer R } ? Json<R> : never;

export type RedirectUriCheck = Reply<'/admin/api/v1/apps/check-redirect-uri', 'post'>;
export type NewSecret = Reply<'/admin/api/v1/apps/{id}/secret', 'post'>;

/** The scopes Tessera itself defines (the rest come from registered APIs). */
export const BUILTIN_SCOPES: ApiScope[] = [
  { name: 'openid', description: 'Sign the user in (OpenID Connect)' },
  { name: 'profile', description: 'The user’s name and username' },
  { name: 'email', description: 'The user’s email address' },
  { name: 'offline_access', description: 'A refresh token, to keep access while the user is away' },
  { name: 'tessera.admin', description: 'The admin API (only for users holding the admin role)' },
];
