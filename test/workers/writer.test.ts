import path from 'node:path';
import { MessageChannel, Worker, type MessagePort } from 'node:worker_threads';
import t from 'tap';
import Database from 'better-sqlite3';
import { tempDir } from '../helpers/server.js';
import { MIGRATIONS } from '../../schemas/db/sqlite-migrations.js';
import { WRITER_LIMITS } from '../../src/shared/limits.js';
import { createDispatcher } from '../../workers/writer/dispatch.js';
import { sqliteDriver } from '../../workers/writer/sqlite/driver.js';
import type { WriterStartup } from '../../schemas/rpc/writer.js';
import { createWriterStatsBuffer } from '../../schemas/rpc/writer-stats.js';
import type { RequestEnvelope } from '../../schemas/rpc/envelope.js';
import { decodeReply, encodeRequest, type WireReply } from '../../schemas/rpc/writer-wire.js';
import { monoNow } from '../../src/shared/mono-clock.js';

const WRITER = new URL('../../workers/writer/main.js', import.meta.url);

/** An envelope object (a string method) goes out in its wire form; anything else as it is. */
const isEnvelope = (msg: unknown): msg is RequestEnvelope => typeof (msg as { method?: unknown } | null)?.method === 'string';

/**
 * The real writer thread on a real data file, driven through its port: `call` posts an envelope
 * in the wire form the front sends (or a malformed message as it is) and answers with the reply
 * decoded as the front decodes it.
 */
async function startWriter(t: Tap.Test, dbPath: string, testHooks = false): Promise<{ port: MessagePort; call: (msg: unknown, asIs?: boolean) => Promise<any>; worker: Worker }> {
  const { port1, port2 } = new MessageChannel();
  const startup: WriterStartup = { db_path: dbPath, log_level: 'silent', sync: 'full', limits: WRITER_LIMITS, state_history_keep: 0, test_hooks: testHooks };
  const worker = new Worker(WRITER, { workerData: { ...startup, port: port2, stats: createWriterStatsBuffer() }, transferList: [port2] });
  const waiters = new Map<number, { method?: string; resolve: (v: unknown) => void }>();
  await new Promise<void>((resolve, reject) => {
    port1.on('message', (m: any) => {
      if (m.control === 'ready') return resolve();
      if (m.control === 'open-failed') return reject(new Error(m.message));
      if (!Array.isArray(m)) return;
      for (const r of m as WireReply[]) {
        const w = waiters.get(r[0]);
        waiters.delete(r[0]);
        w?.resolve(decodeReply(r, w.method));
      }
    });
  });
  t.teardown(() => worker.terminate());
  return {
    port: port1,
    worker,
    call: (msg: unknown, asIs = false) =>
      new Promise((resolve) => {
        const id = Array.isArray(msg) ? msg[0] : (msg as { id?: unknown } | null)?.id;
        const wire = isEnvelope(msg) && !asIs;
        waiters.set(typeof id === 'number' ? id : 0, { method: wire ? msg.method : undefined, resolve });
        port1.postMessage(wire ? [encodeRequest(msg)] : msg);
      }),
  };
}

declare namespace Tap {
  type Test = { teardown(fn: () => unknown): void };
}

const far = () => Date.now() + 5000;

