import test from 'ava';
import { timed } from '../support/timing.js';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { gunzipSync } from 'node:zlib';
import { Transport, type TransportOptions } from '../../lib/delivery/transport.js';
import { encodePushContent } from '../../lib/delivery/encoding.js';
import { retryAfter } from '../../lib/delivery/responses.js';
import { ConfigError } from '../../lib/delivery/server-url.js';
import { indexEvent, pushRequest, startTestReceiver, testNamespace } from '../support/receiver.js';

const TOKEN = 'tok-SECRET-1234567890';

/** A receiver whose namespace knows `spec.md` (indexed), so pushes of it are accepted. */
async function indexedReceiver(t: { teardown(fn: () => unknown): void }, opts: Parameters<typeof startTestReceiver>[0] = {}) {
  const r = await startTestReceiver(opts);
  t.teardown(() => r.close());
  const transport = new Transport({ serverUrl: r.url, token: opts.token ?? null });
  t.teardown(() => transport.close());
  const ns = testNamespace();
  const events = await transport.sendEvents([indexEvent(ns, 'spec.md', 'x')]);
  if (events.kind !== 'results' || events.results[0]?.status !== 'success') throw new Error(`indexing failed: ${JSON.stringify(events)}`);
  return { r, transport, ns };
}

interface RawServer {
  url: string;
  port: number;
  requests: { method: string; url: string; headers: http.IncomingHttpHeaders; body: Buffer }[];
  connections: number;
  close(): Promise<void>;
}

/** A tiny raw server for responses the receiver never gives naturally. */
async function rawServer(t: { teardown(fn: () => unknown): void }, handler: (req: http.IncomingMessage, res: http.ServerResponse, body: Buffer) => void): Promise<RawServer> {
  const state: RawServer = { url: '', port: 0, requests: [], connections: 0, close: async () => undefined };
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const body = Buffer.concat(chunks);
      state.requests.push({ method: req.method ?? '', url: req.url ?? '', headers: req.headers, body });
      handler(req, res, body);
    });
  });
  server.on('connection', () => state.connections++);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  state.port = (server.address() as AddressInfo).port;
  state.url = `http://127.0.0.1:${state.port}`;
  state.close = () =>
    new Promise<void>((resolve) => {
      server.closeAllConnections();
      server.close(() => resolve());
    });
  t.teardown(() => state.close());
  return state;
}

function reply(status: number, body: string, headers: Record<string, string> = {}) {
  return (_req: http.IncomingMessage, res: http.ServerResponse) => {
    res.writeHead(status, { 'Content-Type': 'application/json', ...headers });
    res.end(body);
  };
}

function transportFor(t: { teardown(fn: () => unknown): void }, url: string, extra: Partial<TransportOptions> = {}): Transport {
  const tr = new Transport({ serverUrl: url, token: TOKEN, ...extra });
  t.teardown(() => tr.close());
  return tr;
}

const someRequest = () => pushRequest(testNamespace(), 'spec.md', 'hello');

// ---- the SPEC §5.2 table, row by row ----

test('201 stored, then 200 already_exists for the same content', async (t) => {
  const { transport, ns, r } = await indexedReceiver(t);
  t.deepEqual(await transport.pushContent(pushRequest(ns, 'spec.md', '# Spec v1\n')), { kind: 'stored' });
  t.deepEqual(await transport.pushContent(pushRequest(ns, 'spec.md', '# Spec v1\n')), { kind: 'already_exists' });
  t.is(await r.latestContent(ns, 'spec.md'), '# Spec v1\n');
});

test('400 → permanent with the server reason', async (t) => {
  const { transport, ns } = await indexedReceiver(t);
  const req = { ...pushRequest(ns, 'spec.md', 'body'), content_hash: 'a'.repeat(64) };
  const res = await transport.pushContent(req);
  t.is(res.kind, 'permanent');
  t.regex((res as { reason: string }).reason, /^http_400: content_hash_mismatch/);
});

