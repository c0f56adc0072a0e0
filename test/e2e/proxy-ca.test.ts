// Proxies and company CAs (issue 13 item 2), end to end with real hooks and the real receiver: a
// forward proxy on loopback carries the requests (CONNECT for https, absolute URIs for http) and
// NO_PROXY bypasses it; an HTTPS server with a self-signed certificate is trusted through
// KITTY_SYNC_CA_FILE or NODE_EXTRA_CA_CERTS, and refused without either.
//
// The server's name, kitty-sync.test, resolves nowhere but in the test proxy (as a company proxy
// resolves names the laptop cannot): a request for it succeeds only through the proxy, and one that
// bypasses the proxy fails with a DNS error, which shows that it was made directly.
import test from 'ava';
import { startTestReceiver, type TestReceiver } from '../support/receiver.js';
import { forwardProxy, selfSigned, tlsFront, type SelfSigned } from '../support/net.js';
import { cli } from '../support/proc.js';
import { writeFiles } from '../support/git.js';
import { commit, feature, type HookRepo, installHooks, newRepo, summaryOf } from '../support/hooks.js';

const TOKEN = 'kst_proxy_test_4e8c2a7b19f3';
const NAME = 'kitty-sync.test';

let receiver: TestReceiver;
let cert: SelfSigned;
test.before(async () => {
  receiver = await startTestReceiver({ token: TOKEN });
  cert = selfSigned([NAME, 'localhost']);
});
test.after.always(async () => {
  await receiver?.close();
  cert?.cleanup();
});

async function repoWith(t: { teardown(fn: () => unknown): void }, slug: string): Promise<HookRepo> {
  const repo = await newRepo();
  t.teardown(() => repo.cleanup());
  await installHooks(repo.root);
  await writeFiles(repo.root, feature(slug));
  return repo;
}

const base = { KITTY_SYNC_TOKEN: TOKEN, KITTY_SYNC_BUDGET_MS: '30000' };

test('https through a forward proxy (CONNECT) with the CA from KITTY_SYNC_CA_FILE; NO_PROXY bypasses the proxy', async (t) => {
  const front = await tlsFront(receiver.url, cert);
  const proxy = await forwardProxy({ [NAME]: '127.0.0.1' });
  t.teardown(() => Promise.all([front.close(), proxy.close()]));
  const server = `https://${NAME}:${front.port}`;
  const repo = await repoWith(t, '001-proxy');

  const viaProxy = await commit(repo.root, 'through the proxy', { ...base, KITTY_SYNC_SERVER_URL: server, HTTPS_PROXY: proxy.url, KITTY_SYNC_CA_FILE: cert.certFile });
  t.deepEqual(summaryOf(viaProxy.stderr, '001-proxy'), { uploaded: 3, already_exists: 0, queued: 0, skipped: 1, failed: 0 }, viaProxy.stderr);
  t.true(proxy.records.length > 0 && proxy.records.every((r) => r.method === 'CONNECT' && r.target === `${NAME}:${front.port}`), JSON.stringify(proxy.records));
  t.false(
    proxy.records.some((r) => r.sawAuthorization),
    'the token crossed the proxy in clear',
  );
  t.true(front.requests > 0);
  t.is(receiver.artifacts().filter((a) => a.namespace.project_uuid === repo.uuid).length, 3);

  // NO_PROXY names the server: the request is made directly (and fails: only the proxy knows the name).
  const seen = proxy.records.length;
  await writeFiles(repo.root, { 'kitty-specs/001-proxy/spec.md': '# spec v2\n' });
  const bypass = await commit(repo.root, 'bypass', {
    ...base,
    KITTY_SYNC_SERVER_URL: server,
    https_proxy: proxy.url,
    no_proxy: `localhost,.example.com,${NAME}`,
    KITTY_SYNC_CA_FILE: cert.certFile,
  });
  t.is(proxy.records.length, seen, 'NO_PROXY did not bypass the proxy');
  t.is(summaryOf(bypass.stderr, '001-proxy')?.queued, 1, bypass.stderr);
  const drained = await cli(repo.root, ['drain', '--force', '--json'], { ...base, KITTY_SYNC_SERVER_URL: server, HTTPS_PROXY: proxy.url, NO_PROXY: NAME, KITTY_SYNC_CA_FILE: cert.certFile });
  t.is(proxy.records.length, seen);
  t.regex(drained.stdout, /dns_failure/, 'the bypassed request failed resolving the name, so it was made directly');

  // The same drain through the proxy delivers what the bypass left queued.
  const again = await cli(repo.root, ['drain', '--force', '--json'], { ...base, KITTY_SYNC_SERVER_URL: server, HTTPS_PROXY: proxy.url, KITTY_SYNC_CA_FILE: cert.certFile });
  t.is(again.code, 0, again.stdout + again.stderr);
  t.true(proxy.records.length > seen);
});

