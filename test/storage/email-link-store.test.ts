import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { KyselyEmailLinkStore, type EmailLink } from '../../src/email/email-link-store.ts';
import { Links, LINK_TTL } from '../../src/email/links.ts';
import { sha256 } from '../../src/lib/crypto.ts';
import { migrateToLatest, openDatabase, type DatabaseHandle } from '../../src/storage/database.ts';
import { createTestDatabase, DIALECTS, type TestDatabase } from '../support/databases.ts';
import { recordingLogger } from '../support/logger.ts';

/**
 * Links sent by email on SQLite and PostgreSQL: stored by hash, used at most once (also when
 * many use one at the same moment), never after expiry or for another purpose.
 */
const NOW = 1_760_000_000;

describe.each(DIALECTS)('email link store on %s', (dialect) => {
  let database: TestDatabase;
  let handle: DatabaseHandle;
  let store: KyselyEmailLinkStore;
  let now = NOW;
  const clock = { now: () => now * 1000 };

  beforeAll(async () => {
    database = await createTestDatabase(dialect);
    handle = openDatabase(database.url, { poolSize: 10, log: recordingLogger() });
    await migrateToLatest(handle);
    store = new KyselyEmailLinkStore(handle.db);
  });
  afterAll(async () => {
    await handle?.close();
    await database?.drop();
  });

  const link = (purpose: EmailLink['purpose'], overrides: Partial<EmailLink> = {}): EmailLink => ({
    tokenHash: sha256(randomUUID()),
    purpose,
    userId: randomUUID(),
    email: 'someone@example.com',
    data: {},
    createdBy: 'anonymous',
    createdAt: NOW,
    expiresAt: NOW + 1800,
    usedAt: null,
    ...overrides,
  });

  test('a link is found by its hash, consumed once, and only for its purpose while it lives', async () => {
    const l = link('password_reset');
    await store.insert(l);
    expect(await store.find(l.tokenHash)).toEqual(l);
    expect(await store.consume(l.tokenHash, 'email_verify', NOW)).toBeUndefined();
    expect(await store.consume(l.tokenHash, 'password_reset', NOW + 1800)).toBeUndefined();
    expect(await store.consume(l.tokenHash, 'password_reset', NOW + 10)).toEqual({ ...l, usedAt: NOW + 10 });
    expect(await store.consume(l.tokenHash, 'password_reset', NOW + 11)).toBeUndefined();
    expect((await store.find(l.tokenHash))?.usedAt).toBe(NOW + 10);
  });

  test('of many concurrent uses of one link exactly one succeeds', async () => {
    const l = link('invite', { userId: null, data: { roles: ['developer'] } });
    await store.insert(l);
    const results = await Promise.all(Array.from({ length: 10 }, () => store.consume(l.tokenHash, 'invite', NOW)));
    expect(results.filter(Boolean)).toHaveLength(1);
    expect(results.find(Boolean)?.data).toEqual({ roles: ['developer'] });
  });

  test('useAllForUser ends a user\'s open links of one purpose; open invitations are listed newest first; expired links are purged', async () => {
    const userId = randomUUID();
    const a = link('password_reset', { userId });
    const b = link('password_reset', { userId });
    const other = link('email_verify', { userId });
    for (const l of [a, b, other]) await store.insert(l);
    expect(await store.useAllForUser(userId, 'password_reset', NOW)).toBe(2);
    expect(await store.consume(b.tokenHash, 'password_reset', NOW)).toBeUndefined();
    expect(await store.consume(other.tokenHash, 'email_verify', NOW)).toBeDefined();

    const older = link('invite', { userId: null, email: 'older@example.com', createdAt: NOW - 10, expiresAt: NOW + 86_400 });
    const newer = link('invite', { userId: null, email: 'newer@example.com', createdAt: NOW - 5, expiresAt: NOW + 86_400 });
    const gone = link('invite', { userId: null, email: 'gone@example.com', createdAt: NOW - 100, expiresAt: NOW - 1 });
    for (const l of [older, newer, gone]) await store.insert(l);
    const open = (await store.listOpenInvitations(NOW)).map((l) => l.email);
    expect(open.indexOf('newer@example.com')).toBeLessThan(open.indexOf('older@example.com'));
    expect(open).not.toContain('gone@example.com');
    expect(await store.purgeExpired(NOW, 100)).toBeGreaterThanOrEqual(1);
    expect(await store.find(gone.tokenHash)).toBeUndefined();
  });

  test('Links: the token is returned once and only its hash is stored; peek never uses a link; it expires after its TTL', async () => {
    now = NOW;
    const links = new Links(store, clock);
    const { token, link: made } = await links.create('password_reset', { userId: randomUUID(), email: 'x@example.com', createdBy: 'anonymous' });
    expect(made.tokenHash).toBe(sha256(token));
    expect(made.expiresAt - made.createdAt).toBe(LINK_TTL.password_reset);
    expect(await links.peek(token, 'password_reset')).toBeDefined();
    expect(await links.peek(token, 'invite')).toBeUndefined();
    expect(await links.peek('x'.repeat(101), 'password_reset')).toBeUndefined();
    now = NOW + LINK_TTL.password_reset;
    expect(await links.peek(token, 'password_reset')).toBeUndefined();
    expect(await links.consume(token, 'password_reset')).toBeUndefined();
  });
});
