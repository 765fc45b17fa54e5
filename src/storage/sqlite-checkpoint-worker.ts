/**
 * The WAL checkpoint thread (sqlite-checkpointer.ts starts it): a connection of its own to the
 * server's SQLite file that copies the WAL back into the database file, so the event loop's
 * connection does not have to. Any error other than SQLITE_BUSY (which PRAGMA wal_checkpoint
 * reports as `busy = 1`, not as an error) is thrown: the thread ends, and the main thread logs
 * it and goes back to automatic checkpoints on its own connection.
 */
import { performance } from 'node:perf_hooks';
import { DatabaseSync } from 'node:sqlite';
import { parentPort, workerData } from 'node:worker_threads';
import type { CheckpointCommand, CheckpointReport, CheckpointThreadConfig } from './sqlite-checkpointer.ts';

const port = parentPort;
if (!port) throw new Error('sqlite-checkpoint-worker.ts runs as the worker thread of SqliteCheckpointer');
const config = workerData as CheckpointThreadConfig;

const db = new DatabaseSync(config.path);
// For opening only (a WAL being recovered by another connection): a PASSIVE checkpoint never
// waits, it reports `busy` when another connection is checkpointing.
db.exec('PRAGMA busy_timeout = 5000');
// A first read opens the WAL on this connection (a checkpoint before any read finds none).
db.prepare('SELECT count(*) AS n FROM sqlite_schema').get();
const journal = (db.prepare('PRAGMA journal_mode').get() as { journal_mode: string }).journal_mode;
if (journal !== 'wal') throw new Error(`the database is not in WAL mode (journal_mode ${journal}); there is nothing to checkpoint`);

const passive = db.prepare('PRAGMA wal_checkpoint(PASSIVE)');
type Result = { busy: number; log: number; checkpointed: number };

let scheduled = false;
let stopped = false;
let lastRound = performance.now();

function checkpoint(kind: CheckpointReport['kind']): void {
  const start = performance.now();
  lastRound = start;
  const r = passive.get() as Result;
  const report: CheckpointReport = { kind, busy: r.busy !== 0, log: r.log, checkpointed: r.checkpointed, ms: performance.now() - start };
  port!.postMessage(report);
}

function round(): void {
  scheduled = false;
  if (!stopped) checkpoint('round');
}

const timer = setInterval(() => {
  if (!scheduled && performance.now() - lastRound >= config.idleMs) checkpoint('round');
}, config.idleMs);

port.on('message', (command: CheckpointCommand) => {
  if (stopped) return;
  if (command === 'stop') {
    stopped = true;
    clearInterval(timer);
    port!.close();
    db.close();
    return;
  }
  // The main thread holds its writes until this answers: at once, nothing else first.
  if (command === 'tail') return checkpoint('tail');
  // Nudges that queued up while a checkpoint ran make one round.
  if (!scheduled) {
    scheduled = true;
    setImmediate(round);
  }
});
