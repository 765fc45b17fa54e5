/**
 * The password thread (src/identity/password-worker.ts) with two ways to die, for
 * test/unit/password-hasher.test.ts: "exit!" ends the thread (an 'exit' alone); "throw!" is
 * hashed, but an exception instead of the answer goes uncaught (an 'error', then an 'exit').
 * Every other password is hashed and answered as in production.
 */
import { parentPort, type TransferListItem } from 'node:worker_threads';

const port = parentPort!;
const doomed = new Set<number>();
port.on('message', (message: { id: number; password?: string }) => {
  if (message.password === 'exit!') process.exit(7);
  if (message.password === 'throw!') doomed.add(message.id);
});
const post = port.postMessage.bind(port);
port.postMessage = (reply: { id?: number }, transfer?: readonly TransferListItem[]) => {
  if (reply.id !== undefined && doomed.has(reply.id)) throw new Error('boom');
  post(reply, transfer);
};
await import('../../src/identity/password-worker.ts');