test('401 → unauthorized; the reason never contains the token', async (t) => {
  const r = await startTestReceiver({ token: TOKEN });
  t.teardown(() => r.close());
  const wrong = transportFor(t, r.url, { token: `${TOKEN}-wrong` });
  const res = await wrong.pushContent(someRequest());
  t.is(res.kind, 'unauthorized');
  t.regex((res as { reason: string }).reason, /^http_401/);
  t.false(JSON.stringify(res).includes(TOKEN));
  const none = transportFor(t, r.url, { token: null });
  t.is((await none.sendEvents([indexEvent(testNamespace(), 'spec.md', 'x')])).kind, 'unauthorized');
  const right = transportFor(t, r.url);
  t.is((await right.sendEvents([indexEvent(testNamespace(), 'spec.md', 'x')])).kind, 'results');
  t.is(r.stats().unauthorized, 2);
});

test('404 index_entry_not_found → retry (path not indexed, or index lag)', async (t) => {
  const { transport, ns, r } = await indexedReceiver(t);
  t.deepEqual(await transport.pushContent(pushRequest(ns, 'plan.md', 'p')), { kind: 'retry', reason: 'index_entry_not_found' });
  r.setFaults({ indexLagMs: 60_000 });
  await transport.sendEvents([indexEvent(ns, 'tasks.md', 't')]);
  t.deepEqual(await transport.pushContent(pushRequest(ns, 'tasks.md', 't')), { kind: 'retry', reason: 'index_entry_not_found' });
  r.setFaults({ indexLagMs: 0 });
  t.deepEqual(await transport.pushContent(pushRequest(ns, 'tasks.md', 't')), { kind: 'stored' });
});

test('404 namespace_not_found → permanent', async (t) => {
  const { transport } = await indexedReceiver(t);
  // The receiver answers namespace_not_found only for a project it has never seen an event of.
  const unknownProject = testNamespace();
  t.deepEqual(await transport.pushContent(pushRequest(unknownProject, 'spec.md', 'x')), { kind: 'permanent', reason: 'namespace_not_found' });
});

test('404 with no parseable error → retry (conservative)', async (t) => {
  const s = await rawServer(t, reply(404, '<html>Not Found</html>', { 'Content-Type': 'text/html' }));
  const res = await transportFor(t, s.url).pushContent(someRequest());
  t.is(res.kind, 'retry');
  t.regex((res as { reason: string }).reason, /^http_404/);
});

test('429 with retry_after in the body (receiver fault) → retry with retryAfterMs', async (t) => {
  const { transport, ns, r } = await indexedReceiver(t);
  r.setFaults({ rateLimitRate: 1, retryAfterSeconds: 7 });
  t.deepEqual(await transport.pushContent(pushRequest(ns, 'spec.md', 'x')), { kind: 'retry', reason: 'http_429', retryAfterMs: 7000 });
  t.is(r.stats().faults.rate_limit, 1);
});

test('429 with retry_after only in the body', async (t) => {
  const s = await rawServer(t, reply(429, '{"retry_after": 2.5}'));
  t.deepEqual(await transportFor(t, s.url).pushContent(someRequest()), { kind: 'retry', reason: 'http_429', retryAfterMs: 2500 });
});

test('429 with a Retry-After header in seconds', async (t) => {
  const s = await rawServer(t, reply(429, '', { 'Retry-After': '12' }));
  t.deepEqual(await transportFor(t, s.url).pushContent(someRequest()), { kind: 'retry', reason: 'http_429', retryAfterMs: 12_000 });
});

test('429 with a Retry-After HTTP date', async (t) => {
  const at = new Date(Date.now() + 120_000);
  const s = await rawServer(t, reply(429, 'slow down', { 'Retry-After': at.toUTCString() }));
  const res = await transportFor(t, s.url).pushContent(someRequest());
  t.is(res.kind, 'retry');
  const ms = (res as { retryAfterMs?: number }).retryAfterMs ?? -1;
  // toUTCString drops milliseconds: the wait is between 119 s and 120 s.
  t.true(ms > 100_000 && ms <= 120_000, `retryAfterMs ${ms}`);
});

test('retryAfter: the later of body and header; bad values ignored', (t) => {
  const now = Date.parse('2025-01-01T00:00:00Z');
  t.is(retryAfter({ retry_after: 3 }, '10', now), 10_000);
  t.is(retryAfter({ retry_after: '30' }, '10', now), 30_000);
  t.is(retryAfter(null, 'Wed, 01 Jan 2025 00:01:00 GMT', now), 60_000);
  t.is(retryAfter(null, 'Tue, 31 Dec 2024 00:00:00 GMT', now), 0);
  t.is(retryAfter({ retry_after: -1 }, 'soon', now), undefined);
  t.is(retryAfter(null, null, now), undefined);
});

