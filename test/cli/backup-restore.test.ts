import { execFile } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createLocalJWKSet, decodeProtectedHeader, jwtVerify, type JSONWebKeySet } from 'jose';
import { afterAll, beforeAll, describe, expect, test, vi } from 'vitest';
import { SYSTEM } from '../../src/audit/actor.ts';
import { EXIT } from '../../src/cli/exit-codes.ts';
import { cliRunner, type CliRun } from '../support/cli-runner.ts';
import { createPostgresDatabase, POSTGRES_ADMIN_URL, type TestDialect } from '../support/databases.ts';
import { basic, postForm, startTestServer, type TestServer } from '../support/server.ts';
import { hiddenFields, location, UserAgent } from '../support/user-agent.ts';

/**
 * Issue 13, backup and restore: tokens issued before a backup of a running server still
 * verify (signature through the JWKS, introspection) and the refresh token still refreshes
 * on a server started from the restored copy. SQLite through `tessera backup` / `tessera
 * restore`; PostgreSQL through pg_dump / pg_restore as docs/operations.md says.
 */
vi.setConfig({ testTimeout: 240_000 });

const REDIRECT = 'https://app.example.com/callback';
const PASSWORD = 'correct horse battery staple';
const dirs: string[] = [];
function tempDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'tessera-backup-'));
  dirs.push(dir);
  return dir;
}
afterAll(() => {
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
});

function sh(command: string, args: string[]): Promise<CliRun> {
  return new Promise((resolve) => {
    execFile(command, args, { timeout: 60_000 }, (error, stdout, stderr) => resolve({ code: error ? ((error as { code?: number }).code ?? 1) : 0, stdout, stderr }));
  });
}

interface Issued {
  access: string;
  id: string;
  refresh: string;
  machine: string;
  app: { id: string; secret: string };
  machineApp: { id: string; secret: string };
}

/** Signs alice in to an app over HTTP and exchanges the code: an access, ID and refresh token; plus a client-credentials token. */
async function issueTokens(server: TestServer): Promise<Issued> {
  const { services } = server.tessera;
  await services.users.create({ username: 'alice', password: PASSWORD, roles: ['developer'] }, SYSTEM);
  const created = await services.clients.create(
    { name: 'Books', grantTypes: ['authorization_code'], redirectUris: [REDIRECT], scopes: ['openid', 'profile', 'offline_access'] },
    SYSTEM,
  );
  const app = { id: created.client_id, secret: created.client_secret! };
  const machineApp = await services.clients.create({ name: 'Batch', grantTypes: ['client_credentials'] }, SYSTEM);

  const verifier = randomBytes(32).toString('base64url');
  const challenge = createHash('sha256').update(verifier).digest('base64url');
  const ua = new UserAgent(server.url);
  const query = new URLSearchParams({ client_id: app.id, response_type: 'code', redirect_uri: REDIRECT, scope: 'openid profile offline_access', state: 's', nonce: 'n', code_challenge: challenge, code_challenge_method: 'S256' });
  let target = location(await ua.get(`/connect/authorize?${query}`));
  const returnTo = new URL(target, server.url).searchParams.get('return_to')!;
  const login = await ua.get(`/login?${new URLSearchParams({ return_to: returnTo })}`);
  target = location(await ua.post('/login', { ...hiddenFields(await login.text()), username: 'alice', password: PASSWORD }));
  target = location(await ua.get(target));
  const consent = await ua.get(target);
  target = location(await ua.post('/consent', { ...hiddenFields(await consent.text()), decision: 'allow' }));
  const code = new URL(target).searchParams.get('code')!;
  const exchanged = await postForm(`${server.url}/connect/token`, { grant_type: 'authorization_code', code, redirect_uri: REDIRECT, code_verifier: verifier }, { authorization: basic(app.id, app.secret) });
  expect(exchanged.status).toBe(200);
  const tokens = (await exchanged.json()) as { access_token: string; id_token: string; refresh_token: string };
  const machine = await postForm(`${server.url}/connect/token`, { grant_type: 'client_credentials' }, { authorization: basic(machineApp.client_id, machineApp.client_secret!) });
  expect(machine.status).toBe(200);
  return { access: tokens.access_token, id: tokens.id_token, refresh: tokens.refresh_token, machine: ((await machine.json()) as { access_token: string }).access_token, app, machineApp: { id: machineApp.client_id, secret: machineApp.client_secret! } };
}

