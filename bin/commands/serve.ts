// `kitty-sync serve`: the local reference receiver and dossier dashboard (SPEC §9, server/) for
// newcomers, teams, demos and tests. server/ (and better-sqlite3, a native module) is imported only
// here, lazily, so no other command and no hook ever loads it.
import { existsSync } from 'node:fs';
import path from 'node:path';
import { DEFAULT_SERVE_HOST as DEFAULT_HOST, DEFAULT_SERVE_PORT as DEFAULT_PORT } from '../../lib/contract/wire.js';
import { isLoopbackHost } from '../../lib/delivery/server-url.js';
import type { FaultConfig } from '../../server/faults.js';
import { UserError } from '../../lib/errors.js';
import { defineCommand } from '../command.js';
import { parseWholeNumber } from '../usage.js';

/** What to warn about when `--host` exposes the server beyond this machine, or null. */
export function exposureWarning(host: string, token: string | null): string | null {
  if (isLoopbackHost(host) || token) return null;
  return `listening on ${host}, beyond loopback, without --token: anyone who can reach it can read the dashboard and write to it`;
}

export default defineCommand({
  command: 'serve',
  describe: 'run the local receiver and dossier dashboard (both endpoints, SQLite persistence, fault injection)',
  options: (y) =>
    y
      .option('port', { type: 'string', default: String(DEFAULT_PORT), describe: 'port to listen on (0: any free port)' })
      .option('host', { type: 'string', default: DEFAULT_HOST, describe: 'address to listen on (beyond loopback: set --token)' })
      .option('data', { type: 'string', default: './.kitty-sync-serve', describe: 'directory of the database (serve.db)' })
      .option('token', { type: 'string', describe: 'require this token: bearer for the API, a login for the dashboard (or set KITTY_SYNC_SERVE_TOKEN)' })
      .option('fail-rate', { type: 'number', default: 0, describe: 'fraction of requests answered with --fail-status' })
      .option('fail-status', { type: 'number', default: 503, describe: 'status for injected failures' })
      .option('fail-first', { type: 'number', default: 0, describe: 'fail the first N requests' })
      .option('rate-limit-rate', { type: 'number', default: 0, describe: 'fraction of requests answered 429' })
      .option('retry-after', { type: 'number', default: 1, describe: 'seconds announced by injected 429s' })
      .option('drop-rate', { type: 'number', default: 0, describe: 'fraction of connections dropped without an answer' })
      .option('latency-ms', { type: 'string', describe: 'added latency, e.g. 20 or 0-50' })
      .option('hang', { type: 'boolean', default: false, describe: 'accept requests and never answer' })
      .option('index-lag-ms', { type: 'number', default: 0, describe: 'index entries become visible this long after their event' })
      .option('fault-endpoint', { choices: ['all', 'events', 'push-content'] as const, default: 'all' as const, describe: 'endpoints the faults apply to' })
      .group(['fail-rate', 'fail-status', 'fail-first', 'rate-limit-rate', 'retry-after', 'drop-rate', 'latency-ms', 'hang', 'index-lag-ms', 'fault-endpoint'], 'Fault injection:'),
  run: async (args) => {
    const { faultProblems, parseLatency } = await import('../../server/faults.js');
    const faults: Partial<FaultConfig> = {
      failRate: args['fail-rate'],
      failStatus: args['fail-status'],
      failFirst: args['fail-first'],
      rateLimitRate: args['rate-limit-rate'],
      retryAfterSeconds: args['retry-after'],
      dropRate: args['drop-rate'],
      hang: args.hang,
      indexLagMs: args['index-lag-ms'],
      endpoints: args['fault-endpoint'] === 'all' ? ['events', 'push-content'] : [args['fault-endpoint']],
    };
    if (args['latency-ms'] !== undefined) {
      try {
        faults.latencyMs = parseLatency(args['latency-ms']);
      } catch (err) {
        throw new UserError(`--latency-ms: ${(err as Error).message}`);
      }
    }
    const problems = faultProblems(faults);
    if (problems.length > 0) throw new UserError(`fault options: ${problems.join('; ')}`);
    const parsedPort = parseWholeNumber(args.port, 0, 65535);
    if ('problem' in parsedPort) throw new UserError(`--port: ${JSON.stringify(String(args.port))} is not a port number (0-65535)`);
    const port = parsedPort.value;
    const token = args.token ?? process.env.KITTY_SYNC_SERVE_TOKEN ?? null;
    const dataDir = path.resolve(args.data);
    let startReceiver;
    try {
      ({ startReceiver } = await import('../../server/receiver.js'));
    } catch (err) {
      throw new Error(
        `the server could not be loaded (${(err as Error).message}); better-sqlite3 is a native module built at install: run \`npm rebuild better-sqlite3\` in kitty-sync's folder (needs python3, make and g++)`,
      );
    }
    let receiver;
    try {
      receiver = await startReceiver({ dataDir, host: args.host, port, token: token || null, faults });
    } catch (err) {
      const { code, syscall } = err as { code?: string; syscall?: string };
      if (syscall === 'listen' || code === 'EADDRINUSE' || code === 'EADDRNOTAVAIL' || (syscall === 'listen' && code === 'EACCES')) {
        throw new UserError(`cannot listen on ${args.host}:${port} (${code})`);
      }
      if (typeof code === 'string' && code.startsWith('SQLITE_')) {
        throw new UserError(`cannot open the database ${path.join(dataDir, 'serve.db')}: ${(err as Error).message} (${code})`);
      }
      if (syscall === 'mkdir' || code === 'ENOTDIR' || code === 'EACCES' || code === 'EROFS') {
        throw new UserError(`--data ${dataDir}: ${(err as Error).message}`);
      }
      throw err;
    }
    const warning = exposureWarning(args.host, token || null);
    if (warning) process.stderr.write(`kitty-sync serve: warning: ${warning}\n`);
    const loaded = receiver.store.loaded;
    if (loaded.events + loaded.bodies > 0) {
      process.stderr.write(`kitty-sync serve: loaded ${loaded.events} events and ${loaded.bodies} bodies from ${dataDir}\n`);
    }
    if (existsSync(path.join(dataDir, 'journal.jsonl'))) {
      process.stderr.write(
        `kitty-sync serve: note: ${path.join(dataDir, 'journal.jsonl')} is an older receiver's journal; it is not read (data now lives in serve.db). Redeliver with \`kitty-sync sync --all\`.\n`,
      );
    }
    process.stdout.write(`kitty-sync serve: listening on ${receiver.url} (data: ${dataDir})\n`);
    process.stderr.write(`kitty-sync serve: dashboard: ${receiver.url}/${token ? ' (log in with the token)' : ''}\n`);
    await new Promise<void>((resolve) => {
      const stop = (): void => {
        process.off('SIGINT', stop);
        process.off('SIGTERM', stop);
        receiver.close().then(resolve, resolve);
      };
      process.on('SIGINT', stop);
      process.on('SIGTERM', stop);
    });
    process.stderr.write('kitty-sync serve: stopped\n');
  },
});
