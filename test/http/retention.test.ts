import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import t from 'tap';
import Database from 'better-sqlite3';
import { json, runServer, sqliteOnly, startTestServer, tempDir } from '../helpers/server.js';
import { waitUntil } from '../helpers/wait.js';
import { MIGRATIONS } from '../../schemas/db/sqlite-migrations.js';
import { WRITER_WAL_CHECKPOINT_BYTES } from '../../src/shared/limits.js';
import { ringCount } from '../../src/shared/version-ring.js';

/** Bounded disk: state history keeps the newest N versions; freed space goes back. */

const put = (url: string, key: string, body: string | Buffer) =>
  fetch(`${url}/api/state/${key}`, { method: 'PUT', body: body as unknown as BodyInit }).then(async (r) => {
    await r.arrayBuffer();
    if (r.status !== 200) throw new Error(`PUT ${key}: ${r.status}`);
  });

/** data.db alone, after folding the WAL into it (from our own connection, as any client may). */
/** A data file as koor left it at schema `version` (what its migrations up to there made). */
function fileAt(file: string, version: number): Database.Database {
  const db = new Database(file);
  for (const m of MIGRATIONS.filter((x) => x.version <= version)) {
    db.exec(m.sql);
    m.run?.(db);
  }
  db.pragma(`user_version = ${version}`);
  return db;
}

function dataFileBytes(dir: string): number {
  const file = path.join(dir, 'data.db');
  const db = new Database(file);
  try {
    db.pragma('busy_timeout = 5000');
    db.pragma('wal_checkpoint(TRUNCATE)');
  } finally {
    db.close();
  }
  return fs.statSync(file).size;
}

t.test('250 writes with --state-history-keep 100: the newest 100 versions, older ones 404, rollback within works', async (t) => {
  const s = await startTestServer(t, { stateHistoryKeep: 100 }, { oneNode: "the pruned-rows counter is the writing node's own" });
  for (let v = 1; v <= 250; v++) await put(s.url, 'board', JSON.stringify({ v }));
  const h = await json(await fetch(`${s.url}/api/state/board?history=1&limit=1000`));
  t.same(h.versions.map((x: any) => x.version), Array.from({ length: 100 }, (_, i) => 250 - i), 'exactly the newest 100, current included');
  const gone = await fetch(`${s.url}/api/state/board?version=1`);
  t.same([gone.status, await json(gone)], [404, { error: 'version 1 not found for key: board', code: 404 }]);
  t.equal(await (await fetch(`${s.url}/api/state/board?version=151`)).text(), '{"v":151}', 'the oldest kept version');
  const diff = await fetch(`${s.url}/api/state/board?diff=150,250`);
  t.same([diff.status, (await json(diff)).error], [400, 'get version 150: version 150 not found for key: board'], 'diff of a pruned version: the existing error');
  const noRollback = await fetch(`${s.url}/api/state/board?rollback=150`, { method: 'POST' });
  t.equal(noRollback.status, 404, 'rollback to a pruned version: 404');
  await noRollback.arrayBuffer();
  const rb = await json(await fetch(`${s.url}/api/state/board?rollback=151`, { method: 'POST' }));
  t.same([rb.version, rb.rolled_back], [251, 151], 'rollback to a kept version works');
  const after = await json(await fetch(`${s.url}/api/state/board?history=1&limit=1000`));
  t.equal(after.versions.length, 100, 'still 100');
  t.equal(after.versions.at(-1).version, 152, 'the window moved on');
  await s.retention.runPass();
  t.equal((await json(await fetch(`${s.url}/api/metrics`))).retention.state_history_pruned, 151, 'versions the writes dropped themselves count as pruned');
});

