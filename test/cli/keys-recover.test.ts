import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { decodeProtectedHeader, type JSONWebKeySet } from 'jose';
import { afterAll, describe, expect, test, vi } from 'vitest';
import { SYSTEM } from '../../src/audit/actor.ts';
import { EXIT } from '../../src/cli/exit-codes.ts';
import { cliRunner } from '../support/cli-runner.ts';
import { createTestDatabase, DIALECTS, type TestDatabase } from '../support/databases.ts';
import { basic, postForm, startTestServer, type TestServer } from '../support/server.ts';

/**
 * Issue 13: a lost key-encryption key. The server refuses to start with a message that says
 * what to do; commands that sign nothing keep working; `tessera keys recover` (after a
 * confirmation) retires the keys nobody can decrypt, makes new ones and audits it. Tokens the
 * old keys signed stop verifying; new ones work.
 */
vi.setConfig({ testTimeout: 240_000 });

const dirs: string[] = [];
afterAll(() => {
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
});

describe.each(DIALECTS)('tessera keys recover (%s)', (dialect) => {
  let second: TestServer | undefined;
  const dir = mkdtempSync(join(tmpdir(), 'tessera-recover-'));
  dirs.push(dir);
  const kekFile = join(dir, 'kek');
  let databaseUrl = '';
  const { tessera, json } = cliRunner(() => ({ databaseUrl, env: { TESSERA_LOG_LEVEL: 'silent', TESSERA_KEY_ENCRYPTION_KEY_FILE: kekFile } }));

  let database: TestDatabase | undefined;
  afterAll(async () => {
    await second?.close();
    await database?.drop();
  });

  test('a lost key-encryption key: serve says what to do; keys recover retires and replaces the keys, audited', async () => {
    database = await createTestDatabase(dialect);
    databaseUrl = database.url;
    const first = await startTestServer(dialect, { databaseUrl, env: { TESSERA_KEY_ENCRYPTION_KEY_FILE: kekFile } });
    const made = await first.tessera.services.clients.create({ name: 'Batch', grantTypes: ['client_credentials'] }, SYSTEM);
    const auth = { authorization: basic(made.client_id, made.client_secret!) };
    const before = ((await (await postForm(`${first.url}/connect/token`, { grant_type: 'client_credentials' }, auth)).json()) as { access_token: string }).access_token;
    const oldKid = decodeProtectedHeader(before).kid!;
    const issuer = first.tessera.issuer;
    await first.close();

    // The key-encryption key is lost: a new one is in its place.
    writeFileSync(kekFile, `${randomBytes(32).toString('base64')}\n`);
    const oldActive = (await json(['keys', 'list'])).filter((k: { status: string }) => k.status === 'active').map((k: { kid: string }) => k.kid);
    expect(oldActive).toContain(oldKid);

    const [serve, list, unconfirmed] = await Promise.all([tessera(['serve', '--port', '0']), tessera(['users', 'list']), tessera(['keys', 'recover'])]);
    expect(serve.code).toBe(EXIT.keys);
    expect(serve.stderr.trimEnd().split('\n')).toEqual([
      expect.stringMatching(/^tessera: cannot decrypt the signing keys \(.+\) with the key-encryption key from the file .*kek: restore the key they were stored with, or run `tessera keys recover` to replace them \(tokens they signed stop working/),
    ]);
    // Commands that sign nothing still work.
    expect(list.code, list.stderr).toBe(0);
    // Without --yes and without a terminal to ask on: refused, nothing changed.
    expect(unconfirmed.code).toBe(EXIT.usage);
    expect(unconfirmed.stderr.trimEnd().split('\n')).toEqual([expect.stringMatching(/^tessera: 2 signing key\(s\) cannot be decrypted .* stops verifying at once .* Add --yes to go ahead$/)]);
    expect((await json(['keys', 'list'])).filter((k: { status: string }) => k.status === 'active').map((k: { kid: string }) => k.kid).sort()).toEqual(oldActive.sort());

    const recovered = await tessera(['keys', 'recover', '--yes', '--json']);
    expect(recovered.code, recovered.stderr).toBe(0);
    expect(recovered.stderr).toMatch(/warning: .*every access token and ID token they signed stops verifying at once/);
    const result = JSON.parse(recovered.stdout) as { retired: Array<{ kid: string; status: string }>; created: Array<{ alg: string; status: string }> };
    expect(result.retired.map((k) => k.kid).sort()).toEqual(oldActive.sort());
    expect(result.retired.every((k) => k.status === 'retired')).toBe(true);
    expect(result.created.map((k) => k.alg).sort()).toEqual(['ES256', 'RS256']);
    expect((await tessera(['keys', 'recover', '--yes'])).stdout).toMatch(/nothing to recover/);
    const audit = await json(['audit', 'list', '--action', 'keys.recover']);
    expect(audit).toHaveLength(1);
    expect(audit[0]).toMatchObject({ action: 'keys.recover', actor: expect.stringMatching(/^cli:/), details: { retired: expect.arrayContaining(oldActive) } });

    // A server starts again; the old token is dead, new ones work.
    second = await startTestServer(dialect, { databaseUrl, env: { TESSERA_KEY_ENCRYPTION_KEY_FILE: kekFile, TESSERA_ISSUER: issuer } });
    // The retired keys' private parts are gone from the database, not kept encrypted.
    const retiredRows = await second.tessera.database.db.selectFrom('signing_keys').select(['kid', 'private_key']).where('kid', 'in', oldActive).execute();
    expect(retiredRows.map((r) => r.private_key)).toEqual(oldActive.map(() => ''));
    const jwks = (await (await fetch(`${second.url}/.well-known/jwks.json`)).json()) as JSONWebKeySet;
    expect(jwks.keys.map((k) => k.kid)).not.toContain(oldKid);
    expect(await (await postForm(`${second.url}/connect/introspect`, { token: before }, auth)).json()).toEqual({ active: false });
    const after = ((await (await postForm(`${second.url}/connect/token`, { grant_type: 'client_credentials' }, auth)).json()) as { access_token: string }).access_token;
    expect(await (await postForm(`${second.url}/connect/introspect`, { token: after }, auth)).json()).toMatchObject({ active: true });
  });
});
