import { basic, clientCredentialsToken, FORM, mintCodes, refreshSeeds, tesseraSignInForms, untilAnswered, type MintedCode } from './flows.ts';
import type { Lab, Running, TesseraId } from './lab.ts';
import { poolMargin, type LoadSpec } from './load.ts';
import { GATEWAY_PATH, PASSWORD, USERNAME } from './tessera.ts';

/** One side of a comparison: it builds a fresh load for each warm-up and measured run. */
export interface Contender {
  id: string;
  label: string;
  /** Builds the load for a run of about `seconds` (pool-based loads mint their pool here). */
  load(seconds: number, connections: number): Promise<LoadSpec>;
  /** Called with each run's measured throughput (sizes the next pool). */
  observe?(rps: number): void;
  /** The server process, whose CPU time per answer is recorded. */
  pid?: number;
  /** PostgreSQL rows: the database whose backends' CPU time per answer is recorded. */
  databaseName?: string;
  /**
   * Client-credentials load on the same server: `password-sign-in` measures its p99 alone
   * and again while this contender's load runs at full rate beside it.
   */
  companion?(seconds: number, connections: number): Promise<LoadSpec>;
}

export interface Scenario {
  name: string;
  title: string;
  measures: string;
  contenders(lab: Lab, wanted: (id: string) => boolean, notes: string[]): Promise<Contender[]>;
}

/** Tessera rows present in this run (PostgreSQL when reachable, 2 workers when supported). */
function tesseraIds(lab: Lab, withWorkers: boolean, notes: string[], writes = false): TesseraId[] {
  const ids: TesseraId[] = ['tessera-sqlite'];
  if (writes) ids.push('tessera-sqlite-full');
  if (lab.options.baselineRoot) ids.push('tessera-baseline');
  if (lab.options.postgres) ids.push('tessera-postgres');
  if (lab.options.postgres && lab.options.baselineRoot) ids.push('tessera-baseline-postgres');
  if (withWorkers && lab.options.workers) ids.push('tessera-sqlite-2w');
  const noPg = lab.options.noPostgresReason ?? NO_PG;
  if (!lab.options.postgres && !notes.includes(noPg)) notes.push(noPg);
  if (withWorkers && !lab.options.workers && !notes.includes(NO_WORKERS)) notes.push(NO_WORKERS);
  return ids;
}
const NO_PG = 'PostgreSQL was not reachable on 127.0.0.1:5432: tessera-postgres rows are missing.';
const NO_WORKERS = '`tessera serve --workers` is not available in this checkout: the 2-worker row is missing.';

const LABELS: Record<string, string> = {
  'tessera-sqlite': 'Tessera (SQLite)',
  'tessera-postgres': 'Tessera (PostgreSQL)',
  'tessera-sqlite-2w': 'Tessera (SQLite, 2 workers)',
  'tessera-sqlite-full': 'Tessera (SQLite, synchronous = full)',
  'tessera-baseline': 'Baseline Tessera (SQLite)',
  'tessera-baseline-postgres': 'Baseline Tessera (PostgreSQL)',
  'oidc-provider': 'node-oidc-provider 9',
  'oidc-provider-postgres': 'node-oidc-provider 9 (PostgreSQL adapter)',
  'fastify-json': 'Fastify, fixed JSON (floor)',
  'fastify-es256': 'Fastify + one ES256 signature (floor)',
  'fastify-es256-2w': 'Fastify + one ES256 signature (floor, 2 processes)',
  'upstream-direct': 'Upstream, called directly',
  'gateway-sqlite': 'Through the Tessera gateway (SQLite)',
  'gateway-baseline': 'Through the baseline Tessera gateway (SQLite)',
  'proxy-floor': 'Through a bare node:http proxy (floor)',
};

function clientCredentials(id: string, url: string, path: string, auth: string, scope: string, pid: number): Contender {
  return {
    id,
    label: LABELS[id] ?? id,
    pid,
    load: async (duration, connections) => ({
      url: `${url}${path}`,
      connections,
      duration,
      method: 'POST',
      headers: { authorization: auth, 'content-type': FORM },
      body: `grant_type=client_credentials&scope=${encodeURIComponent(scope)}`,
    }),
  };
}

/**
 * The OAuth servers of a scenario. `persistentPeer` adds node-oidc-provider persisting to
 * PostgreSQL and Tessera on SQLite with `synchronous = full` (the paths that write); compared rows sit next to each other in a round.
 */
async function oauthServers(lab: Lab, wanted: (id: string) => boolean, notes: string[], withWorkers: boolean, persistentPeer = false): Promise<Running[]> {
  const out: Running[] = [];
  for (const id of tesseraIds(lab, withWorkers, notes, persistentPeer)) if (wanted(id)) out.push(await lab.tessera(id));
  if (wanted('oidc-provider')) out.push(await lab.oidcProvider());
  if (persistentPeer && lab.options.postgres && wanted('oidc-provider-postgres')) out.push(await lab.oidcProvider('postgres'));
  const order = ['tessera-sqlite', 'tessera-baseline', 'oidc-provider', 'tessera-sqlite-full', 'tessera-postgres', 'tessera-baseline-postgres', 'oidc-provider-postgres', 'tessera-sqlite-2w'];
  return out.sort((a, b) => order.indexOf(a.id) - order.indexOf(b.id));
}

