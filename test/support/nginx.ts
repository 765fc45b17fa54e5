import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/**
 * Debian's nginx as a real TLS-terminating reverse proxy for tests, run from a temporary
 * prefix (its own config, pid, logs and temp directories), as root or not. The server
 * blocks come from docs/production.md, so the configuration the guide shows is the one the
 * tests run.
 */
export const NGINX = process.env.TESSERA_NGINX ?? '/usr/sbin/nginx';

/** Why the nginx tests cannot run here, or undefined when they can. */
export function nginxUnavailable(): string | undefined {
  if (!existsSync(NGINX)) return `no nginx at ${NGINX} (apt-get install nginx-light, or set TESSERA_NGINX)`;
  try {
    execFileSync('openssl', ['version'], { stdio: 'ignore' });
  } catch {
    return 'no openssl command to make the test certificate';
  }
  return undefined;
}

/** The guide's nginx configuration: the first ```nginx block of docs/production.md. */
export function productionGuideNginxConfig(): string {
  const guide = readFileSync(new URL('../../docs/production.md', import.meta.url), 'utf8');
  const block = /^```nginx\n([\s\S]*?)^```$/m.exec(guide);
  if (!block) throw new Error('docs/production.md has no ```nginx block');
  return block[1]!;
}

/** A port nothing listens on right now (nginx cannot listen on port 0). */
export async function freePort(host = '127.0.0.1'): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve, reject) => server.once('error', reject).listen(0, host, resolve));
  const { port } = server.address() as { port: number };
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

export interface SelfSignedCertificate {
  certPath: string;
  keyPath: string;
  /** PEM, for a client's `ca`. */
  cert: string;
}

/** A certificate for `localhost` and 127.0.0.1, valid for a day, made by the openssl CLI. */
export function selfSignedCertificate(dir: string): SelfSignedCertificate {
  const certPath = join(dir, 'cert.pem');
  const keyPath = join(dir, 'key.pem');
  execFileSync('openssl', [
    'req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-days', '1',
    '-subj', '/CN=localhost', '-addext', 'subjectAltName=DNS:localhost,IP:127.0.0.1',
    '-keyout', keyPath, '-out', certPath,
  ], { stdio: 'pipe' });
  return { certPath, keyPath, cert: readFileSync(certPath, 'utf8') };
}

/**
 * The guide's server blocks made runnable here: loopback ports for `listen`, the test
 * certificate, and `upstreams` (Tessera nodes' ports) as the upstream's servers.
 */
export function guideServerBlocks(ports: { http: number; https: number }, certificate: SelfSignedCertificate, upstreams: number[]): string {
  let blocks = productionGuideNginxConfig();
  blocks = substitute(blocks, /^(\s*)listen 80;$/m, `$1listen 127.0.0.1:${ports.http};`);
  blocks = substitute(blocks, /^(\s*)listen 443 ssl;$/m, `$1listen 127.0.0.1:${ports.https} ssl;`);
  blocks = substitute(blocks, '/etc/ssl/tessera/fullchain.pem', certificate.certPath);
  blocks = substitute(blocks, '/etc/ssl/tessera/privkey.pem', certificate.keyPath);
  blocks = substitute(blocks, /^(\s*)server 127\.0\.0\.1:8080;$/m, upstreams.map((port) => `$1server 127.0.0.1:${port};`).join('\n'));
  return blocks;
}

/** Replaces `from` by `to` in `text`, failing when `from` is not there (a guide edit must not silently test something else). */
export function substitute(text: string, from: string | RegExp, to: string): string {
  const found = typeof from === 'string' ? text.includes(from) : from.test(text);
  if (!found) throw new Error(`docs/production.md's nginx block no longer contains ${String(from)}`);
  return typeof from === 'string' ? text.split(from).join(to) : text.replace(new RegExp(from.source, from.flags.includes('g') ? from.flags : `${from.flags}g`), to);
}

export interface RunningNginx {
  dir: string;
  /** The access log so far: one line per request, `<upstream address> <status> "<request line>"`. */
  accessLog(): string;
  close(): Promise<void>;
}

/**
 * Runs `nginx -p DIR -c nginx.conf -g 'daemon off;'` with `serverBlocks` inside `http {}`,
 * and resolves once every port in `ports` accepts connections.
 */
export async function startNginx(dir: string, serverBlocks: string, ports: number[]): Promise<RunningNginx> {
  // As root, nginx's worker runs as nobody and must reach the temp directories it buffers to.
  chmodSync(dir, 0o755);
  for (const sub of ['logs', 'temp']) mkdirSync(join(dir, sub), { recursive: true, mode: 0o755 });
  const conf = `
error_log ${dir}/logs/error.log warn;
pid ${dir}/logs/nginx.pid;
worker_processes 1;
events { worker_connections 128; }
http {
  log_format upstream '$upstream_addr $status "$request"';
  access_log ${dir}/logs/access.log upstream;
  client_body_temp_path ${dir}/temp/body;
  proxy_temp_path ${dir}/temp/proxy;
  fastcgi_temp_path ${dir}/temp/fastcgi;
  uwsgi_temp_path ${dir}/temp/uwsgi;
  scgi_temp_path ${dir}/temp/scgi;
${serverBlocks}
}
`;
  writeFileSync(join(dir, 'nginx.conf'), conf);
  const child: ChildProcess = spawn(NGINX, ['-p', dir, '-e', `${dir}/logs/error.log`, '-c', join(dir, 'nginx.conf'), '-g', 'daemon off;'], { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr!.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const failure = () => {
    const log = existsSync(join(dir, 'logs/error.log')) ? readFileSync(join(dir, 'logs/error.log'), 'utf8') : '';
    return new Error(`nginx did not start: ${stderr}${log}`);
  };
  const deadline = Date.now() + 15_000;
  for (const port of ports) {
    while (!(await accepts(port))) {
      if (child.exitCode !== null || child.signalCode !== null || Date.now() > deadline) {
        child.kill('SIGKILL');
        throw failure();
      }
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  }
  return {
    dir,
    accessLog: () => readFileSync(join(dir, 'logs/access.log'), 'utf8'),
    close: async () => {
      if (child.exitCode === null && child.signalCode === null) {
        child.kill('SIGQUIT'); // graceful stop; the master takes its worker with it
        const timer = setTimeout(() => child.kill('SIGKILL'), 5000);
        await exited;
        clearTimeout(timer);
      }
    },
  };
}

function accepts(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect(port, '127.0.0.1');
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}

export function tempDir(prefix: string): { dir: string; remove(): void } {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  return { dir, remove: () => rmSync(dir, { recursive: true, force: true }) };
}
