import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import type { AddressInfo } from 'node:net';
import { once } from 'node:events';
import http from 'node:http';
import https from 'node:https';
import t from 'tap';
import WebSocket from 'ws';
import { loadConfig, parseBind } from '../../src/config.js';
import { silentLogger } from '../../src/log.js';
import { startSupervised } from '../../src/supervisor.js';
import { testConfig } from '../helpers/config.js';
import { repoPath } from '../helpers/paths.js';
import { cleanEnv, runServer, spawnServer, startTestServer, tempDir } from '../helpers/server.js';
import { httpsRequest, selfSignedCert, type TestCert } from '../helpers/tls.js';

/**
 * --tls-cert / --tls-key: both listeners serve HTTPS and WSS (uWS's SSL app), with a
 * certificate this test makes with openssl; the clients trust it as their CA.
 */

const TOKEN = 'tls-secret';
const AUTH = { authorization: `Bearer ${TOKEN}` };
/** The cluster pass puts an HTTP balancer in front; TLS is a listener's own business. */
const ONE_NODE = { oneNode: 'TLS terminates at the listener (the test balancer speaks plain HTTP)' };

function certOrSkip(t: Tap.Test): TestCert | null {
  const c = selfSignedCert(tempDir(t));
  if ('skip' in c) {
    t.skip(c.skip);
    return null;
  }
  return c;
}

t.test('REST, WSS with the koor subprotocol, and the dashboard listener over TLS', async (t) => {
  const pem = certOrSkip(t);
  if (!pem) return;
  const s = await startTestServer(t, { authToken: TOKEN, tlsCert: pem.cert, tlsKey: pem.key, dashboardBind: parseBind('127.0.0.1:0', 'dashboard') }, ONE_NODE);
  t.match(s.url, /^https:\/\/127\.0\.0\.1:\d+$/, 'the server URL says https');
  t.match(s.dashboardUrl, /^https:\/\/127\.0\.0\.1:\d+$/, 'so does the dashboard URL');

  const health = await httpsRequest(`${s.url}/health`, pem.ca);
  t.equal(health.status, 200);
  const put = await httpsRequest(`${s.url}/api/state/tls/k`, pem.ca, { method: 'PUT', headers: { ...AUTH, 'content-type': 'application/json' }, body: '{"over":"tls"}' });
  t.equal(put.status, 200, put.body);
  const got = await httpsRequest(`${s.url}/api/state/tls/k`, pem.ca, { headers: AUTH });
  t.same([got.status, got.body], [200, '{"over":"tls"}'], 'what was PUT comes back');
  t.equal((await httpsRequest(`${s.url}/api/state/tls/k`, pem.ca)).status, 401, 'the token is still required');
  // A big body arrives in many TLS records (onData chunks) and goes back out corked.
  const big = JSON.stringify({ blob: 'x'.repeat(600_000) });
  t.equal((await httpsRequest(`${s.url}/api/state/tls/big`, pem.ca, { method: 'PUT', headers: { ...AUTH, 'content-type': 'application/json' }, body: big })).status, 200);
  t.equal((await httpsRequest(`${s.url}/api/state/tls/big`, pem.ca, { headers: AUTH })).body, big, 'a 600 KB value both ways');

  await t.rejects(httpsRequest(`${s.url}/health`, undefined), /self[- ]signed/, 'a client that does not trust the certificate is refused');
  await t.rejects(plainGet(`${s.url.replace('https:', 'http:')}/health`), 'plain HTTP on the TLS port gets no reply');

  // The event stream over wss://, authorized by the token in the subprotocol offer (browsers).
  const wss = `${s.url.replace('https:', 'wss:')}/api/events/subscribe?pattern=tls.*`;
  const ws = new WebSocket(wss, ['koor', `koor.bearer.${Buffer.from(TOKEN).toString('base64url')}`], { ca: pem.ca });
  t.teardown(() => ws.terminate());
  await once(ws, 'open');
  t.equal(ws.protocol, 'koor', 'the server answers the koor subprotocol');
  const frame = once(ws, 'message');
  const pub = await httpsRequest(`${s.url}/api/events/publish`, pem.ca, { method: 'POST', headers: { ...AUTH, 'content-type': 'application/json' }, body: '{"topic":"tls.hello","data":{"n":1}}' });
  t.equal(pub.status, 200, pub.body);
  const [data] = (await frame) as [Buffer];
  t.match(JSON.parse(data.toString('utf8')), { topic: 'tls.hello', data: { n: 1 } }, 'the subscriber got the published event');

  // The dashboard listener: its page and the API, over TLS too.
  const page = await httpsRequest(`${s.dashboardUrl}/`, pem.ca);
  t.equal(page.status, 200);
  t.match(page.body, /<!doctype html>/i, 'the dashboard page');
  t.same((await httpsRequest(`${s.dashboardUrl}/api/state/tls/k`, pem.ca, { headers: AUTH })).body, '{"over":"tls"}', 'the API through the dashboard listener');
  const dws = new WebSocket(`${s.dashboardUrl!.replace('https:', 'wss:')}/api/events/subscribe?pattern=*`, { ca: pem.ca, headers: AUTH });
  t.teardown(() => dws.terminate());
  await once(dws, 'open');
  t.pass('a wss:// subscription on the dashboard listener');
});

