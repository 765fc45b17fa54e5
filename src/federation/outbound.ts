/**
 * Every request Tessera makes to an upstream provider goes through here: a deadline for the
 * whole exchange (connect, headers and body), a cap on the body, no redirects followed (a
 * redirect could lead past the endpoint policy to an internal host), and no exception for
 * anything the other side does — a typed failure instead.
 */
export interface OutboundLimits {
  /** Deadline for one request, connect to last body byte. */
  timeoutMs: number;
  /** Largest response body read; a bigger one is a failure. */
  maxBytes: number;
}

export const DEFAULT_OUTBOUND_LIMITS: OutboundLimits = { timeoutMs: 10_000, maxBytes: 256 * 1024 };

export interface OutboundRequest {
  method?: 'GET' | 'POST';
  headers?: Record<string, string>;
  form?: URLSearchParams;
}

export type OutboundResponse =
  | {
      ok: true;
      status: number;
      contentType: string;
      /** The body parsed as JSON; undefined when it is not JSON. */
      json: unknown;
      /** The response headers (caching decisions: Cache-Control, Expires, Date). */
      headers: Headers;
    }
  | { ok: false; failure: 'unreachable' | 'bad_response'; reason: string };

export type OutboundHttp = (url: string, request?: OutboundRequest) => Promise<OutboundResponse>;

export function outboundHttp(limits: OutboundLimits = DEFAULT_OUTBOUND_LIMITS): OutboundHttp {
  return async (url, request = {}) => {
    const signal = AbortSignal.timeout(limits.timeoutMs);
    const host = hostOf(url);
    let response: Response;
    try {
      response = await fetch(url, {
        method: request.method ?? 'GET',
        headers: {
          accept: 'application/json',
          // Some providers (GitHub's API) refuse requests without one.
          'user-agent': 'Tessera',
          ...(request.form ? { 'content-type': 'application/x-www-form-urlencoded' } : {}),
          ...request.headers,
        },
        body: request.form?.toString(),
        redirect: 'manual',
        signal,
      });
    } catch (error) {
      return { ok: false, failure: 'unreachable', reason: `${host}: ${describe(error)}` };
    }
    const declared = Number(response.headers.get('content-length'));
    if (Number.isFinite(declared) && declared > limits.maxBytes) {
      await response.body?.cancel().catch(() => {});
      return { ok: false, failure: 'bad_response', reason: `${host}: response larger than ${limits.maxBytes} bytes` };
    }
    const body = await readBounded(response, limits.maxBytes);
    if (!body.ok) {
      return body.tooLarge
        ? { ok: false, failure: 'bad_response', reason: `${host}: response larger than ${limits.maxBytes} bytes` }
        : { ok: false, failure: 'unreachable', reason: `${host}: ${describe(body.error)}` };
    }
    const contentType = (response.headers.get('content-type') ?? '').split(';')[0]!.trim().toLowerCase();
    let json: unknown;
    try {
      json = JSON.parse(body.text);
    } catch {
      json = undefined;
    }
    return { ok: true, status: response.status, contentType, json, headers: response.headers };
  };
}

async function readBounded(
  response: Response,
  maxBytes: number,
): Promise<{ ok: true; text: string } | { ok: false; tooLarge: boolean; error?: unknown }> {
  if (!response.body) return { ok: true, text: '' };
  const reader = response.body.getReader();
  const chunks: Uint8Array[] = [];
  let size = 0;
  try {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      size += value.byteLength;
      if (size > maxBytes) {
        await reader.cancel().catch(() => {});
        return { ok: false, tooLarge: true };
      }
      chunks.push(value);
    }
  } catch (error) {
    return { ok: false, tooLarge: false, error };
  }
  return { ok: true, text: Buffer.concat(chunks).toString('utf8') };
}

function hostOf(url: string): string {
  try {
    return new URL(url).host;
  } catch {
    return 'provider';
  }
}

/** A short reason for logs: "timed out", "connection refused", … never a stack. */
function describe(error: unknown): string {
  if (error instanceof Error && (error.name === 'TimeoutError' || error.name === 'AbortError')) return 'timed out';
  const cause = error instanceof Error ? (error.cause as { code?: unknown } | undefined) : undefined;
  const code = typeof cause?.code === 'string' ? cause.code : undefined;
  if (code === 'ECONNREFUSED') return 'connection refused';
  if (code === 'ENOTFOUND' || code === 'EAI_AGAIN') return 'host not found';
  if (code === 'UND_ERR_CONNECT_TIMEOUT' || code === 'UND_ERR_HEADERS_TIMEOUT' || code === 'UND_ERR_BODY_TIMEOUT') return 'timed out';
  if (code) return `network error (${code})`;
  // fetch refuses some ports outright (WHATWG "bad port": 9, 6000, …).
  const message = error instanceof Error && error.cause instanceof Error ? error.cause.message : undefined;
  return message ? `network error (${message.slice(0, 100)})` : 'network error';
}
