import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, type AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { afterAll, describe, expect, test } from 'vitest';
import { documents, examplesOf, ROOT, substituteAddresses, type DocumentExamples, type Example } from './doc-examples.ts';

/**
 * Every shell example in README.md and docs/*.md runs as written (CONTRIBUTING.md, "Shell
 * examples in the docs"): per document, in order, in one bash, against a fresh `tessera
 * serve` on a temporary database and a free port. Examples marked skip are syntax-checked.
 */
const CLI_MAIN = join(ROOT, 'src', 'cli', 'main.ts');
const DOCS = documents().map((file) => examplesOf(file));
const COMPILE_CACHE = mkdtempSync(join(tmpdir(), 'tessera-doctest-cache-'));
afterAll(() => rmSync(COMPILE_CACHE, { recursive: true, force: true }));

/** Reports a failure: the example, its exit status, the line (and the caller's, inside a function). */
const TRAP = `trap 'printf "\\n@@doc-test-failed %s %s %s %s\\n" "$__doc_example" "$?" "$LINENO" "\${BASH_LINENO[0]-}" >&2' ERR`;

/** Prepended to each document's script: strict bash, curl failing on HTTP errors, failure reports. */
const PRELUDE = String.raw`set -Eeuo pipefail
# curl fails on an HTTP error status, unless the example shows the status itself.
curl() {
  local arg
  for arg in "$@"; do
    case "$arg" in
      --include|--head|--write-out|-i|-I|-w) command curl "$@"; return ;;
      --*) ;;
      -*[iIw]*) command curl "$@"; return ;;
    esac
  done
  command curl --fail-with-body "$@"
}
# "npx tessera" runs what the repository's bin runs, without npm's start-up cost
# (test/cli/npx.test.ts checks npx itself).
npx() {
  if [ "$#" -gt 0 ] && [ "$1" = tessera ]; then shift; node src/cli/main.ts "$@"; else command npx "$@"; fi
}
__doc_example=prelude
${TRAP}
`;

test('the documents have examples, and every doc-test marker is understood', () => {
  expect(DOCS.find((d) => d.file === 'README.md')!.examples.filter((e) => e.mode === 'run').length).toBeGreaterThan(3);
  expect(DOCS.flatMap((d) => d.problems)).toEqual([]);
});

test('examples marked skip are still valid shell (bash -n)', () => {
  const broken: string[] = [];
  for (const doc of DOCS) {
    for (const example of doc.examples) {
      const r = spawnSync('bash', ['-n'], { input: example.script, encoding: 'utf8' });
      if (r.status !== 0) broken.push(`${example.where}: ${r.stderr.trim()}`);
    }
  }
  expect(broken).toEqual([]);
});

describe('shell examples run as written', () => {
  const runnable = DOCS.filter((d) => d.examples.some((e) => e.mode !== 'skip'));
  test.each(runnable.map((d) => [d.file, d] as const))('%s', { timeout: 480_000 }, async (_file, doc) => {
    const result = await runDocument(doc);
    expect(result.code, `${doc.file}: an example failed: ${result.location}\n--- output (last 60 lines) ---\n${result.output.split('\n').slice(-60).join('\n')}\n--- server ---\n${result.serverOutput.slice(-3000)}`).toBe(0);
  });
});

test('the doc test itself: a broken example fails it and is named by its line; skip and fails blocks behave', { timeout: 300_000 }, async () => {
  const doc = examplesOf(
    'docs/example.md',
    [
      '# Example',
      '<!-- doc-test: skip (never runs) -->',
      '```sh',
      'exit 3',
      '```',
      '<!-- doc-test: fails -->',
      '```sh',
      'npx tessera users show nobody',
      '```',
      '```sh',
      'curl -s http://127.0.0.1:8080/.well-known/openid-configuration > /dev/null',
      'curl -s -o /dev/null -w "%{http_code}\\n" http://127.0.0.1:8080/no/such/page',
      'curl -s http://127.0.0.1:8080/no/such/page',
      'echo unreachable',
      '```',
    ].join('\n'),
  );
  const result = await runDocument(doc);
  expect(result.code).not.toBe(0);
  expect(result.location).toBe('docs/example.md:10, at docs/example.md:13 (exit 22)');
  expect(result.output).toContain('404');
  expect(result.output).not.toContain('unreachable');
});