t.test('the metrics report the size of the stored data and follow its growth (data.db, or the PostgreSQL database)', async (t) => {
  const s = await startTestServer(t);
  // The figure moves when a WAL checkpoint copies pages into data.db, which may happen between
  // two reads: /metrics is compared with /api/metrics read before and after it, agreeing.
  const size = async () => {
    const bytes = async () => (await json(await fetch(`${s.url}/api/metrics`))).data_file_bytes as number;
    const [before, text] = await waitUntil(
      'the same size on /api/metrics before and after /metrics',
      async () => {
        const b = await bytes();
        const text = await (await fetch(`${s.url}/metrics`)).text();
        return b === (await bytes()) ? ([b, text] as const) : false;
      },
      2_000,
      100,
    );
    t.equal(Number(/^koor_data_file_bytes (\d+)$/m.exec(text)?.[1]), before, 'the same figure on /metrics');
    return before;
  };
  const before = await size();
  t.ok(before > 0, `${before} bytes`);
  // Random bytes: PostgreSQL would compress a repeated value to nothing.
  for (let i = 0; i < 64; i++) await put(s.url, `grow${i}`, crypto.randomBytes(64 * 1024));
  const after = await size();
  t.ok(after > before + 1024 * 1024, `4 MB written: ${before} → ${after} bytes`);
});

t.test('a backlog (keep lowered on restart, or a data file from before retention) is cleared by the background pass; restart keeps the limit', async (t) => {
  if (sqliteOnly(t, 'the data file and its free pages')) return;
  const dir = tempDir(t);
  const big = 'x'.repeat(32 * 1024);
  const all = await startTestServer(t, { dataDir: dir, stateHistoryKeep: 0 });
  for (let v = 1; v <= 300; v++) await put(all.url, `k${v % 3}`, `${v}${big}`);
  t.equal((await json(await fetch(`${all.url}/api/state/k0?history=1&limit=1000`))).versions.length, 100, 'keep 0 keeps everything');
  await all.close();
  const before = dataFileBytes(dir);

  const s = await startTestServer(t, { dataDir: dir, stateHistoryKeep: 10, pruneIntervalMs: 3_600_000 });
  t.equal((await json(await fetch(`${s.url}/api/state/k0?history=1&limit=1000`))).versions.length, 100, 'nothing is pruned at start-up (no pause)');
  await s.retention.runPass();
  for (const k of ['k0', 'k1', 'k2']) {
    t.equal((await json(await fetch(`${s.url}/api/state/${k}?history=1&limit=1000`))).versions.length, 10, `${k}: the newest 10 after one pass`);
  }
  const m = await json(await fetch(`${s.url}/api/metrics`));
  t.equal(m.retention.state_history_pruned, 270, 'pruned rows show in the metrics');
  t.equal(m.retention.state_history_keep, 10);
  t.ok(m.retention.vacuumed_pages > 0, `freed pages returned (${m.retention.vacuumed_pages})`);
  t.ok(m.data_file_bytes > 0, 'and the data file size');
  const after = dataFileBytes(dir);
  t.ok(after < before / 3, `the file shrank: ${before} → ${after} bytes`);

  await put(s.url, 'k0', 'one more');
  await s.close();
  const again = await startTestServer(t, { dataDir: dir, stateHistoryKeep: 10 });
  await put(again.url, 'k0', 'and another');
  t.equal((await json(await fetch(`${again.url}/api/state/k0?history=1&limit=1000`))).versions.length, 10, 'after restart the limit still holds');
});

t.test('under steady writes the data file plateaus with retention, and grows without it', async (t) => {
  if (sqliteOnly(t, 'the data file and its free pages')) return;
  const grow = async (keep: number): Promise<number[]> => {
    const dir = tempDir(t);
    const s = await startTestServer(t, { dataDir: dir, stateHistoryKeep: keep, pruneIntervalMs: 3_600_000 });
    const value = Buffer.alloc(32 * 1024, 'v');
    const sizes: number[] = [];
    for (let round = 0; round < 8; round++) {
      // 20 hot keys, 10 versions each per round (~6.4 MB of values).
      for (let i = 0; i < 10; i++) await Promise.all(Array.from({ length: 20 }, (_, k) => put(s.url, `hot/${k}`, value)));
      await s.retention.runPass();
      sizes.push(dataFileBytes(dir));
    }
    await s.close();
    return sizes;
  };
  const kept = await grow(5);
  const unbounded = await grow(0);
  t.ok(Math.max(...kept.slice(2)) <= kept[2]! * 1.25, `keep 5: sizes after round 3..8 stay within 25 % of round 3: ${kept.join(', ')}`);
  t.ok(unbounded.at(-1)! > unbounded[2]! * 2, `keep 0 (everything): the same writes keep growing the file: ${unbounded.join(', ')}`);
});

