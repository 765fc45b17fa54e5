import type { MessageKey } from '../i18n/catalogues.ts';

/**
 * Every email Tessera sends. The words come from the message catalogues
 * (src/i18n/messages/<locale>.json, keys `email.*`; docs/languages.md), so each mail is
 * written in its reader's language: the subject, then the body's paragraphs, each an ICU
 * message with `{variable}` placeholders. `{ link: key }` is the message's link: in the plain
 * text the label and the URL on a line of its own, in the HTML a link with that label. The
 * operator may replace any part, for every language or for one, from
 * TESSERA_EMAIL_TEMPLATES_DIR (templates.ts; `{{variable}}` there); docs/email.md lists the
 * variables.
 *
 * Every message also has `issuer` (Tessera's URL), `username` and `product_name` (the brand's
 * name, docs/branding.md).
 */
export interface MessageText {
  /** Variables besides `issuer`, `username` and `product_name`. */
  variables: readonly string[];
  subject: MessageKey;
  body: ReadonlyArray<MessageKey | { link: MessageKey }>;
}

const notice = (what: MessageKey, ...rest: MessageKey[]) => ['mail.hello', what, ...(rest.length ? rest : ['mail.notice.notYou' as const])] as const;

export const MESSAGES = {
  password_reset: {
    variables: ['link', 'expires_minutes'],
    subject: 'mail.password_reset.subject',
    body: ['mail.hello', 'mail.password_reset.intro', { link: 'mail.password_reset.action' }, 'mail.password_reset.expiry'],
  },
  email_verify: {
    variables: ['link', 'email', 'expires_hours'],
    subject: 'mail.email_verify.subject',
    body: ['mail.hello', 'mail.email_verify.intro', { link: 'mail.email_verify.action' }, 'mail.email_verify.expiry'],
  },
  invite: {
    variables: ['link', 'email', 'expires_days', 'invited_by'],
    subject: 'mail.invite.subject',
    body: ['mail.invite.hello', 'mail.invite.intro', { link: 'mail.invite.action' }, 'mail.invite.expiry'],
  },
  notice_password_change: {
    variables: ['time', 'ip'],
    subject: 'mail.notice_password_change.subject',
    body: notice('mail.notice_password_change.what'),
  },
  notice_password_reset: {
    variables: ['time', 'ip', 'by'],
    subject: 'mail.notice_password_reset.subject',
    body: notice('mail.notice_password_reset.what'),
  },
  notice_factor_add: {
    variables: ['time', 'ip', 'factor_type', 'factor_name'],
    subject: 'mail.notice_factor_add.subject',
    body: notice('mail.notice_factor_add.what'),
  },
  notice_factor_remove: {
    variables: ['time', 'ip', 'factor_type', 'factor_name'],
    subject: 'mail.notice_factor_remove.subject',
    body: notice('mail.notice_factor_remove.what'),
  },
  notice_factors_reset: {
    variables: ['time', 'ip', 'by'],
    subject: 'mail.notice_factors_reset.subject',
    body: notice('mail.notice_factors_reset.what', 'mail.notice_factors_reset.after', 'mail.notice_factors_reset.notYou'),
  },
  notice_recovery_codes: {
    variables: ['time', 'ip'],
    subject: 'mail.notice_recovery_codes.subject',
    body: notice('mail.notice_recovery_codes.what'),
  },
  notice_new_device: {
    variables: ['time', 'ip'],
    subject: 'mail.notice_new_device.subject',
    body: notice('mail.notice_new_device.what'),
  },
} as const satisfies Record<string, MessageText>;

export type MessageName = keyof typeof MESSAGES;
export const MESSAGE_NAMES = Object.keys(MESSAGES) as MessageName[];
/** Variables every message has. */
export const COMMON_VARIABLES = ['issuer', 'username', 'product_name'] as const;
/** The last line of every message (after the text's "-- " signature separator). */
export const FOOTER_KEY: MessageKey = 'mail.footer';
