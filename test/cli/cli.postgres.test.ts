import { cliContract } from './cli-contract.ts';

/** The CLI contract on PostgreSQL (test/cli/cli-contract.ts). */
cliContract('postgres');
