import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, expect, test } from 'vitest';

/**
 * The README's promise: `npx tessera <command>` works in the repository after `npm ci`, with
 * whatever Node the shell has (bin/tessera picks the project's Node 24). npm runs a
 * project's own bin by "installing" the project into its npx cache; a fresh cache here makes
 * that first-run path part of the test.
 */
const ROOT = join(import.meta.dirname, '..', '..');
const dir = mkdtempSync(join(tmpdir(), 'tessera-npx-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function npx(args: string[], cwd: string): Promise<{ code: number; stdout: string; stderr: string }> {
  // The npm_* variables vitest inherits from `npm test` would make npx think it runs inside a script.
  const env = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('npm_')));
  return new Promise((resolve) => {
    execFile('npx', args, { cwd, env: { ...env, npm_config_cache: join(dir, 'npm-cache'), npm_config_update_notifier: 'false' }, timeout: 90_000 }, (error, stdout, stderr) =>
      resolve({ code: error ? ((error as { code?: number }).code ?? 1) : 0, stdout, stderr }),
    );
  });
}

test('npx tessera runs the CLI from the repository and from a subdirectory', { timeout: 120_000 }, async () => {
  const database = `sqlite:${join(dir, 'npx.db')}`;
  const env = ['--database', database];
  // Only `migrate` and `serve` create a database (a mistyped --database must not make a new one).
  const missing = await npx(['tessera', 'users', 'list', ...env], ROOT);
  expect(missing.code).toBe(3);
  expect(missing.stderr).toMatch(/does not exist; check --database/);
  const migrated = await npx(['tessera', 'migrate', ...env], ROOT);
  expect(migrated.code, migrated.stderr).toBe(0);
  const created = await npx(['tessera', 'users', 'create', '--username', 'npx-user', '--password', 'correct horse battery staple', '--json', ...env], ROOT);
  expect(created.code, created.stderr).toBe(0);
  expect(JSON.parse(created.stdout)).toMatchObject({ username: 'npx-user', roles: [] });
  const listed = await npx(['tessera', 'users', 'list', '--json', ...env], join(ROOT, 'docs'));
  expect(listed.code, listed.stderr).toBe(0);
  expect(JSON.parse(listed.stdout).map((u: { username: string }) => u.username)).toContain('npx-user');
});
