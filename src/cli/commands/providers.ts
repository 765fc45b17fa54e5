import { Command } from 'commander';
import { CLAIM_NAMES, claimMappingFromView, type ClaimMappingView, type ProviderInput, type ProviderView } from '../../federation/provider-service.ts';
import type { ClaimMapping } from '../../federation/provider.ts';
import { collect, cliActor, fields, output, readStdin, table, withCommon, withTessera, readTessera, type GlobalOptions } from '../context.ts';
import { CliUsageError } from './clients.ts';

interface ProviderFlags extends GlobalOptions {
  name?: string;
  slug?: string;
  kind?: string;
  issuer?: string;
  authorizationUrl?: string;
  tokenUrl?: string;
  userinfoUrl?: string;
  tokenAuthMethod?: string;
  claim?: string[];
  clientId?: string;
  clientSecret?: string;
  clientSecretStdin?: boolean;
  scope?: string[];
  defaultRole?: string[];
  trustEmail?: boolean;
  disabled?: boolean;
  enabled?: boolean;
}

function addProviderOptions(cmd: Command): Command {
  return cmd
    .option('--name <name>', 'shown on the login page as "Continue with {name}"')
    .option('--issuer <url>', 'OpenID provider: its issuer (the discovery document is fetched from it)')
    .option('--authorization-url <url>', 'plain OAuth 2.0: the authorization endpoint')
    .option('--token-url <url>', 'plain OAuth 2.0: the token endpoint')
    .option('--userinfo-url <url>', 'plain OAuth 2.0: where the account is read, e.g. https://api.github.com/user')
    .option('--token-auth-method <method>', 'plain OAuth 2.0: client_secret_basic (default) or client_secret_post')
    .option('--claim <field=path>', 'plain OAuth 2.0: where userinfo keeps a field, e.g. subject=id, preferred_username=login (repeatable)', collect)
    .option('--client-id <id>', 'Tessera’s client id at the provider')
    .option('--client-secret <secret>', 'Tessera’s client secret at the provider (stored encrypted, never shown again)')
    .option('--client-secret-stdin', 'read the client secret from standard input')
    .option('--scope <scopes>', 'scopes to ask for, space-separated (default for OIDC: "openid email profile")', collect)
    .option('--default-role <role>', 'a role users created through this provider get (repeatable; replaces the list on update)', collect)
    .option('--trust-email', 'link a first sign-in to the local user with the same email when the provider says it is verified')
    .option('--no-trust-email', 'never link by email')
    .option('--disabled', 'not offered on the login page, no sign-ins')
    .option('--enabled', 'offered on the login page');
}

async function toInput(f: ProviderFlags): Promise<ProviderInput> {
  const input: ProviderInput = {};
  if (f.name !== undefined) input.name = f.name;
  if (f.issuer !== undefined) input.issuer = f.issuer === '' ? null : f.issuer;
  if (f.authorizationUrl !== undefined) input.authorizationUrl = f.authorizationUrl;
  if (f.tokenUrl !== undefined) input.tokenUrl = f.tokenUrl;
  if (f.userinfoUrl !== undefined) input.userinfoUrl = f.userinfoUrl;
  if (f.tokenAuthMethod !== undefined) {
    if (f.tokenAuthMethod !== 'client_secret_basic' && f.tokenAuthMethod !== 'client_secret_post') {
      throw new CliUsageError('--token-auth-method must be client_secret_basic or client_secret_post');
    }
    input.tokenEndpointAuthMethod = f.tokenAuthMethod;
  }
  if (f.claim !== undefined) input.claimMapping = parseClaims(f.claim);
  if (f.clientId !== undefined) input.clientId = f.clientId;
  if (f.clientSecret !== undefined && f.clientSecretStdin) throw new CliUsageError('give --client-secret or --client-secret-stdin, not both');
  if (f.clientSecret !== undefined) input.clientSecret = f.clientSecret;
  if (f.clientSecretStdin) input.clientSecret = await readStdin();
  if (f.scope !== undefined) input.scopes = f.scope.flatMap((s) => s.split(/\s+/)).filter(Boolean);
  if (f.defaultRole !== undefined) input.defaultRoles = f.defaultRole;
  if (f.trustEmail !== undefined) input.trustEmail = f.trustEmail;
  if (f.disabled && f.enabled) throw new CliUsageError('give --disabled or --enabled, not both');
  if (f.disabled) input.enabled = false;
  if (f.enabled) input.enabled = true;
  return input;
}

