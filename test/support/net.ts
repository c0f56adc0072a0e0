// Network fixtures for the proxy and CA tests (issue 13 item 2), all on 127.0.0.1: a self-signed
// certificate made by the openssl CLI, an HTTPS front that passes requests on to a receiver, and a
// small forward proxy (absolute-URI HTTP requests and CONNECT tunnels) that records what it carried.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import net, { type AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';

export interface SelfSigned {
  dir: string;
  certFile: string;
  cert: string;
  key: string;
  cleanup(): void;
}

/** A self-signed certificate (it is its own CA) for the given DNS names and 127.0.0.1. */
export function selfSigned(names: string[]): SelfSigned {
  const dir = mkdtempSync(path.join(tmpdir(), 'ks-cert-'));
  const certFile = path.join(dir, 'cert.pem');
  const keyFile = path.join(dir, 'key.pem');
  const san = [...names.map((n) => `DNS:${n}`), 'IP:127.0.0.1'].join(',');
  execFileSync(
    'openssl',
    [
      'req',
      '-x509',
      '-newkey',
      'ec',
      '-pkeyopt',
      'ec_paramgen_curve:prime256v1',
      '-nodes',
      '-keyout',
      keyFile,
      '-out',
      certFile,
      '-days',
      '2',
      '-subj',
      `/CN=${names[0]}`,
      '-addext',
      `subjectAltName=${san}`,
      '-addext',
      'basicConstraints=critical,CA:TRUE',
    ],
    { stdio: 'pipe' },
  );
  return { dir, certFile, cert: readFileSync(certFile, 'utf8'), key: readFileSync(keyFile, 'utf8'), cleanup: () => rmSync(dir, { recursive: true, force: true }) };
}

export interface Server {
  port: number;
  close(): Promise<void>;
}

/** An HTTPS server on 127.0.0.1 that passes every request on to `targetUrl` (a receiver) and its answer back. */
export async function tlsFront(targetUrl: string, tls: { cert: string; key: string }): Promise<Server & { requests: number }> {
  const target = new URL(targetUrl);
  const state = { requests: 0 };
  const server = https.createServer({ cert: tls.cert, key: tls.key }, (req, res) => {
    state.requests++;
    const upstream = http.request({ host: target.hostname, port: target.port, method: req.method, path: req.url, headers: { ...req.headers, host: target.host } }, (answer) => {
      res.writeHead(answer.statusCode ?? 502, answer.headers);
      answer.pipe(res);
    });
    upstream.on('error', () => res.destroy());
    req.pipe(upstream);
  });
  return listen(server, state);
}

export interface ProxyRecord {
  /** 'CONNECT' or the HTTP method of an absolute-URI request. */
  method: string;
  /** host:port for CONNECT, the absolute URI otherwise. */
  target: string;
  /** Whether an Authorization header passed through the proxy in clear. */
  sawAuthorization: boolean;
}

/**
 * A forward proxy on 127.0.0.1. Like a company proxy, it resolves host names itself: `hosts` maps
 * names that only it knows to an address (so a request for such a name can only succeed through it).
 */
export async function forwardProxy(hosts: Record<string, string> = {}): Promise<Server & { records: ProxyRecord[]; url: string }> {
  const records: ProxyRecord[] = [];
  const resolve = (host: string): string => hosts[host] ?? host;
  const server = http.createServer((req, res) => {
    let target: URL;
    try {
      target = new URL(req.url ?? '');
    } catch {
      res.writeHead(400).end('absolute URI required');
      return;
    }
    records.push({ method: req.method ?? '', target: target.href, sawAuthorization: req.headers.authorization !== undefined });
    const headers = { ...req.headers };
    delete headers['proxy-connection'];
    delete headers['proxy-authorization'];
    const upstream = http.request({ host: resolve(target.hostname), port: target.port || 80, method: req.method, path: `${target.pathname}${target.search}`, headers }, (answer) => {
      res.writeHead(answer.statusCode ?? 502, answer.headers);
      answer.pipe(res);
    });
    upstream.on('error', () => {
      if (!res.headersSent) res.writeHead(502).end('bad gateway');
      else res.destroy();
    });
    req.pipe(upstream);
  });
  server.on('connect', (req: http.IncomingMessage, client: net.Socket, head: Buffer) => {
    const [host, port] = (req.url ?? '').split(':');
    records.push({ method: 'CONNECT', target: req.url ?? '', sawAuthorization: req.headers.authorization !== undefined });
    const upstream = net.connect(Number(port), resolve(host), () => {
      client.write('HTTP/1.1 200 Connection Established\r\n\r\n');
      if (head.length) upstream.write(head);
      upstream.pipe(client);
      client.pipe(upstream);
    });
    const end = () => {
      upstream.destroy();
      client.destroy();
    };
    upstream.on('error', () => {
      if (client.writable) client.end('HTTP/1.1 502 Bad Gateway\r\n\r\n');
      end();
    });
    client.on('error', end);
  });
  const s = await listen(server, { records, url: '' });
  s.url = `http://127.0.0.1:${s.port}`;
  return s;
}

async function listen<T extends object>(server: http.Server | https.Server, state: T): Promise<T & Server> {
  const sockets = new Set<net.Socket>();
  server.on('connection', (s: net.Socket) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const out = state as T & Server;
  out.port = (server.address() as AddressInfo).port;
  out.close = () =>
    new Promise<void>((r) => {
      for (const s of sockets) s.destroy();
      server.close(() => r());
    });
  return out;
}
