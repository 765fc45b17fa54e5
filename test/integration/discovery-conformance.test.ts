import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { basic, postForm, startTestServer, type TestServer } from '../support/server.ts';
import { SYSTEM } from '../../src/audit/actor.ts';
import { DEVICE_CODE_GRANT } from '../../src/clients/client.ts';
import { GRANT_HANDLERS } from '../../src/oauth/grants/index.ts';

/**
 * Discovery lists every capability, and only those that are on (issue 17): RFC 8414 §2 and
 * OIDC Discovery §3. Table-driven: each CAPABILITIES row says when a capability is on in a
 * configuration and what it adds to the metadata; each CONFIGURATIONS entry is a server (its
 * environment) and runtime settings. For every configuration the test checks, on both
 * `/.well-known/oauth-authorization-server` and `/.well-known/openid-configuration`:
 *
 * - the metadata's fields are exactly BASE_FIELDS plus the fields of the capabilities that
 *   are on: a new field with no row here fails, so does a field left behind when its
 *   capability is off;
 * - each value a capability adds to a list (a grant type, an auth method, an algorithm) is
 *   there exactly when it is on;
 * - every advertised endpoint (`*_endpoint`, `*_uri`) answers, not 404;
 * - `grant_types_supported` is what the token endpoint does: each listed grant is known
 *   there, every grant of the grant map left out is `unsupported_grant_type`.
 *
 * A new capability: add a row to CAPABILITIES (and, if an environment variable or setting
 * switches it, a configuration that has it on and one that has it off). No storage is
 * involved beyond reading settings, so SQLite is enough.
 */

interface Configuration {
  name: string;
  env: Record<string, string>;
  /** Runtime settings applied before the checks (services.settings.update). */
  settings: Record<string, unknown>;
  /** Whether an API with a scope is registered with the gateway. */
  apis: boolean;
}

interface Capability {
  name: string;
  /** Whether the capability is on in this configuration. */
  on: (c: Configuration) => boolean;
  /** Top-level fields present exactly when on. */
  fields?: string[];
  /** [field, value]: list values present exactly when on. */
  values?: Array<[string, string]>;
  /** Checks that the server does what the row advertises (or refuses it when off). */
  probe?: (server: string, on: boolean, caller: { client_id: string; client_secret: string }) => Promise<void>;
}

const env = (c: Configuration, name: string, fallback: string) => c.env[name] ?? fallback;

export const CAPABILITIES: Capability[] = [
  {
    name: 'Dynamic Client Registration (RFC 7591), setting client_registration',
    on: (c) => (c.settings.client_registration ?? 'off') !== 'off',
    fields: ['registration_endpoint'],
  },
  {
    name: 'device authorization grant (RFC 8628), TESSERA_DEVICE_FLOW',
    on: (c) => env(c, 'TESSERA_DEVICE_FLOW', 'on') === 'on',
    fields: ['device_authorization_endpoint'],
    values: [['grant_types_supported', DEVICE_CODE_GRANT]],
  },
  {
    name: 'Client ID Metadata Documents, TESSERA_CLIENT_ID_METADATA_DOCUMENTS',
    on: (c) => env(c, 'TESSERA_CLIENT_ID_METADATA_DOCUMENTS', 'off') === 'on',
    fields: ['client_id_metadata_document_supported'],
  },
  {
    name: 'protected resources (RFC 9728 §4): APIs behind the gateway',
    on: (c) => c.apis,
    // An API's scopes are in its own RFC 9728 metadata; the server's scopes_supported lists the built-in ones (RFC 8414 §2 lets it leave some out).
    fields: ['protected_resources'],
  },
  {
    name: 'DPoP (RFC 9449 §5.1): always on',
    on: () => true,
    fields: ['dpop_signing_alg_values_supported'],
    // A malformed proof is judged as a proof (invalid_dpop_proof), so the token endpoint reads DPoP.
    probe: async (url, _on, caller) => {
      const res = await postForm(`${url}/connect/token`, { grant_type: 'client_credentials' }, { authorization: basic(caller.client_id, caller.client_secret), dpop: 'not.a.proof' });
      expect(((await res.json()) as { error: string }).error).toBe('invalid_dpop_proof');
    },
  },
  {
    name: 'private_key_jwt client authentication (RFC 7523, OIDC Core §9): always on',
    on: () => true,
    fields: ['token_endpoint_auth_signing_alg_values_supported', 'introspection_endpoint_auth_signing_alg_values_supported', 'revocation_endpoint_auth_signing_alg_values_supported'],
    values: [
      ['token_endpoint_auth_methods_supported', 'private_key_jwt'],
      ['introspection_endpoint_auth_methods_supported', 'private_key_jwt'],
      ['revocation_endpoint_auth_methods_supported', 'private_key_jwt'],
    ],
  },
  {
    name: 'pushed authorization requests (RFC 9126 §5): always on',
    on: () => true,
    fields: ['pushed_authorization_request_endpoint'],
  },
  {
    name: 'PAR required for every app (RFC 9126 §5), setting require_pushed_authorization_requests',
    on: (c) => c.settings.require_pushed_authorization_requests === true,
    fields: ['require_pushed_authorization_requests'],
  },
  {
    name: 'token exchange (RFC 8693): always on (each app by its own policy)',
    on: () => true,
    values: [['grant_types_supported', 'urn:ietf:params:oauth:grant-type:token-exchange']],
  },
];

