import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DatabaseSync } from 'node:sqlite';
import { fileURLToPath } from 'node:url';
import { afterEach, expect, test } from 'vitest';

const DIALECT_MODULE = fileURLToPath(new URL('../../src/storage/node-sqlite-dialect.ts', import.meta.url));
let dir: string | undefined;
afterEach(() => {
  if (dir) rmSync(dir, { recursive: true, force: true });
});

/**
 * Several processes open one SQLite file at once (`serve` and CLI commands): opening must wait
 * for a lock another connection holds (busy_timeout) rather than fail with "database is
 * locked" — which it did when `PRAGMA journal_mode = WAL` ran before busy_timeout was set.
 */
test('openSqlite waits for a lock held by another process instead of failing', async () => {
  dir = mkdtempSync(join(tmpdir(), 'tessera-open-'));
  const path = join(dir, 'tessera.db');
  const holder = new DatabaseSync(path);
  holder.exec('PRAGMA journal_mode = WAL');
  holder.exec('CREATE TABLE t (x INTEGER)');
  // An exclusive lock on the file until released below.
  holder.exec('PRAGMA locking_mode = EXCLUSIVE');
  holder.exec('BEGIN EXCLUSIVE');
  holder.exec('INSERT INTO t VALUES (1)');

  const script = `import { openSqlite } from ${JSON.stringify(DIALECT_MODULE)}; const db = openSqlite(${JSON.stringify(path)}); process.stdout.write(String(db.prepare('SELECT count(*) AS n FROM t').get().n));`;
  const child = spawn(process.execPath, ['--input-type=module', '-e', script], { stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (b: Buffer) => (stdout += b));
  child.stderr.on('data', (b: Buffer) => (stderr += b));
  const exited = new Promise<number | null>((resolve) => child.on('exit', resolve));

  await new Promise((resolve) => setTimeout(resolve, 700));
  holder.exec('COMMIT');
  holder.close();

  expect(await exited, stderr).toBe(0);
  expect(stdout).toBe('1'); // it opened after the lock was released and sees the committed row
});
