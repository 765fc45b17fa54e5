import type { AddressInfo } from 'node:net';
import { simpleParser } from 'mailparser';
import { SMTPServer } from 'smtp-server';

export interface ReceivedMail {
  to: string;
  from: string;
  subject: string;
  text: string;
  html: string;
}

/**
 * A real SMTP server in the test process (`smtp-server`, from nodemailer's project): Tessera
 * sends to it through nodemailer exactly as it would to a real one, and the test reads what
 * arrived. Plain SMTP on loopback (no STARTTLS offered), any credentials accepted (and recorded).
 */
export class Mailbox {
  readonly messages: ReceivedMail[] = [];
  /** Usernames the client authenticated as. */
  readonly logins: string[] = [];
  readonly #server: SMTPServer;
  #waiters: Array<() => void> = [];
  #port = 0;

  constructor() {
    this.#server = new SMTPServer({
      disabledCommands: ['STARTTLS'],
      authOptional: true,
      logger: false,
      onAuth: (auth, _session, callback) => {
        this.logins.push(auth.username ?? '');
        callback(null, { user: auth.username });
      },
      onData: (stream, _session, callback) => {
        simpleParser(stream)
          .then((parsed) => {
            const to = Array.isArray(parsed.to) ? parsed.to.map((a) => a.text).join(', ') : (parsed.to?.text ?? '');
            this.messages.push({ to, from: parsed.from?.text ?? '', subject: parsed.subject ?? '', text: parsed.text ?? '', html: typeof parsed.html === 'string' ? parsed.html : '' });
            for (const wake of this.#waiters.splice(0)) wake();
            callback();
          })
          .catch((error: Error) => callback(error));
      },
    });
  }

  async start(): Promise<this> {
    await new Promise<void>((resolve) => this.#server.listen(0, '127.0.0.1', () => resolve()));
    this.#port = (this.#server.server.address() as AddressInfo).port;
    return this;
  }

  /** TESSERA_SMTP_URL for this server (with credentials, as an operator writes them). */
  get url(): string {
    return `smtp://tessera:s3cret@127.0.0.1:${this.#port}`;
  }

  /**
   * The first message (arrived or arriving within `timeoutMs`) to `to` that matches. The
   * default outlasts the outbox's retries (backoff 1 + 2 + 4 + 8 s, src/email/mailer.ts): on a
   * loaded machine a first attempt can fail and the message arrive on a retry.
   */
  async waitFor(to: string, match: (m: ReceivedMail) => boolean = () => true, timeoutMs = 20_000): Promise<ReceivedMail> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const found = this.messages.find((m) => m.to.includes(to) && match(m));
      if (found) return found;
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`no mail to ${to} within ${timeoutMs} ms (got: ${this.messages.map((m) => `${m.to}: ${m.subject}`).join('; ') || 'none'})`);
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, Math.min(left, 200));
        this.#waiters.push(() => {
          clearTimeout(timer);
          resolve();
        });
      });
    }
  }

  /** Removes and returns the messages to `to`. */
  take(to: string): ReceivedMail[] {
    const out = this.messages.filter((m) => m.to.includes(to));
    for (const m of out) this.messages.splice(this.messages.indexOf(m), 1);
    return out;
  }

  close(): Promise<void> {
    return new Promise((resolve) => this.#server.close(() => resolve()));
  }
}

/** The first link in a mail's text that starts with `prefix` (e.g. `${issuer}/reset?`). */
export function linkIn(mail: ReceivedMail, prefix: string): string {
  const found = mail.text.split(/\s+/).find((word) => word.startsWith(prefix));
  if (!found) throw new Error(`no link starting with ${prefix} in: ${mail.text}`);
  return found;
}

/** An SMTP URL nothing listens on (connections refused at once): the SMTP server down. */
export async function deadSmtpUrl(): Promise<string> {
  const dead = await new Mailbox().start();
  const url = dead.url;
  await dead.close();
  return url;
}
