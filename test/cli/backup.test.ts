import fs from 'node:fs';
import path from 'node:path';
import t from 'tap';
import { TEST_BACKEND, startTestServer, runServer, spawnServer, tempDir, json } from '../helpers/server.js';
import { publish, subscribe, watch } from '../helpers/ws.js';
import { cliFor, startCli } from './helpers.js';

/** `koor-cli backup` / `restore` as subprocesses. */

t.test('backup --output saves a private snapshot that koor-server --restore brings back', async (t) => {
  const s = await startTestServer(t, { authToken: 'tok' });
  const auth = { authorization: 'Bearer tok' };
  await fetch(`${s.url}/api/state/a`, { method: 'PUT', body: '{"x":1}', headers: auth });
  await fetch(`${s.url}/api/state/b`, { method: 'PUT', body: 'text', headers: auth });
  await fetch(`${s.url}/api/validate/p/rules`, { method: 'PUT', body: JSON.stringify([{ rule_id: 'r', pattern: 'X', message: 'm' }]), headers: auth });
  const cwd = tempDir(t);
  const cli = cliFor(s.url, cwd, { KOOR_TOKEN: 'tok' });

  const r = await cli('backup', '--output', 'koor.db');
  t.equal(r.code, 0, r.stderr);
  t.equal(r.stdout, 'backup saved to koor.db\n  state keys: 2\n  rules: 1\n  specs: 0\n  events: 0\n  instances: 0\n');
  const file = path.join(cwd, 'koor.db');
  t.equal(fs.statSync(file).mode & 0o777, 0o600, 'the snapshot holds secrets: owner-only');
  t.notOk(fs.existsSync(`${file}.part`), 'no partial file left');

  const bad = await cliFor(s.url, cwd, { KOOR_TOKEN: 'wrong' })('backup', '--output', 'x.db');
  t.equal(bad.code, 1, 'an error reply is exit 1');
  t.equal(JSON.parse(bad.stdout).code, 401, 'and printed, as every command does');
  t.notOk(fs.existsSync(path.join(cwd, 'x.db')), 'nothing written');

  if (TEST_BACKEND !== 'sqlite') {
    // Cluster mode: restore is live, through any node (every node resets), and needs no restart.
    await fetch(`${s.url}/api/state/a`, { method: 'PUT', body: '{"x":2}', headers: auth });
    const live = await cli('restore', '--file', 'koor.db');
    t.equal(live.code, 0, live.stderr);
    t.same(await json(await fetch(`${s.url}/api/state/a`, { headers: auth })), { x: 1 }, 'the snapshot is back, read on another node');
    return;
  }
  const dir = tempDir(t);
  t.equal((await runServer(['--restore', file, '--data-dir', dir], { timeoutMs: 30_000 })).code, 0);
  const b = await startTestServer(t, { dataDir: dir });
  t.same(await json(await fetch(`${b.url}/api/state/a`)), { x: 1 });
  t.equal(await (await fetch(`${b.url}/api/state/b`)).text(), 'text');

  const inProcess = await cli('restore', '--file', 'koor.db');
  t.equal(inProcess.code, 1, 'a server without the koor-server supervisor cannot restart itself');
  t.match(JSON.parse(inProcess.stdout).error, /koor-server --restore/);
});

