import fs from 'node:fs';
import path from 'node:path';
import t from 'tap';
import { startTestServer, runServer, sqliteOnly, tempDir, json } from '../helpers/server.js';
import { waitUntil } from '../helpers/wait.js';

/** Online backup (GET /api/admin/backup) and `koor-server --restore`. */

async function saveBackup(url: string, file: string, headers: Record<string, string> = {}): Promise<Response> {
  const r = await fetch(`${url}/api/admin/backup`, { headers });
  if (r.status === 200) fs.writeFileSync(file, Buffer.from(await r.arrayBuffer()));
  return r;
}

t.test('a snapshot taken while 20 writers run holds every write acknowledged before it was asked for', async (t) => {
  const s = await startTestServer(t);
  const acked: string[][] = Array.from({ length: 20 }, () => []);
  let stop = false;
  const writers = acked.map(async (mine, w) => {
    // Bounded: at most 400 writes each, and only until the backup is in.
    for (let n = 0; n < 400 && !stop; n++) {
      const key = `w${w}/k${n}`;
      const r = await fetch(`${s.url}/api/state/${key}`, { method: 'PUT', body: JSON.stringify({ w, n }), headers: { 'content-type': 'application/json' } });
      if (r.status === 200) mine.push(key);
      else t.fail(`PUT ${key}: ${r.status}`);
    }
  });
  // Let the writers get going, then note what was acknowledged before the request is sent.
  while (acked.reduce((a, m) => a + m.length, 0) < 200) await new Promise((r) => setTimeout(r, 5));
  const before = acked.flatMap((m) => [...m]);
  const file = path.join(tempDir(t), 'snap.db');
  const r = await saveBackup(s.url, file);
  stop = true;
  await Promise.all(writers);
  t.equal(r.status, 200);
  t.equal(r.headers.get('content-type'), 'application/vnd.sqlite3');
  t.match(r.headers.get('content-disposition'), /^attachment; filename="koor-backup-\d{8}T\d{6}Z\.db"$/);
  t.equal(Number(r.headers.get('content-length')), fs.statSync(file).size);
  t.ok(Number(r.headers.get('x-koor-state-keys')) >= before.length, 'the snapshot counts at least the acknowledged keys');
  // The temp file goes once the server has sent its last byte, which may be just after the client read it.
  await waitUntil('no temp file left in the data dir', () => fs.readdirSync(s.config.dataDir).every((f) => !f.startsWith('backup-')));
  t.pass('no temp file left in the data dir');

  // Restore into a fresh data dir with the server flag, then start a server on it.
  const dir = tempDir(t);
  const out = await runServer(['--restore', file, '--data-dir', dir], { timeoutMs: 30_000 });
  t.equal(out.code, 0, out.stderr);
  t.match(out.stdout, `restored ${dir}/data.db from ${file}`);
  t.match(out.stdout, /state keys: \d+/);
  // On SQLite whatever the suite's backend: a backup of either restores into a data directory.
  const restored = await startTestServer(t, { dataDir: dir, database: '' });
  const missing: string[] = [];
  for (const key of before) {
    const g = await fetch(`${restored.url}/api/state/${key}`);
    if (g.status !== 200) missing.push(key);
    else await g.arrayBuffer();
  }
  t.same(missing, [], `all ${before.length} acknowledged writes are in the restored server`);
  const list = await json(await fetch(`${restored.url}/api/state`));
  t.equal(list.length, Number(r.headers.get('x-koor-state-keys')), 'the restored server holds exactly the snapshot');
});

t.test('everything is in the snapshot: specs, events, instances, templates, rules, history', async (t) => {
  const s = await startTestServer(t);
  const put = (p: string, body: unknown) => fetch(`${s.url}${p}`, { method: 'PUT', body: JSON.stringify(body) });
  const post = (p: string, body: unknown) => fetch(`${s.url}${p}`, { method: 'POST', body: JSON.stringify(body) });
  await put('/api/state/cfg', { v: 1 });
  await put('/api/state/cfg', { v: 2 });
  await put('/api/specs/proj/api', { openapi: '3.0' });
  await post('/api/events/publish', { topic: 'build.done', data: { ok: true } });
  const reg = await json(await post('/api/instances/register', { name: 'claude' }));
  await post('/api/templates', { id: 'tpl', name: 'T', kind: 'rules', data: [] });
  await put('/api/validate/proj/rules', [{ rule_id: 'todo', pattern: 'TODO', message: 'no TODO' }]);
  const file = path.join(tempDir(t), 'all.db');
  const r = await saveBackup(s.url, file);
  t.equal(r.status, 200);
  t.same(
    ['x-koor-state-keys', 'x-koor-rules', 'x-koor-specs', 'x-koor-events', 'x-koor-instances'].map((h) => r.headers.get(h)),
    ['1', '1', '1', '1', '1'],
  );

  const dir = tempDir(t);
  t.equal((await runServer(['--restore', file, '--data-dir', dir], { timeoutMs: 30_000 })).code, 0);
  const b = await startTestServer(t, { dataDir: dir, database: '' });
  t.same(await json(await fetch(`${b.url}/api/state/cfg`)), { v: 2 });
  t.equal((await json(await fetch(`${b.url}/api/state/cfg?history=1`))).versions.length, 2, 'history restored');
  t.same(await json(await fetch(`${b.url}/api/specs/proj/api`)), { openapi: '3.0' });
  const events = await json(await fetch(`${b.url}/api/events/history?last=10`));
  t.equal(events[0].topic, 'build.done');
  t.equal((await json(await fetch(`${b.url}/api/instances/${reg.id}`))).name, 'claude');
  t.equal((await json(await fetch(`${b.url}/api/templates/tpl`))).id, 'tpl');
  t.equal((await json(await fetch(`${b.url}/api/validate/proj/rules`))).rules.length, 1);
  // The instance token still authenticates: identities survive the restore.
  const ev = await json(await fetch(`${b.url}/api/events/publish`, { method: 'POST', body: JSON.stringify({ topic: 'x' }), headers: { 'x-koor-instance': reg.id } }));
  t.equal(ev.source, 'claude');
});

