import { enableCompileCache } from 'node:module';

// Node's compile cache keeps the compiled (and type-stripped) modules on disk, checked against
// each file's contents: every later `tessera` command starts ~30 % faster. It never fails a
// command (Node answers a status instead), it lives in the system's temporary directory
// unless NODE_COMPILE_CACHE names another, and NODE_DISABLE_COMPILE_CACHE=1 turns it off.
enableCompileCache();

// Imported only now, so that the cache is on before the command's modules are compiled.
const { runCli } = await import('./program.ts');
await runCli(process.argv);
