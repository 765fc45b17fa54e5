import type { DatabaseSync } from 'node:sqlite';
import { Worker } from 'node:worker_threads';
import type { Logger } from '../lib/logger.ts';

/** What the thread (sqlite-checkpoint-worker.ts) is started with. */
export interface CheckpointThreadConfig {
  /** The database file (not `:memory:`: a thread cannot share an in-memory database). */
  path: string;
  /** A checkpoint at least this often (ms) even without a nudge: the tail of a burst, writes made outside group commit. */
  idleMs: number;
}

/**
 * Main thread → checkpoint thread: 'checkpoint' (frames were committed), 'tail' (the writes
 * are held: copy what is left, now), 'stop'.
 */
export type CheckpointCommand = 'checkpoint' | 'tail' | 'stop';

/** Checkpoint thread → main thread, once per checkpoint (a few per second). */
export interface CheckpointReport {
  /** 'round': a checkpoint of the thread's own; 'tail': the one asked for while the writes were held. */
  kind: 'round' | 'tail';
  /** Another connection was checkpointing (another process's thread, or a connection's automatic checkpoint): normal, that one does the work. */
  busy: boolean;
  /** WAL frames, and frames copied back into the database file, as the checkpoint left them. */
  log: number;
  checkpointed: number;
  /** The checkpoint's length, ms. */
  ms: number;
}

/** What the checkpointer holds for a tail: the group commit's flushes (sqlite-statements.ts). */
export interface FlushControl {
  pauseFlushes(): void;
  resumeFlushes(): void;
}

/**
 * The defaults (4 KiB pages). Past `tailFrames` (8 MiB of WAL) a tail makes the WAL start
 * over; the connection's own automatic checkpoint, the safety net, waits for 8000 frames
 * (32 MiB), which the thread does not let the WAL reach while it works. journal_size_limit
 * gives the file back after a restart once something (a long reader pinning a snapshot) made
 * the WAL grow far past that.
 */
export const CHECKPOINT_DEFAULTS = {
  nudgeEveryBatches: 32,
  idleMs: 1000,
  tailFrames: 2000,
  maxHoldMs: 250,
  safetyNetFrames: 8000,
  journalSizeLimitBytes: 64 * 1024 * 1024,
} as const;

/** SQLite's own default for `wal_autocheckpoint`: what the connection goes back to without the thread. */
export const AUTOMATIC_CHECKPOINT_FRAMES = 1000;

export interface SqliteCheckpointerOptions {
  log: Logger;
  /** The group commit to hold for a tail; without it the WAL starts over only through the safety net. */
  writes?: FlushControl;
  /** Group-commit batches per nudge (database.ts wires SqliteStatements to `nudge()`). */
  nudgeEveryBatches?: number;
  idleMs?: number;
  /** WAL frames from which a checkpoint of the thread is followed by a tail. */
  tailFrames?: number;
  /** The longest the writes are held for a tail, ms (then they go on, and the next round tries again). */
  maxHoldMs?: number;
  /** The connection's `wal_autocheckpoint` while the thread runs, frames. */
  safetyNetFrames?: number;
  /** The thread's script (tests hand in one that fails). */
  script?: URL;
  /** A thread that has not ended this long (ms) after being asked to stop is terminated. */
  stopTimeoutMs?: number;
}

/** The checkpoint thread did not stop when asked and was terminated. */
export class CheckpointThreadStopError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'CheckpointThreadStopError';
  }
}

/** The checkpoint thread could not be created (`new Worker` threw); the connection checkpoints itself. */
export class CheckpointThreadStartError extends Error {
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = 'CheckpointThreadStartError';
  }
}

const SCRIPT = new URL('./sqlite-checkpoint-worker.ts', import.meta.url);

