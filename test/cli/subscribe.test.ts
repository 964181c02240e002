import t from 'tap';
import { spawnServer, startTestServer, tempDir } from '../helpers/server.js';
import { publish } from '../helpers/ws.js';
import { startCli, startProxy } from './helpers.js';

/** The restart test stops and starts one server process. */
const ONE_PROCESS = { oneNode: 'one server process, stopped and started again' };

/** `events subscribe` against the real server: live delivery, slow-consumer close and server restart. */

const ids = (lines: string[]) => lines.map((l) => (JSON.parse(l) as { id: number }).id);
const range = (from: number, to: number) => Array.from({ length: to - from + 1 }, (_, i) => from + i);
const count = (text: string, re: RegExp) => (text.match(new RegExp(re, 'g')) ?? []).length;

t.test('live events: pattern applied, one compact JSON per line, nothing from before, Ctrl-C exits 0', async (t) => {
  const s = await startTestServer(t);
  const dir = tempDir(t);
  await publish(s.url, 'api.old', { before: true });
  const sub = startCli(['events', 'subscribe', 'api.*'], { cwd: dir, env: { KOOR_SERVER: s.url }, teardown: t.teardown.bind(t) });
  await sub.until(() => sub.stderr().includes('connected'), 'connected');
  t.match(sub.stderr(), /^subscribing to ws:\/\/127\.0\.0\.1:\d+\/api\/events\/subscribe\?pattern=api\.\* \(pattern: api\.\*\)\.\.\.\nconnected \(since=1\)\n/);

  await publish(s.url, 'api.change', { n: 1, nested: { a: [1, 2] } });
  await publish(s.url, 'other.thing', { n: 2 });
  await publish(s.url, 'api.change.contract');
  await sub.until(() => sub.lines().length >= 2, 'two events');
  const lines = sub.lines();
  t.same(ids(lines), [2, 4], '`api.*` matched api.change and (crossing the dot) api.change.contract');
  t.match(lines[0], /^\{"id":2,"topic":"api\.change","data":\{"n":1,"nested":\{"a":\[1,2\]\}\},"source":"","created_at":"[^"]+"\}$/);

  const { code } = await sub.stop('SIGINT');
  t.equal(code, 0, 'Ctrl-C → exit 0');
  t.equal(sub.lines().length, 2, 'nothing else printed');
});

t.test('--pretty prints each event indented; SIGTERM exits 0', async (t) => {
  const s = await startTestServer(t);
  const sub = startCli(['events', 'subscribe', '--pretty'], { cwd: tempDir(t), env: { KOOR_SERVER: s.url }, teardown: t.teardown.bind(t) });
  await sub.until(() => sub.stderr().includes('connected'), 'connected');
  await publish(s.url, 'x', { a: 1 });
  await sub.until(() => sub.lines().length >= 8, 'one pretty event');
  t.match(sub.lines().join('\n'), /^\{\n  "id": 1,\n  "topic": "x",\n  "data": \{\n    "a": 1\n  \},\n  "source": "",/);
  t.equal((await sub.stop('SIGTERM')).code, 0);
});

t.test('auth: token sent on the upgrade; a refused token is fatal (401 JSON on stdout, exit 1)', async (t) => {
  const s = await startTestServer(t, { authToken: 'tok' });
  const dir = tempDir(t);
  const ok = startCli(['events', 'subscribe'], { cwd: dir, env: { KOOR_SERVER: s.url, KOOR_TOKEN: 'tok' }, teardown: t.teardown.bind(t) });
  await ok.until(() => ok.stderr().includes('connected'), 'connected');
  await publish(s.url, 'x', 1, { authorization: 'Bearer tok' });
  await ok.until(() => ok.lines().length === 1, 'event');
  t.equal((await ok.stop()).code, 0);

  const bad = startCli(['events', 'subscribe'], { cwd: dir, env: { KOOR_SERVER: s.url, KOOR_TOKEN: 'nope' }, teardown: t.teardown.bind(t) });
  const exit = await bad.exited;
  t.equal(exit.code, 1);
  t.same(bad.lines(), ['{"error":"invalid or missing bearer token","code":401}']);
  t.match(bad.stderr(), /error: subscribe refused \(HTTP 401\)/);
});

t.test('a malformed pattern is fatal too: the server says which, the CLI exits 1 instead of polling', async (t) => {
  const s = await startTestServer(t);
  const bad = startCli(['events', 'subscribe', 'api.['], { cwd: tempDir(t), env: { KOOR_SERVER: s.url }, teardown: t.teardown.bind(t) });
  const exit = await bad.exited;
  t.equal(exit.code, 1);
  t.same(bad.lines(), ['{"error":"invalid pattern: api.[","code":400}']);
  t.match(bad.stderr(), /error: subscribe refused \(HTTP 400\)/);
  t.notMatch(bad.stderr(), /polling/);
});

t.test('slow consumer: the server closes with 4008, the CLI resumes with since and loses or repeats nothing', async (t) => {
  const s = await startTestServer(t, { wsBufferEvents: 16, wsBufferBytes: 64 * 1024 }, { oneNode: "a stalled reader's backpressure reaches the node only on a direct socket; the hub is its node's own" });
  const sub = startCli(['events', 'subscribe'], { cwd: tempDir(t), env: { KOOR_SERVER: s.url }, teardown: t.teardown.bind(t) });
  await sub.until(() => sub.stderr().includes('connected'), 'connected');
  await publish(s.url, 'first', 0);
  await sub.until(() => sub.lines().length === 1, 'first event');

  sub.child.kill('SIGSTOP'); // the CLI stops reading: kernel buffers fill, then the server's budget
  const payload = 'x'.repeat(8 * 1024);
  let n = 1;
  try {
    while (n < 4000 && s.hub.stats.closed_slow === 0) {
      await Promise.all(Array.from({ length: 50 }, () => publish(s.url, 'big', payload)));
      n += 50;
    }
  } finally {
    sub.child.kill('SIGCONT');
  }
  t.equal(s.hub.stats.closed_slow, 1, `closed as a slow consumer after ${n} events`);
  await publish(s.url, 'after', 'live');
  n++;
  await sub.until(() => sub.lines().length >= n, `${n} events`, 60_000);
  t.same(ids(sub.lines()), range(1, n), 'every event exactly once, in order');
  // stdout and stderr are two pipes: the events can be read here before the "connected" line.
  await sub.until(() => count(sub.stderr(), /\nconnected/) >= 2, 'the reconnect logged');
  const err = sub.stderr();
  t.match(err, /disconnected \(code 4008: slow consumer: last delivered id (\d+)\); reconnecting in \d+ ms \(since=\d+\)/);
  const last = Number(/last delivered id (\d+)/.exec(err)![1]);
  t.match(err, new RegExp(`connected \\(since=${last}\\)`), 'resumed from the last event it printed');
  t.equal(count(err, /\nconnected/), 2, 'one reconnect');
  t.equal((await sub.stop()).code, 0);
});

t.test('dropped connection: reconnects with backoff and resumes from the last id', async (t) => {
  const s = await startTestServer(t);
  const proxy = await startProxy(t, Number(new URL(s.url).port));
  const sub = startCli(['events', 'subscribe'], { cwd: tempDir(t), env: { KOOR_SERVER: proxy.url }, teardown: t.teardown.bind(t) });
  await sub.until(() => sub.stderr().includes('connected'), 'connected');
  await publish(s.url, 'a', 1);
  await sub.until(() => sub.lines().length === 1, 'one event');

  proxy.refuse = true;
  proxy.drop(); // abrupt: no close frame
  await sub.until(() => /disconnected \(code 1006\)/.test(sub.stderr()), 'the drop noticed');
  await publish(s.url, 'a', 2); // published while the CLI is cut off
  await publish(s.url, 'a', 3);
  await sub.until(() => /connection failed: .*; reconnecting in \d+ ms \(since=1\)/.test(sub.stderr()), 'a failed reconnect');
  proxy.refuse = false;
  await sub.until(() => sub.lines().length >= 3, 'the missed events');
  await sub.until(() => /\nconnected \(since=1\)\n/.test(sub.stderr()), 'the resume logged');
  await publish(s.url, 'a', 4);
  await sub.until(() => sub.lines().length >= 4, 'a live event after the resume');
  t.same(ids(sub.lines()), [1, 2, 3, 4], 'nothing lost, nothing repeated');
  t.equal((await sub.stop()).code, 0);
});

t.test('server restart: the server closes the socket (1001); the CLI comes back and resumes', async (t) => {
  const dataDir = tempDir(t);
  const first = await spawnServer(['--data-dir', dataDir], {}, ONE_PROCESS);
  t.teardown(() => first.child.kill('SIGKILL'));
  const proxy = await startProxy(t, Number(new URL(first.url).port)); // a stable address across the restart
  const sub = startCli(['events', 'subscribe'], { cwd: tempDir(t), env: { KOOR_SERVER: proxy.url }, teardown: t.teardown.bind(t) });
  await sub.until(() => sub.stderr().includes('connected'), 'connected');
  await publish(first.url, 'a', 1);
  await publish(first.url, 'a', 2);
  await sub.until(() => sub.lines().length === 2, 'two events');

  const down = new Promise((r) => first.child.once('exit', r));
  first.child.kill('SIGTERM');
  await down;
  await sub.until(() => /disconnected \(code 1001: server shutting down\)/.test(sub.stderr()), 'the server closed the socket');
  await sub.until(() => /connection failed: /.test(sub.stderr()), 'a failed reconnect while the server is down');

  const second = await spawnServer(['--data-dir', dataDir], {}, ONE_PROCESS);
  t.teardown(() => second.child.kill('SIGKILL'));
  proxy.target = Number(new URL(second.url).port);
  await publish(second.url, 'a', 3); // probably before the CLI is back: then it comes from the since= replay
  await publish(second.url, 'a', 4);
  await sub.until(() => count(sub.stderr(), /\nconnected/) === 2, 'reconnected');
  t.match(sub.stderr(), /\nconnected \(since=2\)\n/, 'resumed after the last printed id');
  await publish(second.url, 'a', 5);
  await sub.until(() => sub.lines().length >= 5, 'five events');
  t.same(ids(sub.lines()), [1, 2, 3, 4, 5], 'nothing lost across the restart, nothing repeated');
  t.equal((await sub.stop()).code, 0);
});
