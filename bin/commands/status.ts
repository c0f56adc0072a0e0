// `kitty-sync status`: queue counts, oldest pending age, per-feature counts, retry histogram,
// and whether a server and a token are configured (never the token itself); read by lib/run/status.ts.
import { formatAge } from '../../lib/durations.js';
import { readStatus } from '../../lib/run/status.js';
import { waitLine } from '../../lib/run/wait-report.js';
import { tokenProblem } from '../../lib/delivery/server-url.js';
import { defineCommand } from '../command.js';
import { loadContext, notice, repoOption } from '../context.js';
import { printJson } from '../output.js';

export default defineCommand({
  command: 'status',
  describe: 'show what is queued, in backoff and failed, and the server configuration',
  options: (y) => y.option('repo', repoOption),
  run: async (args) => {
    const { repo, settings } = await loadContext(args.repo);
    const { stats, server } = await readStatus(repo, settings, notice);
    const serverProblem = server.server_problem;
    const tokenSource = server.token_source;
    const { installedHooks } = await import('../../lib/setup/install-check.js');
    const hooks = await installedHooks(repo.paths.root);
    if (args.json) {
      printJson({ ...stats, ...server, hooks_installed: hooks, state_dir: settings.stateDir });
      return;
    }
    const out: string[] = [];
    out.push(`server:    ${settings.serverUrl ?? 'not configured (work is queued, not sent; set KITTY_SYNC_SERVER_URL or sync.server_url)'}${serverProblem ? ` (unusable: ${serverProblem})` : ''}`);
    const badToken = tokenProblem(settings.token);
    const tokenLine =
      tokenSource === 'env'
        ? badToken
          ? `set, but unusable: ${badToken}`
          : 'set (KITTY_SYNC_TOKEN)'
        : tokenSource === 'git-credential'
          ? "stored with Git's credential helper (kitty-sync login)"
          : 'not set (`kitty-sync login`, or KITTY_SYNC_TOKEN)';
    out.push(`token:     ${tokenLine}`);
    out.push(`state:     ${settings.stateDir}`);
    const on = Object.entries(hooks)
      .filter(([, yes]) => yes)
      .map(([h]) => h);
    const off = Object.entries(hooks)
      .filter(([, yes]) => !yes)
      .map(([h]) => h);
    if (off.length === 0) out.push(`hooks:     installed (${on.join(', ')})`);
    else if (on.length === 0) out.push('hooks:     not installed in this repository: commits and pushes are not synced (run `kitty-sync install`)');
    else out.push(`hooks:     ${on.join(', ')} installed; ${off.join(', ')} missing (run \`kitty-sync install\`)`);
    const waiting = stats.waiting_for_events ? `; ${stats.waiting_for_events} of them wait for their index event` : '';
    out.push(`pending:   ${stats.pending} (${stats.ready} ready, ${stats.backoff} in backoff${waiting})`);
    out.push(`events:    ${stats.events_pending} index events pending${stats.events_pending ? ` (${stats.events_ready} ready, ${stats.events_backoff} in backoff)` : ''}`);
    const wait = waitLine(stats);
    if (wait) out.push(`next:      ${wait}`);
    if (stats.spools_unmerged) out.push(`captured:  ${stats.spools_unmerged} spool(s) not merged yet (another process held the queue); the next hook or \`kitty-sync drain\` merges them`);
    out.push(`failed:    ${stats.failed}${stats.failed ? ' (see `kitty-sync failed`, bring back with `kitty-sync retry --all`)' : ''}`);
    out.push(`oldest:    ${stats.oldest_pending_age_ms === null ? '-' : formatAge(stats.oldest_pending_age_ms)}`);
    const features = Object.entries(stats.per_feature);
    if (features.length) {
      out.push('per feature:');
      for (const [feature, c] of features.sort()) out.push(`  ${feature}: ${c.pending} pending, ${c.failed} failed`);
    }
    const hist = Object.entries(stats.retry_histogram);
    if (hist.length) out.push(`retries:   ${hist.map(([n, c]) => `${n}x: ${c}`).join(', ')}`);
    process.stdout.write(`${out.join('\n')}\n`);
  },
});
