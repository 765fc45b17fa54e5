import type { Transporter } from 'nodemailer';

/** One message ready to send: already rendered (src/email/templates.ts). */
export interface MailMessage {
  to: string;
  subject: string;
  text: string;
  html: string;
}

/** Where messages go. SMTP in production; tests point it at an `smtp-server` in the process. */
export interface MailTransport {
  send(message: MailMessage): Promise<void>;
  close(): void;
}

/** Short timeouts: a send runs in the background, and a dead server must not hold it for minutes. */
const TIMEOUTS = { connectionTimeout: 15_000, greetingTimeout: 15_000, socketTimeout: 30_000 };

/**
 * SMTP through nodemailer: `smtp://` upgrades with STARTTLS when the server offers it,
 * `smtps://` is TLS from the first byte; credentials come from the URL (config.ts checked it).
 */
export function smtpTransport(smtp: { url: string; from: string }): MailTransport {
  // nodemailer is loaded at the first send, not by every process that opens Tessera.
  let transporter: Promise<Transporter> | undefined;
  let closed = false;
  return {
    async send(message) {
      transporter ??= import('nodemailer').then((nodemailer) => nodemailer.default.createTransport({ url: smtp.url, ...TIMEOUTS }));
      const sender = await transporter;
      if (closed) throw new Error('the mail transport is closed');
      await sender.sendMail({ from: smtp.from, to: message.to, subject: message.subject, text: message.text, html: message.html });
    },
    close() {
      closed = true;
      transporter?.then((t) => t.close(), () => undefined).catch(() => undefined);
    },
  };
}
