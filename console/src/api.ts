import { accessToken, forgetTokens } from './auth.ts';

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

export interface List<T> {
  items: T[];
  next?: string | null;
}

export interface App {
  client_id: string;
  name: string;
  description?: string;
  grant_types: string[];
  redirect_uris?: string[];
  post_logout_redirect_uris?: string[];
  scopes?: string[];
  default_scopes?: string[];
  public?: boolean;
  on_behalf_of?: string | null;
  on_behalf_of_user_id?: string | null;
  access_token_ttl?: number | null;
  refresh_token_ttl?: number | null;
  require_permission?: string;
  id_token_signed_response_alg?: string | null;
  secret_updated_at?: string | null;
  created_at?: string;
  updated_at?: string;
  client_secret?: string;
}

export interface User {
  id: string;
  username: string;
  email?: string | null;
  name?: string | null;
  given_name?: string | null;
  family_name?: string | null;
  disabled?: boolean;
  roles: string[];
  permissions?: string[];
  created_at?: string;
}

export interface Role {
  name: string;
  description?: string;
  builtin?: boolean;
  permissions: string[] | '*';
}

export interface Permission {
  name: string;
  description?: string;
  builtin?: boolean;
}

export interface ApiScope {
  name: string;
  description?: string;
}

export interface ApiRoute {
  methods: string[];
  path: string;
  scopes: string[];
}

export interface GatewayApi {
  id: string;
  name: string;
  base_path: string;
  upstream: string;
  audience?: string | null;
  timeout_ms?: number;
  scopes: ApiScope[];
  routes: ApiRoute[];
}

export interface Settings {
  access_token_ttl: number;
  refresh_token_ttl: number;
  code_ttl: number;
  id_token_ttl: number;
  session_ttl: number;
  redirect_uri_policy: 'strict' | 'development';
}

export interface SigningKey {
  kid: string;
  alg: string;
  status: string;
  created_at: string;
  activated_at?: string | null;
  deactivated_at?: string | null;
}

export interface Grant {
  client_id: string;
  client_name: string;
  user_id: string;
  username: string;
  scopes: string[];
  granted_at: string;
  active_refresh_tokens: number;
}

export interface Session {
  sid: string;
  auth_time: string;
  created_at: string;
  expires_at: string;
  last_seen_at?: string;
  ip?: string | null;
  user_agent?: string | null;
}

export interface AuditEvent {
  id: string;
  at: string;
  actor: string;
  action: string;
  target_type?: string | null;
  target_id?: string | null;
  ip?: string | null;
  details?: Record<string, unknown>;
}

export interface Me {
  id: string;
  username: string;
  roles: string[];
  permissions: string[];
  client_id: string;
}

/** The scopes Tessera itself defines (the rest come from registered APIs). */
export const BUILTIN_SCOPES: ApiScope[] = [
  { name: 'openid', description: 'Sign the user in (OpenID Connect)' },
  { name: 'profile', description: 'The user’s name and username' },
  { name: 'email', description: 'The user’s email address' },
  { name: 'offline_access', description: 'A refresh token, to keep access while the user is away' },
  { name: 'tessera.admin', description: 'The admin API (only for users holding the admin role)' },
];