test('plain http through the proxy uses absolute-URI requests; loopback servers are reached directly whatever the proxy variables say', async (t) => {
  const proxy = await forwardProxy({ [NAME]: '127.0.0.1' });
  t.teardown(() => proxy.close());
  const repo = await repoWith(t, '002-http-proxy');
  const port = new URL(receiver.url).port;

  // http:// to a non-loopback name needs the insecure opt-in; the proxy then sees the request.
  const viaProxy = await commit(repo.root, 'absolute URI', {
    ...base,
    KITTY_SYNC_SERVER_URL: `http://${NAME}:${port}`,
    KITTY_SYNC_ALLOW_INSECURE_HTTP: '1',
    HTTP_PROXY: proxy.url,
  });
  t.deepEqual(summaryOf(viaProxy.stderr, '002-http-proxy'), { uploaded: 3, already_exists: 0, queued: 0, skipped: 1, failed: 0 }, viaProxy.stderr);
  t.true(proxy.records.some((r) => r.method === 'POST' && r.target === `http://${NAME}:${port}/api/v1/events/batch/`));
  t.true(proxy.records.some((r) => r.method === 'POST' && r.target === `http://${NAME}:${port}/api/dossier/push-content/`));

  // A loopback server never goes through a proxy: it could not reach this machine's loopback, and
  // plain http would hand it the token.
  const seen = proxy.records.length;
  await writeFiles(repo.root, { 'kitty-specs/002-http-proxy/spec.md': '# spec v2\n' });
  const direct = await commit(repo.root, 'loopback', { ...base, KITTY_SYNC_SERVER_URL: receiver.url, HTTP_PROXY: proxy.url, HTTPS_PROXY: proxy.url, ALL_PROXY: proxy.url });
  t.is(summaryOf(direct.stderr, '002-http-proxy')?.uploaded, 1, direct.stderr);
  t.is(proxy.records.length, seen);
});

test('a self-signed server is refused without its CA; NODE_EXTRA_CA_CERTS or sync.ca_file make it trusted; a bad CA file or proxy variable is named', async (t) => {
  const front = await tlsFront(receiver.url, cert);
  t.teardown(() => front.close());
  const server = `https://127.0.0.1:${front.port}`;
  const repo = await repoWith(t, '003-ca');

  const refused = await commit(repo.root, 'untrusted', { ...base, KITTY_SYNC_SERVER_URL: server });
  t.is(summaryOf(refused.stderr, '003-ca')?.queued, 3, refused.stderr);
  const why = await cli(repo.root, ['drain', '--force', '--json'], { ...base, KITTY_SYNC_SERVER_URL: server });
  t.is(why.code, 75);
  t.regex(why.stdout, /self[- ]signed certificate/i);

  const nodeExtra = await cli(repo.root, ['drain', '--force'], { ...base, KITTY_SYNC_SERVER_URL: server, NODE_EXTRA_CA_CERTS: cert.certFile });
  t.is(nodeExtra.code, 0, nodeExtra.stderr);
  t.regex(nodeExtra.stdout, /queue: 0 pending/);

  // sync.ca_file in .kittify/config.yaml, relative to the work tree root.
  await writeFiles(repo.root, {
    '.kittify/config.yaml': `project:\n  uuid: ${repo.uuid}\n  name: e2e\nsync:\n  ca_file: certs/company-ca.pem\n`,
    'certs/company-ca.pem': cert.cert,
    'kitty-specs/003-ca/spec.md': '# spec v2\n',
  });
  const viaConfig = await commit(repo.root, 'ca_file', { ...base, KITTY_SYNC_SERVER_URL: server });
  t.is(summaryOf(viaConfig.stderr, '003-ca')?.uploaded, 1, viaConfig.stderr);

  // A CA file that is not there: the message names it, the work stays queued, the commit succeeds.
  await writeFiles(repo.root, { 'kitty-specs/003-ca/spec.md': '# spec v3\n' });
  const missing = await commit(repo.root, 'missing ca', { ...base, KITTY_SYNC_SERVER_URL: server, KITTY_SYNC_CA_FILE: '/nonexistent/ca.pem' });
  t.regex(missing.stderr, /CA file \/nonexistent\/ca\.pem cannot be read \(ENOENT\); work stays queued/);
  t.is(summaryOf(missing.stderr, '003-ca')?.queued, 1);

  // An unusable proxy variable: named in the reason, the work stays queued.
  const socks = await cli(repo.root, ['drain', '--force', '--json'], { ...base, KITTY_SYNC_SERVER_URL: `https://${NAME}:${front.port}`, HTTPS_PROXY: 'socks5://127.0.0.1:1' });
  t.regex(socks.stdout, /proxy_error: HTTPS_PROXY uses socks5:\/\/; only http:\/\/ and https:\/\/ proxies are supported/);
  t.is(socks.code, 75);
  // A hook with nothing to send under the same variable: the agent's failed preparation is dropped
  // quietly when the hook closes the transport (no unhandled rejection).
  await writeFiles(repo.root, { 'kitty-specs/003-ca/meta.json': JSON.stringify({ target_branch: 'main', mission_type: 'software-dev', note: 'only metadata' }) });
  const quiet = await commit(repo.root, 'metadata only', { ...base, KITTY_SYNC_SERVER_URL: `https://${NAME}:${front.port}`, HTTPS_PROXY: 'socks5://127.0.0.1:1' });
  t.regex(quiet.stderr, /kitty-sync: 003-ca: 0 uploaded, 0 already_exists, 0 queued, 1 skipped, 0 failed/);
  t.notRegex(quiet.stderr, /Unhandled|ProxyConfigError|node:internal/);
});
