import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomUUID } from 'node:crypto';
import { afterEach, describe, expect, test, vi } from 'vitest';
import { SYSTEM } from '../../src/audit/actor.ts';
import { GIVE_UP_AFTER_SECONDS } from '../../src/email/mailer.ts';
import { createTestDatabase, DIALECTS, type TestDatabase } from '../support/databases.ts';
import { deadSmtpUrl, linkIn, Mailbox } from '../support/mailbox.ts';
import { startTestServer, type TestServer } from '../support/server.ts';

/**
 * The email outbox lives in the database (migration 0024, src/email/mailer.ts): a message the
 * SMTP server did not take survives a restart and is sent by the next server, exactly once
 * when two nodes look at the same time; nothing readable of it (the address, the link) is
 * stored in clear; it is given up after an hour, and an entry this node cannot open is left
 * for a node that can (a key-encryption key being replaced), then given up the same way.
 */
vi.setConfig({ testTimeout: 60_000 });

const cleanups: Array<() => Promise<void>> = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

async function started<T extends { close(): Promise<void> }>(thing: Promise<T>): Promise<T> {
  const t = await thing;
  cleanups.push(() => t.close());
  return t;
}

describe.each(DIALECTS)('the email outbox (%s)', (dialect) => {
  async function sharedDatabase(): Promise<{ db: TestDatabase; env: Record<string, string> }> {
    const db = await createTestDatabase(dialect);
    cleanups.push(() => db.drop());
    // Every node of one installation has the same key-encryption key.
    return { db, env: { TESSERA_KEY_ENCRYPTION_KEY_FILE: join(mkdtempSync(join(tmpdir(), 'tessera-kek-')), 'kek'), TESSERA_SMTP_FROM: 'id@example.test' } };
  }

  const outboxRows = (server: TestServer) => server.tessera.database.db.selectFrom('email_outbox').selectAll().execute();

  test('a message the SMTP server did not take survives a restart, sealed, and the next server sends it once', async () => {
    const { db, env } = await sharedDatabase();
    const a = await startTestServer(dialect, { databaseUrl: db.url, metrics: true, env: { ...env, TESSERA_SMTP_URL: await deadSmtpUrl() } });
    let aClosed = false;
    cleanups.push(async () => void (aClosed || (await a.close())));
    await a.tessera.email.invitations.invite({ email: 'rosa@example.test', roles: [] }, SYSTEM);
    await a.tessera.email.idle();
    expect(a.log.messages('warn')).toContain('email not sent; trying again later');
    const [row, ...more] = await outboxRows(a);
    expect(more).toEqual([]);
    expect(row).toMatchObject({ message: 'invite', user_id: null, attempts: expect.any(Number) });
    expect(row!.attempts).toBeGreaterThanOrEqual(1);
    // Neither the address nor the link is readable in the database.
    expect(row!.sealed).toMatch(/^v1\./);
    expect(row!.sealed).not.toContain('rosa');
    expect(row!.sealed).not.toContain('token');
    expect((await a.tessera.email.status()).pending).toBe(1);
    await a.close();
    aClosed = true;
    expect(a.log.messages('warn')).toContain('email not sent yet: it stays in the outbox, and a running Tessera server sends it');

    const mailbox = await started(new Mailbox().start());
    const b = await started(startTestServer(dialect, { databaseUrl: db.url, env: { ...env, TESSERA_SMTP_URL: mailbox.url } }));
    const mail = await mailbox.waitFor('rosa@example.test');
    expect(mail.subject).toBe('You are invited to Tessera');
    // The link in it works: the invitation is the one A stored.
    const link = linkIn(mail, `${a.url}/invite?token=`);
    expect((await fetch(`${b.url}${link.slice(a.url.length)}`)).status).toBe(200);
    await expect.poll(() => outboxRows(b)).toEqual([]);
    await new Promise((r) => setTimeout(r, 1500));
    expect(mailbox.take('rosa@example.test')).toHaveLength(1);
  });

  // Two nodes in one process need PostgreSQL: node:sqlite blocks the thread while it waits for
  // the other connection's lock, so two in-process SQLite nodes would wait on each other (real
  // SQLite nodes are processes, `serve --workers`); test/storage/outbox-store.test.ts claims
  // from two connections on both dialects.
  test.skipIf(dialect === 'sqlite')('two nodes starting beside each other send each waiting message exactly once', async () => {
    const { db, env } = await sharedDatabase();
    // A process whose SMTP server is down queues ten messages and stops: they wait in the outbox.
    const c = await startTestServer(dialect, { databaseUrl: db.url, env: { ...env, TESSERA_SMTP_URL: await deadSmtpUrl() } });
    const addresses = Array.from({ length: 10 }, (_, i) => `guest${i}@example.test`);
    for (const email of addresses) await c.tessera.email.invitations.invite({ email, roles: [] }, SYSTEM);
    await c.tessera.email.idle();
    await c.close();
    expect(await c.tessera.database.db.selectFrom('email_outbox').select('id').execute().catch(() => 'closed')).toBe('closed');

    const mailbox = await started(new Mailbox().start());
    const nodeEnv = { ...env, TESSERA_SMTP_URL: mailbox.url };
    const [a, b] = await Promise.all([started(startTestServer(dialect, { databaseUrl: db.url, env: nodeEnv })), started(startTestServer(dialect, { databaseUrl: db.url, env: nodeEnv }))]);
    for (const email of addresses) await mailbox.waitFor(email);
    await expect.poll(() => outboxRows(a)).toEqual([]);
    await Promise.all([a.tessera.email.idle(), b.tessera.email.idle()]);
    await new Promise((r) => setTimeout(r, 1500));
    expect(addresses.map((email) => mailbox.take(email).length)).toEqual(addresses.map(() => 1));
  });
});