/** Runs a document's examples against a fresh server of its own; answers where it failed. */
async function runDocument(doc: DocumentExamples) {
  const dir = mkdtempSync(join(tmpdir(), 'tessera-doctest-'));
  // What the examples see: the server's database (as ./data is in a reader's checkout).
  const env: Record<string, string> = {};
  for (const [key, value] of Object.entries(process.env)) if (value !== undefined && !key.startsWith('TESSERA_')) env[key] = value;
  Object.assign(env, {
    TESSERA_DATABASE_URL: `sqlite:${join(dir, 'tessera.db')}`,
    TESSERA_KEY_ENCRYPTION_KEY_FILE: join(dir, 'tessera-key-encryption.key'),
    PATH: `${dirname(process.execPath)}:${process.env.PATH ?? ''}`,
    // Speed only: each CLI process reuses the compiled modules of the previous ones.
    NODE_COMPILE_CACHE: COMPILE_CACHE,
  });
  const server = await startServer(env);
  try {
    const ports = new Map<string, string>();
    for (const example of doc.examples) {
      for (const [, port] of example.script.matchAll(/\b(?:127\.0\.0\.1|localhost):(\d{1,5})\b/g)) {
        if (port !== '8080' && !ports.has(port!)) ports.set(port!, String(await freePort()));
      }
    }
    const { script, lineOf } = assemble(doc.examples, (text) => substituteAddresses(text, server.address, (port) => ports.get(port)!));
    const result = await runBash(script, env);
    const failure = /@@doc-test-failed (\S+) (\d+) (\d+) (\d*)/.exec(result.output);
    const line = failure ? (lineOf(Number(failure[3])) ?? lineOf(Number(failure[4])) ?? '?') : undefined;
    const location = failure ? `${failure[1]}, at ${doc.file}:${line} (exit ${failure[2]})` : `exit ${result.code}`;
    return { ...result, location, serverOutput: server.output() };
  } finally {
    await server.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}

/** One bash script for a document; `lineOf` maps a script line back to the document's line. */
function assemble(examples: Example[], substitute: (text: string) => string) {
  const lines = PRELUDE.split('\n');
  const origins = new Map<number, number>();
  for (const example of examples) {
    if (example.mode === 'skip') continue;
    lines.push(`__doc_example='${example.where}'`);
    const body = substitute(example.script).split('\n');
    if (example.mode === 'fails') {
      lines.push('set +e; trap - ERR; (', 'set -e');
    }
    body.forEach((line, k) => {
      origins.set(lines.length + 1, example.firstLine + k);
      lines.push(line);
    });
    if (example.mode === 'fails') {
      lines.push(
        '); __doc_status=$?',
        `set -e; ${TRAP}`,
        `if [ "$__doc_status" -eq 0 ]; then echo "${example.where}: expected to fail, but exited 0" >&2; false; fi`,
      );
    }
  }
  return { script: `${lines.join('\n')}\n`, lineOf: (scriptLine: number) => origins.get(scriptLine) };
}

/** Runs the script in its own process group; background jobs it started are ended with it. */
function runBash(script: string, env: Record<string, string>): Promise<{ code: number | null; output: string }> {
  return new Promise((resolve) => {
    const child = spawn('bash', ['-s'], { cwd: ROOT, env, detached: true, stdio: ['pipe', 'pipe', 'pipe'] });
    let output = '';
    child.stdout.on('data', (c: Buffer) => (output += c.toString()));
    child.stderr.on('data', (c: Buffer) => (output += c.toString()));
    const timer = setTimeout(() => killGroup(child, 'SIGKILL'), 300_000);
    child.once('exit', (code) => {
      clearTimeout(timer);
      killGroup(child, 'SIGTERM');
      // Background jobs may hold the pipes open a moment longer.
      setTimeout(() => resolve({ code, output }), 200);
    });
    child.stdin.end(script);
  });
}

function killGroup(child: ChildProcess, signal: NodeJS.Signals): void {
  try {
    process.kill(-child.pid!, signal);
  } catch {
    // The group is gone already.
  }
}

/** `tessera serve --port 0` on the document's own database; resolves once it listens. */
async function startServer(env: Record<string, string>) {
  const child = spawn(process.execPath, [CLI_MAIN, 'serve', '--port', '0'], { cwd: ROOT, env: { ...env, TESSERA_LOG_LEVEL: 'warn' } });
  let output = '';
  child.stdout.on('data', (c: Buffer) => (output += c.toString()));
  child.stderr.on('data', (c: Buffer) => (output += c.toString()));
  const address = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`tessera serve did not start: ${output}`)), 150_000);
    child.stdout.on('data', () => {
      const m = /listening on http:\/\/(127\.0\.0\.1:\d+)/.exec(output);
      if (m) {
        clearTimeout(timer);
        resolve(m[1]!);
      }
    });
    child.once('exit', (code) => reject(new Error(`tessera serve exited ${code}: ${output}`)));
  });
  return {
    address,
    output: () => output,
    stop: async () => {
      if (child.exitCode !== null) return;
      const exited = new Promise((r) => child.once('exit', r));
      child.kill('SIGTERM');
      await exited;
    },
  };
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const probe = createServer();
    probe.once('error', reject);
    probe.listen(0, '127.0.0.1', () => {
      const { port } = probe.address() as AddressInfo;
      probe.close(() => resolve(port));
    });
  });
}