test('5xx → retry', async (t) => {
  const { transport, ns, r } = await indexedReceiver(t);
  r.setFaults({ failFirst: 1, failStatus: 503 });
  const res = await transport.pushContent(pushRequest(ns, 'spec.md', 'x'));
  t.is(res.kind, 'retry');
  t.regex((res as { reason: string }).reason, /^http_503/);
  t.deepEqual(await transport.pushContent(pushRequest(ns, 'spec.md', 'x')), { kind: 'stored' });
});

test('timeout → retry "timeout" (server accepts and never answers)', async (t) => {
  // The timeout must outlast what this machine needs to hand a request to the server, or the client
  // gives up before the server has read it: scale it from a real round trip measured here.
  const plain = await startTestReceiver();
  t.teardown(() => plain.close());
  const probe = transportFor(t, plain.url, { token: null });
  await probe.pushContent(someRequest()); // warm-up: connection and module loading
  const { ms: roundTrip } = await timed(() => probe.pushContent(someRequest()));
  const r = await startTestReceiver({ faults: { hang: true } });
  t.teardown(() => r.close());
  const transport = transportFor(t, r.url, { token: null, timeoutMs: Math.max(200, 20 * roundTrip) });
  t.deepEqual(await transport.pushContent(someRequest()), { kind: 'retry', reason: 'timeout' });
  t.deepEqual(await transport.sendEvents([indexEvent(testNamespace(), 'spec.md', 'x')]), { kind: 'retry', reason: 'timeout' });
  t.is(r.stats().faults.hang, 2, 'both requests reached the server, which left them hanging');
});

test('connection refused → retry', async (t) => {
  const s = await rawServer(t, reply(200, '{}'));
  await s.close();
  t.deepEqual(await transportFor(t, s.url).pushContent(someRequest()), { kind: 'retry', reason: 'connection_refused' });
});

test('connection dropped without an answer → retry connection_reset', async (t) => {
  const r = await startTestReceiver({ faults: { dropRate: 1 } });
  t.teardown(() => r.close());
  const res = await transportFor(t, r.url).pushContent(someRequest());
  t.deepEqual(res, { kind: 'retry', reason: 'connection_reset' });
  t.is(r.stats().faults.drop, 1);
});

test('other status (418, 413, 403) → permanent', async (t) => {
  const { transport, ns, r } = await indexedReceiver(t);
  r.setFaults({ failFirst: 1, failStatus: 418 });
  const res = await transport.pushContent(pushRequest(ns, 'spec.md', 'x'));
  t.is(res.kind, 'permanent');
  t.regex((res as { reason: string }).reason, /^http_418/);
  const big = await transport.pushContent(pushRequest(ns, 'spec.md', 'x'.repeat(524_289)));
  t.is(big.kind, 'permanent');
  t.regex((big as { reason: string }).reason, /^http_413: content_too_large/);
  const s = await rawServer(t, reply(403, '{"error":"forbidden"}'));
  t.deepEqual(await transportFor(t, s.url).pushContent(someRequest()), { kind: 'permanent', reason: 'http_403: forbidden' });
});

// ---- the events batch ----

test('events batch: success, duplicate, rejected; the body is gzip', async (t) => {
  const r = await startTestReceiver();
  t.teardown(() => r.close());
  const transport = transportFor(t, r.url, { token: null });
  const ns = testNamespace();
  const good = indexEvent(ns, 'spec.md', 'a');
  const bad = { ...indexEvent(ns, '../escape.md', 'b') };
  const first = await transport.sendEvents([good, bad]);
  t.is(first.kind, 'results');
  const results = (first as { results: { event_id: string; status: string; error?: string }[] }).results;
  t.deepEqual(
    results.map((x) => [x.event_id, x.status]),
    [
      [good.event_id, 'success'],
      [bad.event_id, 'rejected'],
    ],
  );
  t.regex(results[1].error ?? '', /relative_path must not contain "\.\." segments/);
  const again = await transport.sendEvents([good]);
  t.deepEqual(again, { kind: 'results', results: [{ event_id: good.event_id, status: 'duplicate' }] });
});

