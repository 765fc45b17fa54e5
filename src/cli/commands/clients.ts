import { readFileSync } from 'node:fs';
import { Command } from 'commander';
import { REGISTRATION_FILTERS, type ClientInput, type ClientWithSecret, type RegistrationFilter } from '../../clients/client-service.ts';
import type { ClientView } from '../../clients/client-view.ts';
import { collect, fields, output, table, withCommon, withTessera, readTessera, type GlobalOptions, cliActor } from '../context.ts';
import { readLogo } from '../logo-file.ts';

interface ClientFlags extends GlobalOptions {
  name?: string;
  description?: string;
  grant?: string[];
  redirectUri?: string[];
  postLogoutRedirectUri?: string[];
  scope?: string;
  defaultScope?: string;
  onBehalfOf?: string;
  public?: boolean;
  accessTokenTtl?: string;
  refreshTokenTtl?: string;
  requirePermission?: string;
  idTokenAlg?: string;
  logoUri?: string;
  clientUri?: string;
  policyUri?: string;
  tosUri?: string;
  requireMfa?: string;
  dpopBoundAccessTokens?: string;
  authMethod?: string;
  jwks?: string;
  jwksUri?: string;
  requirePar?: string;
  nameTranslation?: string[];
  tokenExchangeAudience?: string[];
  tokenExchangeScope?: string;
  tokenExchangeSubjectClient?: string[];
  /** false with --no-token-exchange (commander defaults a lone --no- flag to true). */
  tokenExchange?: boolean;
}

/**
 * `--name-translation de="Acme Bücher"` → ['de', 'Acme Bücher']; `de=` (empty) removes that
 * language. Shared with `apis --scope-translation` (docs/languages.md).
 */
export function parseTranslationFlag(spec: string, flag: string): [string, string] {
  const eq = spec.indexOf('=');
  if (eq <= 0) throw new CliUsageError(`${flag} "${spec.slice(0, 100)}" must be LANGUAGE=TEXT, e.g. de="Acme Bücher" (LANGUAGE= removes it)`);
  return [spec.slice(0, eq).trim(), spec.slice(eq + 1).trim()];
}

/** The translations a command ends with: `current` with each flag's language set (or removed when empty). */
export function withTranslations(current: Readonly<Record<string, string>>, specs: string[], flag: string): Record<string, string> {
  const out: Record<string, string> = { ...current };
  for (const spec of specs) {
    const [lang, value] = parseTranslationFlag(spec, flag);
    if (value) out[lang] = value;
    else delete out[lang];
  }
  return out;
}

function addClientOptions(cmd: Command): Command {
  return cmd
    .option('--name <name>', 'display name shown on the consent page')
    .option('--description <text>', 'what the app does, shown on the consent page')
    .option('--grant <type>', 'client_credentials, authorization_code or urn:ietf:params:oauth:grant-type:device_code (repeatable)', collect)
    .option('--redirect-uri <uri>', 'redirect URI for the authorization code flow (repeatable)', collect)
    .option('--post-logout-redirect-uri <uri>', 'where logout may send the user back to (repeatable)', collect)
    .option('--scope <scopes>', 'space-separated scopes the app may request')
    .option('--default-scope <scopes>', 'space-separated scopes added to every grant')
    .option('--on-behalf-of <username>', 'user a client_credentials app acts for ("" to clear on update)')
    .option('--access-token-ttl <seconds>', 'access token lifetime for this app')
    .option('--refresh-token-ttl <seconds>', 'refresh token lifetime for this app')
    .option('--require-permission <permission>', 'permission a user needs to authorize the app (default developer_api)')
    .option('--id-token-alg <alg>', 'ID token signing algorithm: RS256 (default) or ES256')
    .option('--logo-uri <url>', 'the app\'s logo (https), shown on the consent page if the brand allows remote app logos ("" clears)')
    .option('--client-uri <url>', 'the app\'s homepage (https), linked on the consent page ("" clears)')
    .option('--policy-uri <url>', 'the app\'s privacy policy (https), linked on the consent page ("" clears)')
    .option('--tos-uri <url>', 'the app\'s terms of service (https), linked on the consent page ("" clears)')
    .option('--require-mfa <yes|no>', 'users must pass a second factor to sign in to this app (default no)')
    .option('--dpop-bound-access-tokens <yes|no>', 'every token request must carry a DPoP proof, RFC 9449 (default no)')
    .option('--auth-method <method>', 'how the app authenticates: client_secret_basic (default), client_secret_post or private_key_jwt')
    .option('--jwks <json|@file>', 'the app\'s public keys for private_key_jwt: a JWK set as JSON, or @path to a file holding one ("" clears)')
    .option('--jwks-uri <url>', 'where the app serves its public keys for private_key_jwt (https; "" clears)')
    .option('--require-par <yes|no>', 'the code flow only through pushed authorization requests, /connect/par (default no)')
    .option('--name-translation <lang=text>', 'the name on pages in that language, e.g. de="Acme Bücher" (repeatable; "de=" removes it; other languages are kept)', collect)
    .option('--token-exchange-audience <aud>', 'token exchange (RFC 8693): an audience the app may exchange tokens for (repeatable; the token-exchange flags together replace the policy)', collect)
    .option('--token-exchange-scope <scopes>', 'token exchange: space-separated scopes an exchanged token may carry (default: any the subject token holds)')
    .option('--token-exchange-subject-client <client_id>', 'token exchange: an app whose tokens may be exchanged (repeatable; default: any app)', collect)
    .option('--no-token-exchange', 'turn token exchange off for the app (removes its policy)');
}

