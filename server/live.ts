// Live updates for the dashboard: Server-Sent Events. Each open page holds one stream; every
// request that changed the store publishes what it changed, coalesced per namespace.
import type http from 'node:http';
import type { Change } from './store.js';

/** Comment lines keep proxies and the browser from timing an idle stream out. */
const HEARTBEAT_MS = 15_000;

export class LiveHub {
  private readonly clients = new Set<http.ServerResponse>();
  private heartbeat: NodeJS.Timeout | null = null;
  private nextId = 1;

  get size(): number {
    return this.clients.size;
  }

  /** Turns the response into an event stream until the client goes away. */
  open(req: http.IncomingMessage, res: http.ServerResponse, headers: Record<string, string>): void {
    res.writeHead(200, {
      ...headers,
      'Content-Type': 'text/event-stream; charset=utf-8',
      'Cache-Control': 'no-store',
      Connection: 'keep-alive',
    });
    // Tells EventSource how long to wait before reconnecting after the server went away.
    res.write('retry: 1000\n\n');
    this.clients.add(res);
    req.socket.setTimeout(0);
    const drop = (): void => {
      this.clients.delete(res);
      if (this.clients.size === 0 && this.heartbeat) {
        clearInterval(this.heartbeat);
        this.heartbeat = null;
      }
    };
    req.on('close', drop);
    res.on('error', drop);
    this.heartbeat ??= setInterval(() => {
      for (const c of this.clients) c.write(': keep-alive\n\n');
    }, HEARTBEAT_MS).unref();
  }

  publish(changes: Change[]): void {
    if (changes.length === 0 || this.clients.size === 0) return;
    const seen = new Set<string>();
    const unique = changes.filter((c) => {
      const key = `${c.kind}\u0000${c.namespace_id}\u0000${c.artifact_path ?? ''}`;
      if (seen.has(key)) return false;
      seen.add(key);
      return true;
    });
    const frame = `id: ${this.nextId++}\nevent: change\ndata: ${JSON.stringify(unique)}\n\n`;
    for (const c of this.clients) c.write(frame);
  }

  close(): void {
    if (this.heartbeat) clearInterval(this.heartbeat);
    this.heartbeat = null;
    for (const c of this.clients) c.end();
    this.clients.clear();
  }
}