t.test('writer validates envelopes and requests', async (t) => {
  const w = await startWriter(t, path.join(tempDir(t), 'data.db'));
  const r1 = await w.call({ id: 1, method: 42, deadline: far(), req: {} });
  t.same(r1, { id: 1, ok: false, err: { status: 'INVALID_ARGUMENT', message: 'malformed RPC envelope' } });
  const r0 = await w.call({ nonsense: true });
  t.same(r0, { id: 0, ok: false, err: { status: 'INVALID_ARGUMENT', message: 'malformed RPC envelope' } });
  const r2 = await w.call({ id: 2, method: 'state.nuke', deadline: far(), req: {} });
  t.same(r2.err, { status: 'INVALID_ARGUMENT', message: 'unknown method: state.nuke' });
  const r3 = await w.call({ id: 3, method: 'state.put', deadline: far(), req: { key: 'k', value: 'not bytes', content_type: 'x', updated_by: '' } });
  t.equal(r3.err.status, 'INVALID_ARGUMENT');
  t.match(r3.err.message, /^invalid state\.put request: \/value/);
  const r4 = await w.call({ id: 4, method: 'state.put', deadline: monoNow() - 1, req: { key: 'k', value: Buffer.from('v'), content_type: 'x', updated_by: '' } });
  t.same(r4.err, { status: 'DEADLINE_EXCEEDED', message: 'deadline exceeded before the write started' });
  const ok = await w.call({ id: 5, method: 'state.put', deadline: far(), req: { key: 'k', value: Buffer.from('v'), content_type: 'text/plain', updated_by: '' } });
  t.equal(ok.ok, true);
  t.equal(ok.res.version, 1, 'the expired put never ran');
  const ping = await w.call({ id: 6, method: 'sys.ping', deadline: far(), req: {} });
  t.equal(ping.res.schema_version, MIGRATIONS.at(-1)!.version, 'all migrations applied');
  // One wire form (schemas/rpc/writer-wire.ts): an envelope object is not it; a lone request, outside a batch, is.
  const asObject = await w.call({ id: 7, method: 'sys.ping', deadline: far(), req: {} }, true);
  t.same(asObject, { id: 7, ok: false, err: { status: 'INVALID_ARGUMENT', message: 'malformed RPC envelope' } }, 'an envelope object is refused');
  const lone = await w.call(encodeRequest({ id: 8, method: 'sys.ping', deadline: far(), req: {} }), true);
  t.equal(lone.ok, true, 'a lone wire request is run');
});

t.test('group commit: one batch, each write isolated in its savepoint', async (t) => {
  const dbPath = path.join(tempDir(t), 'data.db');
  const w = await startWriter(t, dbPath);
  const replies = new Map<number, any>();
  const all = new Promise<void>((resolve) => {
    w.port.on('message', (m: WireReply[]) => {
      for (const r of m) replies.set(r[0], decodeReply(r, 'state.put'));
      if (replies.size === 100) resolve();
    });
  });
  // 100 envelopes posted as one batch land in one transaction; #50 fails its precondition.
  // 2 KB values: the batch's page images pass the 64 KiB at which a sub-journal would spill.
  const batch = [];
  for (let i = 1; i <= 100; i++) {
    const req = { key: `k${i}`, value: Buffer.from(String(i).padEnd(2048, '.')), content_type: 'text/plain', updated_by: '', ...(i === 50 ? { if_match: '*' } : {}) };
    batch.push(encodeRequest({ id: 100 + i, method: 'state.put', deadline: far(), req }));
  }
  w.port.postMessage(batch);
  await all;
  t.equal([...replies.values()].filter((r) => r.ok).length, 99);
  t.same(replies.get(150).err, { status: 'FAILED_PRECONDITION', message: 'precondition failed: current version 0', detail: { version: 0 } });
  const db = new Database(dbPath, { readonly: true });
  t.teardown(() => db.close());
  t.equal(db.prepare('SELECT count(*) FROM state').pluck().get(), 99, 'every acknowledged write is committed, the failed one is not');
});

t.test('a put of a key past its TTL, not yet swept, sweeps it first: expire change, history gone, version 1', async (t) => {
  const dbPath = path.join(tempDir(t), 'data.db');
  const w = await startWriter(t, dbPath);
  const put = (id: number, value: string, more: Record<string, unknown> = {}) =>
    w.call({ id, method: 'state.put', deadline: far(), req: { key: 'k', value: Buffer.from(value), content_type: 'text/plain', updated_by: '', ...more } });
  t.equal((await put(1, 'a')).res.version, 1);
  t.equal((await put(2, 'b', { ttl_ms: 30 })).res.version, 2);
  await new Promise((r) => setTimeout(r, 60)); // no sweeper runs in this writer: the row is still there, expired
  const again = await put(3, 'c');
  t.equal(again.res.version, 1, 'the expired key starts over');
  t.equal(again.res.expires_at, undefined, 'without an expiry');
  const db = new Database(dbPath, { readonly: true });
  t.teardown(() => db.close());
  t.same(db.prepare('SELECT type, version FROM state_changes ORDER BY id').all(), [
    { type: 'put', version: 1 },
    { type: 'put', version: 2 },
    { type: 'expire', version: 2 },
    { type: 'put', version: 1 },
  ]);
  t.same(db.prepare("SELECT version, CAST(value AS TEXT) AS value FROM state_history WHERE key = 'k'").all(), [{ version: 1, value: 'c' }], 'the old versions went with it');
  t.same(db.prepare("SELECT version, revision, expires_at FROM state WHERE key = 'k'").get(), { version: 1, revision: 4, expires_at: 0 });
});