t.test('a data file from before incremental vacuum is converted once at start, data intact', async (t) => {
  if (sqliteOnly(t, 'the data file and its free pages')) return;
  const dir = tempDir(t);
  const file = path.join(dir, 'data.db');
  const old = fileAt(file, 20);
  old.pragma('journal_mode = WAL');
  old.prepare("INSERT INTO state (key, version, hash, content_type, updated_at) VALUES ('old', 1, 'h', 'text/plain', '2026-01-01 00:00:00')").run();
  old.prepare("INSERT INTO state_history (key, version, value, hash, content_type, updated_at) VALUES ('old', 1, 'kept', 'h', 'text/plain', '2026-01-01 00:00:00')").run();
  t.equal(old.pragma('auto_vacuum', { simple: true }), 0, 'an old file: no auto_vacuum');
  old.close();
  const s = await startTestServer(t, { dataDir: dir });
  t.equal(await (await fetch(`${s.url}/api/state/old`)).text(), 'kept');
  const ro = new Database(file, { readonly: true });
  t.teardown(() => ro.close());
  t.equal(ro.pragma('auto_vacuum', { simple: true }), 2, 'now INCREMENTAL');
});

t.test('a data file from before the version log (v15): each current value moves into it, history, ETags and rollback intact', async (t) => {
  if (sqliteOnly(t, 'a SQLite data file written by an older koor')) return;
  {
    const dir = tempDir(t);
    const old = new Database(path.join(dir, 'data.db'));
    old.pragma('journal_mode = WAL');
    const before = MIGRATIONS.filter((m) => m.version <= 15);
    t.ok(MIGRATIONS.some((m) => m.version === 16), 'v16 is the version log');
    for (const m of before) {
      old.exec(m.sql);
      m.run?.(old);
    }
    old.pragma('user_version = 15');
    const hash = (v: string) => crypto.createHash('sha256').update(v).digest('hex');
    const hist = old.prepare("INSERT INTO state_history (key, version, value, hash, content_type, updated_at, updated_by) VALUES (?, ?, ?, ?, 'text/plain', '2026-01-01 00:00:00', 'old')");
    const cur = old.prepare("INSERT INTO state (key, value, version, hash, content_type, updated_at, updated_by, revision) VALUES (?, ?, ?, ?, 'text/plain', '2026-01-02 00:00:00', 'old', 0)");
    hist.run('k', 1, 'one', hash('one'));
    hist.run('k', 2, 'two', hash('two'));
    cur.run('k', 'three', 3, hash('three'));
    cur.run('solo', 'only', 1, hash('only'));
    old.close();

    const s = await startTestServer(t, { dataDir: dir });
    const r = await fetch(`${s.url}/api/state/k`);
    t.equal(await r.text(), 'three', 'the current value, read from the version log');
    t.equal(r.headers.get('etag'), `"${hash('three')}"`);
    t.equal(await (await fetch(`${s.url}/api/state/solo`)).text(), 'only');
    const h = (await json(await fetch(`${s.url}/api/state/k?history=1`))) as { versions: Array<{ version: number }> };
    t.same(h.versions.map((x) => x.version), [3, 2, 1], 'the history, the current version first, each once');
    t.equal(await (await fetch(`${s.url}/api/state/k?version=2`)).text(), 'two');
    t.equal(await (await fetch(`${s.url}/api/state/k?version=3`)).text(), 'three', 'the current version read by its number');
    t.equal((await fetch(`${s.url}/api/state/k?rollback=1`, { method: 'POST' })).status, 200);
    t.equal(await (await fetch(`${s.url}/api/state/k`)).text(), 'one', 'a rollback to a version logged before the upgrade');
    const ro = new Database(path.join(dir, 'data.db'), { readonly: true });
    t.teardown(() => ro.close());
    t.notOk((ro.pragma('table_info(state)') as Array<{ name: string }>).some((c) => c.name === 'value'), 'state holds no value any more');
    t.same(ro.prepare("SELECT version FROM state_history WHERE key = 'k' ORDER BY version").pluck().all(), [1, 2, 3, 4], 'each version once');
  }
});

