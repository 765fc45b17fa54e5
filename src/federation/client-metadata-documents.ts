import { SYSTEM } from '../audit/actor.ts';
import type { Client } from '../clients/client.ts';
import type { ClientService } from '../clients/client-service.ts';
import { clientIdUrlProblem, freshnessSeconds, parseClientMetadata } from '../clients/metadata-document.ts';
import { ServiceError } from '../errors.ts';
import type { Logger } from '../lib/logger.ts';
import { OAuthError } from '../oauth/errors.ts';
import { checkEndpoint, type EndpointPolicy } from './endpoint-policy.ts';
import { outboundHttp, type OutboundHttp } from './outbound.ts';

/**
 * Limits for fetching a client's metadata document. The draft suggests a small cap (the
 * document is a few hundred bytes); a slow or huge answer must not tie up a sign-in.
 */
export const METADATA_DOCUMENT_LIMITS = { timeoutMs: 5_000, maxBytes: 5 * 1024 } as const;
/** Reuse without caching headers; longest reuse whatever the headers say; most documents kept. */
const DEFAULT_FRESH_SECONDS = 300;
const MAX_FRESH_SECONDS = 86_400;
const MAX_ENTRIES = 1_000;

export interface ClientMetadataDocumentsDeps {
  clients: ClientService;
  /** The redirect-URI policy: https to public hosts; loopback http only in development mode. */
  policy: EndpointPolicy;
  /** Whether metadata-document client IDs are accepted at all (TESSERA_CLIENT_ID_METADATA_DOCUMENTS). */
  enabled: () => boolean;
  /** Epoch milliseconds. */
  now: () => number;
  log: Logger;
  /** Default: outboundHttp with the limits above. */
  http?: OutboundHttp;
}

/**
 * Resolves a `client_id` that is a URL to an app: fetch the document (SSRF policy first,
 * then no redirects, 5 s, 5 KiB), validate it, store or update the app, and reuse the
 * result for as long as the document's caching headers allow (at most a day). A failure
 * is an `invalid_client` OAuth error with the reason, never a 500; nothing is stored.
 */
export class ClientMetadataDocuments {
  readonly #d: ClientMetadataDocumentsDeps;
  readonly #http: OutboundHttp;
  readonly #fresh = new Map<string, { client: Client; until: number }>();
  readonly #inFlight = new Map<string, Promise<Client>>();

  constructor(deps: ClientMetadataDocumentsDeps) {
    this.#d = deps;
    this.#http = deps.http ?? outboundHttp(METADATA_DOCUMENT_LIMITS);
  }

  resolve(clientId: string): Promise<Client> {
    if (!this.#d.enabled()) return Promise.reject(refused('client ID metadata documents are not accepted by this server'));
    const hit = this.#fresh.get(clientId);
    if (hit && hit.until > this.#d.now()) return Promise.resolve(hit.client);
    let pending = this.#inFlight.get(clientId);
    if (!pending) {
      pending = this.#fetch(clientId).finally(() => this.#inFlight.delete(clientId));
      this.#inFlight.set(clientId, pending);
    }
    return pending;
  }

  async #fetch(clientId: string): Promise<Client> {
    const problem = clientIdUrlProblem(clientId);
    if (problem) throw refused(problem);
    const allowed = await checkEndpoint('client_id URL', clientId, this.#d.policy);
    if (!allowed.ok) throw refused(allowed.reason);
    const response = await this.#http(clientId);
    if (!response.ok) {
      this.#d.log.warn({ client_id: clientId, reason: response.reason }, 'client metadata document not fetched');
      throw refused(`the client metadata document could not be fetched: ${response.reason}`);
    }
    if (response.status !== 200) throw refused(`the client metadata document answered HTTP ${response.status}`);
    const parsed = parseClientMetadata(clientId, response.json);
    if (!parsed.ok) throw refused(`the client metadata document is invalid: ${parsed.reason}`);
    let client: Client;
    try {
      client = await this.#d.clients.syncMetadataDocumentClient(parsed.metadata, SYSTEM);
    } catch (error) {
      // A redirect URI the policy refuses: the document's fault, said as such.
      if (error instanceof ServiceError) throw refused(`the client metadata document is invalid: ${error.message}`);
      throw error;
    }
    const seconds = freshnessSeconds(
      { cacheControl: response.headers.get('cache-control'), expires: response.headers.get('expires'), date: response.headers.get('date') },
      { defaultSeconds: DEFAULT_FRESH_SECONDS, maxSeconds: MAX_FRESH_SECONDS },
    );
    if (seconds > 0) {
      if (this.#fresh.size >= MAX_ENTRIES) this.#fresh.delete(this.#fresh.keys().next().value!);
      this.#fresh.set(clientId, { client, until: this.#d.now() + seconds * 1000 });
    } else this.#fresh.delete(clientId);
    return client;
  }
}

function refused(reason: string): OAuthError {
  return new OAuthError('invalid_client', reason);
}
