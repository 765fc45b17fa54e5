import { Command } from 'commander';
import { clientsCommand } from './commands/clients.ts';
import { apisCommand } from './commands/apis.ts';
import { auditCommand } from './commands/audit.ts';
import { emailCommand } from './commands/email.ts';
import { keysCommand } from './commands/keys.ts';
import { loginCommand } from './commands/login.ts';
import { backupCommand, migrateCommand, restoreCommand } from './commands/operations.ts';
import { providersCommand } from './commands/providers.ts';
import { rolesCommand } from './commands/roles.ts';
import { serveCommand } from './commands/serve.ts';
import { settingsCommand } from './commands/settings.ts';
import { registrationCommand } from './commands/registration.ts';
import { brandingCommand } from './commands/branding.ts';
import { usersCommand } from './commands/users.ts';
import { reportError } from './report-error.ts';

const program = new Command('tessera')
  .description('Tessera: OAuth 2.0 and OpenID Connect identity service with an API gateway')
  .showHelpAfterError()
  .exitOverride();

program.addCommand(serveCommand());
program.addCommand(migrateCommand());
program.addCommand(usersCommand());
program.addCommand(rolesCommand());
program.addCommand(clientsCommand());
program.addCommand(keysCommand());
program.addCommand(apisCommand());
program.addCommand(providersCommand());
program.addCommand(settingsCommand());
program.addCommand(registrationCommand());
program.addCommand(brandingCommand());
program.addCommand(emailCommand());
program.addCommand(auditCommand());
program.addCommand(loginCommand());
program.addCommand(backupCommand());
program.addCommand(restoreCommand());

for (const cmd of program.commands) {
  cmd.exitOverride();
  for (const sub of cmd.commands) {
    sub.exitOverride();
    for (const leaf of sub.commands) leaf.exitOverride();
  }
}

try {
  await program.parseAsync(process.argv);
} catch (error) {
  // Exit now: a half-opened server (a port in use, say) may still hold timers or sockets.
  process.exit(reportError(error));
}