t.test('koor-server --vacuum compacts a stopped server\'s data file once; refused while a server runs', async (t) => {
  if (sqliteOnly(t, 'the data file and its free pages')) return;
  const dir = tempDir(t);
  const file = path.join(dir, 'data.db');
  const old = fileAt(file, 20);
  const ins = old.prepare("INSERT INTO state_history (key, version, value, hash, content_type, updated_at) VALUES ('k', ?, ?, 'h', 'x', '2026-01-01 00:00:00')");
  for (let v = 1; v <= 200; v++) ins.run(v, Buffer.alloc(16 * 1024, 1));
  old.prepare("INSERT INTO state (key, version, hash, content_type, updated_at) VALUES ('k', 201, 'h', 'text/plain', '2026-01-01 00:00:00')").run();
  old.prepare("INSERT INTO state_history (key, version, value, hash, content_type, updated_at) VALUES ('k', 201, 'now', 'h', 'text/plain', '2026-01-01 00:00:00')").run();
  old.prepare('DELETE FROM state_history WHERE version < 190').run(); // space freed, but an old file keeps it
  old.close();
  const before = fs.statSync(file).size;

  const running = await startTestServer(t, { dataDir: dir });
  const refused = await runServer(['--vacuum', '--data-dir', dir]);
  t.equal(refused.code, 1, 'not while a server owns the directory');
  t.match(refused.stderr, /is in use by another koor-server/);
  await running.close();

  const r = await runServer(['--vacuum', '--data-dir', dir]);
  t.equal(r.code, 0);
  t.match(r.stdout, /^koor-server: .*data\.db vacuumed: [\d.]+ MB → [\d.]+ MB\n$/);
  t.ok(fs.statSync(file).size < before / 4, `${before} → ${fs.statSync(file).size} bytes`);
  const ro = new Database(file, { readonly: true });
  t.teardown(() => ro.close());
  t.equal(ro.pragma('auto_vacuum', { simple: true }), 2);
  t.equal(ro.prepare("SELECT count(*) FROM state_history WHERE key = 'k'").pluck().get(), 12, 'data intact');
});

t.test("a data file from v20: the version log's rows get ids, each key points at its current value's; reads, history, writes and --vacuum keep them right", async (t) => {
  if (sqliteOnly(t, 'a SQLite data file written by an older koor')) return;
  const dir = tempDir(t);
  const file = path.join(dir, 'data.db');
  const old = fileAt(file, 20);
  old.exec('ALTER TABLE state DROP COLUMN hid'); // as v20 made it, before the column was declared
  const hist = old.prepare("INSERT INTO state_history (key, version, value, hash, content_type, updated_at) VALUES (?, ?, ?, ?, 'text/plain', '2026-01-01 00:00:00')");
  const cur = old.prepare("INSERT INTO state (key, version, hash, content_type, updated_at) VALUES (?, ?, ?, 'text/plain', '2026-01-01 00:00:00')");
  const hash = (v: string) => crypto.createHash('sha256').update(v).digest('hex');
  // Versions of three keys interleaved, some deleted between them: rowids with gaps, out of key order.
  for (let v = 1; v <= 5; v++) for (const k of ['c', 'a', 'b']) hist.run(k, v, `${k}${v}`, hash(`${k}${v}`));
  old.prepare("DELETE FROM state_history WHERE version = 2 OR (key = 'b' AND version = 4)").run();
  for (const k of ['a', 'b', 'c']) cur.run(k, 5, hash(`${k}5`));
  old.close();

  const check = async (url: string, when: string) => {
    for (const k of ['a', 'b', 'c']) {
      const r = await fetch(`${url}/api/state/${k}`);
      t.equal(await r.text(), `${k}${k === 'a' ? 6 : 5}`, `${when}: ${k}'s current value`);
    }
    t.equal(await (await fetch(`${url}/api/state/b?version=3`)).text(), 'b3', `${when}: an earlier version`);
    const h = (await json(await fetch(`${url}/api/state/b?history=1`))) as { versions: Array<{ version: number }> };
    t.same(h.versions.map((x) => x.version), [5, 3, 1], `${when}: the history`);
  };
  let s = await startTestServer(t, { dataDir: dir });
  t.equal((await fetch(`${s.url}/api/state/a`, { method: 'PUT', body: 'a6' })).status, 200, 'a write after the upgrade');
  await check(s.url, 'upgraded');
  await s.close();
  const ro = new Database(file, { readonly: true });
  const pointing = ro.prepare('SELECT s.key, s.version FROM state s JOIN state_history h ON h.id = s.hid AND h.key = s.key AND h.version = s.version ORDER BY s.key').all();
  t.same(pointing, [{ key: 'a', version: 6 }, { key: 'b', version: 5 }, { key: 'c', version: 5 }], "each key's hid is its current version's row");
  t.match(String(ro.prepare("SELECT sql FROM sqlite_master WHERE name = 'state_history'").pluck().get()), /\bid INTEGER PRIMARY KEY\b/, 'ids a VACUUM keeps');
  ro.close();

  t.equal((await runServer(['--vacuum', '--data-dir', dir])).code, 0, 'vacuumed');
  s = await startTestServer(t, { dataDir: dir });
  await check(s.url, 'after --vacuum');
});

