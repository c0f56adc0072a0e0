// Issue 12 item 17: `kitty-sync hook --help` printed `unknown hook "--help"`; and every command's
// --verbose help line said "print every artifact", even where no artifact is printed.
import test from 'ava';
import { cleanEnv, cli } from '../support/proc.js';
import { makeRepo } from '../support/git.js';

test('kitty-sync hook --help (and -h) explains the hooks, exit 0', async (t) => {
  const repo = await makeRepo();
  t.teardown(() => repo.cleanup());
  for (const args of [['hook', '--help'], ['hook', '-h'], ['hook', 'post-commit', '--help'], ['hook']]) {
    const r = await cli(repo.root, args, cleanEnv());
    t.is(r.code, 0, args.join(' '));
    t.notRegex(r.stderr, /unknown hook/, args.join(' '));
    t.regex(r.stdout, /kitty-sync hook post-commit/, args.join(' '));
    t.regex(r.stdout, /kitty-sync hook pre-push <remote> <url>/);
    t.regex(r.stdout, /--verbose/);
    t.regex(r.stdout, /kitty-sync install/, 'says who calls it');
  }
  const unknown = await cli(repo.root, ['hook', 'post-merge'], cleanEnv());
  t.is(unknown.code, 0, 'a hook never fails');
  t.regex(unknown.stderr, /unknown hook "post-merge".*kitty-sync hook --help/);
});

test('each command’s --help describes what --verbose does there', async (t) => {
  const repo = await makeRepo();
  t.teardown(() => repo.cleanup());
  const verboseLine = async (cmd: string): Promise<string> => {
    const r = await cli(repo.root, [cmd, '--help'], cleanEnv());
    t.is(r.code, 0, `${cmd} --help: ${r.stderr}`);
    return r.stdout.split('\n').find((l) => l.includes('--verbose')) ?? '';
  };
  for (const cmd of ['sync', 'drain']) t.regex(await verboseLine(cmd), /every artifact/, cmd);
  for (const cmd of ['install', 'uninstall', 'status', 'failed', 'retry', 'log', 'serve']) {
    const line = await verboseLine(cmd);
    t.notRegex(line, /every artifact/, `${cmd}: ${line}`);
    t.regex(line, /stack trace/, `${cmd}: ${line}`);
  }
});
