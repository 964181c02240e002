import fs from 'node:fs';
import path from 'node:path';
import t from 'tap';
import { startTestServer, tempDir } from '../helpers/server.js';
import { httpsRequest, selfSignedCert, type TestCert } from '../helpers/tls.js';
import { cliFor, exitWithin, runCli, startCli, writeSettings } from './helpers.js';

/**
 * koor-cli against a koor-server serving TLS with a self-signed certificate this test
 * makes: KOOR_CA_FILE / ca_file trusts it; without it every command says so in one line, exit 1.
 */

const ONE_NODE = { oneNode: 'TLS terminates at the listener (the test balancer speaks plain HTTP)' };
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function certOrSkip(t: Tap.Test): TestCert | null {
  const c = selfSignedCert(tempDir(t));
  if ('skip' in c) {
    t.skip(c.skip);
    return null;
  }
  return c;
}

const UNTRUSTED = /^error: request failed: self[- ]signed certificate \(the server certificate is not trusted: set KOOR_CA_FILE, or ca_file in settings\.json, to the PEM file of its CA or self-signed certificate\)\n$/;

t.test('state set/get, events subscribe and wait over https with the CA option; a clear error without it', async (t) => {
  const pem = certOrSkip(t);
  if (!pem) return;
  const s = await startTestServer(t, { tlsCert: pem.cert, tlsKey: pem.key }, ONE_NODE);
  const dir = tempDir(t);
  const cli = cliFor(s.url, dir, { KOOR_CA_FILE: pem.cert });

  const set = await cli('state', 'set', 'tls/cfg', '--data', '{"a":1}');
  t.equal(set.code, 0, set.stderr);
  const get = await cli('state', 'get', 'tls/cfg');
  t.same([get.code, get.stdout, get.stderr], [0, '{"a":1}', ''], 'KOOR_CA_FILE');

  // ca_file in ./settings.json, relative to it, next to the server URL.
  const proj = tempDir(t);
  fs.copyFileSync(pem.cert, path.join(proj, 'koor-ca.pem'));
  writeSettings(proj, { server: s.url, ca_file: 'koor-ca.pem' });
  const fromFile = await runCli(['state', 'get', 'tls/cfg'], { cwd: proj });
  t.same([fromFile.code, fromFile.stdout], [0, '{"a":1}'], 'ca_file in settings.json');

  const untrusted = await runCli(['state', 'get', 'tls/cfg'], { cwd: dir, env: { KOOR_SERVER: s.url } });
  t.same([untrusted.code, untrusted.stdout], [1, ''], 'no CA: exit 1, nothing on stdout');
  t.match(untrusted.stderr, UNTRUSTED, 'one line saying what to set');
  const other = selfSignedCert(tempDir(t)) as TestCert;
  const wrongCa = await runCli(['state', 'get', 'tls/cfg'], { cwd: dir, env: { KOOR_SERVER: s.url, KOOR_CA_FILE: other.cert } });
  t.match([wrongCa.code, wrongCa.stderr], [1, /^error: request failed: self[- ]signed certificate \(the server certificate is not vouched for by the CA file \S+cert\.pem\)\n$/]);
  const missing = await runCli(['state', 'get', 'tls/cfg'], { cwd: dir, env: { KOOR_SERVER: s.url, KOOR_CA_FILE: 'nope.pem' } });
  t.same([missing.code, missing.stderr], [1, `error: cannot read the CA file ${path.join(dir, 'nope.pem')} (KOOR_CA_FILE / ca_file): no such file\n`]);
  const plain = await runCli(['state', 'get', 'tls/cfg'], { cwd: dir, env: { KOOR_SERVER: s.url.replace('https:', 'http:') } });
  t.same([plain.code, plain.stderr], [1, 'error: request failed: connection closed without a reply (if the server serves TLS, use https://)\n'], 'http:// to a TLS listener');

  // events subscribe over wss://, trusting the CA.
  const teardown = t.teardown.bind(t);
  const sub = startCli(['events', 'subscribe', 'tls.*'], { cwd: dir, env: { KOOR_SERVER: s.url, KOOR_CA_FILE: pem.cert }, teardown });
  await sub.until(() => sub.stderr().includes('connected'), 'connected');
  t.match(sub.stderr(), /^subscribing to wss:\/\/127\.0\.0\.1:\d+\/api\/events\/subscribe/);
  const pub = await httpsRequest(`${s.url}/api/events/publish`, pem.ca, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"topic":"tls.ping","data":{"n":1}}' });
  t.equal(pub.status, 200);
  await sub.until(() => sub.lines().length >= 1, 'the event');
  t.match(JSON.parse(sub.lines()[0]!), { topic: 'tls.ping', data: { n: 1 } }, 'the published event, over wss://');
  t.same(await sub.stop('SIGINT'), { code: 0, signal: null });

  // Without the CA: one line and exit 1, not a reconnect loop.
  const subNo = startCli(['events', 'subscribe'], { cwd: dir, env: { KOOR_SERVER: s.url }, teardown });
  t.same(await exitWithin(subNo, 10_000), { code: 1, signal: null }, 'subscribe without the CA exits');
  t.match(subNo.stderr(), /\nerror: connection failed: self[- ]signed certificate \(the server certificate is not trusted: set KOOR_CA_FILE/);
  t.notMatch(subNo.stderr(), /reconnecting/, 'no retry of what a retry cannot fix');

  // wait: woken by a message over wss://.
  const reg = async (name: string) => JSON.parse((await httpsRequest(`${s.url}/api/instances/register`, pem.ca, { method: 'POST', body: JSON.stringify({ name, workspace: '', capabilities: [] }) })).body) as { id: string };
  const ann = await reg('ann');
  const ben = await reg('ben');
  const w = startCli(['wait', '--timeout', '20s'], { cwd: dir, env: { KOOR_SERVER: s.url, KOOR_CA_FILE: pem.cert, KOOR_INSTANCE: ben.id }, teardown });
  await sleep(700);
  t.equal(w.child.exitCode, null, 'waiting');
  await httpsRequest(`${s.url}/api/messages`, pem.ca, { method: 'POST', headers: { 'x-koor-instance': ann.id }, body: JSON.stringify({ to: ['ben'], subject: 'over tls', body: 'hi' }) });
  t.same(await exitWithin(w, 10_000), { code: 0, signal: null }, 'woken by the message');
  t.match(w.lines()[0], /^message #\d+ ann \(\ds ago\): over tls$/);
  const wNo = startCli(['wait', '--timeout', '20s'], { cwd: dir, env: { KOOR_SERVER: s.url, KOOR_INSTANCE: ben.id }, teardown });
  t.same(await exitWithin(wNo, 10_000), { code: 1, signal: null }, 'wait without the CA exits');
  t.match(wNo.stderr(), /^error: .*self[- ]signed certificate \(the server certificate is not trusted/);
  t.equal(wNo.stderr().split('\n').length, 2, 'in one line');
});

t.test('init with an https:// server: https URLs in the MCP and hook configs, the CA saved, the IDE told', async (t) => {
  const pem = certOrSkip(t);
  if (!pem) return;
  const dir = fs.realpathSync(tempDir(t));
  fs.mkdirSync(path.join(dir, '.git')); // a repository root for the hooks
  const server = 'https://10.0.0.5:9800';
  const r = await runCli(['init', '--server', server, '--ca-file', pem.cert, '--claude-code'], { cwd: dir });
  t.equal(r.code, 0, r.stderr);
  t.equal(JSON.parse(fs.readFileSync(path.join(dir, '.mcp.json'), 'utf8')).mcpServers.koor.url, `${server}/mcp`);
  t.equal(JSON.parse(fs.readFileSync(path.join(dir, '.cursor', 'mcp.json'), 'utf8')).mcpServers.koor.url, `${server}/mcp`);
  const hooks = fs.readFileSync(path.join(dir, '.claude', 'settings.json'), 'utf8');
  t.match(hooks, `"url": "${server}/api/hooks/claude-code"`, 'the HTTP hooks post to https://');
  t.notMatch(hooks, 'http://', 'no plain URL anywhere');
  t.same(JSON.parse(fs.readFileSync(path.join(dir, 'settings.json'), 'utf8')), { server, ca_file: pem.cert }, 'server and CA saved for koor-cli');
  t.match(r.stderr, `note: the agent's MCP client and HTTP hooks must trust ${pem.cert} too: start the agent with NODE_EXTRA_CA_CERTS=${pem.cert}`);
  const bad = await runCli(['init', '--server', 'ftp://10.0.0.5'], { cwd: dir });
  t.same([bad.code, bad.stderr], [1, 'error: invalid server URL: ftp://10.0.0.5 (http or https only)\n']);
});