t.test('the MCP SDK client over https, trusting the certificate through NODE_EXTRA_CA_CERTS', async (t) => {
  const pem = certOrSkip(t);
  if (!pem) return;
  const s = await startTestServer(t, { authToken: TOKEN, tlsCert: pem.cert, tlsKey: pem.key }, ONE_NODE);
  // As an IDE's Node-based MCP client runs: its own process, told of the CA by the environment.
  const sdk = (p: string) => JSON.stringify(`file://${repoPath('node_modules', '@modelcontextprotocol', 'sdk', 'dist', 'esm', 'client', p)}`);
  const script = `
    const { Client } = await import(${sdk('index.js')});
    const { StreamableHTTPClientTransport } = await import(${sdk('streamableHttp.js')});
    const client = new Client({ name: 'tls-test', version: '1.0.0' });
    await client.connect(new StreamableHTTPClientTransport(new URL(process.env.MCP_URL), { requestInit: { headers: { authorization: 'Bearer ${TOKEN}' } } }));
    const { tools } = await client.listTools();
    const ep = await client.callTool({ name: 'get_endpoints', arguments: {} });
    process.stdout.write(JSON.stringify({ tools: tools.map((x) => x.name), endpoints: JSON.parse(ep.content[0].text) }));
    await client.close();
  `;
  const run = (env: Record<string, string>) =>
    new Promise<{ code: number | null; out: string; err: string }>((resolve) => {
      const child = spawn('/usr/bin/env', ['-u', 'NODE_OPTIONS', process.execPath, '--input-type=module', '-e', script], { env: cleanEnv({ MCP_URL: `${s.url}/mcp`, ...env }), stdio: ['ignore', 'pipe', 'pipe'] });
      let out = '';
      let err = '';
      child.stdout.on('data', (d: Buffer) => (out += d.toString()));
      child.stderr.on('data', (d: Buffer) => (err += d.toString()));
      const timer = setTimeout(() => child.kill('SIGKILL'), 20_000);
      child.on('close', (code) => {
        clearTimeout(timer);
        resolve({ code, out, err });
      });
    });
  const ok = await run({ NODE_EXTRA_CA_CERTS: pem.cert });
  t.equal(ok.code, 0, ok.err);
  const r = JSON.parse(ok.out) as { tools: string[]; endpoints: { api_base: string } };
  t.same(r.tools, ['register_instance', 'discover_instances', 'set_intent', 'get_endpoints', 'propose_rule'], 'the five tools over https');
  t.equal(r.endpoints.api_base, `${s.url}/api/`, 'get_endpoints advertises the https:// base');
  const refused = await run({});
  t.not(refused.code, 0, 'without the CA the client is refused');
});