t.test('a data file from a newer server is refused', async (t) => {
  const dbPath = path.join(tempDir(t), 'data.db');
  const db = new Database(dbPath);
  db.pragma('user_version = 999');
  db.close();
  await t.rejects(startWriter(t, dbPath), /newer than this server/);
});

t.test('a batch SQLite rolls back (disk full) acknowledges nothing and runs nothing after it', async (t) => {
  const { openWriterDb } = await import('../../workers/writer/sqlite/db.js');
  const db = openWriterDb(path.join(tempDir(t), 'data.db'), WRITER_LIMITS);
  t.teardown(() => db.close());
  const d = createDispatcher(sqliteDriver(db));
  // Simulate a full disk: the file may not grow past its current size.
  const pages = db.pragma('page_count', { simple: true }) as number;
  db.pragma(`max_page_count = ${pages + 2}`);
  const env = (id: number, key: string, bytes: number) => ({ id, method: 'state.put', deadline: far(), req: { key, value: Buffer.alloc(bytes, 'x'), content_type: 'x', updated_by: '' } });
  const { replies, commitError } = await d.run([env(1, 'big', 512 * 1024), env(2, 'small', 10), env(3, 'small2', 10)]);
  t.ok(commitError, 'the batch failed');
  t.same(replies.map((r) => [r.id, r.ok]), [[1, false], [2, false], [3, false]], 'every envelope answered, none acknowledged');
  t.same(db.prepare('SELECT key FROM state').pluck().all(), [], 'and none of them committed');
  db.pragma('max_page_count = 1073741823');
  const after = await d.run([env(4, 'small', 10)]);
  t.same(after.replies.map((r) => r.ok), [true], 'the writer works again once there is room');
});

t.test('a method that fails after writing part of its work leaves nothing behind; the others commit', async (t) => {
  const { openWriterDb } = await import('../../workers/writer/sqlite/db.js');
  const db = openWriterDb(path.join(tempDir(t), 'data.db'), WRITER_LIMITS);
  t.teardown(() => db.close());
  const d = createDispatcher(sqliteDriver(db), { stateHistoryKeep: 2 });
  const put = (id: number, key: string, v: string) => ({ id, method: 'state.put', deadline: far(), req: { key, value: Buffer.from(v), content_type: 'text/plain', updated_by: '' } });
  t.same((await d.run([put(1, 'boom', 'v1'), put(2, 'a', 'v1'), put(3, 'a', 'v2')])).replies.map((r) => r.ok), [true, true, true]);
  // A PUT over an existing key logs the new value first, then updates the current row: make the update fail.
  db.exec("CREATE TRIGGER no_boom BEFORE UPDATE ON state WHEN NEW.key = 'boom' BEGIN SELECT RAISE(ABORT, 'boom refused'); END");
  // `a` v3 pushes v1 out of the 2 kept versions: one version dropped by a write.
  const { replies, commitError } = await d.run([put(4, 'a', 'v3'), put(5, 'boom', 'v2'), put(6, 'b', 'v1')]);
  t.notOk(commitError);
  t.same(replies.map((r) => [r.id, r.ok]), [[4, true], [5, false], [6, true]], 'only the failing method fails');
  t.equal(replies[1]!.ok === false && replies[1]!.err.status, 'INTERNAL');
  t.same(db.prepare("SELECT version FROM state_history WHERE key = 'boom'").pluck().all(), [1], 'its new value (logged before it failed) is gone');
  t.same(db.prepare("SELECT key, version FROM state ORDER BY key").all(), [{ key: 'a', version: 3 }, { key: 'b', version: 1 }, { key: 'boom', version: 1 }]);
  // The batch ran twice (a fast attempt, then guarded): the drop is counted once.
  const turn = await d.run([{ id: 7, method: 'state.prune_history', deadline: far(), req: { keep: 2, after: '', keys: 10, rows: 10 } }]);
  t.equal((turn.replies[0] as { res: { dropped_by_writes: number } }).res.dropped_by_writes, 1, 'versions dropped by writes, counted once');
  db.exec('DROP TRIGGER no_boom');
  t.same((await d.run([put(8, 'boom', 'v2'), put(9, 'a', 'v4')])).replies.map((r) => r.ok), [true, true], 'later batches run normally');
  t.equal(db.prepare("SELECT version FROM state WHERE key = 'boom'").pluck().get(), 2);
});

