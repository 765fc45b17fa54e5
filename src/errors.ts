/**
 * Errors of the service layer shared by the CLI and the admin API (not protocol errors:
 * those are OAuthError in oauth/errors.ts). Each carries a stable code for machines and a
 * one-line message for people.
 */
export class ServiceError extends Error {
  readonly code: string;
  readonly status: number;
  readonly field: string | undefined;
  constructor(code: string, status: number, message: string, field?: string) {
    super(message);
    this.name = 'ServiceError';
    this.code = code;
    this.status = status;
    this.field = field;
  }
}

export const validationError = (message: string, field?: string) => new ServiceError('validation_failed', 400, message, field);
export const notFound = (what: string, id: string) => new ServiceError('not_found', 404, `${what} "${id}" not found`);
export const conflict = (message: string, field?: string) => new ServiceError('conflict', 409, message, field);