/** Always there, whatever the configuration. */
const BASE_FIELDS = [
  'issuer',
  'authorization_endpoint',
  'token_endpoint',
  'jwks_uri',
  'userinfo_endpoint',
  'end_session_endpoint',
  'introspection_endpoint',
  'revocation_endpoint',
  'scopes_supported',
  'response_types_supported',
  'response_modes_supported',
  'grant_types_supported',
  'code_challenge_methods_supported',
  'authorization_response_iss_parameter_supported',
  'token_endpoint_auth_methods_supported',
  'introspection_endpoint_auth_methods_supported',
  'revocation_endpoint_auth_methods_supported',
  'access_token_signing_alg_values_supported',
  'subject_types_supported',
  'id_token_signing_alg_values_supported',
  'prompt_values_supported',
  'claims_supported',
  'acr_values_supported',
  'claims_parameter_supported',
  'request_parameter_supported',
  'request_uri_parameter_supported',
  'ui_locales_supported',
];

/** How an advertised endpoint is called (anything else: POST). */
const METHOD: Record<string, 'GET' | 'POST'> = {
  authorization_endpoint: 'GET',
  userinfo_endpoint: 'GET',
  end_session_endpoint: 'GET',
  jwks_uri: 'GET',
};

/** Two servers; each runs its configurations in turn, changing only runtime settings between them. */
const SERVERS: Array<{ env: Record<string, string>; apis: boolean; settings: Array<Record<string, unknown>> }> = [
  {
    env: { TESSERA_CLIENT_ID_METADATA_DOCUMENTS: 'on' },
    apis: true,
    // Each configuration names every runtime setting a row depends on (they are applied in turn to one server).
    settings: [
      { client_registration: 'off', require_pushed_authorization_requests: false },
      { client_registration: 'open', require_pushed_authorization_requests: false },
      { client_registration: 'token', require_pushed_authorization_requests: true },
    ],
  },
  {
    env: { TESSERA_DEVICE_FLOW: 'off' },
    apis: false,
    settings: [
      { client_registration: 'off', require_pushed_authorization_requests: true },
      { client_registration: 'open', require_pushed_authorization_requests: false },
    ],
  },
];

const CONFIGURATIONS: Configuration[] = SERVERS.flatMap((s) =>
  s.settings.map((settings) => ({ name: `${JSON.stringify(s.env)} ${JSON.stringify(settings)}${s.apis ? ' with an API' : ''}`, env: s.env, settings, apis: s.apis })),
);

