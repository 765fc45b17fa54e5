import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';

/** A contender running in its own process: the load generator never shares its core. */
export interface Child {
  name: string;
  url: string;
  pid: number;
  process: ChildProcess;
  /** The last lines the child wrote to stderr, for error messages. */
  stderrTail(): string;
  stop(): Promise<void>;
}

export interface SpawnOptions {
  env?: Record<string, string | undefined>;
  cwd?: string;
  timeoutMs?: number;
}

/**
 * Starts `command args…` and waits for the first http:// URL on its stdout (Tessera's
 * contract: the first line printed contains the URL; the bench's own servers follow it).
 */
export async function startChild(name: string, command: string, args: string[], options: SpawnOptions = {}): Promise<Child> {
  const child = spawn(command, args, {
    cwd: options.cwd,
    env: { ...process.env, ...options.env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stderr = '';
  child.stderr!.on('data', (d: Buffer) => {
    stderr = (stderr + d.toString()).slice(-4000);
  });
  let stdout = '';
  const url = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => fail(new Error(`${name} printed no URL within ${options.timeoutMs ?? 30_000} ms`)), options.timeoutMs ?? 30_000);
    const fail = (error: Error) => {
      clearTimeout(timer);
      child.kill('SIGKILL');
      reject(new Error(`${error.message}\n--- ${name} stderr ---\n${stderr}`));
    };
    child.stdout!.on('data', (d: Buffer) => {
      stdout += d.toString();
      const match = /https?:\/\/[^\s,)]+/.exec(stdout);
      if (match) {
        clearTimeout(timer);
        resolve(match[0]);
      }
    });
    child.once('exit', (code, signal) => fail(new Error(`${name} exited (${signal ?? `code ${code}`}) before printing its URL`)));
    child.once('error', fail);
  });
  child.removeAllListeners('exit');
  // Keep draining stdout so the child never blocks on a full pipe.
  child.stdout!.on('data', () => {});
  return {
    name,
    url,
    pid: child.pid!,
    process: child,
    stderrTail: () => stderr,
    stop: () => stopProcess(child),
  };
}

/** SIGTERM, then SIGKILL after 10 s; resolves once the process is gone. */
export async function stopProcess(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
  await exited;
  clearTimeout(timer);
}

/** Resident set size of a process in bytes (Linux /proc), or undefined elsewhere. */
export function rssBytes(pid: number): number | undefined {
  try {
    const status = readFileSync(`/proc/${pid}/status`, 'utf8');
    const match = /VmRSS:\s+(\d+)\s+kB/.exec(status);
    return match ? Number(match[1]) * 1024 : undefined;
  } catch {
    return undefined;
  }
}

/** Runs a command to completion and answers its stdout; rejects with its stderr on failure. */
export function run(command: string, args: string[], options: SpawnOptions & { input?: string } = {}): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { cwd: options.cwd, env: { ...process.env, ...options.env }, stdio: ['pipe', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (err += d.toString()));
    child.stdin.end(options.input ?? '');
    child.once('error', reject);
    child.once('exit', (code) => (code === 0 ? resolve(out) : reject(new Error(`${command} ${args.join(' ')} exited ${code}: ${err.trim()}`))));
  });
}

export { sleep };
