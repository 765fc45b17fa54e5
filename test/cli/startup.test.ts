import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, test, vi } from 'vitest';
import { CLI_MAIN, type CliRun } from '../support/cli-runner.ts';

/**
 * How fast `tessera` starts: a command loads only its own module (`users list` never loads the
 * HTTP server, WebAuthn, mail or openid-client), help still lists every command, and Node's
 * compile cache is on unless the operator turns it off.
 */
vi.setConfig({ testTimeout: 60_000 });

const KEK = Buffer.alloc(32, 7).toString('base64');
const dir = mkdtempSync(join(tmpdir(), 'tessera-startup-'));
const database = `sqlite:${join(dir, 'tessera.db')}`;
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/**
 * Preloaded into the CLI process: records the URL of every module it loads into the file
 * $LOADED_MODULES names, when the process exits.
 */
const RECORD_MODULES = `data:text/javascript,${encodeURIComponent(`
import { registerHooks } from 'node:module';
import { writeFileSync } from 'node:fs';
const urls = [];
registerHooks({ load(url, context, next) { urls.push(url); return next(url, context); } });
process.on('exit', () => writeFileSync(process.env.LOADED_MODULES, urls.join('\\n')));
`)}`;

function run(args: string[], env: Record<string, string> = {}, nodeOptions: string[] = []): Promise<CliRun> {
  return new Promise((resolve) => {
    execFile(process.execPath, [...nodeOptions, CLI_MAIN, ...args], { env: { ...process.env, TESSERA_LOG_LEVEL: 'silent', TESSERA_KEY_ENCRYPTION_KEY: KEK, ...env }, timeout: 50_000 }, (error, stdout, stderr) =>
      resolve({ code: error ? ((error as { code?: number }).code ?? 1) : 0, stdout, stderr }),
    );
  });
}

/** The modules `tessera args…` loads, as paths inside the project (node_modules/… or src/…). */
async function modulesLoadedBy(args: string[]): Promise<string[]> {
  const file = join(dir, `loaded-${Math.random().toString(36).slice(2)}`);
  const r = await run(args, { LOADED_MODULES: file }, ['--import', RECORD_MODULES]);
  expect(r.code, r.stderr).toBe(0);
  const root = join(import.meta.dirname, '..', '..');
  return readFileSync(file, 'utf8')
    .split('\n')
    .filter((url) => url.startsWith('file:'))
    .map((url) => new URL(url).pathname.slice(root.length + 1));
}

const COMMANDS = ['serve', 'migrate', 'users', 'roles', 'clients', 'keys', 'apis', 'providers', 'settings', 'registration', 'branding', 'email', 'audit', 'login', 'backup', 'restore'];

describe('tessera startup', () => {
  beforeAll(async () => {
    const migrated = await run(['migrate', '--database', database]);
    expect(migrated.code, migrated.stderr).toBe(0);
  });

  test('a command loads its own module only: `users list` loads neither the HTTP server nor WebAuthn, mail or openid-client', async () => {
    const loaded = await modulesLoadedBy(['users', 'list', '--json', '--database', database]);
    // The recorder sees the command's own modules (the proof that it records at all).
    expect(loaded).toContain('src/cli/commands/users.ts');
    expect(loaded).toContain('src/app/tessera.ts');
    const heavy = loaded.filter((path) => /^node_modules\/(fastify|@fastify|@simplewebauthn|nodemailer|openid-client)\//.test(path) || path.startsWith('src/http/') || path.startsWith('src/cli/commands/serve.ts'));
    expect(heavy).toEqual([]);
    // users.ts takes CliUsageError from clients.ts; no other command's module is loaded.
    expect(loaded.filter((path) => path.startsWith('src/cli/commands/')).sort()).toEqual(['src/cli/commands/clients.ts', 'src/cli/commands/users.ts']);
  });

  test('`tessera --help` still lists every command, and a mistyped one is answered with the nearest', async () => {
    const help = await run(['--help']);
    expect(help.code).toBe(0);
    for (const name of COMMANDS) expect(help.stdout).toMatch(new RegExp(`^  ${name}\\b`, 'm'));
    const typo = await run(['usres', 'list']);
    expect(typo.code).toBe(2);
    expect(typo.stderr).toMatch(/unknown command 'usres'/);
    expect(typo.stderr).toMatch(/Did you mean users\?/);
    // A command's own help comes from its module alone.
    const users = await run(['users', '--help']);
    expect([users.code, users.stdout]).toEqual([0, expect.stringMatching(/Usage: tessera users/)]);
  });

  test('Node’s compile cache is on in the directory NODE_COMPILE_CACHE names, and NODE_DISABLE_COMPILE_CACHE=1 turns it off', async () => {
    const cache = join(dir, 'compile-cache');
    const first = await run(['roles', 'list', '--database', database], { NODE_COMPILE_CACHE: cache });
    expect(first.code, first.stderr).toBe(0);
    const entries = (path: string): number => (existsSync(path) ? readdirSync(path, { recursive: true }).length : 0);
    expect(entries(cache)).toBeGreaterThan(0);

    const off = join(dir, 'compile-cache-off');
    const second = await run(['roles', 'list', '--database', database], { NODE_COMPILE_CACHE: off, NODE_DISABLE_COMPILE_CACHE: '1' });
    expect(second.code, second.stderr).toBe(0);
    expect(second.stdout).toBe(first.stdout);
    expect(entries(off)).toBe(0);
  });
});