t.test('--restore keeps the current data file aside and refuses what it must not do', async (t) => {
  if (sqliteOnly(t, 'the data directory and its file')) return;
  const dir = tempDir(t);
  const s = await startTestServer(t, { dataDir: dir });
  await fetch(`${s.url}/api/state/old`, { method: 'PUT', body: 'old' });
  const file = path.join(tempDir(t), 'snap.db');
  t.equal((await saveBackup(s.url, file)).status, 200);
  await fetch(`${s.url}/api/state/newer`, { method: 'PUT', body: 'newer' });

  const busy = await runServer(['--restore', file, '--data-dir', dir]);
  t.equal(busy.code, 1, 'refused while a server holds the data dir');
  t.match(busy.stderr, /in use by another koor-server/);
  await s.close();

  const junk = path.join(tempDir(t), 'junk.db');
  fs.writeFileSync(junk, 'hello, this is not a database');
  const notDb = await runServer(['--restore', junk, '--data-dir', dir]);
  t.equal(notDb.code, 1);
  t.match(notDb.stderr, `${junk} is not a Koor backup`);
  const torn = path.join(tempDir(t), 'torn.db');
  const bytes = fs.readFileSync(file);
  fs.writeFileSync(torn, bytes.subarray(0, Math.floor(bytes.length / 2)));
  const tornOut = await runServer(['--restore', torn, '--data-dir', dir]);
  t.equal(tornOut.code, 1, 'a truncated snapshot is refused');
  t.match(tornOut.stderr, /damaged|cannot be opened|malformed/);
  t.equal((await runServer(['--restore', path.join(dir, 'nope.db'), '--data-dir', dir])).code, 1, 'a missing file is refused');

  // Refusals left the data as it was.
  let a = await startTestServer(t, { dataDir: dir });
  t.equal(await (await fetch(`${a.url}/api/state/newer`)).text(), 'newer');
  await a.close();

  const ok = await runServer(['--restore', file, '--data-dir', dir]);
  t.equal(ok.code, 0, ok.stderr);
  const kept = /previous data file kept as (\S+)/.exec(ok.stdout)?.[1];
  t.ok(kept && fs.existsSync(kept), 'the previous data file is kept aside');
  a = await startTestServer(t, { dataDir: dir });
  t.equal(await (await fetch(`${a.url}/api/state/old`)).text(), 'old');
  t.equal((await fetch(`${a.url}/api/state/newer`)).status, 404, 'the data is the snapshot');
  await a.close();
  // The kept file is a whole database: restoring it brings the later write back.
  t.equal((await runServer(['--restore', kept!, '--data-dir', dir])).code, 0);
  a = await startTestServer(t, { dataDir: dir });
  t.equal(await (await fetch(`${a.url}/api/state/newer`)).text(), 'newer');
});

t.test('the backup route: auth as /api/*, one at a time, not a token-tax call', async (t) => {
  const s = await startTestServer(t, { authToken: 'tok' });
  const r = await fetch(`${s.url}/api/admin/backup`);
  t.equal(r.status, 401);
  t.equal((await r.json()).code, 401);
  const auth = { authorization: 'Bearer tok' };
  // Two at once: one snapshot runs, the other is told to wait (or both ran one after the other).
  const [a, b] = await Promise.all([fetch(`${s.url}/api/admin/backup`, { headers: auth }), fetch(`${s.url}/api/admin/backup`, { headers: auth })]);
  const statuses = [a.status, b.status].sort();
  t.ok(statuses[0] === 200 && (statuses[1] === 200 || statuses[1] === 409), `statuses ${statuses}`);
  for (const x of [a, b]) {
    if (x.status === 409) t.match((await x.json()).error, /a backup is already running/);
    else t.ok((await x.arrayBuffer()).byteLength > 0);
  }
  t.equal((await json(await fetch(`${s.url}/api/metrics`, { headers: auth }))).token_tax.rest_calls, 0);
});
