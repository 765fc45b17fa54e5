import { ServiceError } from '../errors.ts';
import { BackgroundTask } from '../lib/background-task.ts';
import type { Logger } from '../lib/logger.ts';
import type { MetricsRecorder } from '../lib/metrics.ts';
import type { MessageName } from './messages.ts';
import type { MessageVariables, Templates } from './templates.ts';
import type { MailTransport } from './transport.ts';

/** Attempts per message before it is given up (with backoff between them: 1 s, 2 s, 4 s, 8 s). */
export const MAX_ATTEMPTS = 5;
/** Messages waiting at most; beyond, new ones are dropped (logged, counted) rather than filling memory while SMTP is down. */
export const OUTBOX_LIMIT = 10_000;

/** Refused because TESSERA_SMTP_URL is not set: a feature that needs mail says so instead of doing nothing. */
export const emailNotConfigured = (what: string) =>
  new ServiceError('email_not_configured', 409, `email is not configured: ${what} needs TESSERA_SMTP_URL and TESSERA_SMTP_FROM (docs/email.md)`);

interface Queued {
  message: MessageName;
  to: string;
  /** Whom it concerns, for the logs (never the address or the content: a link is a secret). */
  userId: string | null;
  rendered: { subject: string; text: string; html: string };
  attempts: number;
}

export interface MailerDeps {
  /** Undefined when email is not configured. */
  transport: MailTransport | undefined;
  templates: Templates;
  log: Logger;
  metrics: MetricsRecorder;
  issuer: () => string;
  /** The brand's product name (docs/branding.md), `{{product_name}}` in every message. */
  productName?: () => string;
  /** TESSERA_DEFAULT_LOCALE: the language of mail to someone whose language is not known. */
  defaultLocale?: string;
  /** The languages mail can be written in (those the pages offer). */
  locales?: readonly string[];
}

/**
 * The outbox: flows queue a message and go on (a slow or dead SMTP server never holds a page);
 * a background task sends them in order, retrying a failure with backoff, and gives a message
 * up after MAX_ATTEMPTS (logged as an error and counted in `tessera_emails_total`). Messages
 * live in this process's memory: `close()` tries once more to send what is left.
 */
export class Mailer {
  readonly #d: MailerDeps;
  readonly #queue: Queued[] = [];
  readonly #task: BackgroundTask;

  constructor(deps: MailerDeps) {
    this.#d = deps;
    this.#task = new BackgroundTask('sending email', () => this.#drain(), deps.log, { firstRetryMs: 1000, maxRetryMs: 60_000 });
  }

  /** Whether mail can be sent at all (TESSERA_SMTP_URL is set). */
  get configured(): boolean {
    return this.#d.transport !== undefined;
  }

  /** Messages waiting to be sent (for status views and tests). */
  get pending(): number {
    return this.#queue.length;
  }

  /** The language to write to someone in: `preferred` (a user's, a page's) when it is one mail is written in, else the operator's default. */
  localeFor(preferred: string | null | undefined): string {
    const fallback = this.#d.defaultLocale ?? 'en';
    if (!preferred) return fallback;
    return (this.#d.locales ?? [fallback]).includes(preferred) ? preferred : fallback;
  }

  /** Throws `email_not_configured` (409) when mail cannot be sent; `what` names the feature. */
  requireConfigured(what: string): void {
    if (!this.configured) throw emailNotConfigured(what);
  }

  /**
   * Renders the message now, in `locale` (docs/languages.md; the operator's default when it is
   * not given or not offered), and queues it (a template problem shows at once). Throws
   * `email_not_configured` without SMTP: callers that may run without it check `configured`.
   */
  send(message: MessageName, to: string, variables: MessageVariables & { username: string }, userId: string | null, locale?: string | null): void {
    this.requireConfigured(`sending the ${message} message`);
    const rendered = this.#d.templates.render(message, this.localeFor(locale), { issuer: this.#d.issuer(), product_name: this.#d.productName?.() ?? 'Tessera', ...variables });
    if (this.#queue.length >= OUTBOX_LIMIT) {
      this.#d.log.error({ message, userId }, `email dropped: ${OUTBOX_LIMIT} messages are already waiting (is the SMTP server reachable?)`);
      this.#d.metrics.mail(message, 'dropped');
      return;
    }
    this.#queue.push({ message, to, userId, rendered, attempts: 0 });
    this.#task.request();
  }

  /** Settles when the outbox has nothing in progress (a retry may still be scheduled). */
  idle(): Promise<void> {
    return this.#task.idle();
  }

  /** Stops the background sending and tries once more to send what is left (bounded: a dead server cannot hold a shutdown). */
  async close(timeoutMs = 10_000): Promise<void> {
    await this.#task.stop();
    if (this.#queue.length && this.#d.transport) {
      let timer: NodeJS.Timeout | undefined;
      const deadline = new Promise<void>((resolve) => {
        timer = setTimeout(resolve, timeoutMs);
        timer.unref();
      });
      await Promise.race([this.#lastTry(), deadline]);
      clearTimeout(timer);
      for (const item of this.#queue.splice(0)) {
        this.#d.log.error({ message: item.message, userId: item.userId }, 'email not sent: Tessera stopped before the SMTP server took it');
        this.#d.metrics.mail(item.message, 'dropped');
      }
    }
    this.#d.transport?.close();
  }

  async #lastTry(): Promise<void> {
    while (this.#queue.length) {
      const item = this.#queue[0]!;
      try {
        await this.#d.transport!.send({ to: item.to, ...item.rendered });
        this.#sent(item);
      } catch (error) {
        this.#d.log.error({ err: error, message: item.message, userId: item.userId }, 'email not sent: the SMTP server refused it at shutdown');
        this.#d.metrics.mail(item.message, 'dropped');
      }
      this.#queue.shift();
    }
  }

  /** Sends queued messages in order; a failure is retried by the task (backoff) until MAX_ATTEMPTS. */
  async #drain(): Promise<void> {
    const transport = this.#d.transport!;
    while (this.#queue.length) {
      const item = this.#queue[0]!;
      try {
        await transport.send({ to: item.to, ...item.rendered });
      } catch (error) {
        item.attempts++;
        if (item.attempts >= MAX_ATTEMPTS) {
          this.#queue.shift();
          this.#d.log.error({ err: error, message: item.message, userId: item.userId, attempts: item.attempts }, 'email given up: the SMTP server did not take it');
          this.#d.metrics.mail(item.message, 'dropped');
          continue;
        }
        this.#d.metrics.mail(item.message, 'retry');
        // The task logs it and runs again after a backoff; the message stays first in line.
        throw error;
      }
      this.#queue.shift();
      this.#sent(item);
    }
  }

  #sent(item: Queued): void {
    this.#d.log.info({ message: item.message, userId: item.userId, attempts: item.attempts + 1 }, 'email sent');
    this.#d.metrics.mail(item.message, 'sent');
  }
}
