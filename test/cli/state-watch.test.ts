import t from 'tap';
import { spawnServer, startTestServer, tempDir } from '../helpers/server.js';
import { runCli, startCli, startProxy } from './helpers.js';
import fs from 'node:fs';
import path from 'node:path';

/** `koor-cli state watch` and `koor-cli txn` against the real server. */

const ONE_PROCESS = { oneNode: 'one server process, stopped and started again' };
const put = async (url: string, key: string, body: string) => ((await (await fetch(`${url}/api/state/${key}`, { method: 'PUT', body: Buffer.from(body) as unknown as BodyInit })).json()) as { revision: number }).revision;
const revisions = (lines: string[]) => lines.map((l) => (JSON.parse(l) as { revision: number }).revision);
const count = (text: string, re: RegExp) => (text.match(new RegExp(re, 'g')) ?? []).length;

t.test('state watch: changes under the prefix, one JSON per line, from now on', async (t) => {
  const s = await startTestServer(t);
  await put(s.url, 'app/before', '1');
  const w = startCli(['state', 'watch', 'app/'], { cwd: tempDir(t), env: { KOOR_SERVER: s.url }, teardown: t.teardown.bind(t) });
  await w.until(() => w.stderr().includes('connected'), 'connected');
  const r1 = await put(s.url, 'app/a', '{"v":1}');
  await put(s.url, 'other/b', '1');
  await fetch(`${s.url}/api/state/app/a`, { method: 'DELETE' });
  await w.until(() => w.lines().length >= 2, 'two changes');
  t.match(w.lines()[0], new RegExp(`^\\{"type":"put","key":"app/a","version":1,"revision":${r1},"hash":"[0-9a-f]{64}","content_type":"application/json","updated_by":""\\}$`));
  t.match(JSON.parse(w.lines()[1]!), { type: 'delete', key: 'app/a' });
  t.equal((await w.stop('SIGINT')).code, 0);
  t.equal(w.lines().length, 2, 'nothing from before it started, nothing outside the prefix');
});

t.test('state watch resumes across a server restart: nothing lost, nothing repeated', async (t) => {
  const dataDir = tempDir(t);
  const first = await spawnServer(['--data-dir', dataDir], {}, ONE_PROCESS);
  t.teardown(() => first.child.kill('SIGKILL'));
  const proxy = await startProxy(t, Number(new URL(first.url).port));
  const w = startCli(['state', 'watch', 'r/'], { cwd: tempDir(t), env: { KOOR_SERVER: proxy.url }, teardown: t.teardown.bind(t) });
  await w.until(() => w.stderr().includes('connected'), 'connected');
  const written = [await put(first.url, 'r/1', '1'), await put(first.url, 'r/2', '2')];
  await w.until(() => w.lines().length === 2, 'two changes');

  const down = new Promise((r) => first.child.once('exit', r));
  first.child.kill('SIGTERM');
  await down;
  await w.until(() => /disconnected \(code 1001/.test(w.stderr()), 'the server closed the socket');

  const second = await spawnServer(['--data-dir', dataDir], {}, ONE_PROCESS);
  t.teardown(() => second.child.kill('SIGKILL'));
  proxy.target = Number(new URL(second.url).port);
  written.push(await put(second.url, 'r/1', '3')); // probably before the CLI is back: then from the since_revision replay
  await w.until(() => count(w.stderr(), /\nconnected/) === 2, 'reconnected');
  t.match(w.stderr(), new RegExp(`\\nconnected \\(since=${written[1]}\\)\\n`), 'resumed after the last printed revision');
  written.push(await put(second.url, 'r/2', '4'));
  await w.until(() => w.lines().length >= 4, 'four changes');
  t.same(revisions(w.lines()), written);
  t.equal((await w.stop()).code, 0);
});

t.test('txn --file: the reply on stdout; a refused transaction exits 1', async (t) => {
  const s = await startTestServer(t);
  const dir = tempDir(t);
  const file = path.join(dir, 't.json');
  fs.writeFileSync(file, JSON.stringify({ compare: [{ key: 'lock/build', exists: false }], success: [{ op: 'put', key: 'lock/build', value: 'me' }], failure: [{ op: 'get', key: 'lock/build' }] }));
  const first = await runCli(['txn', '--file', file], { cwd: dir, env: { KOOR_SERVER: s.url } });
  t.equal(first.code, 0);
  t.match(JSON.parse(first.stdout), { succeeded: true, results: [{ op: 'put', key: 'lock/build', version: 1 }] });
  const second = await runCli(['txn', '--file', file], { cwd: dir, env: { KOOR_SERVER: s.url } });
  t.match(JSON.parse(second.stdout), { succeeded: false, results: [{ op: 'get', value: 'me' }] }, 'the compare failed: the failure branch ran');
  fs.writeFileSync(file, JSON.stringify({ success: [{ op: 'nope' }] }));
  const bad = await runCli(['txn', '--file', file], { cwd: dir, env: { KOOR_SERVER: s.url } });
  t.equal(bad.code, 1);
  t.match(bad.stdout, /unknown op: nope/);
});
