import type { Tessera } from '../app/tessera.ts';
import { probeDatabase } from '../storage/database.ts';

export interface HealthReport {
  status: 'ok' | 'fail';
  checks: Record<string, { status: 'ok' | 'fail'; detail?: string }>;
}

/** Largest tolerated difference between this node's clock and the database server's. */
const MAX_CLOCK_SKEW_SECONDS = 5;
/**
 * A database that does not answer at all (a network partition, not a refused connection) must
 * still give a prompt "fail", before the load balancer's own probe gives up.
 */
const DATABASE_TIMEOUT_MS = 2000;

/** Database reachable, signing keys loaded, clock sane: what a load balancer needs to know. */
export async function checkHealth(tessera: Tessera): Promise<HealthReport> {
  const checks: HealthReport['checks'] = {};
  try {
    const { serverTime } = await withTimeout(probeDatabase(tessera.database));
    checks.database = { status: 'ok' };
    if (serverTime !== undefined) {
      const skew = Math.abs(serverTime - tessera.clock.now() / 1000);
      checks.clock =
        skew <= MAX_CLOCK_SKEW_SECONDS
          ? { status: 'ok' }
          : { status: 'fail', detail: `clock differs from the database server's by ${skew.toFixed(1)} s` };
    }
  } catch {
    checks.database = { status: 'fail', detail: 'database unreachable' };
  }
  if (!checks.clock) {
    // Without a database clock to compare with, at least refuse an obviously unset clock.
    const year = new Date(tessera.clock.now()).getUTCFullYear();
    checks.clock = year >= 2024 ? { status: 'ok' } : { status: 'fail', detail: `system clock reads year ${year}` };
  }
  const keysOk = tessera.keyRing.hasActiveKey('ES256') && tessera.keyRing.hasActiveKey('RS256');
  checks.signing_keys = keysOk ? { status: 'ok' } : { status: 'fail', detail: 'no active signing key' };
  const status = Object.values(checks).every((c) => c.status === 'ok') ? 'ok' : 'fail';
  return { status, checks };
}

async function withTimeout<T>(query: Promise<T>): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error('database did not answer in time')), DATABASE_TIMEOUT_MS);
  });
  // The query may still settle after the timeout; its outcome is no longer anyone's concern.
  query.catch(() => {});
  try {
    return await Promise.race([query, timeout]);
  } finally {
    clearTimeout(timer);
  }
}