t.test('a live restore keeps serving TLS on the same listeners', async (t) => {
  const pem = certOrSkip(t);
  if (!pem) return;
  if (process.env.KOOR_TEST_BACKEND === 'postgres' || process.env.KOOR_TEST_BACKEND === 'cluster') return t.skip('live restore of the SQLite file (the supervisor)');
  const config = testConfig({ bind: parseBind('127.0.0.1:0', 'bind'), dashboardBind: null, dataDir: tempDir(t), tlsCert: pem.cert, tlsKey: pem.key });
  const sup = await startSupervised(config, { log: silentLogger(), onFatal: (err) => t.fail(`restart failed: ${String(err)}`) });
  t.teardown(() => sup.close());
  const url = sup.current.url;
  t.equal((await httpsRequest(`${url}/api/state/a`, pem.ca, { method: 'PUT', body: '1' })).status, 200);
  const snapshot = await httpsBytes(`${url}/api/admin/backup`, pem.ca);
  t.equal((await httpsRequest(`${url}/api/state/b`, pem.ca, { method: 'PUT', body: '2' })).status, 200);
  const ws = new WebSocket(`${url.replace('https:', 'wss:')}/api/events/subscribe?pattern=*`, { ca: pem.ca });
  await once(ws, 'open');
  const closed = once(ws, 'close');
  // The listeners keep their certificate: files renamed (a renewal in progress) do not matter.
  fs.renameSync(pem.key, `${pem.key}.old`);
  const r = await httpsRequest(`${url}/api/admin/restore`, pem.ca, { method: 'POST', headers: { 'content-type': 'application/octet-stream' }, body: snapshot });
  t.equal(r.status, 200, r.body);
  t.equal(((await closed) as [number])[0], 1012, 'the subscriber is told to resume');
  // Requests get 503 while the new generation starts on the snapshot.
  let a = await httpsRequest(`${url}/api/state/a`, pem.ca);
  for (let i = 0; a.status === 503 && i < 300; i++) {
    await new Promise((r) => setTimeout(r, 50));
    a = await httpsRequest(`${url}/api/state/a`, pem.ca);
  }
  t.equal(sup.current.url, url, 'same address, still https');
  t.equal(a.body, '1', 'served over TLS from the snapshot');
  t.equal((await httpsRequest(`${url}/api/state/b`, pem.ca)).status, 404, 'the write after the snapshot is gone');
  const again = new WebSocket(`${url.replace('https:', 'wss:')}/api/events/subscribe?pattern=*`, { ca: pem.ca });
  t.teardown(() => again.terminate());
  await once(again, 'open');
  t.pass('a new wss:// subscription after the restore');
});

t.test('webhooks to an https:// receiver with a self-signed certificate: trusted through NODE_EXTRA_CA_CERTS', async (t) => {
  const pem = certOrSkip(t);
  if (!pem) return;
  const got: string[] = [];
  const rx = https.createServer({ cert: fs.readFileSync(pem.cert), key: fs.readFileSync(pem.key) }, (req, res) => {
    let body = '';
    req.on('data', (d: Buffer) => (body += d.toString()));
    req.on('end', () => {
      got.push(body);
      res.end('ok');
    });
  });
  await new Promise<void>((resolve) => rx.listen(0, '127.0.0.1', resolve));
  t.teardown(() => rx.close());
  const url = `https://127.0.0.1:${(rx.address() as AddressInfo).port}/hook`;
  const post = (base: string, p: string, body: unknown) => fetch(`${base}${p}`, { method: 'POST', body: JSON.stringify(body) }).then(async (r) => [r.status, await r.json()] as const);

  // The delivery thread is Node's https: the server process trusts what its environment names.
  const trusted = await spawnServer(['--data-dir', tempDir(t)], { NODE_EXTRA_CA_CERTS: pem.cert }, ONE_NODE);
  t.teardown(() => trusted.child.kill('SIGKILL'));
  t.match(await post(trusted.url, '/api/webhooks', { id: 'tls', url }), [200, { id: 'tls', url }]);
  t.same(await post(trusted.url, '/api/webhooks/tls/test', {}), [200, { tested: 'tls', status: 'ok' }], 'the test delivery reached the https:// receiver');
  await post(trusted.url, '/api/events/publish', { topic: 'tls.hook', data: { n: 1 } });
  for (let i = 0; i < 200 && !got.some((b) => b.includes('tls.hook')); i++) await new Promise((r) => setTimeout(r, 50));
  t.ok(got.some((b) => b.includes('"topic":"tls.hook"')), 'a published event was delivered over https://');

  const untrusted = await spawnServer(['--data-dir', tempDir(t)], {}, ONE_NODE);
  t.teardown(() => untrusted.child.kill('SIGKILL'));
  await post(untrusted.url, '/api/webhooks', { id: 'tls', url });
  const [status, body] = await post(untrusted.url, '/api/webhooks/tls/test', {});
  t.same([status, body], [400, { error: 'webhook test failed: request failed: DEPTH_ZERO_SELF_SIGNED_CERT (self-signed certificate)', code: 400 }], 'without it, the reason is named');
});

