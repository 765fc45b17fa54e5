import { hash, verify } from '@node-rs/argon2';
import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { availableParallelism, getPriority, tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterEach, describe, expect, test } from 'vitest';
import { PasswordHasher, PasswordHashingUnavailableError, type PasswordHasherOptions } from '../../src/identity/password-hasher.ts';
import { ARGON2_OPTIONS } from '../../src/identity/passwords.ts';
import { silentLogger } from '../../src/lib/logger.ts';
import { recordingLogger } from '../support/logger.ts';

const PASSWORD = 'correct horse battery staple';
const CRASHING = new URL('../support/crashing-password-worker.ts', import.meta.url);
const UNNICEABLE = new URL('../support/unniceable-password-worker.ts', import.meta.url);

const open: PasswordHasher[] = [];
function hasher(options: Partial<PasswordHasherOptions> = {}): PasswordHasher {
  const h = new PasswordHasher({ log: silentLogger, ...options });
  open.push(h);
  return h;
}
afterEach(async () => {
  await Promise.all(open.splice(0).map((h) => h.close()));
});

/** Fields of /proc/self/task/<tid>/stat, numbered as in proc(5) (1 = the id, 2 = the name). */
function threadStat(tid: number): (field: number) => number {
  const stat = readFileSync(`/proc/self/task/${tid}/stat`, 'utf8');
  // The name (field 2) may hold spaces; everything after its closing parenthesis is field 3 on.
  const rest = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (field) => Number(rest[field - 3]);
}