t.test('a batch whose deferred statements fail at its end, or whose sync fails after COMMIT, is not answered as written', async (t) => {
  const { openWriterDb } = await import('../../workers/writer/sqlite/db.js');
  const { SyncFailedAfterCommit } = await import('../../workers/writer/sql.js');
  const db = openWriterDb(path.join(tempDir(t), 'data.db'), WRITER_LIMITS);
  t.teardown(() => db.close());
  const real = sqliteDriver(db);
  // Faults injected around the real driver: what PostgreSQL's pipelined statements (tx.send, tx.flush)
  // and a failing fdatasync do, which SQLite on a healthy disk never does.
  let failFlushAt = 0;
  let failSync = false;
  let transactions = 0;
  const driver: typeof real = {
    ...real,
    transaction: async (fn) => {
      const n = ++transactions;
      await real.transaction((tx) => fn({ ...tx, flush: async () => { if (n === failFlushAt) throw new Error('a pipelined statement failed'); } }));
      if (failSync) throw new SyncFailedAfterCommit(new Error('EIO'));
    },
  };
  const d = createDispatcher(driver);
  const put = (id: number, key: string, v: string) => ({ id, method: 'state.put', deadline: far(), req: { key, value: Buffer.from(v), content_type: 'text/plain', updated_by: '' } });
  db.exec("CREATE TRIGGER no_boom BEFORE INSERT ON state WHEN NEW.key = 'boom' BEGIN SELECT RAISE(ABORT, 'boom refused'); END");
  // The fast attempt fails on `boom` (transaction 1); the guarded one (2) fails at its end.
  failFlushAt = 2;
  const first = await d.run([put(1, 'a', 'v1'), put(2, 'boom', 'v1'), put(3, 'b', 'v1')]);
  t.ok(first.commitError, 'the batch failed');
  t.same(first.replies.map((r) => [r.id, r.ok]), [[1, false], [2, false], [3, false]], 'none acknowledged');
  t.same(db.prepare('SELECT key FROM state').pluck().all(), [], 'and none committed');
  failFlushAt = 0;
  t.same((await d.run([put(4, 'a', 'v1')])).replies.map((r) => r.ok), [true], 'the next batch commits');

  failSync = true;
  const unsynced = await d.run([put(5, 'c', 'v1')]);
  t.ok(unsynced.commitError instanceof SyncFailedAfterCommit);
  t.same(unsynced.replies, [{ id: 5, ok: false, err: { status: 'OUTCOME_UNKNOWN', message: 'state.put: outcome unknown: the write may have committed; retry with the same Idempotency-Key, or read it back before retrying' } }], 'a sync that failed after COMMIT: 504, not "nothing was written"');
  t.equal(db.prepare("SELECT version FROM state WHERE key = 'c'").pluck().get(), 1, 'the row is committed');
});

