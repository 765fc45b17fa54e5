import { randomUUID } from 'node:crypto';
import { epochSeconds, type Clock } from '../clock.ts';
import { ServiceError } from '../errors.ts';
import type { KeyEncrypter } from '../keys/encryption.ts';
import { BackgroundTask } from '../lib/background-task.ts';
import { backoffMs, type Logger } from '../lib/logger.ts';
import type { MetricsRecorder } from '../lib/metrics.ts';
import type { MessageName } from './messages.ts';
import type { OutboxEntry, OutboxStore } from './outbox-store.ts';
import type { MessageVariables, Templates } from './templates.ts';
import type { MailMessage, MailTransport } from './transport.ts';

/**
 * A message the SMTP server has not taken within this long is given up (logged as an error,
 * counted as dropped): the links it carries expire within the hour (a reset link) or are
 * sent again by the person who needs them.
 */
export const GIVE_UP_AFTER_SECONDS = 3600;
/** Waits between attempts: 1 s, doubling, at most 5 minutes. */
const RETRY_FIRST_SECONDS = 1;
const RETRY_MAX_SECONDS = 300;
/** How long a node holds a message it is sending: beyond the transport's longest send (~60 s). */
const LEASE_SECONDS = 120;
/** How often a serving node looks for messages other nodes left (a node that stopped or died). */
const POLL_MS = 30_000;
const BATCH = 20;
/** Messages not yet written to the outbox at most; beyond, new ones are dropped (logged, counted) rather than filling memory while the database is down. */
export const OUTBOX_LIMIT = 10_000;

/** Refused because TESSERA_SMTP_URL is not set: a feature that needs mail says so instead of doing nothing. */
export const emailNotConfigured = (what: string) =>
  new ServiceError('email_not_configured', 409, `email is not configured: ${what} needs TESSERA_SMTP_URL and TESSERA_SMTP_FROM (docs/email.md)`);

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
  /** Where messages wait until the SMTP server takes them (the database, shared by every node). */
  outbox: OutboxStore;
  /** Seals the recipient and the message in the outbox (they may hold a reset or invitation link). */
  secrets: Pick<KeyEncrypter, 'encrypt' | 'decrypt'>;
  clock: Clock;
}

/**
 * The outbox: flows queue a message and go on (a slow or dead SMTP server never holds a page).
 * A queued message is written to the database (`email_outbox`, sealed with the key-encryption
 * key) before it is sent, and removed once the SMTP server took it, so it survives a restart,
 * a crash or an SMTP outage: a failure is tried again with backoff (1 s, doubling, at most
 * 5 minutes), by whichever node is up, for GIVE_UP_AFTER_SECONDS, then given up (logged as an
 * error, counted in `tessera_emails_total`). Delivery is at least once: a node that dies
 * after the server took a message but before removing it leaves it to be sent again.
 *
 * Every process sends what it queued itself (a CLI command waits for that); a serving node
 * (`startDelivery`) also sends what others left, and looks for it every POLL_MS.
 */
export class Mailer {
  readonly #d: MailerDeps;
  /** Queued here, not yet written to the outbox. */
  readonly #fresh: OutboxEntry[] = [];
  /** This process's messages in the outbox, not sent or given up yet. */
  readonly #mine = new Set<string>();
  readonly #task: BackgroundTask;
  #all = false;
  #timer: NodeJS.Timeout | undefined;
  #stopped = false;

  constructor(deps: MailerDeps) {
    this.#d = deps;
    // A failure here is the database's (SMTP failures are handled per message): retried with backoff.
    this.#task = new BackgroundTask('sending email', () => this.#drain(), deps.log, { firstRetryMs: 1000, maxRetryMs: 60_000 });
  }

  /** Whether mail can be sent at all (TESSERA_SMTP_URL is set). */
  get configured(): boolean {
    return this.#d.transport !== undefined;
  }

  /** Messages this process queued that the SMTP server has not taken yet (and that are not given up). */
  get pending(): number {
    return this.#fresh.length + this.#mine.size;
  }

