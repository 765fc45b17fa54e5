import { availableParallelism } from 'node:os';
import { Worker } from 'node:worker_threads';
import type { Logger } from '../lib/logger.ts';
import type { Passwords } from './passwords.ts';

/** Messages between PasswordHasher and its threads (password-worker.ts). */
export type HashRequest = { id: number; op: 'hash'; password: string } | { id: number; op: 'verify'; stored: string; password: string };
export type HashReply = { kind: 'done'; id: number; value: string | boolean } | { kind: 'failed'; id: number; message: string };
/** A thread's first message: its id and nice value, or why its priority stayed as it was. */
export type ThreadReady = { kind: 'ready'; tid: number | null; nice: number | null; warning?: string };

/**
 * Password hashing could not give an answer: its thread stopped in the middle (it is
 * replaced) or the hasher is shut down. Nothing was decided about the password; the HTTP
 * layer answers 503 temporarily_unavailable (src/http/error-reply.ts).
 */
export class PasswordHashingUnavailableError extends Error {
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = 'PasswordHashingUnavailableError';
  }
}

export interface PasswordHasherOptions {
  log: Logger;
  /** Hashing threads at most (default: one core fewer than the machine has, at least 1). */
  threads?: number;
  /**
   * How many nice steps below the event loop the threads run (TESSERA_PASSWORD_HASHING_NICE,
   * default 10; nice 19 at most; 0 keeps normal priority). Linux only; elsewhere one warning
   * and normal priority.
   */
  niceSteps?: number;
  /** The thread's script (tests hand in one that can be made to crash). */
  script?: URL;
}

interface Task {
  request: HashRequest;
  resolve(value: string | boolean): void;
  reject(error: Error): void;
}

interface Thread {
  worker: Worker;
  task: Task | undefined;
  tid: number | null;
  nice: number | null;
}

const SCRIPT = new URL('./password-worker.ts', import.meta.url);

/**
 * argon2id on a few threads of its own at low priority (issue 16). Hashing is the one
 * CPU-heavy thing a sign-in does; on libuv's threadpool at normal priority it competed with
 * the event loop for the cores, and the p99 of every token request beside a sign-in storm
 * rose ~2×. Here the kernel always prefers the event loop, and hashing takes what is idle.
 *
 * At most `threads` hash at once (one core stays the event loop's even where priorities
 * cannot be lowered); the rest wait in arrival order. Threads start on first use, and an idle
 * one does not keep the process alive (a CLI command exits when its work is done). A thread
 * that dies is logged, its caller gets PasswordHashingUnavailableError, and the next password
 * starts a new one. close() ends them all.
 */
export class PasswordHasher implements Passwords {
  readonly #log: Logger;
  readonly #limit: number;
  readonly #niceSteps: number;
  readonly #script: URL;
  readonly #threads = new Set<Thread>();
  readonly #queue: Task[] = [];
  #nextId = 1;
  #closed = false;
  #warned = false;

  constructor(options: PasswordHasherOptions) {
    const limit = options.threads ?? Math.max(1, availableParallelism() - 1);
    if (!Number.isInteger(limit) || limit < 1) throw new RangeError(`password hashing threads must be a positive integer (got ${limit})`);
    const niceSteps = options.niceSteps ?? 10;
    if (!Number.isInteger(niceSteps) || niceSteps < 0) throw new RangeError(`nice steps must be a non-negative integer (got ${niceSteps})`);
    this.#log = options.log;
    this.#limit = limit;
    this.#niceSteps = niceSteps;
    this.#script = options.script ?? SCRIPT;
  }

  hash(password: string): Promise<string> {
    return this.#submit({ id: this.#nextId++, op: 'hash', password }) as Promise<string>;
  }

  verify(stored: string, password: string): Promise<boolean> {
    return this.#submit({ id: this.#nextId++, op: 'verify', stored, password }) as Promise<boolean>;
  }

  /** Passwords being hashed right now. */
  get running(): number {
    let n = 0;
    for (const t of this.#threads) if (t.task) n++;
    return n;
  }

  /** Passwords waiting for a thread. */
  get waiting(): number {
    return this.#queue.length;
  }

  /** The threads started, with their kernel thread id and nice value once they reported them. */
  get threads(): Array<{ tid: number | null; nice: number | null }> {
    return [...this.#threads].map((t) => ({ tid: t.tid, nice: t.nice }));
  }

  /** Ends every thread; what was still waiting or hashing gets PasswordHashingUnavailableError. */
  async close(): Promise<void> {
    this.#closed = true;
    const closed = () => new PasswordHashingUnavailableError('password hashing has shut down');
    for (const task of this.#queue.splice(0)) task.reject(closed());
    const threads = [...this.#threads];
    this.#threads.clear();
    for (const t of threads) t.task?.reject(closed());
    await Promise.all(threads.map((t) => t.worker.terminate()));
  }

  #submit(request: HashRequest): Promise<string | boolean> {
    if (this.#closed) return Promise.reject(new PasswordHashingUnavailableError('password hashing has shut down'));
    return new Promise((resolve, reject) => {
      this.#queue.push({ request, resolve, reject });
      this.#dispatch();
    });
  }

  #dispatch(): void {
    while (this.#queue.length) {
      let thread: Thread | undefined;
      for (const t of this.#threads) if (!t.task) thread = t;
      if (!thread) {
        if (this.#threads.size >= this.#limit) return;
        thread = this.#start();
      }
      const task = this.#queue.shift()!;
      thread.task = task;
      // A thread with work keeps the process alive until the answer is back.
      thread.worker.ref();
      thread.worker.postMessage(task.request);
    }
  }

  #start(): Thread {
    const worker = new Worker(this.#script, { workerData: { niceSteps: this.#niceSteps } });
    const thread: Thread = { worker, task: undefined, tid: null, nice: null };
    worker.unref();
    worker.on('message', (message: ThreadReady | HashReply) => this.#answer(thread, message));
    worker.on('error', (error) => this.#lost(thread, error));
    worker.on('exit', (code) => this.#lost(thread, new Error(`the thread exited with code ${code}`)));
    this.#threads.add(thread);
    return thread;
  }

  #answer(thread: Thread, message: ThreadReady | HashReply): void {
    if (message.kind === 'ready') {
      thread.tid = message.tid;
      thread.nice = message.nice;
      if (message.warning && !this.#warned) {
        this.#warned = true;
        this.#log.warn({}, message.warning);
      }
      return;
    }
    const task = thread.task;
    if (!task || task.request.id !== message.id) return;
    thread.task = undefined;
    thread.worker.unref();
    if (message.kind === 'done') task.resolve(message.value);
    else task.reject(new Error(`password hashing failed: ${message.message}`));
    this.#dispatch();
  }

  /** A thread died ('error' then 'exit', or 'exit' alone): counted once. */
  #lost(thread: Thread, error: Error): void {
    if (!this.#threads.delete(thread)) return;
    this.#log.error({ err: error, tid: thread.tid }, 'a password hashing thread stopped; a new one starts for the next password');
    thread.task?.reject(new PasswordHashingUnavailableError('the password hashing thread stopped before it answered', { cause: error }));
    this.#dispatch();
  }
}
