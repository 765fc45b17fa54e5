import type { FastifyBaseLogger } from 'fastify';
import type { Logger } from '../lib/logger.ts';

// What the requests served in front of Fastify (gateway-edge.ts, token-edge.ts) log with:
// Fastify's own logger, used the way Fastify would.

/** Whether `log` writes at `level` (pino); Fastify's logger without `logger` writes nothing. */
export function enabled(log: FastifyBaseLogger, level: string): boolean {
  const pino = log as FastifyBaseLogger & { isLevelEnabled?: (level: string) => boolean };
  return typeof pino.isLevelEnabled === 'function' && pino.isLevelEnabled(level);
}

/** The core's Logger on a request's own logger, which is made only when a line is written at a level the root writes. */
export class RequestLog implements Logger {
  readonly #root: FastifyBaseLogger;
  readonly #log: () => FastifyBaseLogger;

  constructor(root: FastifyBaseLogger, log: () => FastifyBaseLogger) {
    this.#root = root;
    this.#log = log;
  }

  info(context: Record<string, unknown>, message: string): void {
    if (enabled(this.#root, 'info')) this.#log().info(context, message);
  }

  warn(context: Record<string, unknown>, message: string): void {
    if (enabled(this.#root, 'warn')) this.#log().warn(context, message);
  }

  error(context: Record<string, unknown>, message: string): void {
    if (enabled(this.#root, 'error')) this.#log().error(context, message);
  }
}
