import { BackgroundTask } from '../lib/background-task.ts';
import type { Logger } from '../lib/logger.ts';

/** Most jobs waiting; beyond, new ones are refused with an error in the log (a flood must not fill memory). */
const LIMIT = 10_000;

/**
 * Work a request starts but does not wait for (e.g. looking up the account a reset was asked
 * for and mailing it): the answer then takes the same time whether the account exists or not.
 * Jobs run one at a time, in order; a failed one is logged with its name and left (the person
 * can ask again), never retried forever nor silently lost.
 */
export class JobQueue {
  readonly #jobs: Array<{ name: string; run: () => Promise<void> }> = [];
  readonly #task: BackgroundTask;
  readonly #log: Logger;

  constructor(name: string, log: Logger) {
    this.#log = log;
    this.#task = new BackgroundTask(name, () => this.#drain(), log);
  }

  add(name: string, run: () => Promise<void>): void {
    if (this.#jobs.length >= LIMIT) {
      this.#log.error({ job: name }, `background job refused: ${LIMIT} are already waiting`);
      return;
    }
    this.#jobs.push({ name, run });
    this.#task.request();
  }

  /** Settles when every queued job has run. */
  async idle(): Promise<void> {
    await this.#task.idle();
  }

  async close(): Promise<void> {
    await this.#task.idle();
    await this.#task.stop();
  }

  async #drain(): Promise<void> {
    while (this.#jobs.length) {
      const job = this.#jobs.shift()!;
      try {
        await job.run();
      } catch (error) {
        this.#log.error({ err: error, job: job.name }, `${job.name} failed`);
      }
    }
  }
}