t.test('TLS settings: both or neither, files judged at start in one line', async (t) => {
  const pem = certOrSkip(t);
  if (!pem) return;
  const dir = tempDir(t);
  const d = loadConfig([], { KOOR_TLS_CERT: 'c.pem', KOOR_TLS_KEY: 'k.pem' }, dir);
  t.same([d.tlsCert, d.tlsKey], [`${dir}/c.pem`, `${dir}/k.pem`], 'env, resolved against the working directory');
  t.throws(() => loadConfig(['--tls-cert', pem.cert], {}, dir), /^--tls-cert needs --tls-key/);
  t.throws(() => loadConfig([], { KOOR_TLS_KEY: pem.key }, dir), /^--tls-key needs --tls-cert/);

  const data = ['--data-dir', tempDir(t), '--bind', '127.0.0.1:0', '--dashboard-bind', ''];
  const cases: Array<[string, string[], RegExp]> = [
    ['cert without key', ['--tls-cert', pem.cert], /^koor-server: --tls-cert needs --tls-key \(its private key\)\n$/],
    ['missing file', ['--tls-cert', `${dir}/nope.pem`, '--tls-key', pem.key], /^koor-server: cannot read --tls-cert \S+\/nope\.pem: no such file\n$/],
    ['not a certificate', ['--tls-cert', pem.key, '--tls-key', pem.key], /^koor-server: --tls-cert \S+: not a PEM certificate\n$/],
    ['not a key', ['--tls-cert', pem.cert, '--tls-key', pem.cert], /^koor-server: --tls-key \S+: not a PEM private key/],
  ];
  for (const [what, flags, want] of cases) {
    const r = await runServer([...data, ...flags]);
    t.equal(r.code, 1, `${what}: exit 1`);
    t.match(r.stderr, want, `${what}: one line`);
  }
  // Another key than the certificate's, and an encrypted key without its passphrase: refused
  // before OpenSSL could ask for one on a terminal.
  const other = selfSignedCert(tempDir(t)) as TestCert;
  const wrong = await runServer([...data, '--tls-cert', pem.cert, '--tls-key', other.key]);
  t.match([wrong.code, wrong.stderr], [1, /^koor-server: --tls-key \S+ is not the private key of --tls-cert \S+\n$/]);
  const enc = `${dir}/enc.pem`;
  const made = spawnSyncOk('openssl', ['pkey', '-in', pem.key, '-aes256', '-passout', 'pass:open-sesame', '-out', enc]);
  if (made) {
    const noPass = await runServer([...data, '--tls-cert', pem.cert, '--tls-key', enc]);
    t.match([noPass.code, noPass.stderr], [1, /^koor-server: --tls-key \S+: the key is encrypted: give --tls-key-passphrase/]);
    const badPass = await runServer([...data, '--tls-cert', pem.cert, '--tls-key', enc], { env: { KOOR_TLS_KEY_PASSPHRASE: 'nope' } });
    t.match([badPass.code, badPass.stderr], [1, /^koor-server: --tls-key \S+: wrong --tls-key-passphrase\n$/]);
    const s = await startTestServer(t, { tlsCert: pem.cert, tlsKey: enc, tlsKeyPassphrase: 'open-sesame' }, ONE_NODE);
    t.equal((await httpsRequest(`${s.url}/health`, pem.ca)).status, 200, 'an encrypted key with its passphrase serves');
  }
});

function plainGet(url: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = http.get(url, { agent: false }, (res) => {
      res.resume();
      resolve(res.statusCode!);
    });
    req.on('error', reject);
    req.setTimeout(5_000, () => req.destroy(new Error('timeout')));
  });
}

function httpsBytes(url: string, ca: string): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    https.get(url, { ca, agent: false }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve(Buffer.concat(chunks)));
      res.on('error', reject);
    }).on('error', reject);
  });
}

function spawnSyncOk(cmd: string, args: string[]): boolean {
  return spawnSync(cmd, args, { stdio: 'ignore' }).status === 0;
}
