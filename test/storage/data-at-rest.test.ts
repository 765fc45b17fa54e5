import { chmodSync, existsSync, mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, test } from 'vitest';
import { openTessera } from '../../src/app/tessera.ts';
import { loadConfig } from '../../src/config/config.ts';
import { CLI_MAIN } from '../support/cli-runner.ts';
import { recordingLogger } from '../support/logger.ts';
import { execFileSync } from 'node:child_process';

const mode = (path: string) => (statSync(path).mode & 0o777).toString(8).padStart(4, '0');

describe('data at rest: the SQLite database, its WAL/SHM files and the key file are owner-only', () => {
  const dirs: string[] = [];
  function scratch(): string {
    const dir = mkdtempSync(join(tmpdir(), 'tessera-rest-'));
    dirs.push(dir);
    return dir;
  }
  afterEach(() => {
    for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
  });

  /** Opens Tessera on `databaseUrl` as `serve` would, writes (so the WAL has content), closes. */
  async function openAndWrite(databaseUrl: string, env: Record<string, string> = {}) {
    const log = recordingLogger();
    const warnings: string[] = [];
    const tessera = await openTessera(loadConfig({ TESSERA_DATABASE_URL: databaseUrl, ...env }), { log, warn: (m) => warnings.push(m) });
    return {
      log,
      warnings,
      tessera,
      close: () => tessera.close(),
    };
  }

  test('a fresh data directory is 0700; the database, -wal, -shm and key file are 0600', async () => {
    const root = scratch();
    // The default layout: a data directory that does not exist yet, the key file beside the database.
    const dataDir = join(root, 'var', 'data');
    const db = join(dataDir, 'tessera.db');
    const opened = await openAndWrite(`sqlite:${db}`);
    try {
      await opened.tessera.services.users.create({ username: 'rest', password: 'a long enough passphrase', roles: [] }, { kind: 'system', label: 'system' });
      // While the database is open, SQLite keeps its -wal and -shm files.
      expect(existsSync(`${db}-wal`)).toBe(true);
      expect(existsSync(`${db}-shm`)).toBe(true);
      expect({
        dir: mode(dataDir),
        parent: mode(join(root, 'var')),
        db: mode(db),
        wal: mode(`${db}-wal`),
        shm: mode(`${db}-shm`),
        kek: mode(join(dataDir, 'tessera-key-encryption.key')),
      }).toEqual({ dir: '0700', parent: '0700', db: '0600', wal: '0600', shm: '0600', kek: '0600' });
      // Nothing to tighten on a fresh start, so nothing to warn about.
      expect(opened.log.messages('warn')).toEqual([]);
    } finally {
      await opened.close();
    }
  });

  test('files an earlier version created 0644 are made 0600 on open, with a warning each; an existing directory is left alone', async () => {
    const dir = scratch();
    chmodSync(dir, 0o755);
    const db = join(dir, 'tessera.db');
    const kek = join(dir, 'tessera-key-encryption.key');
    // Like an earlier version: write, then open the files up, leaving -wal and -shm behind.
    const first = await openAndWrite(`sqlite:${db}`);
    await first.tessera.services.users.create({ username: 'old', password: 'a long enough passphrase', roles: [] }, { kind: 'system', label: 'system' });
    await first.close();
    writeFileSync(`${db}-shm`, Buffer.alloc(0), { flag: 'a' });
    writeFileSync(`${db}-wal`, Buffer.alloc(0), { flag: 'a' });
    for (const f of [db, `${db}-wal`, `${db}-shm`, kek]) chmodSync(f, 0o644);

    const second = await openAndWrite(`sqlite:${db}`);
    try {
      expect({ db: mode(db), wal: mode(`${db}-wal`), shm: mode(`${db}-shm`), kek: mode(kek), dir: mode(dir) }).toEqual({
        db: '0600',
        wal: '0600',
        shm: '0600',
        kek: '0600',
        dir: '0755',
      });
      const warned = second.log.messages('warn');
      for (const f of [db, `${db}-wal`, `${db}-shm`, kek]) {
        expect(warned).toContain(`${f} was readable by other users (mode 0644); changed it to 0600`);
      }
      // The data is still there.
      expect((await second.tessera.services.users.find('old')).username).toBe('old');
    } finally {
      await second.close();
    }
    // Once tightened, the next start has nothing to say.
    const third = await openAndWrite(`sqlite:${db}`);
    await third.close();
    expect(third.log.messages('warn')).toEqual([]);
  });

  test('`tessera migrate` on a fresh path creates the directory 0700 and the database 0600', () => {
    const db = join(scratch(), 'new', 'tessera.db');
    execFileSync(process.execPath, [CLI_MAIN, 'migrate', '--database', `sqlite:${db}`], { env: { ...process.env, TESSERA_LOG_LEVEL: 'silent' }, timeout: 110_000 });
    expect({ dir: mode(join(db, '..')), db: mode(db) }).toEqual({ dir: '0700', db: '0600' });
    // -wal and -shm, if SQLite left them, follow the database's mode.
    for (const f of [`${db}-wal`, `${db}-shm`]) if (existsSync(f)) expect(mode(f)).toBe('0600');
  }, 120_000);
});