test('events are sent gzip-compressed with the headers of the contract', async (t) => {
  const s = await rawServer(t, (_req, res, body) => {
    const events = (JSON.parse(gunzipSync(body).toString('utf8')) as { events: { event_id: string }[] }).events;
    res.writeHead(200, { 'Content-Type': 'application/json' });
    res.end(JSON.stringify({ results: events.map((e) => ({ event_id: e.event_id, status: 'success' })) }));
  });
  const ev = indexEvent(testNamespace(), 'spec.md', 'a');
  const res = await transportFor(t, s.url).sendEvents([ev]);
  t.deepEqual(res, { kind: 'results', results: [{ event_id: ev.event_id, status: 'success' }] });
  const req = s.requests[0];
  t.is(req.method, 'POST');
  t.is(req.url, '/api/v1/events/batch/');
  t.is(req.headers['content-encoding'], 'gzip');
  t.is(req.headers['content-type'], 'application/json');
  t.is(req.headers.authorization, `Bearer ${TOKEN}`);
  t.deepEqual(JSON.parse(gunzipSync(req.body).toString('utf8')), { events: [ev] });
});

test('events: a 200 without a results list → retry; malformed entries are dropped', async (t) => {
  let body = 'not json';
  const s = await rawServer(t, (_req, res) => {
    res.writeHead(200);
    res.end(body);
  });
  const transport = transportFor(t, s.url);
  const ev = indexEvent(testNamespace(), 'spec.md', 'a');
  t.is((await transport.sendEvents([ev])).kind, 'retry');
  body = JSON.stringify({ results: [{ event_id: ev.event_id, status: 'weird' }, { status: 'success' }, { event_id: 'X', status: 'rejected', error: 'no' }] });
  t.deepEqual(await transport.sendEvents([ev]), { kind: 'results', results: [{ event_id: 'X', status: 'rejected', error: 'no' }] });
});

// ---- token, redirects, URLs ----

test('a redirect to another origin is not followed: the token never leaves its origin', async (t) => {
  const other = await rawServer(t, reply(201, '{"status":"stored"}'));
  const origin = await rawServer(t, reply(307, '', { Location: `${other.url}/api/dossier/push-content/` }));
  const res = await transportFor(t, origin.url).pushContent(someRequest());
  t.deepEqual(res, { kind: 'permanent', reason: `redirect_to_other_origin: ${other.url}` });
  t.is(origin.requests[0].headers.authorization, `Bearer ${TOKEN}`);
  t.is(other.requests.length, 0);
  t.false(other.requests.some((r) => r.headers.authorization !== undefined));
});

test('a same-origin redirect is followed with the same POST body and token', async (t) => {
  const s = await rawServer(t, (req, res) => {
    if (req.url === '/api/dossier/push-content/') {
      res.writeHead(308, { Location: '/v2/push/' });
      res.end();
    } else {
      res.writeHead(201, { 'Content-Type': 'application/json' });
      res.end('{"status":"stored"}');
    }
  });
  const req = someRequest();
  t.deepEqual(await transportFor(t, s.url).pushContent(req), { kind: 'stored' });
  t.deepEqual(
    s.requests.map((r) => r.url),
    ['/api/dossier/push-content/', '/v2/push/'],
  );
  t.is(s.requests[1].headers.authorization, `Bearer ${TOKEN}`);
  t.deepEqual(JSON.parse(s.requests[1].body.toString('utf8')), req);
});

test('a redirect loop ends as too_many_redirects', async (t) => {
  const s = await rawServer(t, reply(302, '', { Location: '/api/dossier/push-content/' }));
  t.deepEqual(await transportFor(t, s.url).pushContent(someRequest()), { kind: 'permanent', reason: 'too_many_redirects' });
  t.is(s.requests.length, 4);
});

test('a server that echoes the Authorization header does not leak the token into the reason', async (t) => {
  const s = await rawServer(t, (req, res) => {
    res.writeHead(400, { 'Content-Type': 'application/json' });
    res.end(JSON.stringify({ error: 'bad', detail: `you sent ${req.headers.authorization}` }));
  });
  const res = await transportFor(t, s.url).pushContent(someRequest());
  t.is(res.kind, 'permanent');
  t.false(JSON.stringify(res).includes(TOKEN));
  t.regex((res as { reason: string }).reason, /\[redacted\]/);
});