function parseClaims(specs: string[]): ClaimMapping {
  const view: Partial<ClaimMappingView> = {};
  for (const spec of specs) {
    const eq = spec.indexOf('=');
    const name = spec.slice(0, Math.max(eq, 0)).trim() as keyof ClaimMappingView;
    if (eq < 0 || !CLAIM_NAMES.includes(name)) {
      throw new CliUsageError(`--claim "${spec}" must be FIELD=path with FIELD one of ${CLAIM_NAMES.join(', ')}`);
    }
    view[name] = spec.slice(eq + 1).trim();
  }
  if (view.subject === undefined) throw new CliUsageError('--claim needs subject=<path> (where the provider keeps the account id)');
  return claimMappingFromView({ ...view, subject: view.subject });
}

function render(p: ProviderView): string {
  return fields([
    ['slug', p.slug],
    ['name', p.name],
    ['kind', p.kind === 'oidc' ? 'OpenID Connect' : 'OAuth 2.0'],
    ['enabled', p.enabled ? 'yes' : 'no'],
    ['redirect URI', p.redirect_uri],
    ['issuer', p.issuer],
    ['client id', p.client_id],
    ['client secret', p.has_client_secret ? '(stored encrypted)' : 'none (public client)'],
    ['scopes', p.scopes.join(' ')],
    ['default roles', p.default_roles],
    ['trust email', p.trust_email ? 'yes (links verified emails to local users)' : 'no'],
    ['authorization', p.authorization_endpoint],
    ['token', `${p.token_endpoint} (${p.token_endpoint_auth_method})`],
    ['userinfo', p.userinfo_endpoint],
    ['keys', p.jwks_uri],
    ['claims', p.claim_mapping ? Object.entries(p.claim_mapping).map(([k, v]) => `${k}=${v}`) : null],
  ]);
}

export function providersCommand(): Command {
  const providers = new Command('providers').description('upstream identity providers people sign in through (OpenID Connect, OAuth 2.0)');

  addProviderOptions(
    withCommon(
      providers
        .command('create')
        .description('register a provider; the redirect URI to register upstream is {issuer}/login/providers/{slug}/callback')
        .requiredOption('--slug <slug>', 'short name in URLs, e.g. acme')
        .option('--kind <kind>', 'oidc (default) or oauth2'),
    ),
  ).action(async (f: ProviderFlags) => {
    const input = await toInput(f);
    if (f.kind !== undefined && f.kind !== 'oidc' && f.kind !== 'oauth2') throw new CliUsageError('--kind must be oidc or oauth2');
    const kind = f.kind ?? (input.issuer === undefined && input.tokenUrl !== undefined ? 'oauth2' : 'oidc');
    await withTessera(f, async (t) => {
      const created = await t.services.providers.create({ ...input, slug: f.slug, kind }, cliActor());
      output(f, created, (p) => `${render(p)}\n\nRegister ${p.redirect_uri} as the redirect URI at the provider.`);
    });
  });
  addProviderOptions(withCommon(providers.command('update').argument('<slug>').description('change a provider (an OpenID provider is discovered again)'))).action(
    async (slug: string, f: ProviderFlags) => {
      const input = await toInput(f);
      await withTessera(f, async (t) => output(f, await t.services.providers.update(slug, input, cliActor()), render));
    },
  );
  withCommon(providers.command('list').description('list providers')).action(async (f: GlobalOptions) => {
    await readTessera(f, async (t) =>
      output(f, await t.services.providers.list(), (list) =>
        table(['SLUG', 'NAME', 'KIND', 'ENABLED', 'ISSUER'], list.map((p) => [p.slug, p.name, p.kind, p.enabled ? 'yes' : 'no', p.issuer ?? '-'])),
      ),
    );
  });
  withCommon(providers.command('show').argument('<slug>').description('show a provider')).action(async (slug: string, f: GlobalOptions) => {
    await readTessera(f, async (t) => output(f, await t.services.providers.show(slug), render));
  });
  withCommon(providers.command('test').argument('<slug>').description('fetch and check the provider’s discovery document again (changes nothing)')).action(
    async (slug: string, f: GlobalOptions) => {
      await readTessera(f, async (t) => {
        const result = await t.services.providers.testDiscovery(slug);
        output(f, result, (r) => (r.ok ? `${slug}: the provider’s configuration checks out` : `${slug}: ${r.reason}`));
        if (!result.ok) process.exitCode = 1;
      });
    },
  );
  withCommon(providers.command('delete').argument('<slug>').description('delete a provider and its users’ links to it (the users stay)')).action(
    async (slug: string, f: GlobalOptions) => {
      await withTessera(f, async (t) => {
        await t.services.providers.delete(slug, cliActor());
        output(f, { deleted: slug }, () => `deleted identity provider ${slug}`);
      });
    },
  );
  return providers;
}
