import { pino, type DestinationStream, type Logger as Pino } from 'pino';

/**
 * What a request and a reply look like in the logs. Paths only, never the query string (a
 * redirect carries `code=`, `state=`, an error page the request's parameters), and no headers
 * (Authorization, Cookie): Fastify's default `req` serializer logs the whole URL.
 */
export const LOG_SERIALIZERS = {
  req: (req: { method: string; url: string; ip?: string }) => ({ method: req.method, path: pathOf(req.url), ip: req.ip }),
  res: (reply: { statusCode: number }) => ({ statusCode: reply.statusCode }),
  err: pino.stdSerializers.err,
};

function pathOf(url: string): string {
  const q = url.indexOf('?');
  return q < 0 ? url : url.slice(0, q);
}

/** One JSON logger per process, shared by Fastify (requests, with their ids) and the background work. */
export function createLogger(level: string, destination?: DestinationStream): Pino {
  return pino({ level, serializers: LOG_SERIALIZERS }, destination);
}
