import test from 'ava';
import path from 'node:path';
import { openRepo } from '../../lib/collect/git.js';
import { beforeDeadline, parsePrePushInput, runHook } from '../../lib/run/hook.js';
import { cleanEnv } from '../support/proc.js';
import { commitAll, makeRepo, writeFiles } from '../support/git.js';

const A = 'a'.repeat(40);
const B = 'b'.repeat(40);
const Z = '0'.repeat(40);

test("pre-push input: one update per well-formed line of Git's ref lines", (t) => {
  const input = `refs/heads/main ${A} refs/heads/main ${B}\nrefs/heads/new ${A} refs/heads/new ${Z}\n(delete) ${Z} refs/heads/old ${B}\n\ngarbage line\n`;
  t.deepEqual(parsePrePushInput(input), [
    { localRef: 'refs/heads/main', localSha: A, remoteRef: 'refs/heads/main', remoteSha: B },
    { localRef: 'refs/heads/new', localSha: A, remoteRef: 'refs/heads/new', remoteSha: Z },
    { localRef: '(delete)', localSha: Z, remoteRef: 'refs/heads/old', remoteSha: B },
  ]);
});

test('pre-push input: empty (consumed by another hook command) gives no updates', (t) => {
  t.deepEqual(parsePrePushInput(''), []);
});

test('post-commit: an early git answer about another commit than HEAD is not used', async (t) => {
  const r = await makeRepo();
  t.teardown(r.cleanup);
  await writeFiles(r, { 'kitty-specs/001-a/spec.md': '# spec\n', 'kitty-specs/001-a/plan.md': '# plan\n' });
  const first = await commitAll(r, 'first');
  await writeFiles(r, { 'kitty-specs/001-a/plan.md': '# plan, again\n' });
  await commitAll(r, 'second');
  const lines: string[] = [];
  await runHook({
    name: 'post-commit',
    args: [],
    stdin: null,
    cwd: r.root,
    // No server: what the commit brings is queued, one line per file with --verbose.
    env: cleanEnv({ KITTY_SYNC_HOME: path.join(r.root, '..', 'state') }),
    verbose: true,
    print: (line) => lines.push(line),
    // As if the early diff-tree had seen the previous commit (HEAD moved between the two git calls).
    early: { repo: openRepo(r.root), head: Promise.resolve({ commit: first, paths: ['kitty-specs/001-a/spec.md'] }) },
  });
  const text = lines.join('\n');
  t.regex(text, /001-a: 0 uploaded, 0 already_exists, 1 queued/);
  t.regex(text, /plan\.md/);
  t.notRegex(text, /spec\.md/);
});

test('beforeDeadline: work still running at the deadline is late, and so is work that ends after it while keeping the event loop busy', async (t) => {
  const busyFor = (ms: number): void => {
    const until = Date.now() + ms;
    while (Date.now() < until);
  };
  // No fixed durations to race: work already done, a deadline a minute away; work that never ends.
  t.is(await beforeDeadline(Promise.resolve(), Date.now() + 60_000), 'done');
  t.is(await beforeDeadline(new Promise(() => undefined), Date.now() + 20), 'late');
  // Its last step blocks the loop across the deadline: it settles before the timer could fire.
  const deadline = Date.now() + 20;
  const blocking = Promise.resolve().then(() => busyFor(deadline - Date.now() + 30));
  t.is(await beforeDeadline(blocking, deadline), 'late');
});
