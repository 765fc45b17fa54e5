import { backoffMs, FailureLog, type Logger } from './logger.ts';

export interface RetryOptions {
  /** Wait before the first retry; doubles per consecutive failure. */
  firstRetryMs?: number;
  maxRetryMs?: number;
}

/**
 * A job the background runs when asked (reload the key ring, the settings, the gateway's
 * APIs): one run at a time; a request during a run queues one more, so the last run reads the
 * newest state and an older read never replaces a newer one; a failed run is logged and
 * retried with backoff until one works. It never throws or rejects: background work must
 * neither die silently nor take the process down (an unhandled rejection exits Node).
 */
export class BackgroundTask {
  readonly #run: () => Promise<void>;
  readonly #failures: FailureLog;
  readonly #firstRetryMs: number;
  readonly #maxRetryMs: number;
  #running: Promise<void> | undefined;
  #again = false;
  #retry: NodeJS.Timeout | undefined;
  #failed = 0;
  #stopped = false;

  constructor(job: string, run: () => Promise<void>, log: Logger, options: RetryOptions = {}) {
    this.#run = run;
    this.#failures = new FailureLog(log, job);
    this.#firstRetryMs = options.firstRetryMs ?? 500;
    this.#maxRetryMs = options.maxRetryMs ?? 30_000;
  }

  request(): void {
    // A pending retry reads the newest state anyway.
    if (this.#stopped || this.#retry) return;
    this.#again = true;
    this.#running ??= this.#drain().finally(() => {
      this.#running = undefined;
      if (this.#again) this.request();
    });
  }

  /** Settles when no run is in progress (a scheduled retry may still be pending). */
  async idle(): Promise<void> {
    while (this.#running) await this.#running;
  }

  async stop(): Promise<void> {
    this.#stopped = true;
    clearTimeout(this.#retry);
    this.#retry = undefined;
    await this.idle();
  }

  async #drain(): Promise<void> {
    while (this.#again && !this.#stopped) {
      this.#again = false;
      try {
        await this.#run();
        this.#failed = 0;
        this.#failures.succeeded();
      } catch (error) {
        const delay = backoffMs(++this.#failed, this.#firstRetryMs, this.#maxRetryMs);
        this.#failures.failed(error, delay);
        this.#again = false;
        this.#retry = setTimeout(() => {
          this.#retry = undefined;
          this.request();
        }, delay);
        this.#retry.unref();
        return;
      }
    }
  }
}
