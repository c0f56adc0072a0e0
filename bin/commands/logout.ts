// `kitty-sync logout [--server URL]`: remove the token stored by `kitty-sync login`.
import type { CommandModule } from 'yargs';
import { chooseServer, logout, LoginUsageError } from '../../lib/setup/login.js';
import { EXIT, fail, printJson, UsageError } from '../output.js';

interface Args {
  server?: string;
  json: boolean;
}

const command: CommandModule<object, Args> = {
  command: 'logout',
  describe: "remove the server's token from Git's credential helper",
  builder: (y) => y.option('server', { type: 'string', describe: 'the server (default: KITTY_SYNC_SERVER_URL or sync.server_url)' }) as never,
  handler: async (args) => {
    try {
      const choice = await chooseServer({ server: args.server, cwd: process.cwd() }).catch((err: unknown) => {
        throw err instanceof LoginUsageError ? new UsageError(err.message) : err;
      });
      const r = await logout(choice);
      if (args.json) printJson({ server: r.server, removed: r.removed, problem: r.problem, env_token_set: choice.envTokenSet });
      else {
        const say = (line: string) => process.stderr.write(`kitty-sync: ${line}\n`);
        if (r.removed) say(`token for ${r.server} removed from Git's credential helper`);
        if (r.problem) say(r.problem);
        if (choice.envTokenSet) say('note: KITTY_SYNC_TOKEN is still set in this environment');
      }
      process.exitCode = r.removed ? EXIT.ok : EXIT.unexpected;
    } catch (err) {
      fail(err);
    }
  },
};
export default command;
