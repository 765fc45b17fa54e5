import { Command } from 'commander';
import type { ApiInput, ApiView } from '../../gateway/api-service.ts';
import { collect, fields, output, table, withCommon, withTessera, readTessera, type GlobalOptions, cliActor } from '../context.ts';
import { CliUsageError, withTranslations } from './clients.ts';

interface ApiFlags extends GlobalOptions {
  name?: string;
  basePath?: string;
  upstream?: string;
  audience?: string;
  timeoutMs?: string;
  forwardAuthorization?: boolean;
  upstreamToken?: string;
  upstreamAudience?: string;
  maxBodyBytes?: string;
  scope?: string[];
  route?: string[];
  scopeTranslation?: string[];
}

function addApiOptions(cmd: Command): Command {
  return cmd
    .option('--name <name>', 'unique name')
    .option('--base-path <path>', 'where the API lives on Tessera, e.g. /0/odata')
    .option('--upstream <url>', 'where requests go, e.g. http://accounts.internal:9000/odata')
    .option('--audience <aud>', 'require tokens whose aud holds this value ("" to clear)')
    .option('--timeout-ms <ms>', 'upstream timeout (default 30000)')
    .option('--forward-authorization', "forward the client's Authorization header to the upstream (the default)")
    .option('--no-forward-authorization', "do not forward the client's Authorization header")
    .option('--upstream-token <mode>', "what the upstream gets in Authorization: forward (the client's token, the default), exchange (a token minted for --upstream-audience, RFC 8693) or none")
    .option('--upstream-audience <aud>', 'aud of the token minted for the upstream with --upstream-token exchange ("" for the upstream URL, the default)')
    .option('--max-body-bytes <bytes>', 'largest request body; larger ones get 413 ("none" for no limit, the default)')
    .option('--scope <name=Description>', 'a scope the API declares (repeatable; replaces the list on update)', collect)
    .option('--scope-translation <scope:lang=text>', 'a scope\'s description on pages in that language, e.g. books.read:de="Ihre Bücher lesen" (repeatable; "books.read:de=" removes it)', collect)
    .option('--route <"METHODS /path scope…">', 'e.g. "GET,HEAD /Account/{id} accounts.read" (repeatable; replaces the list on update)', collect);
}

/** "GET,HEAD /Account({id}) accounts.read accounts.admin" → methods, path, scopes. */
export function parseRoute(spec: string): { methods: string[]; path: string; scopes: string[] } {
  const parts = spec.trim().split(/\s+/);
  if (parts.length < 3) throw new CliUsageError(`--route "${spec}" must be "METHODS /path scope…", e.g. "GET /Account accounts.read"`);
  const [methods, path, ...scopes] = parts as [string, string, ...string[]];
  return { methods: methods.split(',').filter(Boolean), path, scopes };
}

function parseScope(spec: string): { name: string; description: string } {
  const eq = spec.indexOf('=');
  return eq < 0 ? { name: spec.trim(), description: '' } : { name: spec.slice(0, eq).trim(), description: spec.slice(eq + 1).trim() };
}

function toInput(f: ApiFlags): ApiInput {
  const input: ApiInput = {};
  if (f.name !== undefined) input.name = f.name;
  if (f.basePath !== undefined) input.basePath = f.basePath;
  if (f.upstream !== undefined) input.upstream = f.upstream;
  if (f.audience !== undefined) input.audience = f.audience === '' ? null : f.audience;
  if (f.timeoutMs !== undefined) {
    if (!/^\d+$/.test(f.timeoutMs)) throw new CliUsageError('--timeout-ms must be a whole number of milliseconds');
    input.timeoutMs = Number(f.timeoutMs);
  }
  if (f.forwardAuthorization !== undefined) input.forwardAuthorization = f.forwardAuthorization;
  if (f.upstreamToken !== undefined) input.upstreamToken = f.upstreamToken;
  if (f.upstreamAudience !== undefined) input.upstreamAudience = f.upstreamAudience === '' ? null : f.upstreamAudience;
  if (f.maxBodyBytes !== undefined) {
    if (f.maxBodyBytes === 'none') input.maxBodyBytes = null;
    else if (/^\d+$/.test(f.maxBodyBytes)) input.maxBodyBytes = Number(f.maxBodyBytes);
    else throw new CliUsageError('--max-body-bytes must be a whole number of bytes, or "none"');
  }
  if (f.scope !== undefined) input.scopes = f.scope.map(parseScope);
  if (f.route !== undefined) input.routes = f.route.map(parseRoute);
  return input;
}