test('construction: plain http only to loopback unless opted in; bad URLs are ConfigErrors', (t) => {
  // Construction only: nothing is ever sent to these hosts.
  t.throws(() => new Transport({ serverUrl: 'http://sync.example.com', token: TOKEN }), { instanceOf: ConfigError });
  t.throws(() => new Transport({ serverUrl: 'http://10.0.0.1:8787', token: null }), { instanceOf: ConfigError });
  t.throws(() => new Transport({ serverUrl: 'not a url', token: null }), { instanceOf: ConfigError });
  t.throws(() => new Transport({ serverUrl: 'ftp://127.0.0.1', token: null }), { instanceOf: ConfigError });
  t.throws(() => new Transport({ serverUrl: 'https://user:pw@sync.example.com', token: null }), { instanceOf: ConfigError });
  const ok = [
    new Transport({ serverUrl: 'https://sync.example.com', token: TOKEN }),
    new Transport({ serverUrl: 'http://sync.example.com', token: TOKEN, allowInsecureHttp: true }),
    new Transport({ serverUrl: 'http://localhost:8787', token: TOKEN }),
    new Transport({ serverUrl: 'http://127.0.0.1:8787', token: TOKEN }),
    new Transport({ serverUrl: 'http://[::1]:8787', token: TOKEN }),
  ];
  t.is(ok[0].origin, 'https://sync.example.com');
  for (const tr of ok) tr.close();
  const err = t.throws(() => new Transport({ serverUrl: 'http://sync.example.com', token: TOKEN }));
  t.false(err?.message.includes(TOKEN));
});

test('a base URL with a path prefix keeps it', async (t) => {
  const s = await rawServer(t, reply(201, '{"status":"stored"}'));
  t.deepEqual(await transportFor(t, `${s.url}/sync`).pushContent(someRequest()), { kind: 'stored' });
  t.is(s.requests[0].url, '/sync/api/dossier/push-content/');
});

// ---- abort, keep-alive ----

test('a hanging server is abandoned as soon as the caller aborts (aborted, not timeout)', async (t) => {
  const r = await startTestReceiver({ faults: { hang: true } });
  t.teardown(() => r.close());
  const transport = transportFor(t, r.url, { token: null, timeoutMs: 60_000 });
  const ac = new AbortController();
  setTimeout(() => ac.abort(), 100);
  t.deepEqual(await transport.pushContent(someRequest(), ac.signal), { kind: 'aborted' });
  t.deepEqual(await transport.sendEvents([], ac.signal), { kind: 'aborted' });
});

test('requests started at different moments share timeout timers, yet each runs its full timeout before it is a "timeout"', async (t) => {
  const r = await startTestReceiver({ faults: { hang: true } });
  t.teardown(() => r.close());
  const timeoutMs = 300;
  const transport = transportFor(t, r.url, { token: null, timeoutMs });
  const signal = new AbortController().signal;
  // Staggered starts: some fall in one timeout window, others open new ones.
  const runs = [0, 5, 15, 25, 40, 80, 160].map(async (delay) => {
    await new Promise((res) => setTimeout(res, delay));
    const start = performance.now();
    const result = await transport.pushContent(someRequest(), signal);
    return { result, elapsed: performance.now() - start };
  });
  for (const { result, elapsed } of await Promise.all(runs)) {
    t.deepEqual(result, { kind: 'retry', reason: 'timeout' });
    t.true(elapsed >= timeoutMs - 1, `a request was cut off after ${elapsed.toFixed(0)} ms (timeout ${timeoutMs} ms)`);
  }
});

test("a caller aborting its request does not abort another caller's request started at the same moment", async (t) => {
  const held: (() => void)[] = [];
  const s = await rawServer(t, (_req, res) => {
    held.push(() => {
      res.writeHead(201, { 'Content-Type': 'application/json' });
      res.end('{"status":"stored"}');
    });
  });
  const transport = transportFor(t, s.url, { timeoutMs: 60_000 });
  const mine = new AbortController();
  const theirs = new AbortController();
  const p = transport.pushContent(someRequest(), mine.signal);
  const q = transport.pushContent(someRequest(), theirs.signal);
  const r = transport.pushContent(someRequest());
  for (let i = 0; i < 250 && s.requests.length < 3; i++) await new Promise((res) => setTimeout(res, 10));
  mine.abort();
  t.deepEqual(await p, { kind: 'aborted' });
  for (const release of held) release();
  t.deepEqual(await q, { kind: 'stored' });
  t.deepEqual(await r, { kind: 'stored' });
});

