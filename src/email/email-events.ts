import type { AuditEntry, AuditLog } from '../audit/audit-log.ts';
import { actorIp, SYSTEM, type Actor } from '../audit/actor.ts';
import type { UserStore } from '../identity/user-store.ts';
import { translator, type Translator } from '../i18n/translator.ts';
import type { Logger } from '../lib/logger.ts';
import type { EmailVerification } from './email-verification.ts';
import type { JobQueue } from './job-queue.ts';
import type { Mailer } from './mailer.ts';
import type { MessageName } from './messages.ts';

export interface EmailEventDeps {
  audit: AuditLog;
  users: UserStore;
  verification: EmailVerification;
  mailer: Mailer;
  jobs: JobQueue;
  log: Logger;
}

/**
 * Mail that follows from what happened, driven by the audit log so that other areas only have
 * to record their actions (COMMON.md's agreed names):
 *
 * - an address set or changed (`user.create` with an address, `user.update` whose fields
 *   include `email`): a verification link to it (admin API, CLI, console, account page alike);
 * - security notices: a new factor (`user.factor_add`), a factor removed by the user
 *   (`user.factor_remove`), an admin's reset of every factor (`user.factors_reset`), new
 *   recovery codes (`user.recovery_codes_regenerate`), a password change
 *   (`user.password_change`), a reset (`user.password_reset`), a password sign-in from a new
 *   device (`user.sign_in` with `new_device`).
 *
 * Notices go only to a **verified** address: an address nobody proved may be a typo for a
 * stranger's, who should not learn when this account signs in. Without SMTP nothing is sent,
 * and the log says so once per event (the admin who set the address sees "unverified").
 */
export function wireEmailEvents(d: EmailEventDeps): void {
  d.audit.onRecorded((entry, actor, at) => {
    const job = jobFor(entry, actor);
    if (!job || !entry.targetId) return;
    const userId = entry.targetId;
    d.jobs.add(`email after ${entry.action}`, async () => {
      if (!d.mailer.configured) {
        d.log.info({ action: entry.action, userId }, `no email after ${entry.action}: email is not configured`);
        return;
      }
      if (job.kind === 'verify') {
        await d.verification.start(userId, actor.kind === 'system' ? SYSTEM : actor);
        return;
      }
      const user = await d.users.findById(userId);
      if (!user?.email || !user.emailVerified || user.disabled) return;
      // In the user's language (docs/languages.md): the words, and the time as that language writes it.
      const locale = d.mailer.localeFor(user.locale);
      const words = translator(locale);
      d.mailer.send(job.message, user.email, { username: user.username, time: words.dateTime(at), ip: actorIp(actor) ?? 'unknown', ...job.variables(words) }, user.id, locale);
    });
  });
}

/** A notice's own variables, in the reader's language. */
type Job = { kind: 'verify' } | { kind: 'notice'; message: MessageName; variables: (words: Translator) => Record<string, string> };

const none = () => ({});
/** "authenticator app", "passkey" in the reader's language; an unknown kind as it is named. */
const factorWord = (words: Translator, type: unknown) => (type === 'totp' ? words.t('mail.factor.totp') : type === 'passkey' ? words.t('mail.factor.passkey') : String(type ?? ''));

function jobFor(entry: AuditEntry, actor: Actor): Job | undefined {
  const details = entry.details as Record<string, unknown>;
  switch (entry.action as string) {
    case 'user.create':
      return { kind: 'verify' };
    case 'user.update':
      return Array.isArray(details.fields) && details.fields.includes('email') ? { kind: 'verify' } : undefined;
    case 'user.password_change':
      return { kind: 'notice', message: 'notice_password_change', variables: none };
    case 'user.password_reset':
      return {
        kind: 'notice',
        message: 'notice_password_reset',
        variables: (words) => ({ by: details.by === 'email_link' ? words.t('mail.by.link') : words.t('mail.by.actor', { actor: actor.label }) }),
      };
    case 'user.factor_add':
      return { kind: 'notice', message: 'notice_factor_add', variables: (words) => ({ factor_type: factorWord(words, details.type), factor_name: String(details.name ?? '') }) };
    case 'user.factor_remove':
      return { kind: 'notice', message: 'notice_factor_remove', variables: (words) => ({ factor_type: factorWord(words, details.type), factor_name: String(details.name ?? '') }) };
    case 'user.factors_reset':
      // A reset that found nothing to remove changed nothing.
      return Array.isArray(details.types) && details.types.length > 0 ? { kind: 'notice', message: 'notice_factors_reset', variables: () => ({ by: actor.label }) } : undefined;
    case 'user.recovery_codes_regenerate':
      // Codes made together with the first factor are part of that change (its own notice).
      return details.with_factor === true ? undefined : { kind: 'notice', message: 'notice_recovery_codes', variables: none };
    case 'user.sign_in':
      return details.new_device === true ? { kind: 'notice', message: 'notice_new_device', variables: none } : undefined;
    default:
      return undefined;
  }
}
