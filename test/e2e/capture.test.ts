// Capture that never blocks and never misses (issue 11), end to end: real repositories with the
// hooks installed by `kitty-sync install`, real `git commit`s, real agents (SIGKILLed where the
// issue says so), a real receiver over loopback (`kitty-sync serve` as a child where faults matter).
import test from 'ava';
import { spawn, execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync, readlinkSync, symlinkSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { spawnReceiver } from '../support/receiver.js';
import { awaitBackgroundCapture, blobAt, commit, feature, fileReceiver, installedRepo, namespace, newRepo, onlineEnv, OFF, sleep, status, summaryOf, type HookRepo } from '../support/hooks.js';
import { git, gitOk, writeFiles } from '../support/git.js';
import { boundFor } from '../support/timing.js';
import { CLI_PATH, cleanEnv, cli, holdQueueLock } from '../support/proc.js';

const receiver = fileReceiver(test);

const setup = installedRepo;

/** The receiver's latest content of a path equals the bytes committed at `rev`. */
async function assertLatest(t: { deepEqual(a: unknown, b: unknown, m?: string): void }, repo: HookRepo, slug: string, rev: string, paths: string[]): Promise<void> {
  for (const p of paths) {
    const got = await receiver().latestContent(namespace(repo.uuid, slug), p);
    const want = await blobAt(repo.root, rev, `kitty-specs/${slug}/${p}`);
    t.deepEqual(got === null ? null : Buffer.from(got, 'utf8'), want, `${slug}/${p} at ${rev.slice(0, 8)}`);
  }
}

test('a commit while another live process holds the queue lock returns within its budget; its change is delivered later', async (t) => {
  const repo = await setup(t);
  const slug = '001-busy';
  // Enough for a loaded machine to reach the merge (a starved hook would defer it instead of meeting the lock).
  const budget = 5000;
  const offline = { KITTY_SYNC_BUDGET_MS: String(budget) };
  // Baseline: the same kind of commit with the lock free (offline, so no network in either).
  await writeFiles(repo.root, feature(slug));
  const free = await commit(repo.root, 'free', offline);
  const child = await holdQueueLock(t, repo.stateDir);
  await writeFiles(repo.root, { [`kitty-specs/${slug}/spec.md`]: '# spec while the queue is busy\n' });
  const busy = await commit(repo.root, 'busy', offline);
  t.log(`commit with the lock free ${free.ms.toFixed(0)} ms, held by pid ${child.pid}: ${busy.ms.toFixed(0)} ms (budget ${budget} ms)`);
  t.is(busy.code, 0);
  // Before issue 11 such a commit waited for the lock (30 s); now it waits at most 250 ms of its budget.
  t.true(busy.ms < boundFor(budget, free.ms), `held lock: ${busy.ms.toFixed(0)} ms against ${free.ms.toFixed(0)} ms with the lock free`);
  t.regex(busy.stderr, new RegExp(`another kitty-sync process \\(pid ${child.pid}\\) holds the queue; 1 captured artifact\\(s\\) wait in the spool`));
  t.like(summaryOf(busy.stderr, slug), { queued: 1 });

  child.kill('SIGKILL');
  await new Promise((r) => child.once('exit', r));
  const drain = await cli(repo.root, ['drain'], { KITTY_SYNC_SERVER_URL: receiver().url });
  t.is(drain.code, 0, drain.stderr);
  await assertLatest(t, repo, slug, busy.sha, ['spec.md', 'plan.md', 'tasks/WP01-first.md']);
  t.is((await status(repo.root)).pending, 0);
});

test('foreign entries at the lock paths (a dangling queue.lock symlink, a drain.lock file) cost one line each, not the capture', async (t) => {
  const repo = await setup(t);
  const slug = '002-foreign';
  mkdirSync(repo.stateDir, { recursive: true });
  symlinkSync('/nonexistent/kitty-sync-lock', path.join(repo.stateDir, 'queue.lock'));
  writeFileSync(path.join(repo.stateDir, 'drain.lock'), 'left by someone');
  await writeFiles(repo.root, feature(slug));
  const c = await commit(repo.root, 'with foreign locks', onlineEnv(receiver().url));
  t.is(c.code, 0);
  t.like(summaryOf(c.stderr, slug), { uploaded: 3, queued: 0 }, c.stderr);
  const lines = c.stderr.split('\n').filter((l) => /\.lock was /.test(l));
  t.is(lines.length, 2, c.stderr);
  t.true(lines.some((l) => l.includes(path.join(repo.stateDir, 'queue.lock')) && /symbolic link/.test(l)));
  t.true(lines.some((l) => l.includes(path.join(repo.stateDir, 'drain.lock')) && /regular file/.test(l)));
  t.false(/at .*\.js:\d+/.test(c.stderr), 'no stack trace');
  await assertLatest(t, repo, slug, c.sha, ['spec.md', 'plan.md']);
  // Once moved aside, later commits say nothing about it.
  await writeFiles(repo.root, { [`kitty-specs/${slug}/plan.md`]: '# plan 2\n' });
  const again = await commit(repo.root, 'again', onlineEnv(receiver().url));
  t.false(/\.lock was /.test(again.stderr));
});

test('a skipped hook (KITTY_SYNC=0) and a killed one are healed by the next commit, without sync --all', async (t) => {
  const repo = await setup(t);
  const slug = '003-heal';
  await writeFiles(repo.root, feature(slug));
  await commit(repo.root, 'base', onlineEnv(receiver().url));
  // Skipped entirely.
  await writeFiles(repo.root, { [`kitty-specs/${slug}/plan.md`]: '# plan, committed with the hooks off\n' });
  await commit(repo.root, 'off', OFF);
  // Killed: the agent is SIGKILLed as soon as it appears (before it could capture anything).
  await writeFiles(repo.root, { [`kitty-specs/${slug}/tasks/WP01-first.md`]: '# WP01, whose hook was killed\n' });
  await gitOk(repo.root, ['add', '-A']);
  const gitCommit = spawn('git', ['commit', '-q', '-m', 'killed'], { cwd: repo.root, env: cleanEnv({ KITTY_SYNC_SERVER_URL: receiver().url }) });
  const killed = await killAgentWhenItStarts(repo.root);
  await new Promise((r) => gitCommit.once('exit', r));
  t.true(killed, 'the agent was found and SIGKILLed');
  // The next commit touches another file only; it captures what the two before it left.
  await writeFiles(repo.root, { [`kitty-specs/${slug}/spec.md`]: '# spec, the healing commit\n' });
  const next = await commit(repo.root, 'next', onlineEnv(receiver().url));
  t.like(summaryOf(next.stderr, slug), { uploaded: 3 }, next.stderr);
  await assertLatest(t, repo, slug, next.sha, ['spec.md', 'plan.md', 'tasks/WP01-first.md']);
});

test('a rebase is delivered by the next commit', async (t) => {
  const repo = await setup(t);
  const slug = '004-rebase';
  await writeFiles(repo.root, feature(slug));
  await commit(repo.root, 'base', onlineEnv(receiver().url));
  await gitOk(repo.root, ['checkout', '-q', '-b', 'topic']);
  await writeFiles(repo.root, { [`kitty-specs/${slug}/spec.md`]: '# spec on topic\n' });
  await commit(repo.root, 'topic work', onlineEnv(receiver().url));
  // main moves on (with the hooks off: e.g. pulled from a colleague).
  await gitOk(repo.root, ['checkout', '-q', 'main']);
  await writeFiles(repo.root, { [`kitty-specs/${slug}/plan.md`]: '# plan from main\n' });
  await commit(repo.root, 'main work', OFF);
  await gitOk(repo.root, ['checkout', '-q', 'topic']);
  const rebase = await git(repo.root, ['rebase', 'main'], onlineEnv(receiver().url));
  t.is(rebase.code, 0, rebase.stderr);
  t.is(await receiver().latestContent(namespace(repo.uuid, slug), 'plan.md'), `# Plan ${slug} v1\n`, 'the rebase itself sends nothing');
  await writeFiles(repo.root, { [`kitty-specs/${slug}/tasks/WP01-first.md`]: '# WP01 after the rebase\n' });
  const next = await commit(repo.root, 'after rebase', onlineEnv(receiver().url));
  await assertLatest(t, repo, slug, next.sha, ['spec.md', 'plan.md', 'tasks/WP01-first.md']);
});

for (const how of ['its budget ends', 'it is killed (kill -9)'] as const) {
  test(`a late older upload is corrected when the drain sending it ${how}: the newer version is sent once more after the abandoned request can no longer be in flight`, async (t) => {
    const serve = await spawnReceiver();
    t.teardown(async () => void (await serve.stop()));
    const repo = await setup(t);
    const slug = '005-late';
    // The server takes LATENCY over v1; the newer version must be delivered well within it, even on a
    // loaded machine, for the scenario to happen (asserted below).
    const LATENCY = 15_000;
    const TIMEOUT = 18_000;
    const env = { KITTY_SYNC_SERVER_URL: serve.url, KITTY_SYNC_BUDGET_MS: '30000', KITTY_SYNC_REQUEST_TIMEOUT_MS: String(TIMEOUT) };
    await writeFiles(repo.root, feature(slug));
    await commit(repo.root, 'base', env);
    const record = async () => (await serve.artifacts()).find((x) => x.namespace.project_uuid === repo.uuid && x.artifact_path === 'spec.md');
    const latest = async (): Promise<string | undefined> => (await record())?.latest_hash;
    /** The hashes of spec.md's bodies in the order the server received them. */
    const arrivals = async (): Promise<string[]> => ((await record())?.versions ?? []).map((v) => v.content_hash);

    await writeFiles(repo.root, { [`kitty-specs/${slug}/spec.md`]: '# spec v1 (late)\n' });
    const v1 = await commit(repo.root, 'v1', { KITTY_SYNC_SERVER_URL: '' });
    await serve.setFaults({ latencyMs: { min: LATENCY, max: LATENCY }, endpoints: ['push-content'] });
    if (how === 'its budget ends') {
      const abandoned = await cli(repo.root, ['drain', '--budget', '5s'], env);
      t.is(abandoned.code, 75, abandoned.stderr);
    } else {
      const child = spawn(process.execPath, [CLI_PATH, 'drain'], { cwd: repo.root, env: cleanEnv(env), stdio: 'ignore' });
      const exited = new Promise((r) => child.once('exit', r));
      while ((await serve.stats()).faults.latency === 0 && child.exitCode === null) await sleep(50);
      child.kill('SIGKILL');
      await exited;
      t.true(existsSync(path.join(repo.stateDir, 'inflight')), 'the killed drain left its in-flight journal');
    }
    const abandonedAt = Date.now();
    t.is((await serve.stats()).faults.latency, 1, 'the v1 request reached the server before the drain stopped');
    // v2: delivered at once by the next commit.
    await serve.setFaults({ reset: true });
    await writeFiles(repo.root, { [`kitty-specs/${slug}/spec.md`]: '# spec v2\n' });
    const v2 = await commit(repo.root, 'v2', env);
    t.like(summaryOf(v2.stderr, slug), { uploaded: 1 }, v2.stderr);
    const [v1Hash, v2Hash] = [await blobHash(repo.root, v1.sha, slug), await blobHash(repo.root, v2.sha, slug)];
    // The abandoned v1 request lands after v2. `serve` keeps the content its index names current, so it
    // stays on v2; a server that takes the last write (as 047-era ones do) would now be on v1.
    const lateV1 = async () => (await arrivals()).lastIndexOf(v1Hash) > (await arrivals()).indexOf(v2Hash);
    while (!(await lateV1()) && Date.now() - abandonedAt < LATENCY + 5000) await sleep(200);
    t.true(await lateV1(), 'the scenario happened: v1 landed after v2');
    const pushedBefore = (await serve.stats()).requests.push_content;

    // v2 is queued again for when v1's request can no longer be in flight (its timeout plus a margin).
    const early = await cli(repo.root, ['drain'], env);
    if (Date.now() < abandonedAt + TIMEOUT) t.is(early.code, 75, 'not sent before then; still queued');
    await sleep(Math.max(0, abandonedAt + TIMEOUT + 2000 - Date.now()) + 300);
    const drain = await cli(repo.root, ['drain'], env);
    t.is(drain.code, 0, drain.stderr);
    t.is((await serve.stats()).requests.push_content, pushedBefore + 1, 'v2 was sent once more, after the window');
    t.is(await latest(), v2Hash, 'the server ends on the newer version');
    // Once only: nothing more is queued or sent.
    const before = (await serve.stats()).requests.push_content;
    t.is((await cli(repo.root, ['drain', '--force'], env)).code, 0);
    t.is((await serve.stats()).requests.push_content, before);
  });
}

test('no re-confirmation without an abandoned upload: an ordinary v1 then v2 sends each body once', async (t) => {
  const repo = await setup(t);
  const slug = '006-plain';
  await writeFiles(repo.root, feature(slug));
  await commit(repo.root, 'v1', onlineEnv(receiver().url));
  await writeFiles(repo.root, { [`kitty-specs/${slug}/spec.md`]: '# spec v2\n' });
  await commit(repo.root, 'v2', onlineEnv(receiver().url));
  t.is((await status(repo.root)).pending, 0, 'nothing scheduled again');
  const log = await cli(repo.root, ['log', '--json']);
  const sends = (JSON.parse(log.stdout) as { entries: { artifact_path: string; status: string }[] }).entries.filter((e) => e.artifact_path === 'spec.md' && e.status !== 'skipped');
  t.deepEqual(
    sends.map((e) => e.status),
    ['uploaded', 'uploaded'],
  );
});

test('5,000-file commit: git held for at most budget + start-up (a capture that cannot fit goes on in the background), every file delivered', async (t) => {
  const repo = await setup(t);
  const slug = '007-huge';
  const N = 5000;
  const files: Record<string, string> = { [`kitty-specs/${slug}/meta.json`]: JSON.stringify({ target_branch: 'main', mission_type: 'software-dev' }) };
  for (let i = 0; i < N; i++) files[`kitty-specs/${slug}/research/note-${String(i).padStart(4, '0')}.md`] = `# note ${i}\n\n${'lorem ipsum '.repeat(40)}\n`;
  await writeFiles(repo.root, files);
  // Baselines in the same test: the same commit in a twin repository without hooks, and an empty Node process.
  const twin = await newRepo({ name: 'twin' });
  t.teardown(twin.cleanup);
  await writeFiles(twin.root, files);
  const plain = await commit(twin.root, 'huge');
  const node0 = performance.now();
  execFileSync(process.execPath, ['-e', '0']);
  const emptyNode = performance.now() - node0;
  const budget = 2000;
  const c = await commit(repo.root, 'huge', { KITTY_SYNC_SERVER_URL: receiver().url, KITTY_SYNC_BUDGET_MS: String(budget), KITTY_SYNC_TRACE: '1' });
  t.is(c.code, 0);
  // The agent's own phases (KITTY_SYNC_TRACE): from the loaded modules to its last step.
  const at = (label: string): number => Number(new RegExp(`trace:\\s+(\\d+) ms .*  ${label}$`, 'm').exec(c.stderr)?.[1] ?? NaN);
  const loaded = at('hook modules loaded');
  const background = /the capture goes on in the background/.test(c.stderr);
  t.log(
    `5,000 files: commit ${c.ms.toFixed(0)} ms (without hooks ${plain.ms.toFixed(0)} ms); start-up ${loaded} ms; budget ${budget} ms; empty Node ${emptyNode.toFixed(0)} ms; ${background ? 'captured in the background' : 'captured within the budget'}`,
  );
  // Either way git was held for the budget plus start-up (issue 11: budget + 2x an empty Node hook;
  // the slack scales with the empty Node hook measured here).
  // A guard, not the target (bench/hook measures that on a quiet machine): a loaded test run gets a
  // second of margin and git's own work (the twin commit) twice more. Without the background capture
  // the hook held git 4-9 s here; with it, 2.9-4.6 s over the twin in loaded test runs (2.2 s when quiet).
  t.true(c.ms - plain.ms <= boundFor(budget + loaded, emptyNode, 1000) + 2 * plain.ms, `the hook held git ${(c.ms - plain.ms).toFixed(0)} ms`);
  // A machine that cannot read 5,000 files from git within the budget: the detached hook captures,
  // merges and delivers them on its own.
  await awaitBackgroundCapture(c.stderr);
  t.is(readFileSync(path.join(repo.stateDir, 'watermark', 'main'), 'utf8').trim(), c.sha, 'the watermark moved once the capture was written');
  const drain = await cli(repo.root, ['drain'], { KITTY_SYNC_SERVER_URL: receiver().url });
  t.is(drain.code, 0, drain.stderr.slice(-2000));
  const got = receiver()
    .artifacts()
    .filter((a) => a.namespace.project_uuid === repo.uuid);
  t.is(got.length, N);
  t.deepEqual(
    readdirSync(path.join(repo.stateDir, 'spool')).filter((f) => f.endsWith('.ksp')),
    [],
    'packs collected',
  );
});

test('symlinks in the state directory are never followed: the log and the queue file are moved aside with a line, outside files untouched', async (t) => {
  const repo = await setup(t);
  const slug = '008-links';
  const outsideLog = path.join(repo.base, 'outside.log');
  const outsideDb = path.join(repo.base, 'outside.sqlite');
  writeFileSync(outsideLog, 'not yours\n');
  writeFileSync(outsideDb, 'not a queue\n');
  mkdirSync(repo.stateDir, { recursive: true });
  symlinkSync(outsideLog, path.join(repo.stateDir, 'outcomes.log'));
  symlinkSync(outsideDb, path.join(repo.stateDir, 'queue.sqlite'));
  await writeFiles(repo.root, feature(slug));
  const c = await commit(repo.root, 'links', onlineEnv(receiver().url));
  t.is(c.code, 0);
  t.like(summaryOf(c.stderr, slug), { uploaded: 3 }, c.stderr);
  t.is(readFileSync(outsideLog, 'utf8'), 'not yours\n');
  t.is(readFileSync(outsideDb, 'utf8'), 'not a queue\n');
  t.regex(c.stderr, /outcomes\.log was a symbolic link \(to .*outside\.log\).*moved to/);
  t.regex(c.stderr, /queue\.sqlite was a symbolic link \(to .*outside\.sqlite\).*moved to/);
  t.true(existsSync(path.join(repo.stateDir, 'queue.sqlite')));
  const log = await cli(repo.root, ['log', '--json']);
  t.true(log.stdout.includes(slug), 'the new log is inside the state directory');
});

// ---- helpers ----

/** Waits for the hook agent running in `root` to appear and SIGKILLs it; false if none appeared in 20 s. */
async function killAgentWhenItStarts(root: string): Promise<boolean> {
  const until = Date.now() + 20_000;
  while (Date.now() < until) {
    for (const pid of readdirSync('/proc').filter((p) => /^\d+$/.test(p))) {
      try {
        if (!readFileSync(`/proc/${pid}/cmdline`, 'utf8').includes('hook\u0000post-commit')) continue;
        if (readlinkSync(`/proc/${pid}/cwd`) !== root) continue;
        process.kill(Number(pid), 'SIGKILL');
        return true;
      } catch {
        /* gone meanwhile */
      }
    }
    await sleep(2);
  }
  return false;
}

async function blobHash(root: string, rev: string, slug: string): Promise<string> {
  const { createHash } = await import('node:crypto');
  return createHash('sha256')
    .update(await blobAt(root, rev, `kitty-specs/${slug}/spec.md`))
    .digest('hex');
}