test('many concurrent requests on one caller signal: no listener-leak warning, all delivered', async (t) => {
  const warnings: string[] = [];
  const onWarning = (w: Error) => warnings.push(w.name);
  process.on('warning', onWarning);
  t.teardown(() => process.off('warning', onWarning));
  const s = await rawServer(t, reply(201, '{"status":"stored"}'));
  const transport = transportFor(t, s.url, { maxSockets: 32 });
  const signal = new AbortController().signal;
  const results = await Promise.all(Array.from({ length: 40 }, () => transport.pushContent(someRequest(), signal)));
  t.true(results.every((x) => x.kind === 'stored'));
  await new Promise((res) => setImmediate(res));
  t.deepEqual(
    warnings.filter((w) => w === 'MaxListenersExceededWarning'),
    [],
  );
});

test('sequential and concurrent requests reuse keep-alive connections', async (t) => {
  const s = await rawServer(t, reply(201, '{"status":"stored"}'));
  const transport = transportFor(t, s.url);
  for (let i = 0; i < 20; i++) t.is((await transport.pushContent(someRequest())).kind, 'stored');
  t.is(s.connections, 1);
  const results = await Promise.all(Array.from({ length: 40 }, () => transport.pushContent(someRequest())));
  t.true(results.every((x) => x.kind === 'stored'));
  t.true(s.connections <= 16, `${s.connections} connections`);
});

test('a body given as stored bytes encodes to exactly the JSON of its decoded text', (t) => {
  const base = someRequest();
  const samples = [
    '',
    'plain ascii',
    '# Título — «quoted» "double" \\ back\\slash\n\ttab\r\n\u0000\u0001\u001f\u007f\u0085 end',
    'emoji 🐈‍⬛ and CJK 猫, combining é, U+2028 \u2028 and U+2029 \u2029',
    'ÿ\u00a0\u00ff ß ü'.repeat(500),
  ];
  for (const text of samples) {
    const expected = Buffer.from(JSON.stringify({ ...base, content_body: text }), 'utf8');
    const got = encodePushContent({ ...base, content_body: Buffer.from(text, 'utf8') });
    t.deepEqual(JSON.parse(got.toString('utf8')), { ...base, content_body: text });
    t.true(got.equals(expected), `bytes differ for ${JSON.stringify(text.slice(0, 30))}`);
  }
  // Not valid UTF-8: the decoded text is sent (with U+FFFD), exactly as before.
  const invalid = Buffer.from([0x61, 0xff, 0xfe, 0x62, 0xc3]);
  t.true(encodePushContent({ ...base, content_body: invalid }).equals(Buffer.from(JSON.stringify({ ...base, content_body: invalid.toString('utf8') }), 'utf8')));
});

test('a body given as bytes is stored by the receiver under its hash', async (t) => {
  const { transport, ns } = await indexedReceiver(t);
  const req = pushRequest(ns, 'spec.md', 'Größe "quoted" \\ 🐈\n');
  t.deepEqual(await transport.pushContent({ ...req, content_body: Buffer.from(req.content_body, 'utf8') }), { kind: 'stored' });
  t.deepEqual(await transport.pushContent(req), { kind: 'already_exists' });
});

test('push-content request: JSON body and headers of the contract', async (t) => {
  const s = await rawServer(t, reply(201, '{"status":"stored"}'));
  const req = someRequest();
  await transportFor(t, s.url).pushContent(req);
  const got = s.requests[0];
  t.is(got.url, '/api/dossier/push-content/');
  t.is(got.headers['content-type'], 'application/json');
  t.is(got.headers.authorization, `Bearer ${TOKEN}`);
  t.deepEqual(JSON.parse(got.body.toString('utf8')), req);
  const anon = await rawServer(t, reply(201, '{}'));
  await transportFor(t, anon.url, { token: null }).pushContent(req);
  t.is(anon.requests[0].headers.authorization, undefined);
});
