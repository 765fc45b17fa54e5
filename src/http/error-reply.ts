import type { FastifyInstance, FastifyRequest, FastifySchemaValidationError } from 'fastify';
import { ServiceError } from '../errors.ts';
import { PasswordHashingUnavailableError } from '../identity/password-hasher.ts';
import type { Logger } from '../lib/logger.ts';
import { OAuthError } from '../oauth/errors.ts';
import { DatabaseUnavailableError } from '../storage/pg-group-commit.ts';
import { ADMIN_API_PREFIX } from './admin/admin-api.ts';
import { JSON_TYPE, NO_STORE } from './oauth-reply.ts';

/**
 * The one place an error thrown anywhere in the app becomes an HTTP answer:
 *
 * - OAuthError → its RFC 6749 §5.2 / RFC 6750 §3 body, status and headers (oauth-reply.ts);
 * - ServiceError (the services' validation_failed / not_found / conflict …) → its code,
 *   status and the field at fault;
 * - a request that failed its route's JSON schema (only admin routes declare one) → 400
 *   validation_failed naming the first field at fault;
 * - Fastify's own client errors (body too large, malformed JSON, wrong content type…) →
 *   their 4xx, in the shape of the surface the request was for: the admin API keeps the
 *   status and says too_large / invalid_request; the protocol endpoints answer the OAuth
 *   invalid_request with 400 (413 for a body too large);
 * - DatabaseUnavailableError (a write the database did not confirm) → 503
 *   temporarily_unavailable with Retry-After;
 * - PasswordHashingUnavailableError (a hashing thread died mid-password, or the server is
 *   stopping) → the same 503: the password was neither accepted nor refused;
 * - anything else is a bug: logged, and answered 500 server_error without details.
 */
export function registerErrorHandler(app: FastifyInstance): void {
  app.setErrorHandler((error: unknown, request, reply) => {
    const answer = errorAnswer(error, request.log, { tokenEndpoint: request.routeOptions.url === '/connect/token', adminApi: isAdminApi(request) });
    reply.code(answer.status);
    for (const [name, value] of answer.headers) reply.header(name, value);
    return reply.send(answer.body);
  });
}

/** How an error is answered: status, headers in the order they are set, and the JSON body. */
export interface ErrorAnswer {
  status: number;
  headers: Array<[string, string]>;
  body: object;
}

/**
 * The answer to `error` (the rules above), logging what they say to log. Shared by Fastify's
 * error handler and the token endpoint served in front of Fastify (token-edge.ts), so both
 * answer an error with the same bytes.
 */
export function errorAnswer(error: unknown, log: Logger, where: { tokenEndpoint: boolean; adminApi: boolean }): ErrorAnswer {
  if (error instanceof OAuthError) {
    // Token requests refused, at info beside "token issued": the code only (descriptions can echo input).
    if (where.tokenEndpoint) log.info({ error: error.error }, 'token request refused');
    return oauthAnswer(error);
  }
  if (error instanceof ServiceError) return plainAnswer(error.status, error.code, error.message, error.field);
  if (error instanceof DatabaseUnavailableError) {
    // A write the database did not confirm (its group-commit batch lost the connection):
    // nothing may be assumed stored, and trying again is the right move.
    log.warn({ err: error.cause }, 'a write was not confirmed by the database');
    return oauthAnswer(new OAuthError('temporarily_unavailable', 'the database did not confirm the write; try again', { headers: { 'retry-after': '1' } }));
  }
  if (error instanceof PasswordHashingUnavailableError) {
    log.warn({ err: error }, 'a password could not be checked');
    return oauthAnswer(new OAuthError('temporarily_unavailable', 'the password could not be checked; try again', { headers: { 'retry-after': '1' } }));
  }
  const validation = validationOf(error);
  if (validation) {
    const context = validation.context ?? 'request';
    return plainAnswer(400, 'validation_failed', `${context}: ${validation.message}`, validation.field);
  }
  const status = clientErrorStatus(error);
  if (status !== undefined) {
    const tooLarge = status === 413;
    if (where.adminApi) {
      return plainAnswer(status, tooLarge ? 'too_large' : 'invalid_request', tooLarge ? 'the request body is too large' : 'the request is malformed');
    }
    const description = tooLarge ? 'the request body is too large' : 'the request is malformed';
    return oauthAnswer(new OAuthError('invalid_request', description, { status: tooLarge ? 413 : 400 }));
  }
  log.error({ err: error }, 'unhandled error');
  return oauthAnswer(new OAuthError('server_error', 'the server could not complete the request'));
}

/** RFC 6749 §5.2: no-store, the error's own headers (WWW-Authenticate, Retry-After), its JSON body. */
function oauthAnswer(error: OAuthError): ErrorAnswer {
  return { status: error.status, headers: [...NO_STORE, ...Object.entries(error.headers), ['content-type', JSON_TYPE]], body: error.toJSON() };
}

/** The admin API's error body (components/schemas/Error in its OpenAPI document). */
function plainAnswer(status: number, code: string, description: string, field?: string): ErrorAnswer {
  return { status, headers: [['content-type', JSON_TYPE]], body: { error: code, error_description: description, ...(field ? { field } : {}) } };
}

function isAdminApi(request: FastifyRequest): boolean {
  return request.url === ADMIN_API_PREFIX || request.url.startsWith(`${ADMIN_API_PREFIX}/`) || request.url.startsWith(`${ADMIN_API_PREFIX}?`);
}

/** A Fastify schema-validation failure: its message, where it happened, and the first field at fault. */
function validationOf(error: unknown): { message: string; context: string | undefined; field: string | undefined } | undefined {
  if (!(error instanceof Error) || !('validation' in error) || !Array.isArray(error.validation)) return undefined;
  const first: FastifySchemaValidationError | undefined = error.validation[0];
  const params = first?.params ?? {};
  const named = [params.missingProperty, params.additionalProperty].find((v): v is string => typeof v === 'string');
  const field = named ?? first?.instancePath.replace(/^\//, '').split('/')[0];
  const context = 'validationContext' in error && typeof error.validationContext === 'string' ? error.validationContext : undefined;
  return { message: error.message, context, field };
}

function clientErrorStatus(error: unknown): number | undefined {
  if (typeof error !== 'object' || error === null || !('statusCode' in error)) return undefined;
  const status = error.statusCode;
  return typeof status === 'number' && status >= 400 && status < 500 ? status : undefined;
}
