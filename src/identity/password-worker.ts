/**
 * One password hashing thread (password-hasher.ts starts it): lowers its own scheduling
 * priority, then hashes and verifies with argon2's synchronous calls, so the work runs on this
 * low-priority thread and not on libuv's threadpool at normal priority.
 */
import { hashSync, verifySync } from '@node-rs/argon2';
import { readlinkSync } from 'node:fs';
import { basename } from 'node:path';
import { parentPort, workerData } from 'node:worker_threads';
import { lowerThreadPriority } from '../lib/threadpool-priority.ts';
import { ARGON2_OPTIONS } from './passwords.ts';
import type { HashRequest, HashReply, ThreadReady } from './password-hasher.ts';

const port = parentPort;
if (!port) throw new Error('password-worker.ts runs as a worker thread of PasswordHasher');
const { niceSteps } = workerData as { niceSteps: number };

/**
 * Linux keeps a nice value per thread: setpriority() on this thread's id (from
 * /proc/thread-self, `<pid>/task/<tid>`) lowers this thread alone, so the kernel prefers the
 * event loop (every token request) whenever both want a core, while hashing still takes any
 * core left idle. Lowering needs no privilege; raising it back would, and nothing here does.
 */
function lowerPriority(): ThreadReady {
  if (niceSteps === 0) return { kind: 'ready', tid: null, nice: null };
  let tid: number | null = null;
  try {
    tid = Number(basename(readlinkSync('/proc/thread-self')));
    if (!Number.isSafeInteger(tid) || tid <= 0) throw new Error(`/proc/thread-self names no thread id`);
    return { kind: 'ready', tid, nice: lowerThreadPriority(tid, niceSteps) };
  } catch (error) {
    const reason = error instanceof Error ? error.message : String(error);
    return { kind: 'ready', tid, nice: null, warning: `password hashing runs at normal priority (its thread's priority could not be lowered: ${reason}); sign-ins at full rate may slow token requests` };
  }
}

port.postMessage(lowerPriority());

port.on('message', (request: HashRequest) => {
  let reply: HashReply;
  try {
    if (request.op === 'hash') reply = { kind: 'done', id: request.id, value: hashSync(request.password, ARGON2_OPTIONS) };
    else {
      // A stored value that is no argon2 hash (or a corrupt one) is a failed check, as a wrong password is.
      let ok = false;
      try {
        ok = verifySync(request.stored, request.password);
      } catch {}
      reply = { kind: 'done', id: request.id, value: ok };
    }
  } catch (error) {
    reply = { kind: 'failed', id: request.id, message: error instanceof Error ? error.message : String(error) };
  }
  port.postMessage(reply);
});
