// `kitty-sync serve`: the local reference receiver (SPEC §9) for newcomers, demos and tests.
import path from 'node:path';
import type { CommandModule } from 'yargs';
import { DEFAULT_HOST, DEFAULT_PORT, startReceiver } from '../../lib/receiver.js';
import { isLoopbackHost } from '../../lib/transport.js';
import { faultProblems, parseLatency, type FaultConfig, type FaultEndpoint } from '../../lib/faults.js';
import { fail, UsageError } from '../output.js';
import { parseWholeNumber } from '../usage.js';

interface Args {
  port: string;
  host: string;
  data: string;
  token?: string;
  'fail-rate': number;
  'fail-status': number;
  'fail-first': number;
  'rate-limit-rate': number;
  'retry-after': number;
  'drop-rate': number;
  'latency-ms'?: string;
  hang: boolean;
  'index-lag-ms': number;
  'fault-endpoint': 'all' | FaultEndpoint;
  json: boolean;
}

const command: CommandModule<object, Args> = {
  command: 'serve',
  describe: 'run the local reference receiver (both endpoints, persistence, fault injection)',
  builder: (y) =>
    y
      .option('port', { type: 'string', default: String(DEFAULT_PORT), describe: 'port to listen on (0: any free port)' })
      .option('host', { type: 'string', default: DEFAULT_HOST, describe: 'address to listen on' })
      .option('data', { type: 'string', default: './.kitty-sync-serve', describe: 'directory for received index and bodies' })
      .option('token', { type: 'string', describe: 'require this bearer token (or set KITTY_SYNC_SERVE_TOKEN)' })
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
      .group(['fail-rate', 'fail-status', 'fail-first', 'rate-limit-rate', 'retry-after', 'drop-rate', 'latency-ms', 'hang', 'index-lag-ms', 'fault-endpoint'], 'Fault injection:') as never,
  handler: async (args) => {
    try {
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
          throw new UsageError(`--latency-ms: ${(err as Error).message}`);
        }
      }
      const problems = faultProblems(faults);
      if (problems.length > 0) throw new UsageError(`fault options: ${problems.join('; ')}`);
      const parsedPort = parseWholeNumber(args.port, 0, 65535);
      if ('problem' in parsedPort) throw new UsageError(`--port: ${JSON.stringify(String(args.port))} is not a port number (0-65535)`);
      const port = parsedPort.value;
      const token = args.token ?? process.env.KITTY_SYNC_SERVE_TOKEN ?? null;
      const dataDir = path.resolve(args.data);
      let receiver;
      try {
        receiver = await startReceiver({ dataDir, host: args.host, port, token: token || null, faults });
      } catch (err) {
        const code = (err as { code?: string }).code;
        if (code === 'EADDRINUSE' || code === 'EACCES' || code === 'EADDRNOTAVAIL') {
          throw new UsageError(`cannot listen on ${args.host}:${port} (${code})`);
        }
        throw err;
      }
      if (!isLoopbackHost(args.host) && !token) {
        process.stderr.write('kitty-sync serve: warning: listening beyond loopback without --token; anyone who can reach it can write to it\n');
      }
      const loaded = receiver.store.loaded;
      if (loaded.events + loaded.bodies > 0 || loaded.badLines > 0) {
        process.stderr.write(
          `kitty-sync serve: loaded ${loaded.events} events and ${loaded.bodies} bodies from ${dataDir}` +
            (loaded.badLines > 0 ? ` (${loaded.badLines} unreadable journal lines skipped)` : '') +
            '\n',
        );
      }
      process.stdout.write(`kitty-sync serve: listening on ${receiver.url} (data: ${dataDir})\n`);
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
    } catch (err) {
      fail(err);
    }
  },
};
export default command;
