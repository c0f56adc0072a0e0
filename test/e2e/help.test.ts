// Issue 12 item 17: `kitty-sync hook --help` printed `unknown hook "--help"`; and every command's
// --verbose help line said "print every artifact", even where no artifact is printed.
import test from 'ava';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
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

// A command's start lays no help out: yargs would, to cache it, and measuring it loads string-width
// (an Intl.Segmenter and an emoji regex at its top level, ~40 ms of every start). The preload counts
// Intl.Segmenter constructions in the CLI process; --help still lays the help out, so the count can move.
test('a command does not load string-width unless help is shown', async (t) => {
  const repo = await makeRepo();
  t.teardown(() => repo.cleanup());
  const dir = mkdtempSync(path.join(tmpdir(), 'ks-help-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const preload = path.join(dir, 'count-segmenters.cjs');
  writeFileSync(
    preload,
    'const Real = Intl.Segmenter; let n = 0; Intl.Segmenter = function (...a) { n++; return new Real(...a); };\n' + "process.on('exit', () => process.stderr.write(`segmenters: ${n}\\n`));\n",
  );
  const env = cleanEnv({ NODE_OPTIONS: `--require ${preload}` });
  const count = (stderr: string): number => Number(/segmenters: (\d+)/.exec(stderr)?.[1] ?? NaN);
  for (const args of [['status'], ['sync', '--all'], ['drain']]) {
    const r = await cli(repo.root, args, env);
    t.is(count(r.stderr), 0, `${args.join(' ')}: ${r.stderr}`);
  }
  const help = await cli(repo.root, ['sync', '--help'], env);
  t.is(help.code, 0);
  t.regex(help.stdout, /--dry-run/);
  t.true(count(help.stderr) > 0, help.stderr);
});
