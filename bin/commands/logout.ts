// `kitty-sync logout [--server URL]`: remove the token stored by `kitty-sync login`.
import { defineCommand } from '../command.js';
import { printJson } from '../output.js';
import { EXIT } from '../../lib/errors.js';

export default defineCommand({
  command: 'logout',
  describe: "remove the server's token from Git's credential helper",
  options: (y) => y.option('server', { type: 'string', describe: 'the server (default: KITTY_SYNC_SERVER_URL or sync.server_url)' }),
  run: async (args) => {
    const { chooseServer, logout } = await import('../../lib/setup/login.js');
    const choice = await chooseServer({ server: args.server, cwd: process.cwd() });
    const r = await logout(choice);
    if (args.json) printJson({ server: r.server, removed: r.removed, problem: r.problem, env_token_set: choice.envTokenSet });
    else {
      const say = (line: string) => process.stderr.write(`kitty-sync: ${line}\n`);
      if (r.removed) say(`token for ${r.server} removed from Git's credential helper`);
      if (r.problem) say(r.problem);
      if (choice.envTokenSet) say('note: KITTY_SYNC_TOKEN is still set in this environment');
    }
    process.exitCode = r.removed ? EXIT.ok : EXIT.unexpected;
  },
});