  /** Messages waiting in the outbox, every node's. */
  waiting(): Promise<number> {
    return this.#d.outbox.count();
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
    if (this.#fresh.length >= OUTBOX_LIMIT) {
      this.#d.log.error({ message, userId }, `email dropped: ${OUTBOX_LIMIT} messages are already waiting to be written to the outbox (is the database reachable?)`);
      this.#d.metrics.mail(message, 'dropped');
      return;
    }
    const now = epochSeconds(this.#d.clock);
    const sealed = this.#d.secrets.encrypt(JSON.stringify({ to, ...rendered } satisfies MailMessage));
    this.#fresh.push({ id: randomUUID(), message, userId, sealed, attempts: 0, createdAt: now, nextAttemptAt: now });
    this.#task.request();
  }

  /** A serving node: also send what other processes left in the outbox, now and every POLL_MS. */
  startDelivery(): void {
    if (!this.configured || this.#stopped) return;
    this.#all = true;
    this.#task.request();
  }

  /** Settles when the outbox has nothing in progress (a retry may still be scheduled). */
  idle(): Promise<void> {
    return this.#task.idle();
  }

  /**
   * Stops sending. What this process queued is written to the outbox and tried once more
   * (bounded: a dead server cannot hold a shutdown); what is still not sent stays in the
   * outbox for a serving node.
   */
  async close(timeoutMs = 10_000): Promise<void> {
    this.#stopped = true;
    // Only this process's own messages from here: another node's, taken now, would wait out its lease.
    this.#all = false;
    clearTimeout(this.#timer);
    await this.#task.stop();
    if (this.#d.transport && this.pending) {
      let timer: NodeJS.Timeout | undefined;
      const deadline = new Promise<'late'>((resolve) => {
        timer = setTimeout(() => resolve('late'), timeoutMs);
        timer.unref();
      });
      try {
        await Promise.race([this.#drain(), deadline]);
      } catch (error) {
        this.#d.log.error({ err: error }, 'email outbox: could not finish at shutdown');
      }
      clearTimeout(timer);
      if (this.#fresh.length) this.#d.log.error({ messages: this.#fresh.length }, 'email not sent: Tessera stopped before the outbox could be written (is the database reachable?)');
      else if (this.#mine.size) this.#d.log.warn({ messages: this.#mine.size }, 'email not sent yet: it stays in the outbox, and a running Tessera server sends it');
    }
    this.#d.transport?.close();
  }

  /** Writes new messages to the outbox, then sends the due ones this process may take. */
  async #drain(): Promise<void> {
    const transport = this.#d.transport;
    if (!transport) return;
    if (this.#fresh.length) {
      const batch = this.#fresh.slice(0, 500);
      await this.#d.outbox.insert(batch);
      this.#fresh.splice(0, batch.length);
      for (const e of batch) this.#mine.add(e.id);
    }
    for (;;) {
      const now = epochSeconds(this.#d.clock);
      const claimed = await this.#d.outbox.claim(now, LEASE_SECONDS, BATCH, this.#all ? undefined : [...this.#mine]);
      if (!claimed.length) break;
      for (const entry of claimed) await this.#attempt(transport, entry, now);
      if (this.#fresh.length) return this.#drain();
    }
    await this.#schedule();
  }

  /** One attempt at one message; its outcome is written back (sent: removed; failed: retried later, or given up). */
  async #attempt(transport: MailTransport, entry: OutboxEntry, now: number): Promise<void> {
    const who = { message: entry.message, userId: entry.userId, attempts: entry.attempts + 1 };
    let mail: MailMessage;
    try {
      mail = JSON.parse(this.#d.secrets.decrypt(entry.sealed)) as MailMessage;
    } catch (error) {
      // Sealed under a key-encryption key this node does not have: while the key is being
      // replaced, a node with the new one may send it; left for them, given up like any other.
      return this.#failed(entry, now, error, 'the outbox entry cannot be decrypted with this node\'s key-encryption key', 'email given up: no node could decrypt the outbox entry');
    }
    try {
      await transport.send(mail);
    } catch (error) {
      return this.#failed(entry, now, error, 'email not sent; trying again later', `email given up: the SMTP server did not take it within ${GIVE_UP_AFTER_SECONDS / 60} minutes`);
    }
    await this.#finish(entry, 'sent');
    this.#d.log.info(who, 'email sent');
  }

  /** A failed attempt: tried again later with backoff (by any node), or given up once the message is GIVE_UP_AFTER_SECONDS old. */
  async #failed(entry: OutboxEntry, now: number, error: unknown, retrying: string, givenUp: string): Promise<void> {
    const attempts = entry.attempts + 1;
    const who = { message: entry.message, userId: entry.userId, attempts };
    if (now - entry.createdAt >= GIVE_UP_AFTER_SECONDS) {
      await this.#finish(entry, 'dropped');
      this.#d.log.error({ err: error, ...who }, givenUp);
      return;
    }
    const wait = backoffMs(attempts, RETRY_FIRST_SECONDS, RETRY_MAX_SECONDS);
    await this.#d.outbox.retryLater(entry.id, attempts, now + wait);
    this.#d.metrics.mail(entry.message, 'retry');
    this.#d.log.warn({ err: error, ...who, retryInSeconds: wait }, retrying);
  }

  async #finish(entry: OutboxEntry, outcome: 'sent' | 'dropped'): Promise<void> {
    await this.#d.outbox.remove(entry.id);
    this.#mine.delete(entry.id);
    this.#d.metrics.mail(entry.message, outcome);
  }

  /** Wakes up when the next message this process may take is due (a serving node: at least every POLL_MS). */
  async #schedule(): Promise<void> {
    clearTimeout(this.#timer);
    this.#timer = undefined;
    if (this.#stopped || (!this.#all && !this.#mine.size)) return;
    const now = epochSeconds(this.#d.clock);
    const due = await this.#d.outbox.nextDue(now, this.#all ? undefined : [...this.#mine]);
    let wait = this.#all ? POLL_MS : undefined;
    if (due !== undefined) wait = Math.min(wait ?? Infinity, Math.max(0, due - now) * 1000 + 50);
    if (wait === undefined) return;
    this.#timer = setTimeout(() => {
      this.#timer = undefined;
      this.#task.request();
    }, wait);
    this.#timer.unref();
  }
}