t.test('the test-only sys.sleep cannot stall a production writer', async (t) => {
  const prod = await startWriter(t, path.join(tempDir(t), 'data.db'));
  const r = await prod.call({ id: 1, method: 'sys.sleep', deadline: far(), req: { ms: 5000 } });
  t.same(r.err, { status: 'INVALID_ARGUMENT', message: 'unknown method: sys.sleep' }, 'refused without running');
  const ping = await prod.call({ id: 2, method: 'sys.ping', deadline: far(), req: {} });
  t.ok(ping.ok, 'the writer answers at once');
  const test = await startWriter(t, path.join(tempDir(t), 'data.db'), true);
  t.same((await test.call({ id: 1, method: 'sys.sleep', deadline: far(), req: { ms: 1 } })).ok, true, 'available when started for tests');
});

t.test('an unexpected writer failure is logged with its cause, stack and method', async (t) => {
  const { openWriterDb } = await import('../../workers/writer/sqlite/db.js');
  const db = openWriterDb(path.join(tempDir(t), 'data.db'), WRITER_LIMITS);
  t.teardown(() => db.close());
  const logged: Array<{ obj: Record<string, unknown>; msg: string }> = [];
  const d = createDispatcher(sqliteDriver(db), { log: { error: (obj, msg) => logged.push({ obj, msg }) } });
  db.exec('DROP TABLE events'); // an environment failure no writer method expects
  const { replies } = await d.run([{ id: 7, method: 'events.publish', deadline: far(), req: { topic: 't', data: 'null', source: '' } }]);
  t.same(replies[0], { id: 7, ok: false, err: { status: 'INTERNAL', message: 'failed to events.publish' } }, 'the client gets a generic 500');
  t.equal(logged.length, 1, 'one log line');
  t.equal(logged[0]!.obj.method, 'events.publish');
  const err = logged[0]!.obj.err as Error;
  t.match(err.message, /no such table: events/, 'with the cause');
  t.match(err.stack, /events/, 'and its stack');
});

t.test('state-history retention turns: bounded rows, a cursor that resumes mid-key, a sweep that wraps', async (t) => {
  const { openWriterDb } = await import('../../workers/writer/sqlite/db.js');
  const db = openWriterDb(path.join(tempDir(t), 'data.db'), WRITER_LIMITS);
  t.teardown(() => db.close());
  const d = createDispatcher(sqliteDriver(db)); // keep 0 on writes: every version is kept
  let id = 1;
  const call = async (method: string, req: unknown) => {
    const r = (await d.run([{ id: id++, method, deadline: far(), req }])).replies[0]!;
    if (!r.ok) throw new Error(JSON.stringify(r.err));
    return r.res as { deleted: number; next: string; wrapped: boolean; dropped_by_writes: number };
  };
  for (const key of ['a', 'b', 'c']) for (let v = 0; v < 51; v++) await call('state.put', { key, value: Buffer.from(`${v}`), content_type: 'x', updated_by: '' });
  // 51 versions per key, the current included; keep 10 → 41 to delete per key, 123 in all.
  const turns: Array<{ deleted: number; next: string; wrapped: boolean; dropped_by_writes: number }> = [];
  let after = '';
  for (let i = 0; i < 20; i++) {
    const r = await call('state.prune_history', { keep: 10, after, keys: 2, rows: 30 });
    turns.push(r);
    after = r.next;
    if (r.wrapped) break;
  }
  t.ok(turns.every((r) => r.deleted <= 30), 'no turn deletes more than its budget');
  t.same(turns[0], { deleted: 30, next: '', wrapped: false, dropped_by_writes: 0 }, 'out of budget inside "a": the next turn comes back to it');
  t.equal(turns.reduce((n, r) => n + r.deleted, 0), 123, 'every version beyond the newest 10 is gone');
  t.ok(turns.at(-1)!.wrapped, 'the sweep wrapped around');
  const left = db.prepare('SELECT key, count(*) AS n, min(version) AS lo FROM state_history GROUP BY key ORDER BY key').all();
  t.same(left, [
    { key: 'a', n: 10, lo: 42 },
    { key: 'b', n: 10, lo: 42 },
    { key: 'c', n: 10, lo: 42 },
  ], 'each key keeps versions 42..51, 51 the current');
  t.same(await call('state.prune_history', { keep: 10, after: '', keys: 10, rows: 30 }), { deleted: 0, next: '', wrapped: true, dropped_by_writes: 0 }, 'nothing left to do');
});