describe.each(SERVERS)('discovery conformance: server $env', (spec) => {
  let server: TestServer;
  let caller: { client_id: string; client_secret: string };

  beforeAll(async () => {
    server = await startTestServer('sqlite', { env: spec.env });
    if (spec.apis) {
      await server.tessera.services.apis.create({ name: 'Notes', basePath: '/notes', upstream: 'http://127.0.0.1:9', scopes: [{ name: 'notes.read' }], routes: [{ methods: ['GET'], path: '/**', scopes: ['notes.read'] }] }, SYSTEM);
    }
    const created = await server.tessera.services.clients.create({ name: 'Discovery prober', grantTypes: ['client_credentials'] }, SYSTEM);
    caller = { client_id: created.client_id, client_secret: created.client_secret! };
  });
  afterAll(async () => server?.close());

  const configurations = CONFIGURATIONS.filter((c) => c.env === spec.env);

  test.each(configurations.map((c) => [c.name, c] as const))('%s', async (_name, configuration) => {
    await server.tessera.services.settings.update(configuration.settings, SYSTEM);
    const documents = await Promise.all(
      ['/.well-known/oauth-authorization-server', '/.well-known/openid-configuration'].map(async (path) => {
        const res = await fetch(`${server.url}${path}`);
        expect(res.status, path).toBe(200);
        return [path, (await res.json()) as Record<string, unknown>] as const;
      }),
    );
    for (const [path, meta] of documents) {
      // Exactly the base fields and those of the capabilities that are on.
      const expected = new Set([...BASE_FIELDS, ...CAPABILITIES.filter((c) => c.on(configuration)).flatMap((c) => c.fields ?? [])]);
      expect(new Set(Object.keys(meta)), `${path}: fields`).toEqual(expected);
      for (const capability of CAPABILITIES) {
        for (const [field, value] of capability.values ?? []) {
          expect((meta[field] as unknown[]).includes(value), `${path}: ${field} lists ${value} exactly when ${capability.name} is on`).toBe(capability.on(configuration));
        }
      }
      expect(meta.issuer).toBe(server.url);

      // Every advertised endpoint answers (never 404, never 405, never a 5xx).
      for (const [field, value] of Object.entries(meta)) {
        if (!/(_endpoint|_uri)$/.test(field)) continue;
        expect(typeof value, field).toBe('string');
        expect((value as string).startsWith(`${server.url}/`), `${field} is on this server`).toBe(true);
        const method = METHOD[field] ?? 'POST';
        const res =
          method === 'GET'
            ? await fetch(value as string, { redirect: 'manual' })
            : await fetch(value as string, { method: 'POST', headers: { 'content-type': field === 'registration_endpoint' ? 'application/json' : 'application/x-www-form-urlencoded' }, body: field === 'registration_endpoint' ? '{}' : '' });
        expect([404, 405], `${path}: ${field} (${method} ${value}) answers`).not.toContain(res.status);
        expect(res.status, `${path}: ${field} (${method} ${value})`).toBeLessThan(500);
      }
      // RFC 9728: each protected resource listed publishes its metadata, naming this server.
      for (const resource of (meta.protected_resources as string[] | undefined) ?? []) {
        const url = new URL(resource);
        const res = await fetch(`${server.url}/.well-known/oauth-protected-resource${url.pathname}`);
        expect(res.status, resource).toBe(200);
        expect(((await res.json()) as { authorization_servers: string[] }).authorization_servers).toContain(server.url);
      }
    }

    for (const capability of CAPABILITIES) await capability.probe?.(server.url, capability.on(configuration), caller);

    // grant_types_supported is what the token endpoint does.
    const [, meta] = documents[0]!;
    const listed = meta.grant_types_supported as string[];
    for (const grant of new Set([...GRANT_HANDLERS.keys(), ...listed])) {
      const res = await postForm(`${server.url}/connect/token`, { grant_type: grant }, { authorization: basic(caller.client_id, caller.client_secret) });
      const { error } = (await res.json()) as { error?: string };
      if (listed.includes(grant)) expect(error, `${grant} is listed, so the token endpoint knows it`).not.toBe('unsupported_grant_type');
      else expect(error, `${grant} is not listed, so the token endpoint refuses it`).toBe('unsupported_grant_type');
    }
    expect(listed.every((g) => GRANT_HANDLERS.has(g)), 'every listed grant has a handler').toBe(true);
  });
});
