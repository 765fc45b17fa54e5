import type { FastifyInstance, FastifyRequest } from 'fastify';
import { invalidRequest } from '../oauth/errors.ts';
import { parseForm, type RawParams } from '../oauth/params.ts';

/**
 * Protocol endpoints take application/x-www-form-urlencoded bodies only (RFC 6749 §3.2,
 * RFC 7009 §2.1, RFC 7662 §2.1). Any other body is read but marked, so the endpoint can
 * answer invalid_request rather than Fastify's 415.
 */
const UNSUPPORTED = Symbol('unsupported body');

export function registerFormParser(app: FastifyInstance): void {
  app.addContentTypeParser('application/x-www-form-urlencoded', { parseAs: 'string' }, (_req, body, done) => {
    done(null, parseForm(body as string));
  });
  app.addContentTypeParser('*', { parseAs: 'buffer' }, (_req, _body, done) => {
    done(null, UNSUPPORTED);
  });
}

/** The form parameters of a protocol request, or invalid_request. */
export function formParams(request: FastifyRequest): RawParams {
  if (!isForm(request.headers['content-type'])) {
    throw invalidRequest('the request body must be application/x-www-form-urlencoded');
  }
  // Parameters in the URL leak into logs and histories (RFC 6749 §3.2: the client MUST use POST with a body).
  const q = request.url.indexOf('?');
  if (q >= 0 && q < request.url.length - 1) {
    throw invalidRequest('send parameters in the request body (application/x-www-form-urlencoded), not in the URL query');
  }
  const body = request.body;
  return body instanceof Map ? (body as RawParams) : new Map();
}

function isForm(contentType: string | undefined): boolean {
  if (!contentType) return false;
  const semi = contentType.indexOf(';');
  return (semi < 0 ? contentType : contentType.slice(0, semi)).trim().toLowerCase() === 'application/x-www-form-urlencoded';
}
