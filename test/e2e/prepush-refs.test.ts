// Issue 12 item 12: in a push of several refs, one ref whose tip has no project uuid (a branch from
// before `kitty-sync install`) stopped the whole sync: the other refs' changes were not delivered,
// and nothing said so. That ref is skipped with its own line; the others are delivered.
import test from 'ava';
import { renameSync } from 'node:fs';
import path from 'node:path';
import { cleanEnv, cli } from '../support/proc.js';
import { git, gitOk, makeRepo, writeFiles } from '../support/git.js';
import { startTestReceiver } from '../support/receiver.js';

test('pre-push of two refs, one without a project uuid: that ref gets its own line, the other is delivered', async (t) => {
  const receiver = await startTestReceiver();
  const repo = await makeRepo();
  t.teardown(async () => {
    await receiver.close();
    await repo.cleanup();
  });
  const root = repo.root;
  const off = cleanEnv({ KITTY_SYNC: '0' });
  // The uuid file exists in the work tree but is committed only on main, later.
  const config = path.join(root, '.kittify', 'config.yaml');
  renameSync(config, `${config}.later`);
  await writeFiles(root, { 'README.md': 'x\n' });
  await gitOk(root, ['add', '-A'], off);
  await gitOk(root, ['commit', '-q', '-m', 'base'], off);
  await gitOk(root, ['checkout', '-q', '-b', 'old'], off);
  await writeFiles(root, { 'kitty-specs/002-old/spec.md': '# old branch, no uuid\n' });
  await gitOk(root, ['add', '-A'], off);
  await gitOk(root, ['commit', '-q', '-m', 'old work'], off);
  await gitOk(root, ['checkout', '-q', 'main'], off);
  renameSync(`${config}.later`, config);
  await writeFiles(root, { 'kitty-specs/001-new/spec.md': '# main, with uuid\n' });
  await gitOk(root, ['add', '-A'], off);
  await gitOk(root, ['commit', '-q', '-m', 'main work'], off);
  const bare = path.join(path.dirname(root), 'remote.git');
  await gitOk(path.dirname(root), ['init', '-q', '--bare', bare], off);
  await gitOk(root, ['remote', 'add', 'origin', bare], off);
  t.is((await cli(root, ['install', '--repo', root], off)).code, 0);

  const env = cleanEnv({ KITTY_SYNC_SERVER_URL: receiver.url, KITTY_SYNC_BUDGET_MS: '20000' });
  const push = await git(root, ['push', '-q', 'origin', 'main', 'old'], env);
  t.is(push.code, 0, push.stderr);
  t.log(push.stderr);
  t.regex(push.stderr, /refs\/heads\/old: no project uuid.*skipped/);
  t.regex(push.stderr, /001-new: 1 uploaded/);
  t.deepEqual(
    receiver.artifacts().map((a) => `${a.namespace.feature_slug}/${a.artifact_path}`),
    ['001-new/spec.md'],
  );
  t.is(push.stderr.split('\n').filter((l) => /no project uuid/.test(l)).length, 1, 'one line for that ref');
});
