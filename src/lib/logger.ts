/**
 * What the core needs from a logger: pino's call shape (`log.error({ err }, 'message')`), so
 * the server hands in Fastify's pino logger as is, while the core imports no framework and the
 * CLI can pass a plain stderr one.
 */
export interface Logger {
  error(context: Record<string, unknown>, message: string): void;
  warn(context: Record<string, unknown>, message: string): void;
  info(context: Record<string, unknown>, message: string): void;
}

/** For tests that assert nothing about logging. */
export const silentLogger: Logger = { error() {}, warn() {}, info() {} };

/** One line per entry on stderr, for the CLI's short-lived commands. */
export function stderrLogger(prefix = 'tessera'): Logger {
  const write = (level: string) => (context: Record<string, unknown>, message: string) => {
    const err = context.err;
    const reason = err instanceof Error ? `: ${err.message}` : err === undefined ? '' : `: ${String(err)}`;
    process.stderr.write(`${prefix}: ${level}: ${message}${reason}\n`);
  };
  return { error: write('error'), warn: write('warning'), info: write('info') };
}

/**
 * Logs a run of failures of one background job without flooding: the first failure of a run
 * as an error, then at most one "still failing" line per `repeatMs`, and one line when the job
 * works again.
 */
export class FailureLog {
  readonly #log: Logger;
  readonly #job: string;
  readonly #repeatMs: number;
  #failures = 0;
  #lastLoggedAt = 0;

  constructor(log: Logger, job: string, repeatMs = 60_000) {
    this.#log = log;
    this.#job = job;
    this.#repeatMs = repeatMs;
  }

  get failing(): boolean {
    return this.#failures > 0;
  }

  failed(error: unknown, retryInMs: number): void {
    const now = Date.now();
    this.#failures++;
    if (this.#failures === 1) {
      this.#lastLoggedAt = now;
      this.#log.error({ err: error, job: this.#job, retryInMs }, `${this.#job} failed; retrying`);
    } else if (now - this.#lastLoggedAt >= this.#repeatMs) {
      this.#lastLoggedAt = now;
      this.#log.error({ err: error, job: this.#job, failures: this.#failures, retryInMs }, `${this.#job} still failing; retrying`);
    }
  }

  succeeded(): void {
    if (this.#failures === 0) return;
    this.#log.info({ job: this.#job, failures: this.#failures }, `${this.#job} works again`);
    this.#failures = 0;
  }
}

/** Exponential backoff: `firstMs`, doubling per consecutive failure, capped at `maxMs`. */
export function backoffMs(failures: number, firstMs: number, maxMs: number): number {
  return Math.min(maxMs, firstMs * 2 ** Math.min(Math.max(failures - 1, 0), 30));
}
