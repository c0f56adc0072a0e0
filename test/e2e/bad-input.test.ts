// Bad-input sweep (issue 6 item 2): every case goes through the real hook (`git commit` in a
// repository set up by `kitty-sync install`). The commit always succeeds, the message names the
// file and the reason, and nothing is lost for the other files and features.
import test from 'ava';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { cleanEnv, cli, type Proc, run } from '../support/proc.js';
import { git, gitOk, makeRepo, writeFiles } from '../support/git.js';
import { startTestReceiver, type TestReceiver } from '../support/receiver.js';

const sha256 = (b: Buffer | string): string => createHash('sha256').update(b).digest('hex');

interface Setup {
  root: string;
  stateDir: string;
  receiver: TestReceiver;
  env: NodeJS.ProcessEnv;
  /** Stages everything and commits through the installed hooks. */
  commit(message: string, env?: NodeJS.ProcessEnv): Promise<Proc>;
  /** (feature, path) -> latest hash on the receiver. */
  delivered(): Map<string, string>;
}

async function setup(t: { teardown(fn: () => unknown): void }): Promise<Setup> {
  const repo = await makeRepo();
  const receiver = await startTestReceiver();
  t.teardown(async () => {
    await receiver.close();
    await repo.cleanup();
  });
  const root = repo.root;
  const env = cleanEnv({ KITTY_SYNC_SERVER_URL: receiver.url, KITTY_SYNC_BUDGET_MS: '30000' });
  writeFileSync(path.join(root, 'README.md'), 'base\n');
  await gitOk(root, ['add', '-A'], env);
  await gitOk(root, ['commit', '-q', '-m', 'base'], env);
  const install = await cli(root, ['install', '--repo', root], env);
  if (install.code !== 0) throw new Error(`install failed: ${install.stderr}`);
  const commit = async (message: string, e = env): Promise<Proc> => {
    await gitOk(root, ['add', '-A'], e);
    return git(root, ['commit', '-q', '-m', message], e);
  };
  const delivered = (): Map<string, string> => new Map(receiver.artifacts().map((a) => [`${a.namespace.feature_slug}/${a.artifact_path}`, a.latest_hash]));
  return { root, stateDir: path.join(root, '.git', 'kitty-sync'), receiver, env, commit, delivered };
}

const GOOD = '# Spec\n\nfine\n';

test('bad files in one commit: each named with its reason, the commit succeeds, good files and features delivered', async (t) => {
  const s = await setup(t);
  const f = 'kitty-specs/001-bad-files';
  const exact = Buffer.alloc(524_288, 'a');
  const over = Buffer.alloc(524_289, 'b');
  await writeFiles(s.root, {
    [`${f}/spec.md`]: GOOD,
    [`${f}/plan.md`]: Buffer.from([0x23, 0x20, 0x00, 0x01, 0x02, 0x0a]), // NUL: binary with a text extension
    [`${f}/research/png-in-disguise.md`]: Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 0x00, 0x00]),
    [`${f}/tasks.md`]: Buffer.from([0x63, 0x61, 0x66, 0xe9, 0x0a]), // latin-1 "café": not UTF-8
    [`${f}/research/exact.md`]: exact,
    [`${f}/research/over.md`]: over,
    [`${f}/research/ünïcödé 文档.md`]: '# unicode name\n', // cannot form an artifact key
    [`${f}/research/notes (copy).md`]: '# parentheses\n', // cannot form an artifact key
    [`${f}/checklists/with space.md`]: '- [ ] space in the name\n',
    'kitty-specs/Bad_Feature/spec.md': GOOD,
    'kitty-specs/002-good/spec.md': '# other feature\n',
  });
  // A symlink pointing outside the repository, and a submodule (gitlink) inside a feature.
  symlinkSync('/etc/passwd', path.join(s.root, f, 'research', 'escape.md'));
  const sub = path.join(path.dirname(s.root), 'sub');
  mkdirSync(sub);
  await gitOk(sub, ['init', '-q'], s.env);
  await gitOk(sub, ['commit', '-q', '--allow-empty', '-m', 'sub'], s.env);
  const subSha = (await gitOk(sub, ['rev-parse', 'HEAD'], s.env)).trim();
  // Staged by hand after `add -A` (there is no checkout of it in the work tree).
  await gitOk(s.root, ['add', '-A'], s.env);
  await gitOk(s.root, ['update-index', '--add', '--cacheinfo', `160000,${subSha},${f}/contracts/vendored.yaml`], s.env);

  const r = await git(s.root, ['commit', '-q', '-m', 'bad files'], s.env);
  t.is(r.code, 0, r.stderr);
  t.log(r.stderr);
  const expectSkip = (p: string, reason: string): void => {
    t.regex(r.stderr, new RegExp(`skipped ${escape(p)} \\(${reason}`), `${p}: ${reason}`);
  };
  expectSkip('001-bad-files/plan.md', 'binary');
  // Not UTF-8 at all: 047's text check comes before kitty-sync's NUL check.
  expectSkip('001-bad-files/research/png-in-disguise.md', 'not_valid_utf8');
  // 047 drops a whole feature for such a name; kitty-sync skips just the file.
  expectSkip('001-bad-files/research/ünïcödé 文档.md', 'invalid_artifact_key');
  expectSkip('001-bad-files/research/notes (copy).md', 'invalid_artifact_key');
  expectSkip('001-bad-files/tasks.md', 'not_valid_utf8');
  expectSkip('001-bad-files/research/over.md', 'oversized');
  expectSkip('001-bad-files/research/escape.md', 'not_regular_file');
  expectSkip('001-bad-files/contracts/vendored.yaml', 'not_regular_file');

  const got = s.delivered();
  t.is(got.get('001-bad-files/spec.md'), sha256(GOOD));
  t.is(got.get('001-bad-files/research/exact.md'), sha256(exact), 'exactly 524,288 bytes is uploaded');
  t.is(got.get('001-bad-files/checklists/with space.md'), sha256('- [ ] space in the name\n'));
  t.is(got.get('002-good/spec.md'), sha256('# other feature\n'));
  for (const p of ['plan.md', 'research/png-in-disguise.md', 'tasks.md', 'research/over.md', 'research/escape.md', 'contracts/vendored.yaml', 'research/ünïcödé 文档.md', 'research/notes (copy).md']) {
    t.false(got.has(`001-bad-files/${p}`), `${p} must not be uploaded`);
  }
  // Any folder is a feature, as in 047.
  t.is(got.get('Bad_Feature/spec.md'), sha256(GOOD));
  t.regex(r.stderr, /001-bad-files: 3 uploaded, 0 already_exists, 0 queued, 8 skipped, 0 failed/);
});

