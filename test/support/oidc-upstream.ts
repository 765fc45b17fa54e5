import { generateKeyPairSync } from 'node:crypto';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import Provider from 'oidc-provider';
import { location, UserAgent } from './user-agent.ts';

/**
 * node-oidc-provider as an upstream OpenID provider on 127.0.0.1 (port 0): a provider no one
 * here wrote, with its development login and consent pages, driven over plain HTTP.
 */
export interface OidcUpstream {
  issuer: string;
  clientId: string;
  clientSecret: string;
  redirectUri: string;
  /** Follows an authorization URL through login (as `login`) and consent; answers the callback's query. */
  signIn(authorizationUrl: string, login: string): Promise<URLSearchParams>;
  /** Follows an authorization URL to the login page and cancels there. */
  cancel(authorizationUrl: string): Promise<URLSearchParams>;
  close(): Promise<void>;
}

export async function startOidcUpstream(redirectUri: string): Promise<OidcUpstream> {
  let handler: (req: IncomingMessage, res: ServerResponse) => void = (_req, res) => res.end();
  const server = createServer((req, res) => handler(req, res));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const issuer = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const clientId = 'tessera-downstream';
  const clientSecret = 'a secret: with / odd + characters & more';
  const rs256 = generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey.export({ format: 'jwk' });
  const provider = new Provider(issuer, {
    clients: [
      {
        client_id: clientId,
        client_secret: clientSecret,
        token_endpoint_auth_method: 'client_secret_basic',
        grant_types: ['authorization_code'],
        response_types: ['code'],
        redirect_uris: [redirectUri],
      },
    ],
    jwks: { keys: [{ ...rs256, kid: 'upstream-rs', alg: 'RS256', use: 'sig' }] },
    claims: { openid: ['sub'], email: ['email', 'email_verified'], profile: ['name', 'given_name', 'family_name'] },
    findAccount: async (_ctx: unknown, sub: string) => ({
      accountId: sub,
      claims: async () => ({ sub, email: `${sub}@upstream.example`, email_verified: true, name: `${sub} Upstream`, given_name: sub, family_name: 'Upstream' }),
    }),
    features: { devInteractions: { enabled: true } },
    pkce: { required: () => true },
    cookies: { keys: ['oidc-upstream-test-cookie-key'] },
  });
  handler = provider.callback();

  async function walk(authorizationUrl: string, step: (ua: UserAgent, path: string) => Promise<string>): Promise<URLSearchParams> {
    const ua = new UserAgent(issuer);
    let to = location(await ua.get(authorizationUrl));
    for (let i = 0; i < 10 && !to.startsWith(redirectUri); i++) {
      const url = new URL(to, issuer);
      to = url.pathname.startsWith('/interaction/') ? await step(ua, url.pathname) : location(await ua.get(url.pathname + url.search));
    }
    if (!to.startsWith(redirectUri)) throw new Error(`oidc-provider did not come back to the callback: ${to}`);
    return new URL(to).searchParams;
  }

  return {
    issuer,
    clientId,
    clientSecret,
    redirectUri,
    signIn: (authorizationUrl, login) =>
      walk(authorizationUrl, async (ua, path) => {
        const page = await (await ua.get(path)).text();
        const form: Record<string, string> = page.includes('name="login"') ? { prompt: 'login', login, password: 'any' } : { prompt: 'consent' };
        return location(await ua.post(path, form));
      }),
    cancel: (authorizationUrl) => walk(authorizationUrl, async (ua, path) => location(await ua.get(`${path}/abort`))),
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}
