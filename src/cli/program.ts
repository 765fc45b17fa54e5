import { Command } from 'commander';
import { reportError } from './report-error.ts';

/**
 * Every top-level command, in the order help lists them, each loaded only when needed: a
 * command's module brings what it uses (`serve` the whole HTTP server, `login` openid-client),
 * and an operator's `tessera users list` should not wait for the others to load.
 */
const COMMANDS: ReadonlyArray<readonly [name: string, load: () => Promise<Command>]> = [
  ['serve', async () => (await import('./commands/serve.ts')).serveCommand()],
  ['migrate', async () => (await import('./commands/operations.ts')).migrateCommand()],
  ['users', async () => (await import('./commands/users.ts')).usersCommand()],
  ['roles', async () => (await import('./commands/roles.ts')).rolesCommand()],
  ['clients', async () => (await import('./commands/clients.ts')).clientsCommand()],
  ['keys', async () => (await import('./commands/keys.ts')).keysCommand()],
  ['apis', async () => (await import('./commands/apis.ts')).apisCommand()],
  ['providers', async () => (await import('./commands/providers.ts')).providersCommand()],
  ['settings', async () => (await import('./commands/settings.ts')).settingsCommand()],
  ['registration', async () => (await import('./commands/registration.ts')).registrationCommand()],
  ['branding', async () => (await import('./commands/branding.ts')).brandingCommand()],
  ['email', async () => (await import('./commands/email.ts')).emailCommand()],
  ['audit', async () => (await import('./commands/audit.ts')).auditCommand()],
  ['login', async () => (await import('./commands/login.ts')).loginCommand()],
  ['backup', async () => (await import('./commands/operations.ts')).backupCommand()],
  ['restore', async () => (await import('./commands/operations.ts')).restoreCommand()],
];

/**
 * The program with the commands `argv` needs: only the one it names, or every command when it
 * names none it knows (help, a typo that commander answers with "did you mean").
 */
export async function buildProgram(argv: readonly string[]): Promise<Command> {
  const program = new Command('tessera')
    .description('Tessera: OAuth 2.0 and OpenID Connect identity service with an API gateway')
    .showHelpAfterError()
    .exitOverride();
  const named = COMMANDS.find(([name]) => name === argv[2]);
  const commands = await Promise.all((named ? [named] : COMMANDS).map(([, load]) => load()));
  for (const command of commands) program.addCommand(command);
  for (const cmd of program.commands) {
    cmd.exitOverride();
    for (const sub of cmd.commands) {
      sub.exitOverride();
      for (const leaf of sub.commands) leaf.exitOverride();
    }
  }
  return program;
}

/**
 * Runs `tessera …`. A command that succeeds returns and leaves the process to end by itself
 * (`serve` keeps it alive); a failure exits at once with reportError's code, since a
 * half-opened server (a port in use, say) may still hold timers or sockets.
 */
export async function runCli(argv: readonly string[]): Promise<void> {
  try {
    const program = await buildProgram(argv);
    await program.parseAsync(argv as string[]);
  } catch (error) {
    process.exit(reportError(error));
  }
}
