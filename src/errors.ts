/**
 * Errors of the service layer shared by the CLI and the admin API (not protocol errors:
 * those are OAuthError in oauth/errors.ts). Each carries a stable code for machines and a
 * one-line message for people.
 */
export class ServiceError extends Error {
  readonly code: string;
  readonly status: number;
  readonly field: string | undefined;
  /** The message as a page shows it in its reader's language; absent → pages show `message`. */
  readonly text: PageText | undefined;
  constructor(code: string, status: number, message: string, field?: string, text?: PageText) {
    super(message);
    this.name = 'ServiceError';
    this.code = code;
    this.status = status;
    this.field = field;
    this.text = text;
  }
}

/**
 * A catalogue key (src/i18n/messages) and its values: what a page shows for an error a person
 * reads. The English `message` stays for the admin API and the CLI (their error_description
 * is for operators and stays English, docs/languages.md).
 */
export interface PageText {
  readonly key: string;
  readonly values?: Readonly<Record<string, string | number>>;
}

export const validationError = (message: string, field?: string, text?: PageText) => new ServiceError('validation_failed', 400, message, field, text);
export const notFound = (what: string, id: string) => new ServiceError('not_found', 404, `${what} "${id}" not found`);
export const conflict = (message: string, field?: string, text?: PageText) => new ServiceError('conflict', 409, message, field, text);
