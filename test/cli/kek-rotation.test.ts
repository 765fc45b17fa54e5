import { randomBytes } from 'node:crypto';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, test, vi } from 'vitest';
import { SYSTEM } from '../../src/audit/actor.ts';
import { KeyEncrypter } from '../../src/keys/encryption.ts';
import { DEVICE_COOKIE, SESSION_COOKIE } from '../../src/lib/cookie-names.ts';
import { cliRunner } from '../support/cli-runner.ts';
import { createTestDatabase, DIALECTS, type TestDatabase } from '../support/databases.ts';
import { deadSmtpUrl } from '../support/mailbox.ts';
import { basic, postForm, startTestServer, type TestServer } from '../support/server.ts';
import { hiddenFields, UserAgent } from '../support/user-agent.ts';

/**
 * Replacing the key-encryption key without losing anything (docs/operations.md): nodes run
 * with the new key and TESSERA_PREVIOUS_KEY_ENCRYPTION_KEY (the old one opens what is stored),
 * `tessera keys reencrypt` seals every stored secret — signing keys, authenticator secrets,
 * identity providers' client secrets, mail waiting in the outbox — under the new key in one
 * transaction, and then the new key alone is enough. A secret neither key opens stops it
 * before anything is written. What is derived from the key — forms' CSRF tokens, device
 * cookies — made under the old key stays good while the previous key is set.
 */
vi.setConfig({ testTimeout: 90_000 });

const b64 = () => randomBytes(32).toString('base64');