describe('giving up (sqlite)', () => {
  test('after an hour without the SMTP server taking it, a message is given up (logged, counted, removed); an entry this node cannot open is left for another node, then given up too', async () => {
    let offset = 0;
    const clock = { now: () => Date.now() + offset };
    const server = await started(startTestServer('sqlite', { clock, metrics: true, env: { TESSERA_SMTP_URL: await deadSmtpUrl(), TESSERA_SMTP_FROM: 'id@example.test' } }));
    await server.tessera.email.invitations.invite({ email: 'late@example.test', roles: [] }, SYSTEM);
    await server.tessera.email.idle();
    expect(await outbox(server)).toBe(1);
    offset = (GIVE_UP_AFTER_SECONDS + 1) * 1000;
    await expect.poll(() => server.log.messages('error'), { timeout: 10_000 }).toContain('email given up: the SMTP server did not take it within 60 minutes');
    expect(await outbox(server)).toBe(0);
    const metrics = await server.metrics!.registry.getSingleMetricAsString('tessera_emails_total');
    expect(metrics).toContain('tessera_emails_total{message="invite",outcome="dropped"} 1');

    // Sealed under a key-encryption key this node does not have (a node already on a new key
    // while this one is not): left for a node that can open it, then given up like any other.
    const now = Math.floor(clock.now() / 1000);
    const foreign = (id: string, createdAt: number) => ({ id, message: 'password_reset', user_id: null, sealed: 'v1.AAAAAAAAAAAAAAAA.AAAAAAAAAAAAAAAAAAAAAA.AAAA', attempts: 0, created_at: createdAt, next_attempt_at: now, claimed_until: 0 });
    const fresh = randomUUID();
    await server.tessera.database.db.insertInto('email_outbox').values(foreign(fresh, now)).execute();
    server.tessera.email.mailer.startDelivery();
    await expect.poll(() => server.log.messages('warn'), { timeout: 10_000 }).toContain("the outbox entry cannot be decrypted with this node's key-encryption key");
    await server.tessera.email.idle();
    expect(await server.tessera.database.db.selectFrom('email_outbox').select(['id', 'attempts']).execute()).toEqual([{ id: fresh, attempts: 1 }]);
    await server.tessera.database.db.deleteFrom('email_outbox').execute();
    await server.tessera.database.db.insertInto('email_outbox').values(foreign(randomUUID(), now - GIVE_UP_AFTER_SECONDS)).execute();
    server.tessera.email.mailer.startDelivery();
    await expect.poll(() => server.log.messages('error'), { timeout: 10_000 }).toContain('email given up: no node could decrypt the outbox entry');
    expect(await outbox(server)).toBe(0);
  });

  async function outbox(server: TestServer): Promise<number> {
    return (await server.tessera.database.db.selectFrom('email_outbox').select('id').execute()).length;
  }
});
