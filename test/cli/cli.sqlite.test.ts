import { cliContract } from './cli-contract.ts';

/** The CLI contract on SQLite (test/cli/cli-contract.ts). */
cliContract('sqlite');
