// `kitty-sync status`: queue counts, oldest pending age, per-feature counts, retry histogram,
// and whether a server and a token are configured (never the token itself).
import type { CommandModule } from 'yargs';
import { readQueue } from '../../lib/queue.js';
import { loadContext, notice, repoOption } from '../context.js';
import { fail, printJson } from '../output.js';

interface Args {
  repo?: string;
  json: boolean;
}

const command: CommandModule<object, Args> = {
  command: 'status',
  describe: 'show what is queued, in backoff and failed, and the server configuration',
  builder: (y) => y.option('repo', repoOption) as never,
  handler: async (args) => {
    try {
      const { settings } = await loadContext(args.repo);
      const stats = await readQueue({ stateDir: settings.stateDir, onNotice: notice }, (q) => q.stats());
      const server = { server_url: settings.serverUrl, server_configured: settings.serverUrl !== null, token_configured: settings.token !== null };
      if (args.json) {
        printJson({ ...stats, ...server, state_dir: settings.stateDir });
        return;
      }
      const out: string[] = [];
      out.push(`server:    ${settings.serverUrl ?? 'not configured (work is queued, not sent; set KITTY_SYNC_SERVER_URL or sync.server_url)'}`);
      out.push(`token:     ${settings.token ? 'set' : 'not set (KITTY_SYNC_TOKEN)'}`);
      out.push(`state:     ${settings.stateDir}`);
      out.push(`pending:   ${stats.pending} (${stats.ready} ready, ${stats.backoff} in backoff)`);
      out.push(`events:    ${stats.events_pending} index events pending`);
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
    } catch (err) {
      fail(err);
    }
  },
};
export default command;

export function formatAge(ms: number): string {
  const s = Math.round(ms / 1000);
  if (s < 120) return `${s}s`;
  if (s < 7200) return `${Math.round(s / 60)}m`;
  if (s < 172800) return `${Math.round(s / 3600)}h`;
  return `${Math.round(s / 86400)}d`;
}
