import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { expect } from 'vitest';

/** The CLI's entry point, run with the Node that runs the tests (as `bin/tessera` would). */
export const CLI_MAIN = join(import.meta.dirname, '..', '..', 'src', 'cli', 'main.ts');

export interface CliRun {
  code: number;
  stdout: string;
  stderr: string;
}

export interface CliCallOptions {
  stdin?: string;
  env?: Record<string, string>;
}

/**
 * `tessera …` as an operator runs it: one child process per command against the database
 * and environment `target()` gives at call time (tests set them up in `beforeAll`).
 */
export function cliRunner(target: () => { databaseUrl: string; env: Record<string, string> }, timeoutMs = 30_000) {
  function tessera(args: string[], options: CliCallOptions = {}): Promise<CliRun> {
    const { databaseUrl, env } = target();
    return new Promise((resolve) => {
      const child = execFile(process.execPath, [CLI_MAIN, ...args, '--database', databaseUrl], { env: { ...process.env, ...env, ...options.env }, timeout: timeoutMs }, (error, stdout, stderr) => {
        resolve({ code: error ? ((error as { code?: number }).code ?? 1) : 0, stdout, stderr });
      });
      child.stdin!.end(options.stdin ?? '');
    });
  }

  /** A command that must succeed; its `--json` output, parsed. */
  async function json(args: string[], options?: CliCallOptions): Promise<any> {
    const r = await tessera([...args, '--json'], options);
    if (r.code !== 0) throw new Error(`tessera ${args.join(' ')} failed: ${r.stderr}`);
    return JSON.parse(r.stdout);
  }

  /** A failure: non-zero exit and exactly one line on stderr, matching `pattern`. */
  async function fails(args: string[], pattern: RegExp, options?: CliCallOptions): Promise<string> {
    const r = await tessera(args, options);
    expect(r.code, `${args.join(' ')} should fail`).not.toBe(0);
    const lines = r.stderr.trimEnd().split('\n');
    expect(lines, r.stderr).toHaveLength(1);
    expect(lines[0]).toMatch(pattern);
    return lines[0]!;
  }

  return { tessera, json, fails };
}