describe('PasswordHasher', () => {
  test('hashes and verifies as @node-rs/argon2 does with the shipped parameters, both ways', async () => {
    const h = hasher();
    const ours = await h.hash(PASSWORD);
    expect(ours).toMatch(/^\$argon2id\$v=19\$m=19456,t=2,p=1\$[A-Za-z0-9+/]{22}\$[A-Za-z0-9+/]{43}$/);
    expect(await verify(ours, PASSWORD)).toBe(true);
    const theirs = await hash(PASSWORD, ARGON2_OPTIONS);
    expect(await h.verify(theirs, PASSWORD)).toBe(true);
    expect(await h.verify(theirs, `${PASSWORD}!`)).toBe(false);
    expect(await h.verify(ours, '')).toBe(false);
    // A stored value that is no argon2 hash is a failed check, as before (no exception).
    expect(await h.verify('not a hash', PASSWORD)).toBe(false);
    expect(await h.verify('$argon2id$v=19$m=19456,t=2,p=1$broken', PASSWORD)).toBe(false);
    // A fresh salt each time.
    expect(await h.hash(PASSWORD)).not.toBe(ours);
  });

  test('at most `threads` passwords hash at once; the rest wait in order and all are answered', async () => {
    const h = hasher({ threads: 2 });
    const pending = Array.from({ length: 5 }, (_, i) => h.hash(`password ${i}`));
    expect({ running: h.running, waiting: h.waiting, threads: h.threads.length }).toEqual({ running: 2, waiting: 3, threads: 2 });
    const hashes = await Promise.all(pending);
    for (const [i, stored] of hashes.entries()) expect(await verify(stored, `password ${i}`)).toBe(true);
    expect({ running: h.running, waiting: h.waiting, threads: h.threads.length }).toEqual({ running: 0, waiting: 0, threads: 2 });
  });

  test('by default one thread fewer than the machine has cores, at least one', () => {
    const h = hasher();
    const pending = Array.from({ length: 8 }, () => h.verify('not a hash', PASSWORD));
    expect(h.threads).toHaveLength(Math.max(1, availableParallelism() - 1));
    return Promise.all(pending);
  });

  test.each(['exit!', 'throw!'])('a thread that dies (%s) is logged, its caller gets PasswordHashingUnavailableError, and a new thread takes the next password', async (fatal) => {
    const log = recordingLogger();
    const h = hasher({ threads: 1, script: CRASHING, log });
    await h.hash('warm up');
    const [first] = h.threads;
    const dying = h.hash(fatal);
    const queued = h.hash(PASSWORD);
    await expect(dying).rejects.toBeInstanceOf(PasswordHashingUnavailableError);
    expect(await verify(await queued, PASSWORD)).toBe(true);
    expect(h.threads).toHaveLength(1);
    if (first?.tid) expect(h.threads[0]!.tid).not.toBe(first.tid);
    expect(log.entries.filter((e) => e.level === 'error')).toMatchObject([{ message: 'a password hashing thread stopped; a new one starts for the next password' }]);
    expect(await h.verify(await queued, PASSWORD)).toBe(true);
  });

  test('where a thread\'s priority cannot be lowered: one warning for all threads, hashing at normal priority still works', async () => {
    const log = recordingLogger();
    const h = hasher({ threads: 2, script: UNNICEABLE, log, niceSteps: 10 });
    const hashes = await Promise.all([h.hash('first'), h.hash('second')]);
    expect(await verify(hashes[0]!, 'first')).toBe(true);
    expect(await verify(hashes[1]!, 'second')).toBe(true);
    expect(h.threads).toHaveLength(2);
    for (const thread of h.threads) expect(thread.nice).toBeNull();
    if (process.platform === 'linux') {
      // Field 19 of a thread's stat is its nice value: unchanged, the process's own.
      for (const thread of h.threads) if (thread.tid) expect(threadStat(thread.tid)(19)).toBe(getPriority());
    }
    const warnings = log.entries.filter((e) => e.level === 'warn');
    expect(warnings).toHaveLength(1);
    expect(warnings[0]!.message).toMatch(/^password hashing runs at normal priority \(its thread's priority could not be lowered: setPriority: EACCES: permission denied\); sign-ins at full rate may slow token requests$/);
  });

  test('close() ends the threads; what was hashing or waiting, and anything after, gets PasswordHashingUnavailableError', async () => {
    const h = hasher({ threads: 1 });
    await h.hash('start the thread');
    const tid = h.threads[0]?.tid;
    const pending = Promise.allSettled([h.hash('a'), h.verify('not a hash', 'b'), h.hash('c')]);
    await h.close();
    for (const p of await pending) expect(p).toMatchObject({ status: 'rejected', reason: expect.any(PasswordHashingUnavailableError) });
    await expect(h.hash('d')).rejects.toBeInstanceOf(PasswordHashingUnavailableError);
    expect(h.threads).toEqual([]);
    if (process.platform === 'linux' && tid) expect(existsSync(`/proc/self/task/${tid}`)).toBe(false);
  });

  test('a process is kept alive while a password hashes, and not by idle threads (a CLI command exits when done)', async () => {
    const script = join(mkdtempSync(join(tmpdir(), 'tessera-hasher-')), 'hash-once.mjs');
    writeFileSync(
      script,
      `import { PasswordHasher } from ${JSON.stringify(new URL('../../src/identity/password-hasher.ts', import.meta.url).href)};
      import { silentLogger } from ${JSON.stringify(new URL('../../src/lib/logger.ts', import.meta.url).href)};
      const h = new PasswordHasher({ log: silentLogger });
      h.hash('x').then((stored) => console.log(stored.slice(0, 10)));`,
    );
    const started = Date.now();
    const { stdout } = await promisify(execFile)(process.execPath, [script], { timeout: 20_000 });
    expect(stdout.trim()).toBe('$argon2id$');
    expect(Date.now() - started).toBeLessThan(10_000);
  });

  test.runIf(process.platform === 'linux')('on Linux the hashing runs on the thread itself, niced 10 steps below the event loop by default', async () => {
    const h = hasher({ threads: 1 });
    await h.hash('start the thread');
    const [thread] = h.threads;
    expect(thread?.tid).toEqual(expect.any(Number));
    const tid = thread!.tid!;
    const expected = Math.min(19, getPriority() + 10);
    expect(thread!.nice).toBe(expected);
    const before = threadStat(tid);
    // Field 19 is the thread's nice value: the kernel's own record, not what the thread said.
    expect(before(19)).toBe(expected);
    expect(getPriority()).toBeLessThan(expected);
    // utime + stime (fields 14, 15, in clock ticks) of that thread grow by the hashing: argon2
    // runs there, not on libuv's threadpool at normal priority.
    const cpu = (stat: (field: number) => number) => stat(14) + stat(15);
    for (let i = 0; i < 5; i++) await h.hash(PASSWORD);
    expect(cpu(threadStat(tid)) - cpu(before)).toBeGreaterThan(0);
  });

  test.runIf(process.platform === 'linux')('niceSteps 19 is the lowest priority; 0 keeps the thread at the event loop’s', async () => {
    const lowest = hasher({ threads: 1, niceSteps: 19 });
    await lowest.hash('start the thread');
    expect(threadStat(lowest.threads[0]!.tid!)(19)).toBe(19);
    const same = hasher({ threads: 1, niceSteps: 0 });
    await same.hash('start the thread');
    expect(same.threads[0]?.nice).toBeNull();
  });

  test('refuses a thread count or nice steps that make no sense', () => {
    expect(() => new PasswordHasher({ log: silentLogger, threads: 0 })).toThrow(RangeError);
    expect(() => new PasswordHasher({ log: silentLogger, threads: 1.5 })).toThrow(RangeError);
    expect(() => new PasswordHasher({ log: silentLogger, niceSteps: -1 })).toThrow(RangeError);
  });
});