export const SCENARIOS: Scenario[] = [
  {
    name: 'client-credentials',
    title: 'Client-credentials issuance',
    measures: 'POST /connect/token, grant_type=client_credentials, client_secret_basic; each answer is a new ES256 JWT access token (1 h).',
    async contenders(lab, wanted, notes) {
      const out: Contender[] = [];
      for (const s of await oauthServers(lab, wanted, notes, true)) {
        await clientCredentialsToken(s); // the answer is a real ES256 JWT before we measure
        out.push(clientCredentials(s.id, s.url, s.tokenPath, basic(s.service.id, s.service.secret), s.serviceScope, s.child.pid));
      }
      for (const kind of ['json', 'es256'] as const) {
        const id = `fastify-${kind}`;
        if (!wanted(id)) continue;
        const floor = await lab.floor(kind);
        out.push(clientCredentials(id, floor.url, '/connect/token', basic('floor', 'floor'), 'bench.read', floor.pid));
      }
      // The ES256 floor in two processes beside Tessera's two workers: the 1 → 2 speed-up the
      // machine and its load generator allow at all ("The load generator", docs/performance.md).
      if (lab.options.workers && wanted('fastify-es256-2w')) {
        const floor = await lab.floor('es256', 2);
        out.push(clientCredentials('fastify-es256-2w', floor.url, '/connect/token', basic('floor', 'floor'), 'bench.read', floor.pid));
      }
      // Runs that are compared sit next to each other in a round, so they share the same
      // background load: Tessera, node-oidc-provider, the ES256 floor, then the rest.
      const order = ['tessera-sqlite', 'tessera-baseline', 'oidc-provider', 'fastify-es256', 'tessera-postgres', 'tessera-sqlite-2w', 'fastify-es256-2w', 'fastify-json'];
      return out.sort((a, b) => order.indexOf(a.id) - order.indexOf(b.id));
    },
  },
  {
    name: 'introspection',
    title: 'Token introspection',
    measures:
      'POST /connect/introspect (RFC 7662) of a valid client-credentials access token, client_secret_basic; the answer is active: true. Tessera introspects its ES256 JWT (signature, expiry, revocation and app checks); node-oidc-provider cannot introspect JWT access tokens, so it introspects an opaque one (a lookup in its in-memory store).',
    async contenders(lab, wanted, notes) {
      const out: Contender[] = [];
      for (const s of await oauthServers(lab, wanted, notes, false)) {
        const token = await clientCredentialsToken(s, s.introspectableTokenParams);
        const auth = basic(s.service.id, s.service.secret);
        const probe = await fetch(`${s.url}${s.introspectPath}`, { method: 'POST', headers: { authorization: auth, 'content-type': FORM }, body: `token=${token}` });
        const answer = (await probe.json()) as { active?: boolean };
        if (probe.status !== 200 || answer.active !== true) throw new Error(`${s.id}: introspection of a fresh token answered ${probe.status} ${JSON.stringify(answer)}`);
        out.push({
          id: s.id,
          label: LABELS[s.id] ?? s.id,
          pid: s.child.pid,
          load: async (duration, connections) => ({ url: `${s.url}${s.introspectPath}`, connections, duration, method: 'POST', headers: { authorization: auth, 'content-type': FORM }, body: `token=${token}` }),
        });
      }
      return out;
    },
  },
  {
    name: 'refresh-token',
    title: 'Refresh-token rotation',
    measures:
      'POST /connect/token, grant_type=refresh_token: every request presents a refresh token never used before (the rotated one from an earlier answer), so each one spends a token and writes its successor. Seeds come from the real code flow.',
    async contenders(lab, wanted, notes) {
      const out: Contender[] = [];
      for (const s of await oauthServers(lab, wanted, notes, false, true)) {
        const auth = basic(s.web.id, s.web.secret);
        out.push({
          id: s.id,
          label: LABELS[s.id] ?? s.id,
          pid: s.child.pid,
          ...(s.databaseName ? { databaseName: s.databaseName } : {}),
          async load(duration, connections) {
            // Fresh families per run: each connection takes a token, its answer puts the successor back.
            const seeds = await refreshSeeds(s, await s.session(), connections * 2);
            return {
              url: `${s.url}${s.tokenPath}`,
              connections,
              duration,
              method: 'POST',
              headers: { authorization: auth, 'content-type': FORM },
              vary: { kind: 'chain', seeds, bodyPrefix: 'grant_type=refresh_token&refresh_token=' },
            };
          },
        });
      }
      return out;
    },
  },
  {
    name: 'authorization-code',
    title: 'Authorization-code exchange',
    measures:
      'POST /connect/token, grant_type=authorization_code with PKCE (S256) and client_secret_basic; one code per request, pre-minted through the real authorize endpoint with a signed-in, consented session. Scope openid offline_access: the answer carries an ES256 access token, an RS256 ID token and a refresh token.',
    async contenders(lab, wanted, notes) {
      const out: Contender[] = [];
      for (const s of await oauthServers(lab, wanted, notes, false, true)) {
        const auth = basic(s.web.id, s.web.secret);
        let rate = 1000; // first guess; each run's throughput sizes the next pool
        out.push({
          id: s.id,
          label: LABELS[s.id] ?? s.id,
          pid: s.child.pid,
          ...(s.databaseName ? { databaseName: s.databaseName } : {}),
          observe: (rps) => void (rate = Math.max(rps, 50)),
          async load(duration, connections) {
            // autocannon: exactly one request per code (the run lasts as long as the pool);
            // wrk: the duration, with a margin, stopping early if the pool is spent (load.ts).
            const count = Math.max(connections * 4, Math.ceil(rate * duration * poolMargin()));
            const codes: MintedCode[] = await mintCodes(s, await s.session(), count, connections);
            const variants = codes.map((c) => ({ body: new URLSearchParams({ grant_type: 'authorization_code', code: c.code, redirect_uri: s.redirectUri, code_verifier: c.verifier }).toString() }));
            return { url: `${s.url}${s.tokenPath}`, connections, duration, method: 'POST', headers: { authorization: auth, 'content-type': FORM }, vary: { kind: 'once', variants } };
          },
        });
      }
      return out;
    },
  },
  {
    name: 'password-sign-in',
    title: 'Password sign-in',
    measures:
      'POST /login with username, password and CSRF token to its 303 (return_to=/account), argon2id with the shipped parameters (19 MiB, t=2, p=1); each browser signed in once before, so it holds a device cookie and the guess throttle counts on its own counter. Then client credentials on the same server, alone and while sign-ins run at full rate beside it: the p99 of the token path under password hashing.',
    async contenders(lab, wanted, notes) {
      const out: Contender[] = [];
      for (const id of tesseraIds(lab, false, notes)) {
        if (!wanted(id)) continue;
        const s = await lab.tessera(id);
        await clientCredentialsToken(s);
        const forms = await tesseraSignInForms(s, USERNAME, PASSWORD, 8, '/account');
        const variants = forms.map((f) => ({ headers: { 'content-type': FORM, cookie: f.cookie }, body: f.body }));
        const cc = clientCredentials(s.id, s.url, s.tokenPath, basic(s.service.id, s.service.secret), s.serviceScope, s.child.pid);
        out.push({
          id: s.id,
          label: LABELS[s.id] ?? s.id,
          pid: s.child.pid,
          ...(s.databaseName ? { databaseName: s.databaseName } : {}),
          // Argon2 is bounded by the cores, not by connections; a few in flight keep them busy.
          load: async (duration, connections) => ({ url: `${s.url}/login`, connections: Math.min(connections, 8), duration, method: 'POST', vary: { kind: 'cycle', variants }, okStatus: 303 }),
          companion: cc.load,
        });
      }
      return out;
    },
  },
  {
    name: 'gateway',
    title: 'Gateway-proxied GET vs the upstream directly',
    measures: `GET ${GATEWAY_PATH} through Tessera's gateway with a bearer token (ES256 JWT, scope bench.read) vs GET /items on the same upstream process directly, and through a bare node:http keep-alive proxy (no token check) — the cost of the extra hop itself. Three processes share the cores here (upstream, proxy, load generator), two when calling directly.`,
    async contenders(lab, wanted) {
      const out: Contender[] = [];
      const upstream = await lab.upstream();
      if (wanted('upstream-direct')) {
        out.push({ id: 'upstream-direct', label: LABELS['upstream-direct']!, pid: upstream.pid, load: async (duration, connections) => ({ url: `${upstream.url}/items`, connections, duration }) });
      }
      if (wanted('proxy-floor')) {
        const proxy = await lab.proxyFloor();
        out.push({ id: 'proxy-floor', label: LABELS['proxy-floor']!, pid: proxy.pid, load: async (duration, connections) => ({ url: `${proxy.url}${GATEWAY_PATH}`, connections, duration }) });
      }
      // This checkout's gateway, and with --baseline the other checkout's beside it (before/after).
      const gateways: Array<[id: string, tessera: TesseraId]> = [['gateway-sqlite', 'tessera-sqlite']];
      if (lab.options.baselineRoot) gateways.push(['gateway-baseline', 'tessera-baseline']);
      for (const [id, tesseraId] of gateways) {
        if (!wanted(id) && !wanted(tesseraId)) continue;
        const t = await lab.tessera(tesseraId);
        const headers = { authorization: `Bearer ${await clientCredentialsToken(t)}` };
        // The gateway learns APIs through the change feed; wait until the route answers.
        await untilAnswered(`${t.url}${GATEWAY_PATH}`, headers);
        out.push({ id, label: LABELS[id]!, pid: t.child.pid, load: async (duration, connections) => ({ url: `${t.url}${GATEWAY_PATH}`, connections, duration, headers }) });
      }
      return out;
    },
  },
];

export const SCENARIO_NAMES = [...SCENARIOS.map((s) => s.name), 'memory'];