function toInput(f: ClientFlags): ClientInput {
  const input: ClientInput = {};
  if (f.name !== undefined) input.name = f.name;
  if (f.description !== undefined) input.description = f.description;
  if (f.grant !== undefined) input.grantTypes = f.grant;
  if (f.redirectUri !== undefined) input.redirectUris = f.redirectUri;
  if (f.postLogoutRedirectUri !== undefined) input.postLogoutRedirectUris = f.postLogoutRedirectUri;
  if (f.scope !== undefined) input.scopes = f.scope.split(' ').filter(Boolean);
  if (f.defaultScope !== undefined) input.defaultScopes = f.defaultScope.split(' ').filter(Boolean);
  if (f.onBehalfOf !== undefined) input.onBehalfOf = f.onBehalfOf === '' ? null : f.onBehalfOf;
  if (f.public !== undefined) input.public = f.public;
  if (f.accessTokenTtl !== undefined) input.accessTokenTtl = seconds(f.accessTokenTtl, '--access-token-ttl');
  if (f.refreshTokenTtl !== undefined) input.refreshTokenTtl = seconds(f.refreshTokenTtl, '--refresh-token-ttl');
  if (f.requirePermission !== undefined) input.requirePermission = f.requirePermission;
  if (f.idTokenAlg !== undefined) input.idTokenSignedResponseAlg = f.idTokenAlg;
  if (f.logoUri !== undefined) input.logoUri = f.logoUri;
  if (f.clientUri !== undefined) input.clientUri = f.clientUri;
  if (f.policyUri !== undefined) input.policyUri = f.policyUri;
  if (f.tosUri !== undefined) input.tosUri = f.tosUri;
  if (f.requireMfa !== undefined) input.requireMfa = yesNo(f.requireMfa, '--require-mfa');
  if (f.dpopBoundAccessTokens !== undefined) input.dpopBoundAccessTokens = yesNo(f.dpopBoundAccessTokens, '--dpop-bound-access-tokens');
  if (f.authMethod !== undefined) input.tokenEndpointAuthMethod = f.authMethod;
  if (f.jwks !== undefined) input.jwks = f.jwks.startsWith('@') ? readJwksFile(f.jwks.slice(1)) : f.jwks;
  if (f.jwksUri !== undefined) input.jwksUri = f.jwksUri;
  if (f.requirePar !== undefined) input.requirePushedAuthorizationRequests = yesNo(f.requirePar, '--require-par');
  const exchangeFlags = f.tokenExchangeAudience !== undefined || f.tokenExchangeScope !== undefined || f.tokenExchangeSubjectClient !== undefined;
  if (f.tokenExchange === false) {
    if (exchangeFlags) throw new CliUsageError('--no-token-exchange cannot be combined with the other --token-exchange-* flags');
    input.tokenExchange = null;
  } else if (exchangeFlags) {
    if (f.tokenExchangeAudience === undefined) throw new CliUsageError('--token-exchange-audience is required with the other --token-exchange-* flags');
    input.tokenExchange = {
      audiences: f.tokenExchangeAudience,
      scopes: f.tokenExchangeScope === undefined ? null : f.tokenExchangeScope.split(' ').filter(Boolean),
      subjectClients: f.tokenExchangeSubjectClient ?? null,
    };
  }
  return input;
}