/**
 * The scopes with `--scope-translation` applied: to the scopes given with `--scope`, else to
 * the API's current ones. Translations a scope already has are kept unless a flag changes them.
 */
function withScopeTranslations(input: ApiInput, current: ApiView | undefined, specs: string[]): void {
  const before = new Map((current?.scopes ?? []).map((s) => [s.name, s]));
  const scopes = (input.scopes ?? current?.scopes ?? []).map((s) => ({
    name: s.name,
    description: s.description ?? '',
    descriptionTranslations: before.get(s.name)?.description_translations ?? {},
  }));
  for (const spec of specs) {
    const colon = spec.indexOf(':');
    const scope = scopes.find((s) => s.name === spec.slice(0, colon));
    if (colon <= 0 || !scope) throw new CliUsageError(`--scope-translation "${spec.slice(0, 100)}" must be SCOPE:LANGUAGE=TEXT for a scope of this API, e.g. books.read:de="Ihre Bücher lesen"`);
    scope.descriptionTranslations = withTranslations(scope.descriptionTranslations, [spec.slice(colon + 1)], '--scope-translation');
  }
  input.scopes = scopes;
}

function render(a: ApiView): string {
  const head = fields([
    ['id', a.id],
    ['name', a.name],
    ['base path', a.base_path],
    ['upstream', a.upstream],
    ['audience', a.audience],
    ['timeout', `${a.timeout_ms} ms`],
    ['forwards Authorization', a.forward_authorization ? 'yes' : 'no'],
    ['upstream token', a.upstream_token === 'exchange' ? `exchanged for ${a.upstream_audience ?? a.upstream}` : a.upstream_token === 'forward' ? "the client's, forwarded" : 'none'],
    ['max body', a.max_body_bytes === null ? 'no limit' : `${a.max_body_bytes} bytes`],
  ]);
  const scopes = table(['SCOPE', 'DESCRIPTION'], a.scopes.flatMap((s) => [[s.name, s.description], ...Object.entries(s.description_translations).map(([lang, text]) => ['', `${lang}: ${text}`])]));
  const routes = table(['METHODS', 'PATH', 'SCOPES (any of)'], a.routes.map((r) => [r.methods.join(','), r.path, r.scopes.join(' ')]));
  return `${head}\n\n${scopes}\n\n${routes}`;
}

export function apisCommand(): Command {
  const apis = new Command('apis').description('APIs behind the gateway: base path, upstream, scopes, routes');

  addApiOptions(withCommon(apis.command('create').description('register an API'))).action(async (f: ApiFlags) => {
    await withTessera(f, async (t) => {
      const input = toInput(f);
      if (f.scopeTranslation) withScopeTranslations(input, undefined, f.scopeTranslation);
      const api = await t.services.apis.create(input, cliActor());
      output(f, api, render);
    });
  });
  addApiOptions(withCommon(apis.command('update').argument('<api>', 'id or name').description('change an API'))).action(async (ref: string, f: ApiFlags) => {
    await withTessera(f, async (t) => {
      const input = toInput(f);
      // --scope replaces the list: the translations of the scopes it keeps are kept.
      if (f.scopeTranslation || input.scopes) withScopeTranslations(input, await t.services.apis.show(ref), f.scopeTranslation ?? []);
      const api = await t.services.apis.update(ref, input, cliActor());
      output(f, api, render);
    });
  });
  withCommon(apis.command('list').description('list APIs')).action(async (f: GlobalOptions) => {
    await readTessera(f, async (t) =>
      output(f, await t.services.apis.list(), (list) =>
        table(['NAME', 'BASE PATH', 'UPSTREAM', 'ROUTES'], list.map((a) => [a.name, a.base_path, a.upstream, String(a.routes.length)])),
      ),
    );
  });
  withCommon(apis.command('show').argument('<api>', 'id or name').description('show an API')).action(async (ref: string, f: GlobalOptions) => {
    await readTessera(f, async (t) => output(f, await t.services.apis.show(ref), render));
  });
  withCommon(apis.command('delete').argument('<api>', 'id or name').description('delete an API')).action(async (ref: string, f: GlobalOptions) => {
    await withTessera(f, async (t) => {
      const api = await t.services.apis.show(ref);
      await t.services.apis.delete(api.id, cliActor());
      output(f, { deleted: api.id }, () => `deleted API ${api.name}`);
    });
  });
  return apis;
}
