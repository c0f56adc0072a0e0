// `kitty-sync status`: queue counts, oldest pending age, per-feature counts, retry histogram,
// and whether a server and a token are configured (never the token itself).
import { formatAge } from '../../lib/durations.js';
import { readQueue } from '../../lib/queue/queue.js';
import { waitLine } from '../../lib/run/wait-report.js';
import { installedHooks } from '../../lib/setup/install-check.js';
import { ConfigError, parseServerUrl, tokenProblem } from '../../lib/delivery/server-url.js';
import { defineCommand } from '../command.js';
import { loadContext, notice, repoOption } from '../context.js';
import { printJson } from '../output.js';
import { UserError } from '../../lib/errors.js';

export default defineCommand({
  command: 'status',
  describe: 'show what is queued, in backoff and failed, and the server configuration',
  options: (y) => y.option('repo', repoOption),
  run: async (args) => {
    const { repo, settings } = await loadContext(args.repo);
    // Not a URL at all: a configuration error (exit 2). A URL refused by policy (plain http://,
    // credentials in it): shown beside the queue, which is what the user came to see.
    let serverProblem: string | null = null;
    if (settings.serverUrl) {
      try {
        parseServerUrl(settings.serverUrl, settings.allowInsecureHttp);
      } catch (err) {
        if (!(err instanceof ConfigError)) throw err;
        if (!isHttpUrl(settings.serverUrl)) throw new UserError(`${err.message}; check KITTY_SYNC_SERVER_URL (or sync.server_url)`);
        serverProblem = `${err.message}; work stays queued`;
      }
    }
    const stats = await readQueue({ stateDir: settings.stateDir, onNotice: notice }, (q) => q.stats());
    // The token the hooks would send: KITTY_SYNC_TOKEN, else Git's credential helper (issue 13).
    let tokenSource: 'env' | 'git-credential' | null = settings.token ? 'env' : null;
    if (!tokenSource && settings.serverUrl) {
      const { fillToken } = await import('../../lib/delivery/credentials.js');
      if (await fillToken(settings.serverUrl, { cwd: repo.paths.root })) tokenSource = 'git-credential';
    }
    const server = {
      server_url: settings.serverUrl,
      server_configured: settings.serverUrl !== null,
      server_problem: serverProblem,
      token_configured: tokenSource !== null,
      token_source: tokenSource,
    };
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

function isHttpUrl(text: string): boolean {
  try {
    return /^https?:$/.test(new URL(text).protocol);
  } catch {
    return false;
  }
}
