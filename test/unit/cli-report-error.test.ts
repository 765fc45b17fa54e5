import { describe, expect, it } from 'vitest';
import { reportError } from '../../src/cli/report-error.ts';
import { EXIT } from '../../src/cli/exit-codes.ts';
import { ConfigError } from '../../src/config/config.ts';
import { PasswordHashingUnavailableError } from '../../src/identity/password-hasher.ts';

/** What reportError writes for `error`, and the exit code it returns. */
function reported(error: unknown): { code: number; text: string } {
  let text = '';
  const code = reportError(error, (chunk) => {
    text += chunk;
  });
  return { code, text };
}

describe('the CLI reports a failure as one line and an exit code', () => {
  it('a password-hashing thread that died: one line, exit 1, no stack', () => {
    const died = new PasswordHashingUnavailableError('the password hashing thread stopped before it answered', { cause: new Error('out of memory') });
    const { code, text } = reported(died);
    expect(code).toBe(EXIT.refused);
    expect(text).toBe('tessera: the password hashing thread stopped before it answered; nothing was changed, run the command again\n');
    expect(text).not.toMatch(/unexpected error|\n\s+at /);
  });

  it('an invalid setting: exit 2, its message on one line', () => {
    const { code, text } = reported(new ConfigError('TESSERA_PORT must be a port number\n(got "x")'));
    expect(code).toBe(EXIT.usage);
    expect(text).toBe('tessera: TESSERA_PORT must be a port number (got "x")\n');
  });

  it('a bug keeps its stack, so it can be reported', () => {
    const { code, text } = reported(new TypeError('boom'));
    expect(code).toBe(EXIT.refused);
    expect(text).toMatch(/^tessera: unexpected error: TypeError: boom\n\s+at /);
  });
});
