import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, test, vi } from 'vitest';
import { EXIT } from '../../src/cli/exit-codes.ts';
import { CLI_MAIN, type CliRun } from '../support/cli-runner.ts';

/** A mistake in the email settings: one line on stderr and exit 2 from a real `tessera` (docs/email.md). */
vi.setConfig({ testTimeout: 60_000 });

const dir = mkdtempSync(join(tmpdir(), 'tessera-email-config-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const KEK = Buffer.alloc(32, 7).toString('base64');

function run(args: string[], env: Record<string, string>): Promise<CliRun> {
  return new Promise((resolve) => {
    execFile(process.execPath, [CLI_MAIN, ...args], { env: { ...process.env, TESSERA_LOG_LEVEL: 'silent', TESSERA_KEY_ENCRYPTION_KEY: KEK, ...env }, timeout: 30_000 }, (error, stdout, stderr) =>
      resolve({ code: error ? ((error as { code?: number }).code ?? 1) : 0, stdout, stderr }),
    );
  });
}

describe('email configuration mistakes at the CLI', () => {
  const database = `sqlite:${join(dir, 'tessera.db')}`;
  const cases: Array<[string, Record<string, string>, RegExp]> = [
    ['an http URL', { TESSERA_SMTP_URL: 'http://user:hunter2@mail.example', TESSERA_SMTP_FROM: 'id@example.com' }, /^tessera: TESSERA_SMTP_URL must start with smtp:\/\/ or smtps:\/\//],
    ['no from-address', { TESSERA_SMTP_URL: 'smtp://mail.example:587' }, /^tessera: TESSERA_SMTP_URL is set but TESSERA_SMTP_FROM is not/],
    ['a from-address that is not one', { TESSERA_SMTP_URL: 'smtp://mail.example:587', TESSERA_SMTP_FROM: 'tessera' }, /^tessera: TESSERA_SMTP_FROM must be an email address/],
    ['a template with an unknown variable', { TESSERA_EMAIL_TEMPLATES_DIR: templatesWith('password_reset.txt', 'Hi {{first_name}}') }, /^tessera: TESSERA_EMAIL_TEMPLATES_DIR: password_reset.txt uses \{\{first_name\}\}/],
  ];
  test.each(cases)('%s: one line, exit 2, no secret repeated', async (name, env, pattern) => {
    // The variables are checked wherever the configuration loads; templates where Tessera opens (not by `migrate`, which sends nothing).
    const commands = [['serve', '--port', '0', '--database', database], ...(name.includes('template') ? [['users', 'list', '--database', database]] : [['migrate', '--database', database]])];
    for (const args of commands) {
      const r = await run(args, env);
      expect(r.code, r.stderr).toBe(EXIT.usage);
      const lines = r.stderr.trimEnd().split('\n');
      expect(lines, r.stderr).toHaveLength(1);
      expect(lines[0]).toMatch(pattern);
      expect(r.stderr).not.toContain('hunter2');
      expect(r.stderr).not.toMatch(/unexpected error|\n\s+at /);
    }
  });
});

function templatesWith(name: string, content: string): string {
  const folder = mkdtempSync(join(dir, 'templates-'));
  writeFileSync(join(folder, name), content);
  return folder;
}
