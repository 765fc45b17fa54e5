import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { expect, test } from 'vitest';
import { startChild } from '../../bench/lib/child.ts';

/**
 * The ES256 floor with BENCH_WORKERS=2 (the bench's "floor, 2 processes" row, the speed-up
 * this machine allows beside Tessera's `--workers 2`): it prints its URL once both workers
 * listen, both serve tokens on that one port, and SIGTERM ends the primary and its workers.
 */
test('the ES256 floor runs as two processes on one port and stops with its primary', async () => {
  const script = join(import.meta.dirname, '../../bench/servers/floor-es256.ts');
  const floor = await startChild('fastify-es256-2w', process.execPath, [script], { env: { BENCH_WORKERS: '2' } });
  const workers = () => readdirSync('/proc').filter((p) => /^\d+$/.test(p)).filter((p) => {
    try {
      return readFileSync(`/proc/${p}/stat`, 'utf8').replace(/^.*\) /, '').split(' ')[1] === String(floor.pid);
    } catch {
      return false; // gone meanwhile
    }
  });
  try {
    expect(workers()).toHaveLength(2);
    // New connections are handed round-robin to the workers; each answers with a signed token.
    for (let i = 0; i < 4; i++) {
      const res = await fetch(`${floor.url}/connect/token`, { method: 'POST', headers: { connection: 'close' }, body: 'grant_type=client_credentials' });
      expect(res.status).toBe(200);
      const token = ((await res.json()) as { access_token: string }).access_token;
      expect(token.split('.')).toHaveLength(3);
    }
  } finally {
    await floor.stop();
  }
  await expect.poll(() => workers().length, { timeout: 5000 }).toBe(0);
});
