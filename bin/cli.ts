// yargs wiring: each command lives in bin/commands/<name>.ts and only parses and prints.
import yargs from 'yargs';
import { EXIT } from '../lib/errors.js';
import { quietOnClosedPipe, reportFailure } from './errors.js';
import { keepNegativeValues, withoutHelpCache } from './usage.js';
import { redactOutput } from '../lib/redact.js';
import type { Command } from './command.js';
import syncCommand from './commands/sync.js';
import drainCommand from './commands/drain.js';
import statusCommand from './commands/status.js';
import failedCommand from './commands/failed.js';
import retryCommand from './commands/retry.js';
import logCommand from './commands/log.js';
import serveCommand from './commands/serve.js';
import installCommand from './commands/install.js';
import uninstallCommand from './commands/uninstall.js';
import loginCommand from './commands/login.js';
import logoutCommand from './commands/logout.js';
import doctorCommand from './commands/doctor.js';

const commands: Command[] = [installCommand, uninstallCommand, syncCommand, drainCommand, statusCommand, failedCommand, retryCommand, logCommand, serveCommand, loginCommand, logoutCommand, doctorCommand];

const COMMAND_NAMES = ['hook', ...commands.map((c) => c.name)];

export async function runCli(args: string[]): Promise<void> {
  redactOutput();
  quietOnClosedPipe();
  let parser = yargs(keepNegativeValues(args))
    .scriptName('kitty-sync')
    .usage('$0 <command> [options]\n\nDelivers committed kitty-specs/ documents to the dossier dashboard.')
    .option('json', { type: 'boolean', default: false, describe: 'machine-readable output' })
    .option('verbose', { type: 'boolean', default: false, describe: 'on an error, also print its stack trace' })
    .command('hook <name>', 'run as a Git hook (post-commit, pre-push); used by the installed hooks')
    .demandCommand(1, 'Name a command; see --help.')
    .strict()
    .recommendCommands()
    .help()
    .alias('help', 'h')
    .version(false)
    .fail((msg, err) => {
      if (err) throw err;
      // The error and where to read more; the whole help would bury the one line that matters.
      const named = args.find((a) => !a.startsWith('-'));
      const cmd = named !== undefined && COMMAND_NAMES.includes(named) ? `${named} ` : '';
      process.stderr.write(`kitty-sync: ${String(msg).split('\n')[0]}\nSee \`kitty-sync ${cmd}--help\`.\n`);
      process.exit(EXIT.usage);
    })
    .wrap(args.includes('--help') || args.includes('-h') ? Math.min(100, process.stdout.columns || 100) : null);
  for (const c of commands) parser = c.register(parser);
  withoutHelpCache(parser);
  try {
    await parser.parseAsync();
  } catch (err) {
    reportFailure(err, args.includes('--verbose'));
  }
}