describe.each(DIALECTS)('replacing the key-encryption key (%s)', (dialect) => {
  const OLD = b64();
  const NEW = b64();
  let database: TestDatabase;
  let env: Record<string, string> = {};
  const { tessera, json, fails } = cliRunner(() => ({ databaseUrl: database.url, env }));

  async function node(keys: Record<string, string>, extra: Record<string, string> = {}): Promise<TestServer> {
    return startTestServer(dialect, { databaseUrl: database.url, env: { TESSERA_KEY_ENCRYPTION_KEY_FILE: '/nonexistent/kek', ...keys, ...extra } });
  }

  async function sealedValues(server: TestServer): Promise<string[]> {
    const { db } = server.tessera.database;
    return [
      ...(await db.selectFrom('signing_keys').select('private_key as v').execute()),
      ...(await db.selectFrom('user_factors').select('secret as v').execute()),
      ...(await db.selectFrom('identity_providers').select('client_secret as v').where('client_secret', 'is not', null).execute()),
      ...(await db.selectFrom('email_outbox').select('sealed as v').execute()),
    ].map((r) => r.v as string);
  }

  let app: { id: string; secret: string };
  const PASSWORD = 'correct horse battery staple';

  /** A browser moved to another node (each listens on its own port): the same cookies. */
  const browserOn = (server: TestServer, from?: UserAgent) => {
    const ua = new UserAgent(server.url);
    for (const [name, value] of from?.cookies ?? []) ua.cookies.set(name, value);
    return ua;
  };
  const signIn = async (ua: UserAgent, form?: Record<string, string>) =>
    ua.post('/login', { ...(form ?? hiddenFields(await (await ua.get('/login')).text())), username: 'ann', password: PASSWORD });
  /** No return_to: a sign-in ends on the "You are signed in" page (a refused form: 403 and the form again). */
  const expectSignedIn = async (answer: Promise<Response>) => {
    const res = await answer;
    expect([res.status, (await res.text()).match(/<title>([^<·]*)/)?.[1]?.trim()]).toEqual([200, 'You are signed in']);
  };
  const newDeviceFlags = async (server: TestServer) =>
    ((await server.tessera.services.audit.list({ action: 'user.sign_in' } as never)).items as Array<{ details: { new_device?: boolean } }>).map((e) => e.details.new_device);

  beforeAll(async () => {
    database = await createTestDatabase(dialect);
    // Everything that is sealed, sealed under the old key.
    const first = await node({ TESSERA_KEY_ENCRYPTION_KEY: OLD }, { TESSERA_SMTP_URL: await deadSmtpUrl(), TESSERA_SMTP_FROM: 'id@example.test' });
    const { services } = first.tessera;
    const user = await services.users.create({ username: 'tom', password: PASSWORD, roles: [] }, SYSTEM);
    // Signs in from a browser (tom has an authenticator app started, so a second step).
    await services.users.create({ username: 'ann', password: PASSWORD, roles: [] }, SYSTEM);
    await services.mfa.totpEnrolment(await services.users.find(user.id));
    await services.providers.create({ slug: 'corp', name: 'Corp', kind: 'oauth2', authorizationUrl: 'https://sso.example.test/authorize', tokenUrl: 'https://sso.example.test/token', userinfoUrl: 'https://sso.example.test/user', clientId: 'x', clientSecret: 'upstream-secret' }, SYSTEM);
    await first.tessera.email.invitations.invite({ email: 'waiting@example.test', roles: [] }, SYSTEM);
    await first.tessera.email.idle();
    const created = await services.clients.create({ name: 'svc', grantTypes: ['client_credentials'] }, SYSTEM);
    app = { id: created.client_id, secret: created.client_secret! };
    const sealed = await sealedValues(first);
    expect(sealed.length).toBeGreaterThanOrEqual(5);
    const old = new KeyEncrypter(Buffer.from(OLD, 'base64'));
    for (const v of sealed) expect(() => old.decrypt(v)).not.toThrow();
    await first.close();
  });
  afterAll(async () => database?.drop());

  const tokenFrom = async (server: TestServer) => {
    const res = await postForm(`${server.url}/connect/token`, { grant_type: 'client_credentials' }, { authorization: basic(app.id, app.secret) });
    return { status: res.status, body: (await res.json()) as { access_token?: string } };
  };

  test('the new key alone cannot start on the old data; with the previous key beside it the node works, and reencrypt moves every secret to the new key', async () => {
    await expect(node({ TESSERA_KEY_ENCRYPTION_KEY: NEW })).rejects.toThrow(/^cannot decrypt the signing keys .* with the key-encryption key from TESSERA_KEY_ENCRYPTION_KEY/);

    // Under the old key: a browser that signed in (its device cookie), and another with the sign-in form open.
    const before = await node({ TESSERA_KEY_ENCRYPTION_KEY: OLD });
    let known: UserAgent;
    let waiting: UserAgent;
    let openForm: Record<string, string>;
    try {
      known = browserOn(before);
      await expectSignedIn(signIn(known));
      expect(known.cookies.has(DEVICE_COOKIE)).toBe(true);
      waiting = browserOn(before);
      openForm = hiddenFields(await (await waiting.get('/login')).text());
    } finally {
      await before.close();
    }

    env = { TESSERA_KEY_ENCRYPTION_KEY: NEW, TESSERA_PREVIOUS_KEY_ENCRYPTION_KEY: OLD };
    const during = await node(env);
    try {
      const issued = await tokenFrom(during);
      expect(issued.status).toBe(200);
      // The form opened under the old key is accepted, and the browser that signed in then is not a new device.
      await expectSignedIn(signIn(browserOn(during, waiting), openForm));
      known.cookies.delete(SESSION_COOKIE);
      await expectSignedIn(signIn((known = browserOn(during, known))));
      expect((await newDeviceFlags(during)).slice(0, 2)).toEqual([false, true]);
      // New secrets are sealed under the new key while the old ones still open.
      await during.tessera.services.providers.update('corp', { clientSecret: 'rotated-upstream-secret' }, SYSTEM);
    } finally {
      await during.close();
    }

    if (dialect === 'sqlite') {
      // A backup taken now would need the old key too for what is still sealed under it: it says so.
      const out = join(mkdtempSync(join(tmpdir(), 'tessera-backup-')), 'b.db');
      const backup = await tessera(['backup', '--out', out]);
      expect(backup.code, backup.stderr).toBe(0);
      expect(backup.stderr).toMatch(/^tessera: warning: the key-encryption key from TESSERA_KEY_ENCRYPTION_KEY alone does not open \d+ stored secret\(s\) \(signing_keys .*\); run `tessera keys reencrypt`/m);
    }

    const result = await json(['keys', 'reencrypt']);
    expect(result.reencrypted.user_factors).toBe(1);
    expect(result.reencrypted.email_outbox).toBe(1);
    expect(result.reencrypted.signing_keys).toBeGreaterThanOrEqual(2);
    expect(result.reencrypted.identity_providers).toBe(0);
    expect(result.current).toBe(1);
    // Again: nothing left to do.
    expect((await tessera(['keys', 'reencrypt'])).stdout).toMatch(/^every stored secret \(\d+\) is sealed under the current key-encryption key; nothing to do/);
    if (dialect === 'sqlite') {
      const backup = await tessera(['backup', '--out', join(mkdtempSync(join(tmpdir(), 'tessera-backup-')), 'b.db')]);
      expect([backup.code, backup.stderr]).toEqual([0, '']);
    }

    env = { TESSERA_KEY_ENCRYPTION_KEY: NEW };
    const after = await node(env);
    try {
      const fresh = new KeyEncrypter(Buffer.from(NEW, 'base64'));
      for (const v of await sealedValues(after)) expect(() => fresh.decrypt(v)).not.toThrow();
      expect((await tokenFrom(after)).status).toBe(200);
      // The device cookie was signed again under the new key at the sign-in above: still known.
      known.cookies.delete(SESSION_COOKIE);
      await expectSignedIn(signIn(browserOn(after, known)));
      expect((await newDeviceFlags(after))[0]).toBe(false);
      const audit = (await after.tessera.services.audit.list({ action: 'keys.reencrypt' } as never)).items;
      expect(audit).toHaveLength(1);
      expect(audit[0]!.details).toEqual(result);
      expect(audit[0]!.actor).toMatch(/^cli:/);
    } finally {
      await after.close();
    }
  });

  test('a secret neither key opens stops reencrypt before anything is written', async () => {
    const other = new KeyEncrypter(randomBytes(32));
    const NEWER = b64();
    env = { TESSERA_KEY_ENCRYPTION_KEY: NEWER, TESSERA_PREVIOUS_KEY_ENCRYPTION_KEY: NEW };
    const server = await node(env);
    let before: string[];
    try {
      await server.tessera.database.db.updateTable('identity_providers').set({ client_secret: other.encrypt('lost') }).where('slug', '=', 'corp').execute();
      before = await sealedValues(server);
    } finally {
      await server.close();
    }
    await fails(['keys', 'reencrypt'], /1 stored secret\(s\) open with neither the key-encryption key nor TESSERA_PREVIOUS_KEY_ENCRYPTION_KEY \(identity_providers [0-9a-f-]+\); nothing was changed/);
    const check = await node(env);
    try {
      expect(await sealedValues(check)).toEqual(before);
    } finally {
      await check.close();
    }
  });
});