/** What the issue asks of the restored server: the old tokens verify and the refresh token refreshes. */
async function expectTokensWork(server: TestServer, issued: Issued): Promise<void> {
  const jwks = (await (await fetch(`${server.url}/.well-known/jwks.json`)).json()) as JSONWebKeySet;
  const keySet = createLocalJWKSet(jwks);
  for (const token of [issued.access, issued.id, issued.machine]) {
    expect(jwks.keys.map((k) => k.kid)).toContain(decodeProtectedHeader(token).kid);
    await jwtVerify(token, keySet, { issuer: server.tessera.issuer });
  }
  for (const [token, app] of [[issued.access, issued.app], [issued.machine, issued.machineApp]] as const) {
    // An app introspects its own tokens.
    const introspection = await postForm(`${server.url}/connect/introspect`, { token }, { authorization: basic(app.id, app.secret) });
    expect(await introspection.json()).toMatchObject({ active: true });
  }
  const refreshed = await postForm(`${server.url}/connect/token`, { grant_type: 'refresh_token', refresh_token: issued.refresh }, { authorization: basic(issued.app.id, issued.app.secret) });
  expect(refreshed.status).toBe(200);
  const body = (await refreshed.json()) as { access_token: string; refresh_token: string };
  expect(body.refresh_token).not.toBe(issued.refresh);
  await jwtVerify(body.access_token, keySet, { issuer: server.tessera.issuer });
}