t.test('audit entries and agent-metric buckets are bounded by count as well as by age', async (t) => {
  const s = await startTestServer(t, { auditKeep: 50, agentMetricsKeep: 10, pruneIntervalMs: 3_600_000 }, { oneNode: "the retention figures are the node's own" });
  for (let i = 0; i < 120; i += 20) await Promise.all(Array.from({ length: 20 }, (_, k) => put(s.url, `audited/${i + k}`, '{}')));
  // Twenty agents, each with a bucket of REST calls this hour.
  for (let i = 0; i < 20; i++) {
    const a = await json(await fetch(`${s.url}/api/instances/register`, { method: 'POST', body: JSON.stringify({ name: `counted-${i}` }) }));
    await (await fetch(`${s.url}/api/state`, { headers: { 'x-koor-instance': a.id } })).arrayBuffer();
  }
  const buckets = async () => (await json(await fetch(`${s.url}/api/metrics/agents`))) as unknown[];
  const audit = async () => (await json(await fetch(`${s.url}/api/audit?limit=1000`))) as Array<{ resource: string }>;
  t.ok((await audit()).length > 50, 'more than 50 audit entries before the pass');
  const before = await json(await fetch(`${s.url}/api/metrics`));
  t.ok((await buckets()).length > 10, 'more than 10 agent-metric buckets before the pass');
  await s.retention.runPass();
  const after = await audit();
  t.ok(after.length <= 50 && after.length >= 40, `at most 50 audit entries kept: ${after.length}`);
  t.ok(after.some((e) => e.resource.includes('counted-19') || e.resource.includes('audited/119')), 'the newest are the ones kept');
  t.ok(!after.some((e) => e.resource.endsWith('audited/0')), 'the oldest went');
  const m = await json(await fetch(`${s.url}/api/metrics`));
  t.ok(m.retention.audit_pruned > (before.retention?.audit_pruned ?? 0), `counted in the metrics: ${JSON.stringify(m.retention)}`);
  t.equal((await buckets()).length, 10, 'agent-metric buckets: the newest 10 kept');
  t.ok(m.retention.agent_metrics_pruned >= 10);
});