test('malformed meta.json: that feature is skipped with invalid_metadata naming the file; others delivered', async (t) => {
  const s = await setup(t);
  await writeFiles(s.root, {
    'kitty-specs/001-broken-meta/meta.json': '{"target_branch": "main",,}',
    'kitty-specs/001-broken-meta/spec.md': GOOD,
    'kitty-specs/002-fine/meta.json': '{"target_branch": "feature/x"}',
    'kitty-specs/002-fine/spec.md': '# fine\n',
  });
  const r = await s.commit('broken meta');
  t.is(r.code, 0, r.stderr);
  t.regex(r.stderr, /skipped 001-broken-meta\/ \(invalid_metadata: kitty-specs\/001-broken-meta\/meta\.json at [0-9a-f]+: invalid JSON/);
  const got = s.delivered();
  t.false(got.has('001-broken-meta/spec.md'));
  t.is(got.get('002-fine/spec.md'), sha256('# fine\n'));
  t.is(s.receiver.artifacts().find((a) => a.artifact_path === 'spec.md' && a.namespace.feature_slug === '002-fine')?.namespace.target_branch, 'feature/x');
});

test('malformed .kittify/config.yaml: a message naming the file, the commit succeeds, and after fixing it the work is delivered', async (t) => {
  const s = await setup(t);
  const configFile = path.join(s.root, '.kittify', 'config.yaml');
  const good = readFileSync(configFile, 'utf8');
  writeFileSync(configFile, 'project:\n  uuid: [unterminated\n  name: x\n');
  await writeFiles(s.root, { 'kitty-specs/001-feature/spec.md': GOOD });
  const r = await s.commit('broken config');
  t.is(r.code, 0, r.stderr);
  t.log(r.stderr);
  t.regex(r.stderr, /\.kittify\/config\.yaml/);
  t.regex(r.stderr, /YAML|yaml/);
  t.is(s.receiver.artifacts().length, 0);

  // The fix: the user repairs the file and commits; the message told them how to recover the
  // work of the commits the hook could not read.
  writeFileSync(configFile, good);
  await writeFiles(s.root, { 'kitty-specs/001-feature/plan.md': '# plan\n' });
  const fixed = await s.commit('fix config');
  t.is(fixed.code, 0, fixed.stderr);
  const hint = /kitty-sync sync --all/.exec(r.stderr);
  t.truthy(hint, 'the message says how to recover the skipped work');
  const sync = await cli(s.root, ['sync', '--all'], s.env);
  t.is(sync.code, 0, sync.stderr);
  const got = s.delivered();
  t.is(got.get('001-feature/spec.md'), sha256(GOOD), 'the work of the broken-config commit is delivered after the fix');
  t.is(got.get('001-feature/plan.md'), sha256('# plan\n'));
});

test('a garbage queue file is moved aside, the user is told, the commit succeeds, and a fresh queue works', async (t) => {
  const s = await setup(t);
  mkdirSync(s.stateDir, { recursive: true });
  const garbage = Buffer.from('this is not a database\n'.repeat(20));
  writeFileSync(path.join(s.stateDir, 'queue.sqlite'), garbage);
  writeFileSync(path.join(s.stateDir, 'pending'), ''); // as if work were pending
  await writeFiles(s.root, { 'kitty-specs/001-feature/spec.md': GOOD });
  const r = await s.commit('after corruption');
  t.is(r.code, 0, r.stderr);
  t.regex(r.stderr, /queue\.sqlite could not be read \(it is not a SQLite database\); it was moved to \S+queue\.sqlite\.corrupt-\S+ for inspection/);
  const aside = readdirSync(s.stateDir).filter((f) => f.startsWith('queue.sqlite.corrupt-'));
  t.is(aside.length, 1);
  t.deepEqual(readFileSync(path.join(s.stateDir, aside[0])), garbage, 'the corrupt file is kept as it was');
  t.is(s.delivered().get('001-feature/spec.md'), sha256(GOOD));
  const status = await cli(s.root, ['status', '--json'], s.env);
  t.is(status.code, 0);
  t.is((JSON.parse(status.stdout) as { pending: number }).pending, 0);
  t.notRegex(status.stderr, /could not be read/);
});

test('disk full during a capture (RLIMIT_FSIZE): the old queue stays byte-identical, the error names the file, the commit succeeds', async (t) => {
  const s = await setup(t);
  // Offline first so that the queue holds work (nothing can be sent).
  const offline = { ...s.env, KITTY_SYNC_SERVER_URL: '' };
  await writeFiles(s.root, { 'kitty-specs/001-feature/spec.md': GOOD });
  const first = await s.commit('queued offline', offline);
  t.is(first.code, 0, first.stderr);
  const queueFile = path.join(s.stateDir, 'queue.sqlite');
  const before = readFileSync(queueFile);
  t.true(before.length > 4096);

  // The next commit's hook may write at most 4 KiB per file: its capture spool (bodies and 047's
  // events) stops short (Node ignores SIGXFSZ, so the write errors like a full disk instead of killing it).
  await writeFiles(s.root, { 'kitty-specs/001-feature/plan.md': '# plan\n' });
  await gitOk(s.root, ['add', '-A'], offline);
  const limited = await run('sh', ['-c', 'ulimit -f 8 && exec git -c commit.gpgsign=false commit -q -m "disk full"'], { cwd: s.root, env: offline });
  t.is(limited.code, 0, limited.stderr);
  t.log(limited.stderr);
  t.regex(limited.stderr, /EFBIG|too large|no space|file-size limit/i);
  // The capture (spool) is written first; it is what the limit stops. The message names the file.
  t.regex(limited.stderr, new RegExp(`${escape(path.join(s.stateDir, 'spool'))}/\\S+\\.ksp`), 'the message names the spool that could not be written');
  t.deepEqual(readFileSync(queueFile), before, 'the old queue is byte-identical');
  t.deepEqual(
    readdirSync(s.stateDir).filter((f) => f.startsWith('queue.sqlite.') && !f.endsWith('.lock')),
    [],
    'no temporary file left behind',
  );

  // Space is back: the queue still opens, and the recovery path delivers everything.
  const sync = await cli(s.root, ['sync', '--all'], s.env);
  t.is(sync.code, 0, sync.stderr);
  t.notRegex(sync.stderr, /could not be read/);
  const got = s.delivered();
  t.is(got.get('001-feature/spec.md'), sha256(GOOD));
  t.is(got.get('001-feature/plan.md'), sha256('# plan\n'));
});

test('a state directory that cannot be created: the hook exits 0 with a message naming it', async (t) => {
  const s = await setup(t);
  const blocker = path.join(path.dirname(s.root), 'not-a-dir');
  writeFileSync(blocker, 'a regular file where a directory should be\n');
  const stateDir = path.join(blocker, 'state');
  await writeFiles(s.root, { 'kitty-specs/001-feature/spec.md': GOOD });
  const r = await s.commit('unwritable state', { ...s.env, KITTY_SYNC_HOME: stateDir });
  t.is(r.code, 0, r.stderr);
  t.log(r.stderr);
  t.regex(r.stderr, new RegExp(escape(blocker)));
  t.regex(r.stderr, /ENOTDIR|not a directory/i);
  t.false(existsSync(stateDir));
  // Nothing lost: with a usable state directory the recovery path delivers it.
  const sync = await cli(s.root, ['sync', '--all'], s.env);
  t.is(sync.code, 0, sync.stderr);
  t.is(s.delivered().get('001-feature/spec.md'), sha256(GOOD));
});

function escape(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}
