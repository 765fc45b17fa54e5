import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';

export type TestDialect = 'sqlite' | 'postgres';

/** Every storage test runs on both (CLAUDE/DESIGN: "every storage test runs on both"). */
export const DIALECTS: readonly TestDialect[] = ['sqlite', 'postgres'];

/** Where tests create their PostgreSQL databases; trust auth on the CI machine. */
export const POSTGRES_ADMIN_URL = process.env.TESSERA_TEST_POSTGRES_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';

export interface TestDatabase {
  url: string;
  drop(): Promise<void>;
}

/** A fresh, empty database of its own, so test files never collide (even across CI runs). */
export async function createTestDatabase(dialect: TestDialect): Promise<TestDatabase> {
  if (dialect === 'sqlite') {
    const dir = mkdtempSync(join(tmpdir(), 'tessera-test-'));
    return { url: `sqlite:${join(dir, 'tessera.db')}`, drop: async () => rmSync(dir, { recursive: true, force: true }) };
  }
  return createPostgresDatabase(POSTGRES_ADMIN_URL, 'tessera_t');
}

/**
 * A new, empty PostgreSQL database `<prefix>_<random>` on the server behind `adminUrl`, and
 * a `drop` that removes it even with connections still open. Used by the tests and the bench.
 */
export async function createPostgresDatabase(adminUrl: string, prefix: string): Promise<TestDatabase> {
  const name = `${prefix}_${randomBytes(6).toString('hex')}`;
  const admin = new pg.Client({ connectionString: adminUrl });
  await admin.connect();
  try {
    await admin.query(`create database ${name}`);
  } finally {
    await admin.end();
  }
  const url = new URL(adminUrl);
  url.pathname = `/${name}`;
  return {
    url: url.toString(),
    drop: async () => {
      const c = new pg.Client({ connectionString: adminUrl });
      await c.connect();
      try {
        await c.query(`drop database if exists ${name} with (force)`);
      } finally {
        await c.end();
      }
    },
  };
}