/**
 * WAL checkpoints on a thread of their own (issue 16). SQLite's automatic checkpoint runs inside
 * a COMMIT once the WAL holds 1000 frames: it reads them back, writes the pages into the
 * database file and syncs both, on the connection's thread — the event loop, ~4–5 ms each time
 * and about half the COMMIT time of a code exchange. Here a worker thread with a connection of
 * its own to the same file does that work; the event loop's connection keeps its automatic
 * checkpoint only as a safety net (`safetyNetFrames`), set back to SQLite's default the moment
 * the thread is lost.
 *
 * When: the main thread nudges the thread once per N group-commit batches (`nudge()`, a
 * postMessage of a constant; nothing per request), and the thread checkpoints on its own at
 * least every `idleMs` (the tail of a burst, writes outside group commit). Its checkpoints are
 * PASSIVE: they never wait for, nor block, the writer.
 *
 * Starvation: the WAL starts over only when a writer begins with every frame already copied
 * back. Under steady commits frames keep arriving while the thread copies, so that never
 * happens and the WAL would grow without bound. A RESTART checkpoint from the thread would
 * force it, but it holds the write lock while it copies and syncs, and the event loop's BEGIN
 * IMMEDIATE then sleeps in SQLite's busy handler (1, 2, 5, 10 ms…): measured, the event loop
 * stalled up to 118 ms. Instead, once a checkpoint finds the WAL past `tailFrames`, the main
 * thread holds the group commit's flushes (writes queue, the event loop goes on), the thread
 * copies what is left (the frames of the last moments), and the flushes resume: the first
 * BEGIN then finds every frame copied and the WAL starts over. The hold lasts a message each
 * way and one short checkpoint, `maxHoldMs` at most.
 *
 * A thread that throws or exits is logged and the connection goes back to automatic
 * checkpoints; nothing else fails. A thread that cannot be created at all throws
 * CheckpointThreadStartError from the constructor, the connection set back first. stop() (closing the database) ends the thread before the
 * connection closes. A checkpoint that finds another one running (`serve --workers`: one thread
 * per process) reports busy, which is normal and counted, not an error.
 */
export class SqliteCheckpointer {
  readonly #raw: DatabaseSync;
  readonly #log: Logger;
  readonly #writes: FlushControl | undefined;
  readonly #worker: Worker;
  readonly #exited: Promise<void>;
  readonly #tailFrames: number;
  readonly #maxHoldMs: number;
  readonly #stopTimeoutMs: number;
  #state: 'running' | 'lost' | 'stopping' | 'stopped' = 'running';
  #holdTimer: NodeJS.Timeout | undefined;
  #heldSince = 0;
  /**
   * Checkpoints of the thread, those that met another checkpointer, tails, tails after which
   * the WAL could start over, holds that ran out, the largest WAL seen (frames), the longest
   * checkpoint and the longest hold of the writes (ms).
   */
  readonly stats = { rounds: 0, busy: 0, tails: 0, tailsCaughtUp: 0, holdsTimedOut: 0, largestLog: 0, longestRoundMs: 0, longestHoldMs: 0 };

