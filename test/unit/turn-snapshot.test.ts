import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import Database from 'better-sqlite3';
import t from 'tap';
import { sqliteReads, turnSnapshot } from '../../src/backend/reads.js';
import { openReader, ReaderMap } from '../../src/backend/read-db.js';

/** A WAL file with a writing connection (the writer thread's part) and the front's reader over it. */
function files(t: Tap.Test) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'koor-turn-'));
  const file = path.join(dir, 'data.db');
  const w = new Database(file);
  w.pragma('journal_mode = WAL');
  w.exec('CREATE TABLE kv (k TEXT PRIMARY KEY, v INTEGER NOT NULL)');
  w.prepare('INSERT INTO kv VALUES (?, ?)').run('a', 1);
  const put = (v: number) => w.prepare('UPDATE kv SET v = ? WHERE k = ?').run(v, 'a');
  const reader = openReader(file);
  t.teardown(() => {
    reader.close();
    w.close();
    fs.rmSync(dir, { recursive: true, force: true });
  });
  return { w, put, reader };
}

const nextTurn = () => new Promise<void>((resolve) => setImmediate(resolve));

t.test("a turn's reads share one read transaction, ended by end() or by the turn's end", async (t) => {
  const { put, reader, w } = files(t);
  const snap = turnSnapshot(reader);
  const v = sqliteReads(reader, snap).statement<{ v: number }>({ sqlite: 'SELECT v FROM kv WHERE k = ?', pg: '' });
  t.equal(v.get('a')?.v, 1);
  t.ok(reader.inTransaction, 'the first read of the turn began a read transaction');
  put(2);
  t.equal(v.get('a')?.v, 1, 'a commit after the turn began is not seen within it');
  snap.end();
  t.notOk(reader.inTransaction);
  t.equal(v.get('a')?.v, 2, 'after end(), the next read sees it');
  put(3);
  await nextTurn();
  t.notOk(reader.inTransaction, 'the turn ended the transaction by itself');
  t.equal(v.get('a')?.v, 3, 'the next turn reads the newest commit');
  await nextTurn();
  // No read holds the WAL across turns: a checkpoint that must wait for every reader completes.
  const [ck] = w.pragma('wal_checkpoint(TRUNCATE)') as Array<{ busy: number }>;
  t.equal(ck!.busy, 0, 'a truncating checkpoint is not blocked once the turn is over');
});

t.test('consistent() reads one snapshot; without a turn snapshot each read is its own', async (t) => {
  const { put, reader } = files(t);
  const q = { sqlite: 'SELECT v FROM kv WHERE k = ?', pg: '' };
  const turn = sqliteReads(reader, turnSnapshot(reader));
  const v = turn.statement<{ v: number }>(q);
  const seen = await turn.consistent(() => {
    const first = v.get('a') as { v: number };
    put(10);
    return [first.v, (v.get('a') as { v: number }).v];
  });
  t.same(seen, [1, 1], 'both reads of consistent() from the snapshot it began');
  await nextTurn();
  const plain = sqliteReads(reader).statement<{ v: number }>(q);
  t.equal(plain.get('a')?.v, 10);
  t.notOk(reader.inTransaction, 'no transaction without a turn snapshot');
  put(11);
  t.equal(plain.get('a')?.v, 11, 'each read sees the newest commit');
});

t.test("end() after the reader closed, and someone else's transaction, are left alone", async (t) => {
  const { reader } = files(t);
  const snap = turnSnapshot(reader);
  reader.exec('BEGIN');
  snap.enter();
  snap.end();
  t.ok(reader.inTransaction, 'a transaction the snapshot did not begin is not ended by it');
  reader.exec('COMMIT');
  snap.enter();
  t.ok(reader.inTransaction);
  reader.close();
  t.doesNotThrow(() => snap.end());
  await nextTurn();
});

t.test('the reader maps the data file unless the writes it sees are many and outnumber its reads 1 to 100, and reads the same either way', async (t) => {
  const { put, reader } = files(t);
  const map = new ReaderMap(reader, 200);
  const snap = turnSnapshot(reader, map);
  const v = sqliteReads(reader, snap).statement<{ v: number }>({ sqlite: 'SELECT v FROM kv WHERE k = ?', pg: '' });
  const mmapSize = () => reader.pragma('mmap_size', { simple: true }) as number;
  const nextWindow = async () => {
    await new Promise((r) => setTimeout(r, 250));
    snap.end();
  };
  t.ok(map.mapped && mmapSize() > 0, 'mapped from the start');
  // A write now and then (an idle server's own jobs), next to no read: the map stays.
  put(1);
  snap.wrote();
  await nextWindow();
  t.equal(v.get('a')?.v, 1);
  t.ok(map.mapped, 'a few writes a second leave it mapped');
  // A window of writes with a read after each (hooks that take leases, say): 1 read per write.
  for (let i = 0; i < 50; i++) {
    put(100 + i);
    snap.wrote();
    t.equal(v.get('a')?.v, 100 + i, 'each read after a write sees it');
  }
  await nextWindow();
  t.equal(v.get('a')?.v, 149, 'the first read of the next window decides, and reads on');
  t.equal(map.mapped, false, 'no longer mapped');
  t.equal(mmapSize(), 0, 'the connection reads pages with pread');
  t.equal(map.switches, 1);
  // Windows of 50 writes and reads 100 to 1 (the deciding read among them) stay mapped; one read fewer does not.
  for (const [reads, mapped] of [[5000, true], [4999, false]] as const) {
    for (let i = 0; i < 50; i++) {
      put(reads + i);
      snap.wrote();
    }
    for (let i = 0; i < reads - 1; i++) v.get('a');
    await nextWindow();
    t.equal(v.get('a')?.v, reads + 49, `${reads} reads to 50 writes`);
    t.equal(map.mapped, mapped, mapped ? 'mapped again' : 'not mapped');
    t.equal(mmapSize() > 0, mapped);
  }
  t.equal(map.switches, 3);
});