function readJwksFile(path: string): string {
  try {
    return readFileSync(path, 'utf8');
  } catch (error) {
    throw new CliUsageError(`--jwks: cannot read ${path}: ${(error as Error).message}`);
  }
}

function yesNo(v: string, flag: string): boolean {
  if (v === 'yes' || v === 'true') return true;
  if (v === 'no' || v === 'false') return false;
  throw new CliUsageError(`${flag} must be yes or no`);
}

function seconds(v: string, flag: string): number {
  if (!/^\d+$/.test(v)) throw new CliUsageError(`${flag} must be a whole number of seconds`);
  return Number(v);
}

const UNIT_SECONDS: Record<string, number> = { s: 1, m: 60, h: 3600, d: 86_400 };

/** `90`, `90s`, `30m`, `24h`, `7d` → seconds. */
function duration(v: string, flag: string): number {
  const m = /^(\d+)([smhd]?)$/.exec(v.trim());
  if (!m) throw new CliUsageError(`${flag} must be a duration: seconds, or a number followed by s, m, h or d (e.g. 24h)`);
  return Number(m[1]) * UNIT_SECONDS[m[2] || 's']!;
}

export class CliUsageError extends Error {}

function render(c: ClientView | ClientWithSecret): string {
  const lines: Array<[string, unknown]> = [
    ['client_id', c.client_id],
    ['name', c.name],
    ...Object.entries(c.name_translations).map(([lang, name]) => [`name (${lang})`, name] as [string, unknown]),
    ['description', c.description],
    ['grant types', c.grant_types],
    ['public', c.public ? 'yes (PKCE, no secret)' : 'no'],
    ['redirect URIs', c.redirect_uris],
    ['post-logout URIs', c.post_logout_redirect_uris],
    ['scopes', c.scopes],
    ['default scopes', c.default_scopes],
    ['on behalf of', c.on_behalf_of],
    ['access token TTL', c.access_token_ttl ?? 'default'],
    ['refresh token TTL', c.refresh_token_ttl ?? 'default'],
    ['requires', c.require_permission],
    ...(['logo', 'logo_uri', 'client_uri', 'policy_uri', 'tos_uri'] as const).filter((k) => c[k]).map((k) => [k, c[k]] as [string, unknown]),
    ['requires MFA', c.require_mfa ? 'yes' : 'no'],
    ['DPoP-bound tokens', c.dpop_bound_access_tokens ? 'required' : 'optional'],
    ['authentication', c.token_endpoint_auth_method ?? (c.public ? 'none (public)' : 'client secret')],
    ...(c.jwks_uri ? [['jwks_uri', c.jwks_uri] as [string, unknown]] : []),
    ...(c.jwks ? [['jwks', `${c.jwks.keys.length} key${c.jwks.keys.length === 1 ? '' : 's'} (inline)`] as [string, unknown]] : []),
    ['requires PAR', c.require_pushed_authorization_requests ? 'yes' : 'no'],
    ...(c.token_exchange
      ? ([
          ['token exchange audiences', c.token_exchange.audiences],
          ['token exchange scopes', c.token_exchange.scopes ?? 'any the subject token holds'],
          ['token exchange subject apps', c.token_exchange.subject_clients ?? 'any'],
        ] as Array<[string, unknown]>)
      : [['token exchange', 'off'] as [string, unknown]]),
    ...(c.previous_secret_expires_at ? [['previous secret works until', c.previous_secret_expires_at] as [string, unknown]] : []),
    ['created', c.created_at],
  ];
  let text = fields(lines);
  if ('client_secret' in c && c.client_secret) {
    text += `\n\nclient_secret: ${c.client_secret}\nStore this secret now: it is shown only once.`;
  }
  return text;
}

