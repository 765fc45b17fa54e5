import { Command } from 'commander';
import type { ApiInput, ApiView } from '../../gateway/api-service.ts';
import { collect, fields, output, table, withCommon, withTessera, readTessera, type GlobalOptions, cliActor } from '../context.ts';
import { CliUsageError } from './clients.ts';

interface ApiFlags extends GlobalOptions {
  name?: string;
  basePath?: string;
  upstream?: string;
  audience?: string;
  timeoutMs?: string;
  forwardAuthorization?: boolean;
  maxBodyBytes?: string;
  scope?: string[];
  route?: string[];
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
    .option('--max-body-bytes <bytes>', 'largest request body; larger ones get 413 ("none" for no limit, the default)')
    .option('--scope <name=Description>', 'a scope the API declares (repeatable; replaces the list on update)', collect)
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
  if (f.maxBodyBytes !== undefined) {
    if (f.maxBodyBytes === 'none') input.maxBodyBytes = null;
    else if (/^\d+$/.test(f.maxBodyBytes)) input.maxBodyBytes = Number(f.maxBodyBytes);
    else throw new CliUsageError('--max-body-bytes must be a whole number of bytes, or "none"');
  }
  if (f.scope !== undefined) input.scopes = f.scope.map(parseScope);
  if (f.route !== undefined) input.routes = f.route.map(parseRoute);
  return input;
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
    ['max body', a.max_body_bytes === null ? 'no limit' : `${a.max_body_bytes} bytes`],
  ]);
  const scopes = table(['SCOPE', 'DESCRIPTION'], a.scopes.map((s) => [s.name, s.description]));
  const routes = table(['METHODS', 'PATH', 'SCOPES (any of)'], a.routes.map((r) => [r.methods.join(','), r.path, r.scopes.join(' ')]));
  return `${head}\n\n${scopes}\n\n${routes}`;
}

export function apisCommand(): Command {
  const apis = new Command('apis').description('APIs behind the gateway: base path, upstream, scopes, routes');

  addApiOptions(withCommon(apis.command('create').description('register an API'))).action(async (f: ApiFlags) => {
    await withTessera(f, async (t) => {
      const api = await t.services.apis.create(toInput(f), cliActor());
      output(f, api, render);
    });
  });
  addApiOptions(withCommon(apis.command('update').argument('<api>', 'id or name').description('change an API'))).action(async (ref: string, f: ApiFlags) => {
    await withTessera(f, async (t) => {
      const api = await t.services.apis.update(ref, toInput(f), cliActor());
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