describe('SQLite: tessera backup of a running server, tessera restore into a fresh directory', () => {
  let source: TestServer;
  let restored: TestServer | undefined;
  let issued: Issued;
  const kekFile = join(tempDir(), 'tessera-key-encryption.key');
  const out = join(tempDir(), 'tessera-backup.db');
  const freshDir = join(tempDir(), 'restored');
  const freshUrl = `sqlite:${join(freshDir, 'tessera.db')}`;

  const sourceCli = cliRunner(() => ({ databaseUrl: source.databaseUrl, env: { TESSERA_LOG_LEVEL: 'silent', TESSERA_KEY_ENCRYPTION_KEY_FILE: kekFile } }));
  // The restore runs where nothing is configured but the database: the key goes beside it.
  const freshCli = cliRunner(() => ({ databaseUrl: freshUrl, env: { TESSERA_LOG_LEVEL: 'silent' } }));

  beforeAll(async () => {
    source = await startTestServer('sqlite', { env: { TESSERA_KEY_ENCRYPTION_KEY_FILE: kekFile } });
    sourceOpen = true;
    issued = await issueTokens(source);
  });
  let sourceOpen = false;
  afterAll(async () => {
    await restored?.close();
    if (sourceOpen) await source.close();
  });

  test('backup → restore → serve: tokens from before the backup verify and refresh', async () => {
    // Online: the server keeps its database open (and its writes in the -wal file) throughout.
    const backup = await sourceCli.json(['backup', '--out', out]);
    expect(backup).toMatchObject({ backup: out, key_file: `${out}.key-encryption-key`, key_source: 'file' });
    expect(statSync(out).mode & 0o777).toBe(0o600);
    expect(statSync(`${out}.key-encryption-key`).mode & 0o777).toBe(0o600);
    expect(readFileSync(`${out}.key-encryption-key`, 'utf8')).toBe(readFileSync(kekFile, 'utf8'));
    // Written after the backup: not in it.
    await source.tessera.services.users.create({ username: 'late', password: PASSWORD, roles: [] }, SYSTEM);
    // A second backup never overwrites the first.
    const again = await sourceCli.tessera(['backup', '--out', out]);
    expect(again.code).toBe(EXIT.refused);
    expect(again.stderr).toMatch(/already exists/);

    const result = await freshCli.json(['restore', '--from', out]);
    expect(result).toMatchObject({ key_file: join(freshDir, 'tessera-key-encryption.key'), pending: [] });
    expect(statSync(join(freshDir, 'tessera-key-encryption.key')).mode & 0o777).toBe(0o600);
    expect(statSync(join(freshDir, 'tessera.db')).mode & 0o777).toBe(0o600);
    // Never over an existing database.
    const twice = await freshCli.tessera(['restore', '--from', out]);
    expect(twice.code).toBe(EXIT.refused);
    expect(twice.stderr).toMatch(/already exists; restore into a new path/);

    const issuer = source.tessera.issuer;
    sourceOpen = false;
    await source.close();
    restored = await startTestServer('sqlite', {
      databaseUrl: freshUrl,
      env: { TESSERA_KEY_ENCRYPTION_KEY_FILE: join(freshDir, 'tessera-key-encryption.key'), TESSERA_ISSUER: issuer },
    });
    await expectTokensWork(restored, issued);
    await expect(restored.tessera.services.users.show('late')).rejects.toThrow(/not found/);
    await expect(restored.tessera.services.users.show('alice')).resolves.toMatchObject({ username: 'alice' });
  });

  test('restore refuses a key that does not open the backup (exit 5) and leaves nothing behind', async () => {
    const wrongKey = join(tempDir(), 'wrong.key');
    writeFileSync(wrongKey, `${randomBytes(32).toString('base64')}\n`);
    const target = join(tempDir(), 'tessera.db');
    const cli = cliRunner(() => ({ databaseUrl: `sqlite:${target}`, env: { TESSERA_LOG_LEVEL: 'silent' } }));
    const r = await cli.tessera(['restore', '--from', out, '--key', wrongKey]);
    expect(r.code).toBe(EXIT.keys);
    expect(r.stderr.trimEnd().split('\n')).toEqual([expect.stringMatching(/^tessera: the key-encryption key from the file .* does not decrypt the backup's signing keys/)]);
    expect(existsSync(target)).toBe(false);
  });

  test('backup of PostgreSQL points to pg_dump (usage, exit 2)', async () => {
    const cli = cliRunner(() => ({ databaseUrl: `${POSTGRES_ADMIN_URL}`, env: { TESSERA_LOG_LEVEL: 'silent' } }));
    const r = await cli.tessera(['backup', '--out', join(tempDir(), 'x.db')]);
    expect(r.code).toBe(EXIT.usage);
    expect(r.stderr).toMatch(/back up PostgreSQL with pg_dump \(docs\/operations\.md\)/);
  });
});

describe('PostgreSQL: pg_dump of a running server, pg_restore into a new database (docs/operations.md)', () => {
  const dialect: TestDialect = 'postgres';
  let source: TestServer | undefined;
  let restored: TestServer | undefined;
  let drop: (() => Promise<void>) | undefined;

  afterAll(async () => {
    await restored?.close();
    await source?.close();
    await drop?.();
  });

  test('tokens from before the dump verify and refresh on a server over the restored database', async () => {
    const kek = randomBytes(32).toString('base64');
    source = await startTestServer(dialect, { env: { TESSERA_KEY_ENCRYPTION_KEY: kek } });
    const issued = await issueTokens(source);
    const sourceUrl = source.databaseUrl;
    const dump = join(tempDir(), 'tessera.dump');
    const dumped = await sh('pg_dump', ['--format=custom', `--file=${dump}`, sourceUrl]);
    expect(dumped.code, dumped.stderr).toBe(0);

    const target = await createPostgresDatabase(POSTGRES_ADMIN_URL, 'tessera_restore');
    drop = target.drop;
    const restoredDb = await sh('pg_restore', ['--no-owner', `--dbname=${target.url}`, dump]);
    expect(restoredDb.code, restoredDb.stderr).toBe(0);

    const issuer = source.tessera.issuer;
    await source.close();
    source = undefined;
    restored = await startTestServer(dialect, { databaseUrl: target.url, env: { TESSERA_KEY_ENCRYPTION_KEY: kek, TESSERA_ISSUER: issuer } });
    await expectTokensWork(restored, issued);
  });
});
