// `kitty-sync login [--server URL]`: store the server's token with Git's credential helpers, so hooks
// started by GUI clients and IDEs (which do not load KITTY_SYNC_TOKEN) find it too.
import { readFileSync } from 'node:fs';
import { defineCommand } from '../command.js';
import { printJson } from '../output.js';
import { EXIT, UserError } from '../../lib/errors.js';

export default defineCommand({
  command: 'login',
  describe: "store the server's token with Git's credential helper (read from a prompt, or from stdin)",
  options: (y) =>
    y
      .option('server', { type: 'string', describe: 'the server (default: KITTY_SYNC_SERVER_URL or sync.server_url)' })
      .option('check', { type: 'boolean', default: true, describe: 'check the token with the server first (--no-check skips)' }),
  run: async (args) => {
    const { chooseServer, login } = await import('../../lib/setup/login.js');
    const choice = await chooseServer({ server: args.server, cwd: process.cwd() });
    const token = await readToken(choice.origin);
    const r = await login(choice, token, { check: args.check });
    if (args.json) printJson({ server: r.server, stored: r.stored, check: r.check, check_detail: r.checkDetail, problem: r.problem, env_token_set: choice.envTokenSet });
    else {
      const say = (line: string) => process.stderr.write(`kitty-sync: ${line}\n`);
      if (r.check === 'accepted') say(`${r.server} accepted the token`);
      if (r.check === 'unverified') say(`warning: could not check the token with ${r.server} (${r.checkDetail}); storing it anyway`);
      if (r.stored) say(`token stored for ${r.server} with Git's credential helper; hooks use it when KITTY_SYNC_TOKEN is not set`);
      if (r.problem) say(r.problem);
      if (r.stored && choice.envTokenSet) say('note: KITTY_SYNC_TOKEN is set in this environment and still wins over the stored token');
    }
    process.exitCode = r.stored ? EXIT.ok : EXIT.unexpected;
  },
});

/** From a prompt that does not echo on a terminal; otherwise the first line of stdin. */
async function readToken(origin: string): Promise<string> {
  if (process.stdin.isTTY) {
    const { read } = await import('read');
    try {
      return await read({ prompt: `Token for ${origin}: `, silent: true, replace: '', output: process.stderr });
    } catch {
      throw new UserError('no token entered');
    }
  }
  let text: string;
  try {
    text = readFileSync(0, 'utf8');
  } catch {
    text = '';
  }
  const line = text.split(/\r?\n/).find((l) => l.trim() !== '');
  if (line === undefined) throw new UserError('no token on stdin (pipe it in, or run `kitty-sync login` on a terminal to be prompted)');
  return line.trim();
}