export function clientsCommand(): Command {
  const clients = new Command('clients').description('register and manage apps (OAuth clients)');

  addClientOptions(withCommon(clients.command('create').description('register an app; prints its client_id and secret once')))
    .option('--public', 'a public client (no secret; PKCE): browser and mobile apps')
    .action(async (f: ClientFlags) => {
      await withTessera(f, async (t) => {
        const input = toInput(f);
        if (f.nameTranslation) input.nameTranslations = withTranslations({}, f.nameTranslation, '--name-translation');
        const app = await t.services.clients.create(input, cliActor());
        output(f, app, render);
      });
    });

  addClientOptions(withCommon(clients.command('update').argument('<client_id>').description('change an app')))
    .action(async (id: string, f: ClientFlags) => {
      await withTessera(f, async (t) => {
        const input = toInput(f);
        if (f.nameTranslation) input.nameTranslations = withTranslations((await t.services.clients.show(id)).name_translations, f.nameTranslation, '--name-translation');
        const app = await t.services.clients.update(id, input, cliActor());
        output(f, app, render);
      });
    });

  withCommon(clients.command('rotate-secret').argument('<client_id>'))
    .description('generate a new secret; the old secret and every token issued to the app stop working, or with --grace the old secret works until the grace ends')
    .option('--grace <duration>', 'keep the old secret usable for this long (e.g. 3600, 90m, 24h, 7d); earlier tokens stay valid')
    .action(async (id: string, f: GlobalOptions & { grace?: string }) => {
      await withTessera(f, async (t) => {
        const options = f.grace === undefined ? {} : { graceSeconds: duration(f.grace, '--grace') };
        const app = await t.services.clients.rotateSecret(id, cliActor(), options);
        output(f, app, render);
      });
    });

  withCommon(
    clients
      .command('list')
      .description('list apps')
      .option('--registration <how>', `only apps registered this way: ${REGISTRATION_FILTERS.join(', ')} (self: registered by themselves, either way)`),
  ).action(async (f: GlobalOptions & { registration?: string }) => {
    if (f.registration !== undefined && !(REGISTRATION_FILTERS as readonly string[]).includes(f.registration)) {
      throw new CliUsageError(`--registration must be one of ${REGISTRATION_FILTERS.join(', ')}`);
    }
    const registration = f.registration as RegistrationFilter | undefined;
    await readTessera(f, async (t) =>
      output(f, await t.services.clients.list(undefined, registration), (list) =>
        table(
          ['CLIENT_ID', 'NAME', 'GRANTS', 'ON BEHALF OF'],
          list.map((c) => [c.client_id, c.name, c.grant_types.join(','), c.on_behalf_of ?? '-']),
        ),
      ),
    );
  });

  withCommon(clients.command('show').argument('<client_id>').description('show one app')).action(async (id: string, f: GlobalOptions) => {
    await readTessera(f, async (t) => output(f, await t.services.clients.show(id), render));
  });

  withCommon(
    clients
      .command('logo')
      .argument('<client_id>')
      .argument('[file]', 'PNG, JPEG, WebP, GIF or safe SVG (docs/branding.md); leave out with --remove')
      .option('--type <content-type>', 'its type, when the file name does not say (the bytes must agree)')
      .option('--remove', 'remove the uploaded logo')
      .description("upload the app's own logo for the consent page (shown before any --logo-uri)"),
  ).action(async (id: string, file: string | undefined, f: GlobalOptions & { type?: string; remove?: boolean }) => {
    if (!file && !f.remove) throw new CliUsageError('give the logo file, or --remove');
    const upload = file && !f.remove ? await readLogo(file, f.type) : null;
    if (upload && 'problem' in upload) throw new CliUsageError(upload.problem);
    await withTessera(f, async (t) => output(f, await t.services.branding.setAppLogo(id, upload, cliActor()), render));
  });

  withCommon(clients.command('delete').argument('<client_id>').description('delete an app and everything issued to it'))
    .action(async (id: string, f: GlobalOptions) => {
      await withTessera(f, async (t) => {
        await t.services.clients.delete(id, cliActor());
        output(f, { deleted: id }, () => `deleted app ${id}`);
      });
    });

  return clients;
}
