/**
 * A WAL checkpoint thread that leaves at its first nudge with exit code 7, without an error
 * (test/storage/sqlite-checkpointer.test.ts): the main thread must notice the exit alone.
 */
import { parentPort } from 'node:worker_threads';

parentPort?.on('message', (command: string) => {
  if (command === 'checkpoint') process.exit(7);
});
