import { writeFile, chmod } from 'node:fs/promises';
import { Command } from 'commander';
import * as oidc from 'openid-client';
import { ServiceError } from '../../errors.ts';
import { CliUsageError } from './clients.ts';

interface LoginOptions {
  device?: boolean;
  issuer?: string;
  clientId?: string;
  scope: string;
  output?: string;
  json?: boolean;
}

/** Hosts where a plain-http issuer is accepted: this machine only (a development server). */
const LOOPBACK = new Set(['127.0.0.1', 'localhost', '[::1]']);

/**
 * `tessera login --device` (docs/cli.md, docs/device-flow.md): signs an operator in from a
 * terminal with the device authorization grant (RFC 8628) through openid-client, as any
 * device would. Prints where to go and the code on stderr; the access token alone on stdout
 * (for `$(…)`), or the whole token response with --json, or into a 0600 file with --output.
 */
export function loginCommand(): Command {
  return new Command('login')
    .description('sign in from this terminal with the device flow and print (or save) the tokens')
    .option('--device', 'use the device authorization grant (RFC 8628): approve in a browser, on any device')
    .option('--issuer <url>', 'the Tessera issuer URL (env TESSERA_ISSUER)')
    .option('--client-id <id>', 'an app registered for urn:ietf:params:oauth:grant-type:device_code')
    .option('--scope <scopes>', 'scopes to ask for', 'openid offline_access')
    .option('--output <file>', 'save the token response as JSON in this file (mode 0600) instead of printing the access token')
    .option('--json', 'print the whole token response as JSON')
    .option('--database <url>', 'ignored: login talks to the server over HTTP')
    .action(async (o: LoginOptions) => {
      if (!o.device) throw new CliUsageError('only the device flow is supported: tessera login --device --issuer URL --client-id ID');
      const issuer = o.issuer ?? process.env.TESSERA_ISSUER;
      if (!issuer) throw new CliUsageError('--issuer is required (or TESSERA_ISSUER)');
      if (!o.clientId) throw new CliUsageError('--client-id is required: an app registered for the device grant');
      let url: URL;
      try {
        url = new URL(issuer);
      } catch {
        throw new CliUsageError(`--issuer is not a URL: ${issuer}`);
      }
      if (url.protocol !== 'https:' && !(url.protocol === 'http:' && LOOPBACK.has(url.hostname))) {
        throw new CliUsageError('--issuer must be https (plain http only on this machine: 127.0.0.1, localhost)');
      }
      const insecure = url.protocol === 'http:' ? { execute: [oidc.allowInsecureRequests] } : {};
      const tokens = await withProtocolErrors(async () => {
        const config = await oidc.discovery(url, o.clientId!, undefined, oidc.None(), insecure);
        const started = await oidc.initiateDeviceAuthorization(config, { scope: o.scope });
        process.stderr.write(
          `To sign in, open ${started.verification_uri} and enter the code ${started.user_code}\n` +
            (started.verification_uri_complete ? `(or open ${started.verification_uri_complete})\n` : '') +
            `Waiting for approval (the code expires in ${Math.round(started.expires_in / 60)} minutes)…\n`,
        );
        return oidc.pollDeviceAuthorizationGrant(config, started);
      });
      const body = { ...tokens };
      if (o.output) {
        // Created 0600 (and narrowed if it existed): the file holds bearer tokens.
        await writeFile(o.output, `${JSON.stringify(body, null, 2)}\n`, { mode: 0o600 });
        await chmod(o.output, 0o600);
        process.stderr.write(`signed in; tokens saved to ${o.output}\n`);
      } else if (o.json) process.stdout.write(`${JSON.stringify(body, null, 2)}\n`);
      else process.stdout.write(`${tokens.access_token}\n`);
    });
}

/** A refusal by the server (denied, expired, not registered…) or an unreachable issuer: one line, exit 1. */
async function withProtocolErrors<T>(run: () => Promise<T>): Promise<T> {
  try {
    return await run();
  } catch (error) {
    if (error instanceof oidc.ResponseBodyError) {
      const why: Record<string, string> = {
        access_denied: 'the request was denied at the verification page',
        expired_token: 'the code expired before it was approved; run the command again',
      };
      throw new ServiceError(error.error, 400, why[error.error] ?? `the server refused: ${error.error}${error.error_description ? ` (${error.error_description})` : ''}`);
    }
    if (error instanceof oidc.ClientError || error instanceof TypeError) {
      const cause = (error as { cause?: { message?: string } }).cause?.message;
      throw new ServiceError('login_failed', 400, `cannot sign in: ${error.message}${cause ? ` (${cause})` : ''}`);
    }
    throw error;
  }
}
