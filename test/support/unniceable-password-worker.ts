/**
 * The password thread (src/identity/password-worker.ts) on a system that refuses to change a
 * thread's priority, for test/unit/password-hasher.test.ts: setPriority throws as it would
 * without permission, then the production worker runs unchanged.
 */
import { syncBuiltinESMExports } from 'node:module';
import os from 'node:os';

os.setPriority = () => {
  throw Object.assign(new Error('setPriority: EACCES: permission denied'), { code: 'EACCES' });
};
// The worker imports setPriority by name; this makes the ESM binding follow the change.
syncBuiltinESMExports();
await import('../../src/identity/password-worker.ts');
