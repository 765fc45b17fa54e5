import type { SqliteStatements } from './sqlite-statements.ts';

/**
 * SQLite: whether another connection committed to the database since the last call.
 * `PRAGMA data_version` on this connection changes exactly when another connection (the CLI,
 * another `serve` process) commits; this connection's own commits and the checkpoint
 * thread's checkpoints leave it alone. One prepared read of a few µs: the change feed asks it
 * every few milliseconds and polls only when it says yes (change-feed.ts).
 */
export function commitsByOthers(statements: SqliteStatements): () => boolean {
  const dataVersion = statements.statement('PRAGMA data_version');
  const read = () => (dataVersion.get() as { data_version: number }).data_version;
  let last = read();
  return () => {
    const now = read();
    if (now === last) return false;
    last = now;
    return true;
  };
}