t.test('audit entries past their age go oldest first, all but the newest, whose id the next entry follows', async (t) => {
  const s = await startTestServer(t, { auditRetentionMs: 1000, pruneIntervalMs: 3_600_000 }, { oneNode: 'the pass is run on one node' });
  for (let i = 0; i < 6; i++) await put(s.url, `aged/${i}`, '{}');
  const audit = async () => (await json(await fetch(`${s.url}/api/audit?limit=1000`))) as Array<{ id: number; resource: string }>;
  const written = await audit();
  t.ok(written.length >= 6, `six entries written: ${written.length}`);
  // Timestamps have whole seconds: past the second after the last entry's, every one is older than 1 s.
  await new Promise((r) => setTimeout(r, 2_100));
  await s.retention.runPass();
  const left = await audit();
  t.same(left.map((e) => e.id), [written[0]!.id], 'only the newest entry stays (its id is where the next goes on)');
  await put(s.url, 'aged/next', '{}');
  const next = (await audit())[0]!;
  t.same([next.resource.endsWith('aged/next'), next.id > written[0]!.id], [true, true], `the next entry's id follows: ${next.id} after ${written[0]!.id}`);
});

t.test('a bounded soak of the mixed write mix: the data dir plateaus', async (t) => {
  if (sqliteOnly(t, 'the data dir on disk')) return;
  const dir = tempDir(t);
  const s = await startTestServer(t, { dataDir: dir, stateHistoryKeep: 5, eventRetention: 500, auditKeep: 2000, agentMetricsKeep: 200, pruneIntervalMs: 3_600_000 });
  const agents: string[] = [];
  for (let i = 0; i < 10; i++) agents.push((await json(await fetch(`${s.url}/api/instances/register`, { method: 'POST', body: JSON.stringify({ name: `soak-${i}` }) }))).id);
  /**
   * The database's pages in use (its own and the WAL's newest, free pages not counted), but for
   * the change log's: that one keeps its newest STATE_CHANGES_KEEP (100,000) rows, far more than
   * this soak writes (state-watch.test.ts prunes it). File sizes would say when a checkpoint ran:
   * data.db holds little until one does, and the WAL file keeps its high-water mark (SQLite cuts
   * it only to its journal limit), reached in whichever round a checkpoint lagged.
   */
  const inUse = (): number => {
    const db = new Database(path.join(dir, 'data.db'), { readonly: true });
    try {
      const pageSize = db.pragma('page_size', { simple: true }) as number;
      const pages = (db.pragma('page_count', { simple: true }) as number) - (db.pragma('freelist_count', { simple: true }) as number);
      const log = (db.prepare("SELECT count(*) AS n FROM dbstat WHERE name = 'state_changes'").get() as { n: number }).n;
      return (pages - log) * pageSize;
    } finally {
      db.close();
    }
  };
  const wal = path.join(dir, 'data.db-wal');
  const walBytes = () => (fs.existsSync(wal) ? fs.statSync(wal).size : 0);
  const value = JSON.stringify({ pad: 'v'.repeat(4000) });
  const sizes: number[] = [];
  const wals: number[] = [];
  for (let round = 0; round < 8; round++) {
    // State writes to hot keys, events, heartbeats (audit entries, metric buckets): ~1,200 writes a round.
    for (let i = 0; i < 20; i++) {
      await Promise.all([
        ...Array.from({ length: 20 }, (_, k) => put(s.url, `soak/${k}`, value)),
        ...Array.from({ length: 20 }, (_, k) => fetch(`${s.url}/api/events/publish`, { method: 'POST', body: JSON.stringify({ topic: `soak.${k}`, data: { round, i, pad: 'e'.repeat(500) } }) }).then((r) => r.arrayBuffer())),
        ...agents.map((id) => fetch(`${s.url}/api/instances/${id}/heartbeat`, { method: 'POST', headers: { 'x-koor-instance': id } }).then((r) => r.arrayBuffer())),
      ]);
    }
    await s.retention.runPass();
    sizes.push(inUse());
    wals.push(walBytes());
  }
  const mb = (xs: number[]) => xs.map((b) => (b / 1048576).toFixed(2)).join(', ');
  // Pages, not timing: the same in every run (5 % growth after round 3, the B-trees settling),
  // so 10 % is room enough; one table left unpruned (the audit log's ~30 KB a round) fails it.
  t.ok(Math.max(...sizes.slice(3)) <= sizes[2]! * 1.1, `pages in use but the change log's (MB) after round 4..8 stay within 10 % of round 3: ${mb(sizes)}`);
  // Past 4x its checkpoint size the writer copies the WAL back itself (workers/writer/sqlite/driver.ts).
  t.ok(Math.max(...wals) <= 4 * WRITER_WAL_CHECKPOINT_BYTES, `the WAL file (MB) within its bound: ${mb(wals)}`);
  const audit = (await json(await fetch(`${s.url}/api/audit?limit=1000`))) as unknown[];
  t.ok(audit.length > 0, 'audit entries are still written');
});

