// Benchmark: `kitty-sync sync --all --dry-run --json` over all corpus features, wall time
// of the whole CLI process (node start included). Usage: node dist/bench/dry-run.js [runs]
import { execFileSync } from 'node:child_process';
import { cp, mkdtemp, readdir, realpath, rm, writeFile, mkdir } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(fileURLToPath(new URL('.', import.meta.url)), '../..');
const corpus = process.env.KITTY_SYNC_CORPUS ?? path.resolve(root, '../shared/corpus/kitty-specs');
const cli = path.join(root, 'dist/bundle/kitty-sync.js');
const runs = Number(process.argv[2] ?? 10);
const env = { ...process.env, GIT_AUTHOR_NAME: 'bench', GIT_AUTHOR_EMAIL: 'bench@example.invalid', GIT_COMMITTER_NAME: 'bench', GIT_COMMITTER_EMAIL: 'bench@example.invalid' };

const base = await realpath(await mkdtemp(path.join(tmpdir(), 'kitty-sync-bench-')));
try {
  const repo = path.join(base, 'repo');
  await mkdir(path.join(repo, '.kittify'), { recursive: true });
  const git = (...args: string[]) => execFileSync('git', ['-c', 'commit.gpgsign=false', ...args], { cwd: repo, env, stdio: ['ignore', 'pipe', 'pipe'] });
  git('init', '-q', '-b', 'main');
  await writeFile(path.join(repo, '.kittify/config.yaml'), 'project:\n  uuid: 3f2b8c1e-9d4a-4f6b-8a2c-1e5d7f9b0c3a\n');
  const features = (await readdir(corpus, { withFileTypes: true })).filter((d) => d.isDirectory()).map((d) => d.name);
  for (const f of features) await cp(path.join(corpus, f), path.join(repo, 'kitty-specs', f), { recursive: true });
  git('add', '-A');
  git('commit', '-q', '-m', 'corpus');

  const times: number[] = [];
  let report: { namespaces: object; outcomes: { status: string; reason: string | null }[] } | null = null;
  for (let i = 0; i < runs; i++) {
    const t0 = process.hrtime.bigint();
    const out = execFileSync(process.execPath, [cli, 'sync', '--all', '--dry-run', '--json'], { cwd: repo, env, maxBuffer: 256 * 1024 * 1024 });
    times.push(Number(process.hrtime.bigint() - t0) / 1e6);
    report = JSON.parse(out.toString('utf8'));
  }
  times.sort((a, b) => a - b);
  const counts: Record<string, number> = {};
  for (const o of report!.outcomes) {
    const k = o.status === 'queued' ? 'queued' : `skipped:${o.reason}`;
    counts[k] = (counts[k] ?? 0) + 1;
  }
  console.log(`sync --all --dry-run --json over ${features.length} corpus features, ${runs} runs (wall time incl. node start)`);
  console.log(`  min ${times[0].toFixed(0)} ms, median ${times[Math.floor(times.length / 2)].toFixed(0)} ms, max ${times[times.length - 1].toFixed(0)} ms`);
  console.log(`  features ${Object.keys(report!.namespaces).length}, outcomes ${report!.outcomes.length}`);
  for (const [k, n] of Object.entries(counts).sort()) console.log(`  ${k}: ${n}`);
} finally {
  await rm(base, { recursive: true, force: true });
}
