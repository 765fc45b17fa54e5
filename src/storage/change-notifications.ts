import { randomUUID } from 'node:crypto';
import type pg from 'pg';
import { backoffMs, FailureLog, type Logger } from '../lib/logger.ts';

/**
 * The PostgreSQL channel every change event is announced on. `publishChange` sends the
 * NOTIFY in the statement that appends the event, so PostgreSQL delivers it when (and only
 * if) that transaction commits: never before the event is visible, never for a rollback.
 */
export const CHANGE_CHANNEL = 'tessera_changes';

/** First wait before reconnecting after the listening connection is lost; doubles per failure. */
const FIRST_RETRY_MS = 250;
const MAX_RETRY_MS = 10_000;
/** How long a probe notification may take to come back before LISTEN counts as not working. */
export const PROBE_TIMEOUT_MS = 15_000;
/** Payloads starting with this are probes, not changes. */
const PROBE_PREFIX = 'probe ';
type ProbeOutcome = 'back' | 'lost' | 'stopped' | 'timeout';

/**
 * One connection of its own per node (not one of the pool's: LISTEN belongs to a session,
 * and the pool hands its connections to whichever query comes next) that LISTENs on
 * `CHANGE_CHANNEL` and calls `onNotify` with each notification's payload. When the
 * connection fails or is lost (database restarted, backend terminated), or a probe shows
 * that notifications do not arrive, the failure is logged the FailureLog way (once per run
 * of failures, then at most once a minute) and the listener reconnects with backoff;
 * `listening` is false meanwhile, so the change feed polls at its normal rate. Never throws
 * or rejects into the caller.
 */
export class ChangeNotificationListener {
  readonly #connect: () => pg.Client;
  readonly #failures: FailureLog;
  #onNotify: (payload: string) => void = () => {};
  #onListening: () => void = () => {};
  #probe: (payload: string) => Promise<unknown> = async () => {};
  #client: pg.Client | undefined;
  #listening = false;
  #failed = 0;
  #retry: NodeJS.Timeout | undefined;
  #opening: Promise<void> | undefined;
  /** Connections being closed; awaited by `stop` so none outlives it. */
  readonly #closing = new Set<Promise<void>>();
  #stopped = true;
  /** Ends the wait of a connection attempt for its probe (stop() during it). */
  #abortOpening: () => void = () => {};

  readonly #probeTimeoutMs: number;

  /** `connect` makes a new, unconnected client for the listening connection. */
  constructor(connect: () => pg.Client, log: Logger, options: { probeTimeoutMs?: number } = {}) {
    this.#connect = connect;
    this.#failures = new FailureLog(log, 'change notification listener');
    this.#probeTimeoutMs = options.probeTimeoutMs ?? PROBE_TIMEOUT_MS;
  }

  /** True while LISTEN is in effect on a live connection and a probe has come through it. */
  get listening(): boolean {
    return this.#listening;
  }

  /**
   * Connects in the background. `onNotify` runs for every notification; `onListening` each
   * time LISTEN is (re)established, so the caller can catch up on what it missed meanwhile.
   * `probe` sends a NOTIFY with the given payload through another connection, as another
   * node would: LISTEN counts as established only once that notification has come back (a
   * transaction-mode pooler such as PgBouncer's accepts LISTEN but delivers nothing).
   */
  start(handlers: { onNotify: (payload: string) => void; onListening: () => void; probe: (payload: string) => Promise<unknown> }): void {
    this.#onNotify = handlers.onNotify;
    this.#onListening = handlers.onListening;
    this.#probe = handlers.probe;
    this.#stopped = false;
    this.#open();
  }

  async stop(): Promise<void> {
    this.#stopped = true;
    clearTimeout(this.#retry);
    this.#retry = undefined;
    this.#abortOpening();
    await this.#opening;
    this.#listening = false;
    if (this.#client) this.#close(this.#client);
    this.#client = undefined;
    await Promise.all(this.#closing);
  }

  #open(): void {
    this.#opening = this.#listen().finally(() => {
      this.#opening = undefined;
    });
  }

  async #listen(): Promise<void> {
    const client = this.#connect();
    const probe = `${PROBE_PREFIX}${randomUUID()}`;
    // Settles the wait for the probe: it came back, the connection was lost, stop(), or too late.
    let settle: (outcome: ProbeOutcome) => void = () => {};
    let lost = false;
    const onLost = (error: unknown) => {
      if (lost) return;
      lost = true;
      settle('lost');
      this.#close(client);
      if (this.#client === client) this.#client = undefined;
      this.#listening = false;
      if (this.#stopped) return;
      const delay = backoffMs(++this.#failed, FIRST_RETRY_MS, MAX_RETRY_MS);
      this.#failures.failed(error, delay);
      this.#retry = setTimeout(() => {
        this.#retry = undefined;
        if (!this.#stopped) this.#open();
      }, delay);
      this.#retry.unref();
    };
    // A lost connection is an 'error' event on the client (an uncaught exception without a
    // listener), then 'end'. Either means: listen again on a new connection.
    client.on('error', onLost);
    client.on('end', () => onLost(new Error('the listening connection was closed')));
    client.on('notification', (message) => {
      if (message.channel !== CHANGE_CHANNEL) return;
      const payload = message.payload ?? '';
      if (payload === probe) settle('back');
      else if (!payload.startsWith(PROBE_PREFIX)) this.#onNotify(payload);
    });
    const probeOutcome = new Promise<ProbeOutcome>((resolve) => {
      settle = resolve;
      // stop() while connecting or waiting for the probe: give up on this connection now.
      this.#abortOpening = () => {
        resolve('stopped');
        this.#close(client);
      };
    });
    let timeout: NodeJS.Timeout | undefined;
    try {
      await client.connect();
      await client.query(`LISTEN ${CHANGE_CHANNEL}`);
      if (this.#stopped) throw new Error('stopped');
      timeout = setTimeout(() => settle('timeout'), this.#probeTimeoutMs);
      await this.#probe(probe);
      const outcome = await probeOutcome;
      if (outcome === 'timeout') {
        throw new Error(`a notification sent to ${CHANGE_CHANNEL} did not come back within ${this.#probeTimeoutMs} ms (a transaction-mode connection pooler in between?)`);
      }
    } catch (error) {
      onLost(error);
      return;
    } finally {
      clearTimeout(timeout);
      this.#abortOpening = () => {};
    }
    if (lost) return;
    if (this.#stopped) {
      lost = true;
      this.#close(client);
      return;
    }
    this.#client = client;
    this.#listening = true;
    this.#failed = 0;
    this.#failures.succeeded();
    this.#onListening();
  }

  /** `end()` resolves (it never rejects) once the socket is closed, even a broken one. */
  #close(client: pg.Client): void {
    const closing = client.end().finally(() => this.#closing.delete(closing));
    this.#closing.add(closing);
  }
}
