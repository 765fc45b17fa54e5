/**
 * A minimal scripted browser for HTTP-level tests of the pages: it keeps cookies, follows
 * nothing on its own (tests assert every redirect), and reads hidden form fields.
 * The real-browser tests (test/e2e) cover what this cannot: rendering and form submission.
 */
export class UserAgent {
  readonly cookies = new Map<string, string>();
  readonly base: string;
  readonly #fetch: typeof fetch;

  /** `fetcher`: another fetch, e.g. one that trusts a test certificate (test/integration/reverse-proxy.test.ts). */
  constructor(base: string, fetcher: typeof fetch = fetch) {
    this.base = base;
    this.#fetch = fetcher;
  }

  async request(
    path: string,
    init: { method?: string; form?: Record<string, string> | URLSearchParams; json?: unknown; body?: string; headers?: Record<string, string> } = {},
  ): Promise<Response> {
    const headers: Record<string, string> = { ...init.headers };
    if (this.cookies.size) headers.cookie = [...this.cookies].map(([k, v]) => `${k}=${v}`).join('; ');
    let body: string | undefined = init.body;
    if (init.form) {
      headers['content-type'] = 'application/x-www-form-urlencoded';
      body = new URLSearchParams(init.form).toString();
    } else if (init.json !== undefined) {
      headers['content-type'] = 'application/json';
      body = JSON.stringify(init.json);
    }
    const url = path.startsWith('http') ? path : `${this.base}${path}`;
    const response = await this.#fetch(url, { method: init.method ?? (body ? 'POST' : 'GET'), headers, body, redirect: 'manual' });
    for (const line of response.headers.getSetCookie()) {
      const [pair] = line.split(';');
      const eq = pair!.indexOf('=');
      const name = pair!.slice(0, eq).trim();
      const value = pair!.slice(eq + 1).trim();
      if (!value || /expires=Thu, 01 Jan 1970/i.test(line) || /max-age=0/i.test(line)) this.cookies.delete(name);
      else this.cookies.set(name, value);
    }
    return response;
  }

  get(path: string): Promise<Response> {
    return this.request(path);
  }

  post(path: string, form: Record<string, string> | URLSearchParams): Promise<Response> {
    return this.request(path, { method: 'POST', form });
  }

  /** A JSON POST (the passkey ceremonies' endpoints). */
  postJson(path: string, json: unknown): Promise<Response> {
    return this.request(path, { method: 'POST', json });
  }
}

/** The Location of a redirect response, asserting it is one. */
export function location(response: Response): string {
  if (response.status < 300 || response.status > 399) throw new Error(`expected a redirect, got ${response.status}`);
  return response.headers.get('location')!;
}

/** The hidden inputs of the first form on a page, decoded. */
export function hiddenFields(page: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const m of page.matchAll(/<input type="hidden" name="([^"]*)" value="([^"]*)">/g)) out[decode(m[1]!)] = decode(m[2]!);
  return out;
}

function decode(s: string): string {
  return s.replace(/&quot;/g, '"').replace(/&#39;/g, "'").replace(/&#96;/g, '`').replace(/&lt;/g, '<').replace(/&gt;/g, '>').replace(/&amp;/g, '&');
}