t.test('restore --file of a snapshot restarts the running koor-server on it, same address', async (t) => {
  const dir = tempDir(t);
  const srv = await spawnServer(['--data-dir', dir, '--auth-token', 'tok']);
  t.teardown(() => {
    srv.child.kill('SIGKILL');
  });
  const auth = { authorization: 'Bearer tok' };
  const put = (k: string, v: string) => fetch(`${srv.url}/api/state/${k}`, { method: 'PUT', body: v, headers: auth });
  await put('a', '1');
  await publish(srv.url, 'e', 'one', auth);
  const cwd = tempDir(t);
  const cli = cliFor(srv.url, cwd, { KOOR_TOKEN: 'tok' });
  t.equal((await cli('backup', '--output', 'snap.db')).code, 0);
  // The CLI's streams see ids past the snapshot's, which the restored server must not hand out again.
  const env = { KOOR_SERVER: srv.url, KOOR_TOKEN: 'tok' };
  const events = startCli(['events', 'subscribe'], { cwd, env, teardown: t.teardown.bind(t) });
  const changes = startCli(['state', 'watch'], { cwd, env, teardown: t.teardown.bind(t) });
  await events.until(() => events.stderr().includes('connected'), 'subscribed');
  await changes.until(() => changes.stderr().includes('connected'), 'watching');
  await put('a', '9');
  await put('b', '2');
  // More revisions than a watcher with values reads per step (32): the restore's gap outlasts a step.
  for (let i = 0; i < 40; i++) await put(`n/${i}`, '1');
  await publish(srv.url, 'e', 'two', auth);
  await publish(srv.url, 'e', 'three', auth);
  await events.until(() => events.lines().length === 2, 'two events');
  await changes.until(() => changes.lines().length === 42, 'every change');
  const sub = await subscribe(srv.url, '', auth);

  fs.writeFileSync(path.join(cwd, 'junk.db'), 'SQLite format 3\0 but then garbage, not a database at all');
  const junk = await cli('restore', '--file', 'junk.db');
  t.equal(junk.code, 1, 'a damaged snapshot is refused by the server');
  t.equal(JSON.parse(junk.stdout).code, 400);
  t.equal(await (await fetch(`${srv.url}/api/state/a`, { headers: auth })).text(), '9', 'and the data is untouched');

  const r = await cli('restore', '--file', 'snap.db');
  t.equal(r.code, 0, r.stderr);
  t.equal(r.stdout, 'restore complete from snap.db\n  state keys: 1\n  rules: 0\n  specs: 0\n  events: 1\n  instances: 0\n');
  // SQLite: the server restarts on the snapshot; cluster mode: every node resets in place.
  const reason = TEST_BACKEND === 'sqlite' ? 'server restarting: resume with since=' : 'data restored from a backup: resume with since=';
  t.same(await sub.closed, { code: 1012, reason }, 'subscribers are told to come back');
  t.equal(await (await fetch(`${srv.url}/api/state/a`, { headers: auth })).text(), '1', 'reads show the snapshot, no stale cache');
  t.equal((await fetch(`${srv.url}/api/state/b`, { headers: auth })).status, 404);
  t.equal((await put('c', '3')).status, 200, 'and writes go on');
  const again = await publish(srv.url, 'e', 'four', auth);
  t.equal(again.id, 4, 'ids go on after those the replaced data handed out: none is handed out twice');
  // Handed out again, they would be skipped by the CLI as seen (it resumes after id 3).
  await events.until(() => events.lines().length === 3, 'the event after the restore');
  t.match(JSON.parse(events.lines()[2]!), { id: 4, data: 'four' });
  await changes.until(() => changes.lines().length === 43, 'the change after the restore');
  t.match(JSON.parse(changes.lines()[42]!), { type: 'put', key: 'c', revision: 44 });
  // Catching up from the backup's newest passes over the ids the restore undid: not a gap.
  const behind = await watch(srv.url, '/api/state/watch?since_revision=1&values=1', auth);
  await behind.waitFor(1);
  t.same(behind.changes.map((c) => [c.key, c.revision]), [['c', 44]]);
  t.equal(behind.headers['x-koor-oldest-revision'], undefined);
  const replay = await subscribe(srv.url, '?since=1', auth);
  await replay.waitFor(1);
  t.same(replay.events.map((e) => e.id), [4]);
  behind.ws.close();
  replay.ws.close();
  if (TEST_BACKEND === 'sqlite') t.ok(fs.readdirSync(dir).some((f) => f.startsWith('data.db.before-restore-')), 'the previous data file is kept aside');
  t.notOk(fs.readdirSync(dir).some((f) => f.startsWith('restore-')), 'no upload left behind');
});

t.test('restore --file reads the original JSON format', async (t) => {
  const s = await startTestServer(t);
  const cwd = tempDir(t);
  const cli = cliFor(s.url, cwd);
  fs.writeFileSync(
    path.join(cwd, 'backup.json'),
    JSON.stringify(
      {
        rules: [
          { project: 'p', rule_id: 'no-todo', pattern: 'TODO', message: 'no TODO', severity: 'error' },
          { project: 'p', rule_id: 'no-fixme', pattern: 'FIXME', message: 'no FIXME', severity: 'warning' },
        ],
        state: { 'cfg/app': { port: 8080, big: 12345678901234567890 }, note: 'hello', list: [1, 2] },
      },
      null,
      2,
    ),
  );
  const r = await cli('restore', '--file', 'backup.json');
  t.equal(r.code, 0, r.stderr);
  t.equal(r.stdout, 'restore complete from backup.json\n  state keys: 3\n  rules: 2\n');
  const v = await fetch(`${s.url}/api/state/cfg/app`);
  t.equal(v.headers.get('content-type'), 'application/json');
  t.same(await v.json(), { port: 8080, big: 12345678901234567890 });
  t.equal(await (await fetch(`${s.url}/api/state/note`)).text(), '"hello"', 'a string value is stored as JSON text');
  t.equal((await json(await fetch(`${s.url}/api/validate/p/rules`))).rules.length, 2);

  // A per-key failure is a warning; the rest goes on.
  fs.writeFileSync(path.join(cwd, 'partial.json'), JSON.stringify({ state: { ['k'.repeat(2000)]: 1, ok: 2 } }));
  const p = await cli('restore', '--file', 'partial.json');
  t.equal(p.code, 0);
  t.match(p.stderr, /^warning: failed to restore key k+: /m);
  t.equal(p.stdout, 'restore complete from partial.json\n  state keys: 2\n  rules: 0\n');
  t.equal(await (await fetch(`${s.url}/api/state/ok`)).text(), '2');

  fs.writeFileSync(path.join(cwd, 'junk.txt'), 'not json');
  const j = await cli('restore', '--file', 'junk.txt');
  t.equal(j.code, 1);
  t.match(j.stderr, /^error: junk\.txt is neither a Koor snapshot nor a JSON backup/);
  const missing = await cli('restore', '--file', 'nope.json');
  t.equal(missing.code, 1);
  t.match(missing.stderr, /^error: cannot read nope\.json: no such file/);
});
