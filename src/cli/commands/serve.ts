import type { AddressInfo } from 'node:net';
import { Command } from 'commander';
import { openTessera } from '../../app/tessera.ts';
import { buildHttpApp } from '../../http/app.ts';
import { configFrom, withCommon, type GlobalOptions } from '../context.ts';

interface ServeFlags extends GlobalOptions {
  port?: string;
  host?: string;
  issuer?: string;
}

export function serveCommand(): Command {
  return withCommon(new Command('serve').description('run the server (migrates the database first)'))
    .option('--port <n>', 'port to listen on; 0 picks a free one (env TESSERA_PORT, default 8080)')
    .option('--host <addr>', 'address to listen on (env TESSERA_HOST, default 127.0.0.1)')
    .option('--issuer <url>', 'public base URL (env TESSERA_ISSUER; default: the URL it listens on)')
    .action(async (f: ServeFlags) => {
      const config = configFrom(f, { port: f.port, host: f.host, issuer: f.issuer });
      // Warnings wait until after the first line, which scripts read for the URL.
      const warnings: string[] = [];
      const tessera = await openTessera(config, { warn: (m) => warnings.push(m) });
      await tessera.startBackground();
      const app = buildHttpApp(tessera, {
        logger: {
          level: config.logLevel,
          // Paths only: query strings and headers can carry credentials.
          serializers: {
            req: (req: { method: string; url: string; ip?: string }) => ({ method: req.method, path: req.url.split('?')[0], ip: req.ip }),
          },
        },
      });
      await app.ready();
      // Listening on app.server directly keeps Fastify from logging before our first line.
      await new Promise<void>((resolve, reject) => {
        app.server.once('error', reject);
        app.server.listen({ port: config.server.port, host: config.server.host }, () => resolve());
      });
      const address = app.server.address() as AddressInfo;
      const host = address.family === 'IPv6' ? `[${address.address}]` : address.address;
      const url = `http://${host}:${address.port}`;
      if (!config.server.issuer) tessera.setIssuer(url);
      await tessera.ensureConsoleClient();
      const admin = await tessera.bootstrapAdmin(config.adminPassword);
      process.stdout.write(`Tessera listening on ${url} (issuer ${tessera.issuer}, database ${tessera.database.displayUrl})\n`);
      if (admin) {
        process.stdout.write(
          admin.generated
            ? `Created the first user "admin" with password ${admin.password} (shown only now). Sign in at ${tessera.issuer}/admin/\n`
            : `Created the first user "admin" with the password from TESSERA_ADMIN_PASSWORD. Sign in at ${tessera.issuer}/admin/\n`,
        );
      }
      for (const w of warnings) process.stderr.write(`tessera: warning: ${w}\n`);

      let stopping = false;
      const stop = async (signal: string) => {
        if (stopping) return;
        stopping = true;
        app.log.info({ signal }, 'shutting down');
        // Stop accepting, let in-flight requests finish, then release the database.
        await app.close();
        await tessera.close();
        process.exit(0);
      };
      process.once('SIGTERM', () => void stop('SIGTERM'));
      process.once('SIGINT', () => void stop('SIGINT'));
    });
}