  constructor(raw: DatabaseSync, path: string, options: SqliteCheckpointerOptions) {
    this.#raw = raw;
    this.#log = options.log;
    this.#writes = options.writes;
    this.#tailFrames = options.tailFrames ?? CHECKPOINT_DEFAULTS.tailFrames;
    this.#maxHoldMs = options.maxHoldMs ?? CHECKPOINT_DEFAULTS.maxHoldMs;
    this.#stopTimeoutMs = options.stopTimeoutMs ?? 10_000;
    const config: CheckpointThreadConfig = { path, idleMs: options.idleMs ?? CHECKPOINT_DEFAULTS.idleMs };
    // Before the thread exists: from now on the connection checkpoints only past the safety net.
    raw.exec(`PRAGMA wal_autocheckpoint = ${options.safetyNetFrames ?? CHECKPOINT_DEFAULTS.safetyNetFrames}`);
    raw.exec(`PRAGMA journal_size_limit = ${CHECKPOINT_DEFAULTS.journalSizeLimitBytes}`);
    try {
      this.#worker = new Worker(options.script ?? SCRIPT, { workerData: config, name: 'tessera WAL checkpoints' });
    } catch (error) {
      // No thread (a thread limit, a bad script): the connection checkpoints as it did before.
      this.#automatic();
      throw new CheckpointThreadStartError(`the WAL checkpoint thread could not start: ${(error as Error).message}`, { cause: error });
    }
    // An idle thread does not keep the process alive; stop() refs it while it waits for the exit.
    this.#worker.unref();
    this.#worker.on('message', (report: CheckpointReport) => this.#report(report));
    this.#worker.on('error', (error) => this.#lost(error));
    this.#exited = new Promise<void>((resolve) => {
      this.#worker.once('exit', (code) => {
        if (this.#state === 'running') this.#lost(new Error(`the thread exited with code ${code}`));
        else if (this.#state === 'stopping') this.#state = 'stopped';
        resolve();
      });
    });
  }

  /** The thread runs and the connection checkpoints only as a safety net. */
  get running(): boolean {
    return this.#state === 'running';
  }

  /** Frames were committed: checkpoint soon. Nudges that arrive while the thread is busy make one round. */
  nudge(): void {
    this.#post('checkpoint');
  }

  /**
   * Ends the thread (it finishes a checkpoint in progress and closes its connection) and sets
   * the connection back to automatic checkpoints. Call before the connection closes.
   */
  async stop(): Promise<void> {
    if (this.#state === 'running') {
      this.#state = 'stopping';
      this.#release();
      this.#worker.ref();
      this.#worker.postMessage('stop' satisfies CheckpointCommand);
      let timer: NodeJS.Timeout | undefined;
      const late = new Promise<'late'>((resolve) => (timer = setTimeout(() => resolve('late'), this.#stopTimeoutMs)));
      const outcome = await Promise.race([this.#exited.then(() => 'exited' as const), late]);
      clearTimeout(timer);
      if (outcome === 'late') {
        this.#log.error({ err: new CheckpointThreadStopError(`the WAL checkpoint thread did not stop within ${this.#stopTimeoutMs} ms`) }, 'the WAL checkpoint thread was terminated');
        await this.#worker.terminate();
        this.#state = 'stopped';
      }
      this.#automatic();
    }
    await this.#exited;
  }

  #post(command: CheckpointCommand): void {
    if (this.#state !== 'running') return;
    try {
      this.#worker.postMessage(command);
    } catch (error) {
      // Called after a COMMIT (sqlite-statements.ts): a failure here must not reach the batch.
      this.#lost(error as Error);
    }
  }

  #report(report: CheckpointReport): void {
    const s = this.stats;
    if (report.busy) s.busy++;
    if (report.log > s.largestLog) s.largestLog = report.log;
    if (report.ms > s.longestRoundMs) s.longestRoundMs = report.ms;
    if (report.kind === 'tail') {
      s.tails++;
      if (!report.busy && report.log === report.checkpointed) s.tailsCaughtUp++;
      this.#release();
      return;
    }
    s.rounds++;
    // The WAL has not started over for a while: hold the writes for a last, short pass.
    if (report.log >= this.#tailFrames && !report.busy && this.#writes && this.#holdTimer === undefined && this.#state === 'running') {
      this.#writes.pauseFlushes();
      this.#heldSince = performance.now();
      this.#holdTimer = setTimeout(() => {
        this.stats.holdsTimedOut++;
        this.#release();
      }, this.#maxHoldMs);
      this.#post('tail');
    }
  }

  /** The writes go on (after a tail, a hold that ran out, or the thread's end). */
  #release(): void {
    if (this.#holdTimer === undefined) return;
    clearTimeout(this.#holdTimer);
    this.#holdTimer = undefined;
    const held = performance.now() - this.#heldSince;
    if (held > this.stats.longestHoldMs) this.stats.longestHoldMs = held;
    this.#writes?.resumeFlushes();
  }

  /** The thread failed ('error' then 'exit', or 'exit' alone): logged once, and the connection checkpoints again. */
  #lost(error: Error): void {
    if (this.#state !== 'running') return;
    this.#state = 'lost';
    this.#release();
    this.#automatic();
    this.#log.error({ err: error }, 'the WAL checkpoint thread stopped; the database connection checkpoints the WAL itself again');
  }

  /** Runs from the thread's events too: a failure here is logged, never thrown into the event loop. */
  #automatic(): void {
    try {
      if (this.#raw.isOpen) this.#raw.exec(`PRAGMA wal_autocheckpoint = ${AUTOMATIC_CHECKPOINT_FRAMES}`);
    } catch (error) {
      this.#log.error({ err: error }, 'could not set the database connection back to automatic WAL checkpoints');
    }
  }
}