/** What a SQLite data file keeps of its version log: the (key, version) index, each key's ring ids, the rows. */
function versionLog(dir: string): { indexed: boolean; rings: Record<string, number | null>; rows: Record<string, number[]> } {
  dataFileBytes(dir); // the WAL folded in
  const ro = new Database(path.join(dir, 'data.db'), { readonly: true });
  try {
    const indexed = ro.prepare("SELECT 1 FROM sqlite_master WHERE type = 'index' AND tbl_name = 'state_history'").get() !== undefined;
    const rings: Record<string, number | null> = {};
    for (const r of ro.prepare('SELECT key, ring FROM state ORDER BY key').all() as Array<{ key: string; ring: Buffer | null }>) rings[r.key] = r.ring === null ? null : ringCount(r.ring);
    const rows: Record<string, number[]> = {};
    for (const r of ro.prepare('SELECT key, version FROM state_history ORDER BY key, version').all() as Array<{ key: string; version: number }>) (rows[r.key] ??= []).push(r.version);
    return { indexed, rings, rows };
  } finally {
    ro.close();
  }
}

t.test("a data file switched between rings (keep 1..1000) and the version log's index (keep 0) across restarts: every kept version readable, the dropped ones gone", async (t) => {
  if (sqliteOnly(t, "the SQLite data file's version rings")) return;
  const dir = tempDir(t);
  const history = async (url: string, key: string) => ((await json(await fetch(`${url}/api/state/${key}?history=1&limit=1000`))) as { versions: Array<{ version: number }> }).versions.map((v) => v.version);
  const at = async (url: string, key: string, v: number) => {
    const r = await fetch(`${url}/api/state/${key}?version=${v}`);
    return r.status === 200 ? await r.text() : r.status;
  };

  let s = await startTestServer(t, { dataDir: dir, stateHistoryKeep: 5, pruneIntervalMs: 3_600_000 });
  for (let v = 1; v <= 8; v++) await put(s.url, 'k', `k${v}`);
  for (let v = 1; v <= 3; v++) await put(s.url, 'gone', `g${v}`);
  t.equal((await fetch(`${s.url}/api/state/gone`, { method: 'DELETE' })).status, 200);
  t.same(await history(s.url, 'k'), [8, 7, 6, 5, 4], 'keep 5: the newest five');
  t.equal(await at(s.url, 'k', 4), 'k4');
  t.equal(await at(s.url, 'k', 3), 404, 'the sixth newest is gone');
  t.equal((await fetch(`${s.url}/api/state/k?rollback=5`, { method: 'POST' })).status, 200, 'a rollback through the ring');
  t.equal(await (await fetch(`${s.url}/api/state/k`)).text(), 'k5');
  t.same(await history(s.url, 'gone'), [], 'a deleted key has no history');
  await s.close();
  t.same(versionLog(dir), { indexed: false, rings: { k: 5 }, rows: { k: [5, 6, 7, 8, 9] } }, 'rings, no index, no row of the deleted key');

  s = await startTestServer(t, { dataDir: dir, stateHistoryKeep: 0, pruneIntervalMs: 3_600_000 });
  t.same(await history(s.url, 'k'), [9, 8, 7, 6, 5], 'keep 0: the index found them');
  await put(s.url, 'k', 'k10');
  t.equal(await at(s.url, 'k', 5), 'k5');
  await s.close();
  t.same(versionLog(dir), { indexed: true, rings: { k: null }, rows: { k: [5, 6, 7, 8, 9, 10] } }, 'the index back, the rings cleared');

  s = await startTestServer(t, { dataDir: dir, stateHistoryKeep: 3, pruneIntervalMs: 3_600_000 });
  t.same(await history(s.url, 'k'), [10, 9, 8, 7, 6, 5], 'keep 3: nothing dropped at the start');
  await put(s.url, 'k', 'k11');
  t.same(await history(s.url, 'k'), [11, 10, 9, 8, 7], 'a write drops two of the backlog');
  await s.retention.runPass();
  t.same(await history(s.url, 'k'), [11, 10, 9], 'the retention pass the rest');
  t.equal(await at(s.url, 'k', 8), 404);
  t.equal(await at(s.url, 'k', 9), 'k5', 'version 9, the rollback to 5');
  await s.close();
  t.same(versionLog(dir), { indexed: false, rings: { k: 3 }, rows: { k: [9, 10, 11] } });
});

t.test('a data file from v27: the version log loses its (key, version) constraint, each key gets its ring; versions, gaps and drops right', async (t) => {
  if (sqliteOnly(t, 'a SQLite data file written by an older koor')) return;
  const dir = tempDir(t);
  const old = fileAt(path.join(dir, 'data.db'), 27);
  // As v21 made the two tables before rings: a UNIQUE (key, version) constraint, no ring column.
  old.exec(`ALTER TABLE state DROP COLUMN ring;
    DROP INDEX state_history_version;
    DROP TABLE state_history;
    CREATE TABLE state_history (id INTEGER PRIMARY KEY, key TEXT NOT NULL, version INTEGER NOT NULL, value BLOB NOT NULL, hash TEXT NOT NULL,
      content_type TEXT NOT NULL, updated_at TEXT NOT NULL, updated_by TEXT NOT NULL DEFAULT '', UNIQUE (key, version));`);
  const hist = old.prepare("INSERT INTO state_history (key, version, value, hash, content_type, updated_at) VALUES (?, ?, ?, 'h', 'text/plain', '2026-01-01 00:00:00')");
  const cur = old.prepare("INSERT INTO state (key, version, hash, content_type, updated_at, hid) VALUES (?, ?, 'h', 'text/plain', '2026-01-01 00:00:00', ?)");
  for (let v = 1; v <= 6; v++) for (const k of ['a', 'b']) hist.run(k, v, `${k}${v}`);
  old.prepare("DELETE FROM state_history WHERE key = 'b' AND version = 4").run(); // a gap
  hist.run('orphan', 1, 'no key');
  for (const k of ['a', 'b']) cur.run(k, 6, old.prepare('SELECT id FROM state_history WHERE key = ? AND version = 6').pluck().get(k));
  old.close();

  const s = await startTestServer(t, { dataDir: dir, stateHistoryKeep: 4, pruneIntervalMs: 3_600_000 });
  const history = async (key: string) => ((await json(await fetch(`${s.url}/api/state/${key}?history=1`))) as { versions: Array<{ version: number }> }).versions.map((v) => v.version);
  t.same(await history('b'), [6, 5, 3, 2, 1], 'the gap kept as it was');
  t.equal(await (await fetch(`${s.url}/api/state/b?version=3`)).text(), 'b3', 'a version past the gap');
  t.equal((await fetch(`${s.url}/api/state/b?version=4`)).status, 404, 'the gap');
  t.equal(await (await fetch(`${s.url}/api/state/b?version=1`)).text(), 'b1', 'the oldest, further back than its place in the ring says');
  t.equal((await fetch(`${s.url}/api/state/b?rollback=2`, { method: 'POST' })).status, 200, 'a rollback past the gap');
  t.equal(await (await fetch(`${s.url}/api/state/b`)).text(), 'b2');
  await put(s.url, 'a', 'a7');
  await s.retention.runPass();
  t.same(await history('a'), [7, 6, 5, 4]);
  t.equal(await (await fetch(`${s.url}/api/state/a?version=4`)).text(), 'a4');
  await s.close();
  const log = versionLog(dir);
  t.same(log, { indexed: false, rings: { a: 4, b: 4 }, rows: { a: [4, 5, 6, 7], b: [3, 5, 6, 7] } }, 'no constraint, no index, no orphan row (the rollback is b\'s version 7)');
});
